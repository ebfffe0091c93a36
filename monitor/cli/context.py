"""What every command module shares: the global options, durations, counts, JSON Lines.

Light on purpose (main.py imports it before any command runs): the config loader is
imported when a command asks for its config, not before.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.errors import MonitorError

if TYPE_CHECKING:
    from monitor.types import Config, FeedStatus


@dataclass(frozen=True)
class Context:
    config_arg: str | None  # --config as given
    log_level: str  # --log-level

    def config_file(self) -> Path:
        import os

        from monitor.config.load import config_path

        return config_path(self.config_arg, os.environ)

    def config(self) -> Config:
        from monitor.config.load import load_config

        return load_config(self.config_file())


class UsageError(Exception):
    """A bad argument value found after parsing (exit 2, like argparse's own)."""


def since(value: str, option: str = "--since") -> datetime:
    """The moment `value` (a duration such as 7d) ago; a bad value is a usage error."""
    from monitor.config.values import MAX_AGE, parse_duration

    try:
        return now() - timedelta(seconds=parse_duration(value, MAX_AGE))
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def duration(value: str, option: str) -> float:
    from monitor.config.values import MAX_AGE, parse_duration

    try:
        return parse_duration(value, MAX_AGE)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def now() -> datetime:
    return datetime.now(UTC)


def count(n: int, noun: str) -> str:
    """ "1 feed", "2 feeds", "1 invalid entry", "3 invalid entries"."""
    if n == 1:
        return f"{n} {noun}"
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {plural}"


def json_line(data: Any) -> str:
    """One line of JSON Lines, the output of every --json (one object per line, UTF-8)."""
    import json  # here: `rules check` and most commands print none (json costs 1.3 ms a start)

    return json.dumps(data, ensure_ascii=False)


def when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def say(text: str) -> None:
    """A message for the person at the terminal (stderr), not for a pipe."""
    print(text, file=sys.stderr)


def refuse_existing(path: Path, force: bool, what: str) -> None:
    """`backup` and `feeds export -o` alike: an existing file is kept unless --force."""
    if path.exists() and not force:
        raise MonitorError(f"{what} {path} already exists: choose a new name, or pass --force to replace it")


def feed_json(s: FeedStatus) -> dict[str, object]:
    """A feed as `feeds list --json` and `status --json` show it."""
    return {
        "url": s.url,
        "name": s.name,
        "folder": s.folder,
        "origin": s.origin,
        "status": s.status,
        "stale": s.stale,
        "churning": s.churning,
        "articles": s.articles,
        "error_count": s.error_count,
        "last_error": s.last_error,
        "warning": s.warning,
        "suspended_reason": s.suspended_reason,
        "last_checked": when(s.last_checked),
        "last_success": when(s.last_success),
        "last_new": when(s.last_new),
        "next_check": when(s.next_check) if s.status == "active" else None,
    }
