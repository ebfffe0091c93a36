"""Times as the archive stores them: UTC text, sortable, understood by SQLite's date functions."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(dt: datetime) -> str:
    """UTC, second precision, sortable as text, understood by SQLite's date functions."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
