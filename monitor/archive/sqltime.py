"""Times as the archive stores them: UTC text, sortable, understood by SQLite's date functions."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def iso(dt: datetime) -> str:
    """UTC, second precision, sortable as text, understood by SQLite's date functions."""
    utc = dt.astimezone(UTC)
    if utc.year < 1000:  # as strftime writes it (no leading zeros on glibc), as it always has
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    # the same text as that strftime, in a fifth fewer instructions (callgrind): several an article
    return f"{utc.isoformat(timespec='seconds')[:19]}Z"


def from_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def epoch(value: str) -> int:
    """An archive time (ISO text, as iso() writes it) as whole seconds since 1970, UTC: how
    story_keys stores it since m016 (4 bytes instead of 20)."""
    parsed = datetime.fromisoformat(value)
    return epoch_of(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def epoch_of(dt: datetime) -> int:
    """Whole seconds, rounded down as iso() drops the fraction (before 1970 too)."""
    return math.floor(dt.timestamp())
