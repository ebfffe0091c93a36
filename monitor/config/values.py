"""Parsers for the values monitor.toml holds: durations, clock times, digest schedules, networks.

Pure functions of one value each, raising ValueError with a message a user can act on; the
config reader (load.py) adds the file and line. Other packages import them from here.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import time

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


def parse_clock(text: object) -> time:
    """A 24-hour wall-clock time "HH:MM" ("8:00" too) → time."""
    m = _CLOCK.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"not a time of day: {text!r} (use 24-hour HH:MM, e.g. '07:30')")
    return time(int(m.group(1)), int(m.group(2)))


def parse_quiet_hours(text: object) -> tuple[time, time]:
    """ "22:00-07:00" → (start, end); an end at or before the start spans midnight."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise ValueError(f"not a time range: {text!r} (use 'HH:MM-HH:MM', e.g. '22:00-07:00')")
    start_text, end_text = text.split("-")
    start, end = parse_clock(start_text), parse_clock(end_text)
    if start == end:
        raise ValueError(f"quiet hours start and end at the same time: {text!r}")
    return start, end


def parse_digest_spec(text: object) -> tuple[str, time, int]:
    """ "daily 08:00" → ("daily", 08:00, 0); "weekly mon 08:00" → ("weekly", 08:00, 0 = Monday)."""
    usage = "use 'daily HH:MM' or 'weekly DAY HH:MM', e.g. 'daily 08:00' or 'weekly mon 08:00'"
    words = text.lower().split() if isinstance(text, str) else []
    if len(words) == 2 and words[0] == "daily":
        return "daily", parse_clock(words[1]), 0
    if len(words) == 3 and words[0] == "weekly":
        day = _weekday(words[1])
        if day is None:
            raise ValueError(f"not a weekday: {words[1]!r} (use mon, tue, wed, thu, fri, sat or sun)")
        return "weekly", parse_clock(words[2]), day
    raise ValueError(f"not a digest schedule: {text!r} ({usage})")


def _weekday(word: str) -> int | None:
    for names in (WEEKDAYS, _FULL_WEEKDAYS):
        if word in names:
            return names.index(word)
    return None


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as "90s", "15m", "1h", "30d"."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (use a number of seconds or e.g. '90s', '15m', '1h')")
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    return seconds


def parse_backfill(value: object) -> float | None:
    """[alerts] backfill: seconds, 0 ("0": nothing old alerts), or None ("all": everything does)."""
    if value == "all":
        return None
    if value in (0, "0"):
        return 0.0
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValueError(f'{exc}, "0" or "all"') from None


def parse_network(text: str) -> IPNetwork | None:
    """An address or a network in CIDR notation, or None when `text` is neither (a name)."""
    try:
        return ipaddress.ip_network(text.strip().strip("[]"), strict=False)
    except ValueError:
        return None
