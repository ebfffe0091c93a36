"""When a feed is checked next. Pure: no I/O, no clock reads, randomness passed in.

The service calls plan() after every check and stores the Decision on the
feed's row (next check, error count), so a restart loses nothing. All
datetimes are UTC-aware (a naive one is a ValueError); ``n`` below is the
number of failures in a row including this one (``history.errors + 1``).

    after the check     delay in seconds                                    reason
    200 or 304          base: adaptive_interval() when [schedule] adaptive  "adaptive"
                        and the feed has 3+ distinct post times, else
                        history.interval                                    "interval"
                        max(base, cache_lifetime(), <ttl>): publisher       "max-age" "expires"
                        hints only lengthen it; a tie keeps the base        "ttl"
    the n-th failure    history.interval × 2^(n-1): 1×, 2×, 4×, ...         "backoff"
      Retry-After       max(that, Retry-After), for this check only         "retry-after"
      410 Gone          suspend at once: GONE
      n >= suspend_threshold()    suspend: "n failures in a row since <first_error> UTC"
    every delay         clamp to [min_interval, max_interval] (a Retry-After too: beyond
                        max_interval it waits max_interval), × a random factor in
                        [1 - jitter, 1 + jitter], clamp again

Jitter never brings a check before what the publisher asked for: when
max-age, Expires, <ttl> or Retry-After set the delay, the factor is drawn from
[1, 1 + jitter] instead. With jitter 0 nothing is drawn, so a success without
hints waits exactly the interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from monitor.types import Decision, FeedHistory, ScheduleSettings

if TYPE_CHECKING:
    import random

# email.utils and statistics are imported where they are used: `monitor status` needs only
# is_stale, and the two cost it 14 ms of start-up (socket, calendar, fractions, decimal...).

DAY = 86400.0  # "a day's worth" of failures suspends a feed (suspend_threshold)
MIN_FAILURES = 3  # ... but never fewer than this: one blip of a daily feed is not a dead feed
STALE_GAPS = 4  # silent for this many usual gaps between posts ...
STALE_MINIMUM = timedelta(days=2)  # ... and at least this long (weekends, holidays) is stale
GONE = "HTTP 410 Gone: the publisher removed this feed"
_PUBLISHER_HINTS = frozenset({"max-age", "expires", "ttl", "retry-after"})


@dataclass(frozen=True)
class CheckResult:
    """What one check of a feed gave. On a 304 pass the feed's last known <ttl>."""

    ok: bool  # the check succeeded (200 with a parsable feed, or 304)
    status: int | None = None  # HTTP status; None when there was no response (network error)
    headers: Mapping[str, str] = field(default_factory=dict)  # response headers, lower-case names
    ttl: float | None = None  # RSS <ttl> in seconds (FeedData.ttl)
    retry_after: float | None = None  # seconds (FetchError.retry_after, already parsed)


def plan(
    settings: ScheduleSettings, history: FeedHistory, result: CheckResult, now: datetime, rng: random.Random
) -> Decision:
    """The next check of a feed after this one, and whether to suspend it instead."""
    _check_settings(settings)
    now = _utc(now, "now")
    published = [_utc(p, "published") for p in history.published]
    # the current run of failures began at the first of them: this one, when it is the first
    since = now if history.first_error is None else _utc(history.first_error, "first_error")
    suspend = None
    if result.ok:
        delay, reason = _success_delay(settings, history.interval, published, result, now)
    else:
        delay, reason = _failure_delay(settings, history, result)
        suspend = _suspension(settings, history, result, since)
    delay = _clamp(delay, settings)
    if settings.jitter:
        low = 1.0 if reason in _PUBLISHER_HINTS else 1.0 - settings.jitter
        delay = _clamp(delay * rng.uniform(low, 1.0 + settings.jitter), settings)
    return Decision(now + timedelta(seconds=delay), delay, reason, suspend)


def _success_delay(
    settings: ScheduleSettings,
    interval: float,
    published: Sequence[datetime],
    result: CheckResult,
    now: datetime,
) -> tuple[float, str]:
    adaptive = adaptive_interval(published, settings) if settings.adaptive else None
    delay, reason = (interval, "interval") if adaptive is None else (adaptive, "adaptive")
    hints = [cache_lifetime(result.headers, now)]
    if result.ttl is not None:
        hints.append((result.ttl, "ttl"))
    for hint in hints:
        if hint is not None and hint[0] > delay:
            delay, reason = hint
    return delay, reason


def _failure_delay(
    settings: ScheduleSettings, history: FeedHistory, result: CheckResult
) -> tuple[float, str]:
    delay = _backoff(settings, history.interval, history.errors)
    if result.retry_after is not None and result.retry_after > delay:
        # Retry-After is per feed: the host's other feeds keep their own schedule.
        return result.retry_after, "retry-after"
    return delay, "backoff"


def _suspension(
    settings: ScheduleSettings, history: FeedHistory, result: CheckResult, since: datetime
) -> str | None:
    if result.status == 410:
        return GONE
    failures = history.errors + 1
    if failures < suspend_threshold(settings, history.interval):
        return None
    return f"{failures} failures in a row since {since:%Y-%m-%d %H:%M} UTC"


def _backoff(settings: ScheduleSettings, interval: float, errors: int) -> float:
    """interval × 2^errors (errors = failures before this one), capped at max_interval."""
    return min(interval * 2.0 ** min(max(errors, 0), 64), settings.max_interval)


def suspend_threshold(settings: ScheduleSettings, interval: float) -> int:
    """Consecutive failures that suspend a feed checked every `interval` seconds.

    [schedule] suspend_after when set; else a day's worth: the smallest n whose
    n backoff delays add up to a day or more (the n-th failure would put the
    next check over a day after the first), at least MIN_FAILURES. With the
    default settings that is 7 failures for a 15-minute feed (15 min, 30 min,
    1 h, ... 16 h: the 7th comes 15¾ h after the first), 5 for an hourly one.
    """
    if settings.suspend_after is not None:
        return settings.suspend_after
    _check_settings(settings)
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval!r}")
    total, failures = 0.0, 0
    while total < DAY:
        total += _clamp(_backoff(settings, interval, failures), settings)
        failures += 1
    return max(failures, MIN_FAILURES)


def cache_lifetime(headers: Mapping[str, str], now: datetime) -> tuple[float, str] | None:
    """Seconds the response stays fresh by its own headers (RFC 9111 §4.2.1), and which header said so.

    Cache-Control max-age (less any Age a cache in between added) wins over
    Expires, which counts from the response's Date when it has a valid one,
    else from `now`. s-maxage is for shared caches, not us. no-store or
    no-cache, an invalid value (RFC 9111: treat as stale), or a lifetime of
    zero or less → None.
    """
    now = _utc(now, "now")
    fields = {name.lower(): value for name, value in headers.items()}
    directives = _cache_control(fields.get("cache-control", ""))
    if "no-store" in directives or "no-cache" in directives:
        return None
    if "max-age" in directives:
        max_age = _delta_seconds(directives["max-age"])
        age = _delta_seconds(fields.get("age")) or 0.0
        return (max_age - age, "max-age") if max_age is not None and max_age > age else None
    expires = _http_date(fields.get("expires"))
    if expires is None:
        return None
    seconds = (expires - (_http_date(fields.get("date")) or now)).total_seconds()
    return (seconds, "expires") if seconds > 0 else None


def _cache_control(value: str) -> dict[str, str]:
    """Directive → value ("" when it has none); the first of a repeated directive counts."""
    directives: dict[str, str] = {}
    for part in value.split(","):
        name, _, argument = part.partition("=")
        name = name.strip().lower()
        if name:
            directives.setdefault(name, argument.strip().strip('"'))
    return directives


def _delta_seconds(value: str | None) -> float | None:
    value = (value or "").strip()
    return float(value) if value.isascii() and value.isdigit() else None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # RFC 9111 §5.3: an invalid Expires ("0") means already expired
    # an HTTP-date is always GMT; parsedate gives a naive datetime for "-0000"
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def usual_gap(published: Sequence[datetime]) -> float | None:
    """Median seconds between consecutive posts; None with fewer than 3 distinct times.

    Distinct, because feeds that stamp every item with the build time would
    otherwise have a usual gap of zero.
    """
    times = sorted({_utc(p, "published") for p in published})
    if len(times) < 3:
        return None
    import statistics

    return statistics.median((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False))


def adaptive_interval(published: Sequence[datetime], settings: ScheduleSettings) -> float | None:
    """Half the feed's usual gap between posts, within [min_interval, max_interval]; None without 3 posts.

    Half, so that a new post waits on average a quarter of the usual gap.
    """
    gap = usual_gap(published)
    return None if gap is None else _clamp(gap / 2, settings)


def is_stale(last_new: datetime | None, published: Sequence[datetime], now: datetime) -> bool:
    """The feed has been silent for much longer than usual.

    Silent since its newest post (the later of `last_new`, when monitor last
    found a new article, and the newest publication time) for more than
    STALE_GAPS (4) usual gaps and more than STALE_MINIMUM (2 days), so a
    weekday-only feed is not stale on a Monday morning. False without enough
    history to know what usual is.
    """
    now = _utc(now, "now")
    if last_new is not None and now - _utc(last_new, "last_new") <= STALE_MINIMUM:
        return False  # new articles lately: `published` need not even be read (`monitor status`)
    gap = usual_gap(published)
    if gap is None:
        return False
    times = [_utc(p, "published") for p in published]
    if last_new is not None:
        times.append(_utc(last_new, "last_new"))
    silence = now - max(times)
    return silence > max(STALE_GAPS * timedelta(seconds=gap), STALE_MINIMUM)


def _clamp(delay: float, settings: ScheduleSettings) -> float:
    return min(max(delay, settings.min_interval), settings.max_interval)


def _check_settings(settings: ScheduleSettings) -> None:
    if not 0 < settings.min_interval <= settings.max_interval:
        raise ValueError(
            f"need 0 < min_interval <= max_interval, got {settings.min_interval} and {settings.max_interval}"
        )
    if not 0 <= settings.jitter < 1:
        raise ValueError(f"jitter must be from 0 up to (not including) 1, got {settings.jitter}")


def _utc(when: datetime, name: str) -> datetime:
    if when.tzinfo is UTC:  # the archive's times: no conversion
        return when
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be a UTC-aware datetime, got naive {when.isoformat()}")
    return when.astimezone(UTC)
