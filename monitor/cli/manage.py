"""Commands that look after feeds and the archive: `monitor feeds …`, `backup`, `prune`.

They talk to the archive directly and may run while `monitor run` does: the
feeds table is the service's schedule, so a feed imported, resumed or
removed here is picked up at its next tick, without a restart. Their writes
wait for the service's (storage.write_transaction); `feeds list` and `export`
do not write at all: they show the configured feeds as the next sync will.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.archive.store import Archive
from monitor.config.values import MAX_AGE, parse_duration
from monitor.errors import ConfigError, StorageError
from monitor.ingest.netguard import AddressPolicy
from monitor.ingest.opml import OpmlFeed, read_opml, write_opml
from monitor.ingest.schedule import is_stale
from monitor.types import Config, FeedConfig, FeedStatus


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feeds = sub.add_parser("feeds", help="list, import, export, resume or remove feeds")
    actions = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every feed with its state and schedule")
    listing.add_argument("--json", action="store_true", help="one JSON object per feed")
    imports = actions.add_parser("import", help="watch the feeds of an OPML file too")
    imports.add_argument("file", metavar="FILE.opml")
    exports = actions.add_parser("export", help="every watched feed as OPML 2.0")
    exports.add_argument("--output", "-o", metavar="FILE", help="write here instead of to stdout")
    resume = actions.add_parser("resume", help="check a suspended feed again, now")
    resume.add_argument("url", metavar="URL")
    remove = actions.add_parser("remove", help="stop checking an imported feed (its articles stay)")
    remove.add_argument("url", metavar="URL")
    backup = sub.add_parser("backup", help="a consistent copy of the archive, safe while monitor runs")
    backup.add_argument("target", metavar="PATH")
    prune = sub.add_parser("prune", help="delete old unmatched articles from the archive")
    prune.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 180d")
    prune.add_argument("--include-matched", action="store_true", help="delete matched articles too")


def cmd_feeds(config: Config, args: argparse.Namespace) -> int:
    readers: dict[str, Callable[[list[FeedStatus], argparse.Namespace], int]] = {
        "list": _list,
        "export": _export,
    }
    writers: dict[str, Callable[[Archive, argparse.Namespace], int]] = {
        "import": lambda archive, args: _import(archive, args, config),
        "resume": _resume,
        "remove": _remove,
    }
    if args.feeds_command in readers:
        return readers[args.feeds_command](_watched(config), args)
    archive = Archive.open(config.storage_path)
    try:
        archive.sync_feeds(config.feeds, _now())
        return writers[args.feeds_command](archive, args)
    finally:
        archive.close()


def _watched(config: Config) -> list[FeedStatus]:
    """Every feed, removed ones included, without writing: from the archive when there is one."""
    if not config.storage_path.exists():
        return as_configured([], config.feeds)
    archive = Archive.open(config.storage_path, create=False)
    try:
        return as_configured(archive.feed_statuses(_now(), is_stale, include_removed=True), config.feeds)
    finally:
        archive.close()


def as_configured(statuses: Sequence[FeedStatus], feeds: Sequence[FeedConfig]) -> list[FeedStatus]:
    """The archive's feeds as the next sync with the config leaves them (storage.sync_feeds):
    configured ones active (a new one not checked yet), ones gone from the config removed."""
    configured = {feed.url: feed for feed in feeds}
    shown = []
    for s in statuses:
        if s.url in configured:
            status = "active" if s.status == "removed" else s.status
            s = replace(s, origin="config", status=status, name=configured[s.url].name or s.name)
        elif s.origin == "config" and s.status != "removed":
            s = replace(s, status="removed", stale=False)
        shown.append(s)
    known = {s.url for s in statuses}
    new = [
        FeedStatus(f.url, f.name, None, None, None, 0, 0, origin="config")
        for f in feeds
        if f.url not in known
    ]
    ordered = [s for s in shown if s.origin == "config"] + new + [s for s in shown if s.origin != "config"]
    return sorted(ordered, key=lambda s: s.status == "removed")  # stable: removed ones last


def cmd_backup(config: Config, args: argparse.Namespace) -> int:
    archive = Archive.open(config.storage_path, create=False)
    try:
        archive.backup(Path(args.target))
    finally:
        archive.close()
    print(f"backed up {config.storage_path} to {args.target}", file=sys.stderr)
    return 0


def cmd_prune(load_config: Callable[[], Config], args: argparse.Namespace) -> int:
    """Arguments first (a bad one is a usage error, exit 2), then the config and the archive."""
    try:
        age = parse_duration(args.older_than, MAX_AGE)
    except ValueError as exc:
        print(f"monitor: error: --older-than: {exc}", file=sys.stderr)
        return 2
    config = load_config()
    archive = Archive.open(config.storage_path, create=False)
    try:
        deleted = archive.prune(_now() - timedelta(seconds=age), include_matched=args.include_matched)
    finally:
        archive.close()
    kept = "" if args.include_matched else " (matched articles kept)"
    print(
        f"deleted {count(deleted, 'article')} published and first seen over {args.older_than} ago{kept}",
        file=sys.stderr,
    )
    return 0


# --- feeds actions ------------------------------------------------------------


def _list(statuses: list[FeedStatus], args: argparse.Namespace) -> int:
    for status in statuses:
        print(json.dumps(_as_json(status), ensure_ascii=False) if args.json else _line(status))
    if not args.json:
        print(summary(statuses))
    return 0


def state(s: FeedStatus) -> str:
    """ok, failing, suspended or removed."""
    return s.status if s.status != "active" else ("failing" if s.last_error else "ok")


def summary(statuses: Sequence[FeedStatus]) -> str:
    states = Counter(state(s) for s in statuses)
    stale = sum(1 for s in statuses if s.stale)
    counts = ", ".join(f"{states[k]} {k}" for k in ("ok", "failing", "suspended", "removed"))
    return f"{count(len(statuses), 'feed')}: {counts}" + (
        f"; {stale} quiet for longer than usual" if stale else ""
    )


def _line(s: FeedStatus) -> str:
    label = state(s) if state(s) == "ok" else state(s).upper()
    if s.stale:
        label += ", quiet for longer than usual"
    if s.status == "suspended":
        when = "not checked until resumed (monitor feeds resume URL)"
    elif s.status == "removed":
        when = "not checked"
    elif s.next_check is None:
        when = "checked at the next tick"
    else:
        when = f"next check {s.next_check:%Y-%m-%d %H:%M} UTC"
    reason = s.suspended_reason or s.last_error
    detail = f"\n    {reason}" if reason and s.status != "removed" else ""
    name = s.name or "(no title yet)"
    return f"{name} [{label}; {s.origin}]\n    {s.url}\n    {count(s.articles, 'article')}; {when}{detail}"


def _as_json(s: FeedStatus) -> dict[str, object]:
    def when(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "url": s.url,
        "name": s.name,
        "origin": s.origin,
        "status": s.status,
        "stale": s.stale,
        "articles": s.articles,
        "error_count": s.error_count,
        "last_error": s.last_error,
        "suspended_reason": s.suspended_reason,
        "last_checked": when(s.last_checked),
        "last_success": when(s.last_success),
        "last_new": when(s.last_new),
        "next_check": when(s.next_check) if s.status == "active" else None,
    }


def _import(archive: Archive, args: argparse.Namespace, config: Config) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path) from None
    try:
        policy = AddressPolicy.from_entries(config.fetch.allow_private)
        found = read_opml(data, policy, refuse_private=config.fetch.block_private_redirects)
    except ConfigError as exc:
        raise ConfigError(exc.message, path, exc.line) from None
    for problem in (*found.duplicates, *found.invalid, *found.warnings):
        where = f"{path}:{problem.line}" if problem.line else str(path)
        print(f"monitor: {where}: {problem.message}", file=sys.stderr)
    added, known = archive.add_feeds([(f.url, f.title) for f in found.feeds], _now())
    skipped = f"{count(len(found.duplicates), 'duplicate')} and {count(len(found.invalid), 'invalid entry')}"
    added_line = f"{count(len(added), 'feed')} added, {len(known)} already watched"
    print(f"imported {path}: {added_line}, {skipped} skipped", file=sys.stderr)
    return 0


def _export(statuses: list[FeedStatus], args: argparse.Namespace) -> int:
    feeds = [OpmlFeed(s.url, s.name, None, None) for s in statuses if s.status != "removed"]
    text = write_opml(feeds, now=_now())
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"exported {count(len(feeds), 'feed')} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _resume(archive: Archive, args: argparse.Namespace) -> int:
    before = archive.set_feed_status(args.url, "active", _now())
    if before is None:
        raise StorageError(f"no such feed: {args.url} (see monitor feeds list)")
    if before == "removed":
        raise StorageError(f"{args.url} was removed; {_how_to_add_back(archive, args.url)}")
    if before == "active":
        print(f"{args.url} is not suspended; it is checked at the next tick", file=sys.stderr)
    else:
        print(f"resumed {args.url}: it is checked at the next tick", file=sys.stderr)
    return 0


def _how_to_add_back(archive: Archive, url: str) -> str:
    origin = next(
        (s.origin for s in archive.feed_statuses(_now(), is_stale, include_removed=True) if s.url == url), ""
    )
    if origin == "config":
        return "to watch it again, add its [[feeds]] table back to the config file"
    return "to watch it again, import it (monitor feeds import FILE.opml) or add it to the config file"


def _remove(archive: Archive, args: argparse.Namespace) -> int:
    configured = {s.url for s in archive.feed_statuses(_now(), is_stale) if s.origin == "config"}
    if args.url in configured:
        raise StorageError(f"{args.url} is listed in the config file: remove its [[feeds]] table there")
    before = archive.set_feed_status(args.url, "removed", _now())
    if before is None:
        raise StorageError(f"no such feed: {args.url} (see monitor feeds list)")
    if before == "removed":
        print(f"{args.url} was already removed; its articles stay in the archive", file=sys.stderr)
    else:
        print(f"removed {args.url}; its articles stay in the archive", file=sys.stderr)
    return 0


def count(n: int, noun: str) -> str:
    """ "1 feed", "2 feeds", "1 invalid entry", "3 invalid entries"."""
    if n == 1:
        return f"{n} {noun}"
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {plural}"


def _now() -> datetime:
    return datetime.now(UTC)
