"""Parsers for the values monitor.toml holds: durations, clock times, digest schedules, networks.

Pure functions of one value each, raising ValueError with a message a user can act on; the
config reader (load.py) adds the file and line. Other packages import them from here.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import time

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
MAX_DURATION = 365 * 86400.0  # seconds; no interval, timeout or window in the config needs more
MAX_AGE = 100 * 365 * 86400.0  # seconds; a look back (search --since, prune --older-than)
MAX_COUNT = 10**9  # a whole-number setting beyond this is a typo (issue 20: values bounded)
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


def parse_duration(value: object, limit: float | None = None) -> float:
    """Seconds from a number or a string such as "90s", "15m", "1h", "30d": finite, positive, at
    most a year, or `limit` seconds (NaN or "10000000d" would overflow date arithmetic, issue 20).
    The chat commands pass math.inf and clamp what they are given themselves."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (use a number of seconds or e.g. '90s', '15m', '1h')")
    if math.isnan(seconds) or (math.isinf(seconds) and limit is None):
        raise ValueError(f"not a duration: {value!r} (a duration must be a finite number)")
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    if limit is None and seconds > MAX_DURATION:
        raise ValueError(f"duration longer than a year: {value!r} (at most 365d)")
    if limit is not None and seconds > limit:
        raise ValueError(f"duration too long: {value!r} (at most {limit / 86400:g}d)")
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


# --- URLs as they may be shown ------------------------------------------------------------

# A URL in a text: its scheme, then user info (up to an @ before the first /), then the rest.
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)(?:([^\s/?#@'\"<>]*)@)?([^\s'\"<>]*)")
# Query parameters that carry a secret (?apikey=, &token=, ...): their values are not shown.
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:api[_-]?key|apikey|key|access[_-]?key|token|access[_-]?token|auth|auth[_-]?token"
    r"|password|passwd|pwd|pass|secret|client[_-]?secret|signature|sig|session|sessionid|private[_-]?token)=)"
    r"[^&#;\s'\"<>]*"
)


def redact_urls(text: str) -> str:
    """`text` with every URL's credentials replaced by *** (user:password@ and secret query
    values such as ?apikey=): for log lines, errors and metric labels (issue 20)."""
    if "://" not in text or ("@" not in text and "=" not in text):
        return text  # nothing to hide: the usual case, without a regex pass
    return _URL.sub(_redact_one, text)


def _redact_one(m: re.Match[str]) -> str:
    scheme, userinfo, rest = m.group(1), m.group(2), m.group(3)
    return scheme + ("***@" if userinfo else "") + _SECRET_PARAM.sub(r"\1***", rest)


_LISTEN = re.compile(r"^(?:\[(?P<ipv6>[^\[\]]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>[0-9]{1,5})$")


def valid_listen(text: str) -> bool:
    """ "host:port" or "[IPv6]:port", with a port from 1 to 65535."""
    m = _LISTEN.match(text)
    if m is None or not 1 <= int(m["port"]) <= 65535:
        return False
    if m["ipv6"] is None:
        return True
    try:
        ipaddress.IPv6Address(m["ipv6"])
    except ValueError:
        return False
    return True


def known_zone(name: object) -> bool:
    if not isinstance(name, str):
        return False
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # with sysconfig: 2 ms of a start without [[chats]]

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown; not a key ("../x"); a folder ("Asia")
        return False
    return True
