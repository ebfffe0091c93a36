"""Commands that read or look after the archive: `monitor search`, `status`, `backup`, `prune`.

They import the archive and the config, nothing of the service: a search starts in the time
Python and SQLite take. `backup` and `prune` may run while `monitor run` does (their writes wait
for the service's, storage's write transactions begin IMMEDIATE).
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timedelta
from pathlib import Path

from monitor.archive.store import Archive
from monitor.cli.context import (
    Context,
    count,
    duration,
    feed_json,
    json_line,
    now,
    refuse_existing,
    say,
    since,
    when,
)
from monitor.errors import MonitorError
from monitor.types import ChatState, FeedStatus, SearchHit

# --- search ---------------------------------------------------------------------------


def cmd_search(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    after = since(args.since) if args.since else None
    if args.rule:
        _check_rule_id(args.rule, config.rule_paths)
    archive = Archive.open(config.storage_path, create=False)
    try:
        hits = archive.search(
            args.query,
            since=after,
            rule=args.rule,
            limit=args.limit,
            as_words=lambda words: say(f"monitor: not a valid FTS5 query; searched as plain words: {words}"),
        )
        if args.stories:
            hits = _newest_per_story(hits)
            outlets = {h.id: archive.story_outlets(h.story_id) if h.story_id else [] for h in hits}
    finally:
        archive.close()
    for hit in hits:
        if args.stories:
            print(
                json_line(_hit_json(hit) | {"outlets": outlets[hit.id]})
                if args.json
                else _story_text(hit, outlets[hit.id])
            )
        else:
            print(json_line(_hit_json(hit)) if args.json else _hit_text(hit))
    if not hits and not args.json:
        say("no articles found")
    return 0


def _check_rule_id(rule_id: str, rule_paths: tuple[Path, ...]) -> None:
    from monitor.rules.rulefile import load_rules

    rules = load_rules(rule_paths)
    if rules.get(rule_id) is None:
        raise MonitorError(unknown_rule(rule_id, [r.id for r in rules.rules]))


def unknown_rule(rule_id: str, known: list[str]) -> str:
    return f"no rule with id {rule_id!r}; the rules are: {', '.join(sorted(known)) or '(none)'}"


def _newest_per_story(hits: list[SearchHit]) -> list[SearchHit]:
    """Hits come newest first; keep each story's newest."""
    newest: dict[int, SearchHit] = {}
    for hit in hits:
        newest.setdefault(hit.story_id if hit.story_id is not None else -hit.id, hit)
    return list(newest.values())


def _story_text(hit: SearchHit, outlets: list[str]) -> str:
    date = hit.published.strftime("%Y-%m-%d %H:%M") if hit.published else "????-??-?? ??:??"
    reported = f"{len(outlets)} reports: {', '.join(outlets)}" if len(outlets) > 1 else hit.outlet or "?"
    return f"{date}  {hit.title}  ({reported})"


def _hit_json(hit: SearchHit) -> dict[str, object]:
    return {
        "id": hit.id,
        "story": hit.story_id,
        "title": hit.title,
        "link": hit.link,
        "outlet": hit.outlet,
        "published": when(hit.published),
        "feed": hit.feed,
        "rules": list(hit.rules),
    }


def _hit_text(hit: SearchHit) -> str:
    date = hit.published.strftime("%Y-%m-%d %H:%M") if hit.published else "????-??-?? ??:??"
    rules = f"  [{', '.join(hit.rules)}]" if hit.rules else ""
    return f"{date}  {hit.outlet or hit.feed or '?'}  {hit.title}{rules}\n    {hit.link or '(no link)'}"


# --- status ---------------------------------------------------------------------------


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.ingest.schedule import is_stale

    config = ctx.config()
    archive = Archive.open(config.storage_path, create=False)
    try:
        statuses = archive.feed_statuses(now(), is_stale)
        counts = archive.outbox_counts()
        by_chat = archive.outbox_by_chat()
        chat_states = {s.chat_id: s for s in archive.chat_states()}
        mutes = {chat: archive.muted_rules(chat, now()) for chat in by_chat}
    finally:
        archive.close()
    chats = sorted(set(by_chat) | set(chat_states))
    if args.json:
        alerts = {k: counts.get(k, 0) for k in ("pending", "held", "sent", "failed")}
        print(
            json_line(
                {
                    "config": str(config.path),
                    "archive": str(config.storage_path),
                    "feeds": [feed_json(s) for s in statuses],
                    "alerts": alerts,
                    "chats": [
                        _chat_json(c, by_chat.get(c, {}), chat_states.get(c), mutes.get(c, {})) for c in chats
                    ],
                }
            )
        )
        return 0
    print(f"config {config.path}\narchive {config.storage_path}")
    for s in statuses:
        print(_feed_text(s))
    failing = sum(1 for s in statuses if s.last_error)
    suspended = sum(1 for s in statuses if s.status == "suspended")
    stale = sum(1 for s in statuses if s.stale)
    print(
        f"feeds: {len(statuses)} ({failing} failing, {suspended} suspended, {stale} stale); "
        f"alerts: {counts.get('pending', 0)} pending, "
        f"{counts.get('held', 0)} held for digests, {counts.get('sent', 0)} sent, "
        f"{counts.get('failed', 0)} rejected"
    )
    for chat in chats:
        print(_chat_line(chat, by_chat.get(chat, {}), chat_states.get(chat), mutes.get(chat, {})))
    return 0


def _feed_text(s: FeedStatus) -> str:
    checked = s.last_checked.strftime("%Y-%m-%d %H:%M UTC") if s.last_checked else "never checked"
    state = f"ERROR ({s.error_count}x): {s.last_error}" if s.last_error else "ok"
    if s.status == "suspended":
        state = f"SUSPENDED: {s.suspended_reason} (monitor feeds resume URL); last error: {s.last_error}"
    if s.warning:
        state += f"; warning: {s.warning}"
    if s.stale:
        state += f"; STALE: nothing new since {s.last_new:%Y-%m-%d %H:%M UTC}" if s.last_new else "; STALE"
    return f"{s.name or s.url}\n    {s.url}\n    last check {checked}; {s.articles} articles; {state}"


def _chat_json(
    chat: str, counts: dict[str, int], state: ChatState | None, mutes: dict[str, datetime]
) -> dict[str, object]:
    return {
        "chat": chat,
        "alerts": {k: counts.get(k, 0) for k in ("pending", "held", "sent")},
        "status": state.status if state else "active",
        "reason": state.reason if state else None,
        "moved_to": state.moved_to if state else None,
        "muted": {rule: until.isoformat() for rule, until in sorted(mutes.items())},
    }


def _chat_line(chat: str, counts: dict[str, int], state: ChatState | None, mutes: dict[str, datetime]) -> str:
    pending, held, sent = (counts.get(k, 0) for k in ("pending", "held", "sent"))
    line = f"chat {chat}: {pending} pending, {held} held, {sent} sent"
    if state is not None and state.status == "disabled":
        line += (
            f"; DISABLED since {state.changed:%Y-%m-%d %H:%M UTC}: {state.reason}"
            if state.changed
            else "; DISABLED"
        )
    if state is not None and state.status == "moved":
        line += f"; moved to {state.moved_to} (update chat_id in the config)"
    for rule, until in sorted(mutes.items()):
        line += f"; {rule} muted until {until:%Y-%m-%d %H:%M UTC}"
    return line


# --- backup, prune --------------------------------------------------------------------


def cmd_backup(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    target = Path(args.target)
    refuse_existing(target, args.force, "backup target")
    archive = Archive.open(config.storage_path, create=False)
    try:
        if target.exists():  # --force: a whole new copy, then one rename over the old one
            partial = target.with_name(f".{target.name}.partial")
            partial.unlink(missing_ok=True)
            archive.backup(partial)
            os.replace(partial, target)
        else:
            archive.backup(target)
    finally:
        archive.close()
    say(f"backed up {config.storage_path} to {args.target}")
    return 0


def cmd_prune(ctx: Context, args: argparse.Namespace) -> int:
    """Arguments first (a bad one is a usage error, exit 2), then the config and the archive."""
    before = now() - timedelta(seconds=duration(args.older_than, "--older-than"))
    config = ctx.config()
    archive = Archive.open(config.storage_path, create=False)
    try:
        if args.dry_run:
            found, matched = archive.prunable(before, include_matched=args.include_matched)
        else:
            found = archive.prune(before, include_matched=args.include_matched)
    finally:
        archive.close()
    kept = "" if args.include_matched else " (matched articles kept)"
    what = f"{count(found, 'article')} published and first seen over {args.older_than} ago{kept}"
    if args.dry_run:
        of_them = f", {matched} of them matched by a rule" if args.include_matched else ""
        say(f"would delete {what}{of_them}; nothing deleted (--dry-run)")
    else:
        say(f"deleted {what}")
    return 0
