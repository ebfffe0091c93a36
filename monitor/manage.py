"""Commands that look after feeds and the archive: `monitor feeds …`, `backup`, `prune`.

They talk to the archive directly and may run while `monitor run` does: the
feeds table is the service's schedule, so a feed imported, resumed or
removed here is picked up at its next tick, without a restart.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import parse_duration
from monitor.errors import ConfigError, StorageError
from monitor.opml import OpmlFeed, read_opml, write_opml
from monitor.storage import Archive
from monitor.types import Config, FeedStatus


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
    actions: dict[str, Callable[[Archive, argparse.Namespace], int]] = {
        "list": _list,
        "import": _import,
        "export": _export,
        "resume": _resume,
        "remove": _remove,
    }
    archive = Archive.open(config.storage_path)
    try:
        archive.sync_feeds(config.feeds, _now())
        return actions[args.feeds_command](archive, args)
    finally:
        archive.close()


def cmd_backup(config: Config, args: argparse.Namespace) -> int:
    archive = Archive.open(config.storage_path, create=False)
    try:
        archive.backup(Path(args.target))
    finally:
        archive.close()
    print(f"backed up {config.storage_path} to {args.target}", file=sys.stderr)
    return 0


def cmd_prune(config: Config, args: argparse.Namespace) -> int:
    try:
        age = parse_duration(args.older_than)
    except ValueError as exc:
        raise ConfigError(f"--older-than: {exc}") from None
    archive = Archive.open(config.storage_path, create=False)
    try:
        deleted = archive.prune(_now() - timedelta(seconds=age), include_matched=args.include_matched)
    finally:
        archive.close()
    kept = "" if args.include_matched else " (matched articles kept)"
    print(f"deleted {deleted} articles older than {args.older_than}{kept}", file=sys.stderr)
    return 0


# --- feeds actions ------------------------------------------------------------


def _list(archive: Archive, args: argparse.Namespace) -> int:
    for status in archive.feed_statuses(_now()):
        print(json.dumps(_as_json(status), ensure_ascii=False) if args.json else _line(status))
    return 0


def _line(s: FeedStatus) -> str:
    state = s.status.upper() if s.status != "active" else ("FAILING" if s.last_error else "ok")
    if s.stale:
        state += ", quiet for longer than usual"
    when = f"next check {s.next_check:%Y-%m-%d %H:%M} UTC" if s.next_check else "due now"
    detail = f"\n    {s.suspended_reason or s.last_error}" if (s.suspended_reason or s.last_error) else ""
    name = s.name or "(no title yet)"
    return f"{name} [{state}; {s.origin}]\n    {s.url}\n    {s.articles} articles; {when}{detail}"


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
        "next_check": when(s.next_check),
    }


def _import(archive: Archive, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path) from None
    try:
        found = read_opml(data)
    except ConfigError as exc:
        raise ConfigError(exc.message, path, exc.line) from None
    for problem in (*found.duplicates, *found.invalid):
        where = f"{path}:{problem.line}" if problem.line else str(path)
        print(f"monitor: {where}: {problem.message}", file=sys.stderr)
    added, known = archive.add_feeds([(f.url, f.title) for f in found.feeds], _now())
    print(
        f"imported {path}: {len(added)} feeds added, {len(known)} already watched, "
        f"{len(found.duplicates)} duplicates and {len(found.invalid)} invalid entries skipped",
        file=sys.stderr,
    )
    return 0


def _export(archive: Archive, args: argparse.Namespace) -> int:
    feeds = [OpmlFeed(s.url, s.name, None, None) for s in archive.feed_statuses(_now())]
    text = write_opml(feeds, now=_now())
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"exported {len(feeds)} feeds to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _resume(archive: Archive, args: argparse.Namespace) -> int:
    if not archive.set_feed_status(args.url, "active", _now()):
        raise StorageError(f"no such feed: {args.url} (see monitor feeds list)")
    print(f"resumed {args.url}: it is checked at the next tick", file=sys.stderr)
    return 0


def _remove(archive: Archive, args: argparse.Namespace) -> int:
    configured = {s.url for s in archive.feed_statuses(_now()) if s.origin == "config"}
    if args.url in configured:
        raise StorageError(f"{args.url} is listed in the config file: remove its [[feeds]] table there")
    if not archive.set_feed_status(args.url, "removed", _now()):
        raise StorageError(f"no such feed: {args.url} (see monitor feeds list)")
    print(f"removed {args.url}; its articles stay in the archive", file=sys.stderr)
    return 0


def _now() -> datetime:
    return datetime.now(UTC)
