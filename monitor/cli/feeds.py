"""`monitor feeds list|import|export|resume|remove`: the feeds monitor watches.

They talk to the archive directly and may run while `monitor run` does: the
feeds table is the service's schedule, and the service looks for other
processes' writes to the archive every second, so a feed added, imported or
resumed here (due at once) is fetched within seconds, and a removed one is not
fetched again, without a restart. Their writes wait for the service's
(storage.write_transaction); `feeds list` and `export` do not write at all:
they show the configured feeds as the next sync will.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from monitor.archive.store import Archive
from monitor.cli.context import Context, count, feed_json, json_line, now, refuse_existing, say
from monitor.errors import ConfigError, StorageError
from monitor.ingest.schedule import is_stale
from monitor.types import Config, FeedConfig, FeedStatus

# What a running service does with a feed made due here: its watcher sees the archive change
# within a second (service/scheduler.py, WATCH_SECONDS) and the next pass fetches it.
WITHIN_SECONDS = "checked within seconds while monitor run is up"


def cmd_feeds(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    readers: dict[str, Callable[[list[FeedStatus], argparse.Namespace], int]] = {
        "list": _list,
        "export": _export,
    }
    writers: dict[str, Callable[[Archive, argparse.Namespace], int]] = {
        "import": lambda archive, args: _import(archive, args, config),
        "resume": _resume,
        "add": _add,
    }
    if args.feeds_command in readers:
        return readers[args.feeds_command](_watched(config), args)
    if args.feeds_command == "add":
        _check_add(args)  # a bad argument before the archive is opened
    from_config = args.feeds_command == "remove" and any(f.url == args.url for f in config.feeds)
    if from_config:
        from monitor.config.edit import remove_from_config
        from monitor.config.load import load_config

        remove_from_config(config.path, args.url)  # then the archive, below, as the next sync would
        config = load_config(config.path)
    archive = Archive.open(config.storage_path)
    try:
        archive.sync_feeds(config.feeds, now())
        if args.feeds_command == "remove":
            return _remove(archive, args, config.path if from_config else None)
        return writers[args.feeds_command](archive, args)
    finally:
        archive.close()


def _watched(config: Config) -> list[FeedStatus]:
    """Every feed, removed ones included, without writing: from the archive when there is one."""
    if not config.storage_path.exists():
        return as_configured([], config.feeds)
    archive = Archive.open(config.storage_path, create=False)
    try:
        return as_configured(archive.feed_statuses(now(), is_stale, include_removed=True), config.feeds)
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


# --- feeds actions ------------------------------------------------------------


def _list(statuses: list[FeedStatus], args: argparse.Namespace) -> int:
    for status in statuses:
        print(json_line(feed_json(status)) if args.json else _line(status))
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
    if s.churning:
        label += ", CHURNING: every item new on each of its last 3 checks"
    if s.status == "suspended":
        when = "not checked until resumed (monitor feeds resume URL)"
    elif s.status == "removed":
        when = "not checked"
    elif s.next_check is None:  # in the config, not in the archive yet
        when = "checked as soon as monitor run reads the config (within seconds), or when it starts"
    elif s.next_check <= now():
        when = f"due now: {WITHIN_SECONDS}"
    else:
        when = f"next check {s.next_check:%Y-%m-%d %H:%M} UTC"
    reason = s.suspended_reason or s.last_error
    detail = f"\n    {reason}" if reason and s.status != "removed" else ""
    name = s.name or "(no title yet)"
    folder = f"{s.folder} / " if s.folder else ""
    articles = count(s.articles, "article")
    return f"{folder}{name} [{label}; {s.origin}]\n    {s.url}\n    {articles}; {when}{detail}"


def _import(archive: Archive, args: argparse.Namespace, config: Config) -> int:
    from monitor.ingest.netguard import AddressPolicy
    from monitor.ingest.opml import read_opml

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
        say(f"monitor: {where}: {problem.message}")
    folders = {f.url: f.category for f in found.feeds}
    added, known = archive.add_feeds([(f.url, f.title) for f in found.feeds], now(), folders=folders)
    skipped = f"{count(len(found.duplicates), 'duplicate')} and {count(len(found.invalid), 'invalid entry')}"
    added_line = f"{count(len(added), 'feed')} added, {len(known)} already watched"
    in_folders = len({f.category for f in found.feeds if f.category})
    filed = f" in {count(in_folders, 'folder')}" if in_folders else ""
    say(f"imported {path}: {added_line}{filed}, {skipped} skipped")
    return 0


def _export(statuses: list[FeedStatus], args: argparse.Namespace) -> int:
    from monitor.ingest.opml import OpmlFeed, write_opml

    feeds = [OpmlFeed(s.url, s.name, None, s.folder) for s in statuses if s.status != "removed"]
    text = write_opml(feeds, now=now())
    if not args.output:
        sys.stdout.write(text)
        return 0
    target = Path(args.output)
    refuse_existing(target, args.force, "export target")
    partial = target.with_name(f".{target.name}.partial")  # whole or not at all
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write: {exc.strerror}", target) from None
    say(f"exported {count(len(feeds), 'feed')} to {args.output}")
    return 0


def _resume(archive: Archive, args: argparse.Namespace) -> int:
    before = archive.set_feed_status(args.url, "active", now())
    if before is None:
        raise StorageError(f"no such feed: {args.url} (see monitor feeds list)")
    if before == "removed":
        raise StorageError(f"{args.url} was removed; {_how_to_add_back(archive, args.url)}")
    if before == "active":
        say(f"{args.url} is not suspended; due now: {WITHIN_SECONDS}")
    else:
        say(f"resumed {args.url}: due now: {WITHIN_SECONDS}")
    return 0


def _how_to_add_back(archive: Archive, url: str) -> str:
    origin = next(
        (s.origin for s in archive.feed_statuses(now(), is_stale, include_removed=True) if s.url == url), ""
    )
    if origin == "config":
        return "to watch it again, add its [[feeds]] table back to the config file"
    return "to watch it again, import it (monitor feeds import FILE.opml) or add it to the config file"


def _check_add(args: argparse.Namespace) -> None:
    from monitor.config.values import parse_duration

    if not args.url.startswith(("http://", "https://")):
        raise ConfigError(f"feeds add: {args.url!r} is not an http(s) URL")
    if args.interval is not None:
        try:
            parse_duration(args.interval)
        except ValueError as exc:
            raise ConfigError(f"feeds add --interval: {exc}") from None


def _add(archive: Archive, args: argparse.Namespace) -> int:
    from monitor.config.values import parse_duration

    interval = parse_duration(args.interval) if args.interval is not None else None
    added, _known = archive.add_feeds([(args.url, args.name)], now(), origin="cli", interval=interval)
    if not added:
        say(f"{args.url} is already watched (monitor feeds list)")
    else:
        say(f"added {args.url}: {WITHIN_SECONDS}")
    return 0


def _remove(archive: Archive, args: argparse.Namespace, config_file: Path | None) -> int:
    if config_file is not None:
        say(f"removed {args.url} from {config_file}; its articles stay in the archive")
        return 0
    before = archive.set_feed_status(args.url, "removed", now())
    if before is None:
        raise StorageError(f"no such feed: {args.url} (see monitor feeds list)")
    if before == "removed":
        say(f"{args.url} was already removed; its articles stay in the archive")
    else:
        say(f"removed {args.url}; its articles stay in the archive")
    return 0
