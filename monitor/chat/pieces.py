"""Pieces of the bot's replies: escaped lines and lists cut to fit a message, durations a user
types ("30m", "2w"), and moments shown in UTC ("21 Nov 14:05", "14:00 UTC", "5 min ago")."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from monitor.alerts.text import MONTHS, clean, cut, units
from monitor.config.values import parse_duration

_MORE_ROOM = 32  # "\n… and 1000000+ more", kept free while a list may still be cut
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_span(text: str) -> float | None:
    """Seconds in '30m', '12h', '7d', '2w' (parse_duration's units plus weeks); None when unreadable."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        return None
    number, unit = match.groups()
    try:
        if unit == "w":
            return parse_duration(f"{float(number) * 7}d", math.inf)
        return parse_duration(f"{number}{unit}", math.inf)
    except ValueError:  # zero
        return None


def minus(now: datetime, seconds: float) -> datetime | None:
    """now - seconds, or None (no limit) when that is before the calendar begins."""
    try:
        return now - timedelta(seconds=seconds)
    except OverflowError:
        return None


def short_date(moment: datetime, now: datetime) -> str:
    """'21 Nov 14:05' in UTC; '21 Nov 2024' for another year."""
    moment = moment.astimezone(UTC)
    day = f"{moment.day} {MONTHS[moment.month - 1]}"
    return f"{day} {moment.year}" if moment.year != now.astimezone(UTC).year else f"{day} {moment:%H:%M}"


def until_text(moment: datetime, now: datetime) -> str:
    """'14:00 UTC' later today, else '21 Nov 14:00 UTC'."""
    moment, today = moment.astimezone(UTC), now.astimezone(UTC)
    if moment.date() == today.date():
        return f"{moment:%H:%M} UTC"
    day = f"{moment.day} {MONTHS[moment.month - 1]}"
    year = f" {moment.year}" if moment.year != today.year else ""
    return f"{day}{year} {moment:%H:%M} UTC"


def ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h ago"
    return f"{hours // 24} days ago"


def span_text(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def escaped(text: str, budget: int) -> str:
    """Feed or archive text as one escaped line of at most `budget` UTF-16 units."""
    return html.escape(cut(clean(text), budget), quote=True)


def fit_lines(
    items: Sequence[str], budget: int, *, total: int | None = None, plus: bool = False, sep: int = 1
) -> list[str]:
    """As many items as fit in budget units (each followed by a `sep`-unit separator), then
    "… and N more" when fewer than `total` (default: all items) are shown."""
    total = len(items) if total is None else total
    kept: list[str] = []
    used = 0
    for item in items:
        cost = units(item) + sep
        later = total - len(kept) - 1
        if used + cost + (_MORE_ROOM if later > 0 else 0) > budget:
            break
        kept.append(item)
        used += cost
    if total > len(kept):
        kept.append(f"… and {total - len(kept):,}{'+' if plus else ''} more")
    return kept


def host_of(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
