"""schedule.py: when a feed is checked next, rule by rule, with a fixed random.Random."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.ingest.schedule import (
    GONE,
    CheckResult,
    FeedHistory,
    adaptive_interval,
    cache_lifetime,
    is_stale,
    plan,
    suspend_threshold,
    usual_gap,
)
from monitor.types import ScheduleSettings

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
DATE = "Fri, 06 Mar 2026 12:00:00 GMT"  # NOW as an HTTP-date
EXACT = ScheduleSettings(jitter=0.0)  # the defaults (15 min, 1 min - 1 day), without jitter
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def ok(headers: Mapping[str, str] | None = None, ttl: float | None = None, status: int = 200) -> CheckResult:
    return CheckResult(ok=True, status=status, headers=headers or {}, ttl=ttl)


def failed(status: int | None = 500, retry_after: float | None = None) -> CheckResult:
    return CheckResult(ok=False, status=status, retry_after=retry_after)


def every(gap: timedelta, count: int, newest: datetime = NOW) -> list[datetime]:
    """`count` publication times `gap` apart, newest first, the newest at `newest`."""
    return [newest - i * gap for i in range(count)]


def run(
    result: CheckResult,
    settings: ScheduleSettings = EXACT,
    interval: float = 900.0,
    errors: int = 0,
    first_error: datetime | None = None,
    published: Sequence[datetime] = (),
) -> tuple[float, str, str | None]:
    """(delay, reason, suspend) of one plan() at NOW."""
    history = FeedHistory(interval, errors, first_error, published)
    decision = plan(settings, history, result, NOW, random.Random(0))
    assert decision.next_check == NOW + timedelta(seconds=decision.delay)
    return decision.delay, decision.reason, decision.suspend


# --- success: the interval, lengthened by publisher hints ------------------------------


def test_success_without_hints_waits_exactly_the_interval() -> None:
    decision = plan(EXACT, FeedHistory(900.0), ok(), NOW, random.Random(0))
    assert decision.delay == 900.0
    assert decision.next_check == datetime(2026, 3, 6, 12, 15, tzinfo=UTC)
    assert (decision.reason, decision.suspend) == ("interval", None)
    assert run(ok(status=304)) == (900.0, "interval", None)
    assert run(ok(), interval=90.0) == (90.0, "interval", None)  # the feed's own interval


@pytest.mark.parametrize(
    ("headers", "ttl", "delay", "reason"),
    [
        ({"cache-control": "max-age=3600"}, None, HOUR, "max-age"),
        ({"cache-control": "max-age=60"}, None, 900.0, "interval"),  # hints never shorten
        ({"cache-control": "max-age=900"}, None, 900.0, "interval"),  # a tie keeps the interval
        ({"expires": "Fri, 06 Mar 2026 14:00:00 GMT", "date": DATE}, None, 2 * HOUR, "expires"),
        (
            {"cache-control": "max-age=1200", "expires": "Fri, 06 Mar 2026 14:00:00 GMT"},
            None,
            1200,
            "max-age",
        ),
        ({"cache-control": "no-cache, max-age=3600"}, None, 900.0, "interval"),
        ({}, 3600.0, HOUR, "ttl"),
        ({}, 600.0, 900.0, "interval"),
        ({"cache-control": "max-age=3600"}, 1800.0, HOUR, "max-age"),
        ({"cache-control": "max-age=1800"}, 7200.0, 2 * HOUR, "ttl"),
        ({"cache-control": "max-age=432000"}, None, DAY, "max-age"),  # 5 days: capped at max_interval
    ],
    ids=[
        "max-age",
        "short-max-age",
        "tie",
        "expires",
        "max-age-beats-expires",
        "no-cache",
        "ttl",
        "short-ttl",
        "max-age-over-ttl",
        "ttl-over-max-age",
        "capped",
    ],
)
def test_publisher_hints_only_lengthen(
    headers: dict[str, str], ttl: float | None, delay: float, reason: str
) -> None:
    assert run(ok(headers, ttl)) == (delay, reason, None)


def test_success_below_min_interval_is_raised_to_it() -> None:
    assert run(ok(), interval=10.0) == (MINUTE, "interval", None)


def test_success_never_suspends_and_ignores_retry_after() -> None:
    result = CheckResult(ok=True, status=200, retry_after=7200.0)
    assert run(result, errors=50, first_error=NOW - timedelta(days=3)) == (900.0, "interval", None)


# --- cache_lifetime: Cache-Control max-age, Expires, Date --------------------------------


@pytest.mark.parametrize(
    ("headers", "lifetime"),
    [
        ({"cache-control": "max-age=300"}, (300.0, "max-age")),
        ({"cache-control": 'public, MAX-AGE="300"'}, (300.0, "max-age")),
        ({"Cache-Control": "max-age=300"}, (300.0, "max-age")),
        ({"cache-control": "max-age=300, max-age=9000"}, (300.0, "max-age")),  # the first counts
        ({"cache-control": "s-maxage=600"}, None),  # for shared caches only
        ({"cache-control": "s-maxage=600, max-age=60"}, (60.0, "max-age")),
        ({"cache-control": "max-age=300", "age": "100"}, (200.0, "max-age")),  # a CDN held it 100 s
        ({"cache-control": "max-age=300", "age": "400"}, None),
        ({"cache-control": "no-store"}, None),
        ({"cache-control": "no-cache, max-age=300"}, None),
        ({"cache-control": "No-Cache"}, None),
        ({"cache-control": "max-age=abc"}, None),
        ({"cache-control": "max-age=-5"}, None),
        ({"cache-control": "max-age=0"}, None),
        ({"cache-control": "max-age=0", "expires": "Fri, 06 Mar 2026 14:00:00 GMT"}, None),  # max-age wins
        ({"cache-control": "private", "expires": "Fri, 06 Mar 2026 13:00:00 GMT"}, (HOUR, "expires")),
        # Expires counts from the response's Date: the server clock runs an hour behind ours
        (
            {"expires": "Fri, 06 Mar 2026 12:30:00 GMT", "date": "Fri, 06 Mar 2026 11:00:00 GMT"},
            (1.5 * HOUR, "expires"),
        ),
        ({"expires": "Fri, 06 Mar 2026 12:30:00 GMT"}, (30 * MINUTE, "expires")),  # no Date: from now
        ({"expires": "Fri, 06 Mar 2026 12:30:00 GMT", "date": "yesterday"}, (30 * MINUTE, "expires")),
        ({"expires": "Fri, 06 Mar 2026 12:30:00 +0100"}, None),  # 11:30 UTC: already past
        ({"expires": "Fri, 06 Mar 2026 11:00:00 GMT", "date": DATE}, None),
        ({"expires": DATE, "date": DATE}, None),
        ({"expires": "0"}, None),  # RFC 9111 §5.3: an invalid date means already expired
        ({"expires": "soon"}, None),
        ({}, None),
    ],
    ids=[
        "max-age",
        "quoted-and-case",
        "header-name-case",
        "repeated",
        "s-maxage-ignored",
        "s-maxage-and-max-age",
        "age",
        "older-than-max-age",
        "no-store",
        "no-cache",
        "no-cache-case",
        "garbage",
        "negative",
        "zero",
        "zero-beats-expires",
        "expires-without-max-age",
        "expires-from-date",
        "expires-from-now",
        "bad-date-means-now",
        "expires-past",
        "expires-before-date",
        "expires-equals-date",
        "expires-zero",
        "expires-garbage",
        "none",
    ],
)
def test_cache_lifetime(headers: dict[str, str], lifetime: tuple[float, str] | None) -> None:
    assert cache_lifetime(headers, NOW) == lifetime


# --- jitter ----------------------------------------------------------------------------------


def test_jitter_stays_within_its_bounds_and_spreads() -> None:
    settings = ScheduleSettings(jitter=0.1)
    rng = random.Random(0)
    delays = [plan(settings, FeedHistory(900.0), ok(), NOW, rng).delay for _ in range(2000)]
    assert all(810.0 <= d <= 990.0 for d in delays)
    assert min(delays) < 820.0 and max(delays) > 980.0  # the whole range is used
    assert 880.0 < sum(delays) / len(delays) < 920.0


def test_jitter_is_reproducible_from_the_seed() -> None:
    settings = ScheduleSettings(jitter=0.3)
    first = plan(settings, FeedHistory(900.0), ok(), NOW, random.Random(7))
    again = plan(settings, FeedHistory(900.0), ok(), NOW, random.Random(7))
    assert first == again and first.delay != 900.0


@pytest.mark.parametrize(
    "result",
    [ok({"cache-control": "max-age=3600"}), ok(ttl=3600.0), failed(503, retry_after=3600.0)],
    ids=["max-age", "ttl", "retry-after"],
)
def test_jitter_never_checks_before_the_publisher_asked(result: CheckResult) -> None:
    settings = ScheduleSettings(jitter=0.2)
    rng = random.Random(0)
    delays = [plan(settings, FeedHistory(900.0), result, NOW, rng).delay for _ in range(500)]
    assert all(HOUR <= d <= 1.2 * HOUR for d in delays)
    assert max(delays) > 1.15 * HOUR


def test_jittered_delay_is_clamped_again() -> None:
    settings = ScheduleSettings(min_interval=MINUTE, max_interval=HOUR, jitter=0.5)
    rng = random.Random(0)
    at_min = [plan(settings, FeedHistory(MINUTE), ok(), NOW, rng).delay for _ in range(200)]
    at_max = [plan(settings, FeedHistory(HOUR), ok(), NOW, rng).delay for _ in range(200)]
    assert min(at_min) == MINUTE and max(at_min) > 1.4 * MINUTE
    assert max(at_max) == HOUR and min(at_max) < 0.6 * HOUR


# --- failure: exponential backoff, Retry-After ----------------------------------------------


@pytest.mark.parametrize(
    ("errors", "delay"),
    [(0, 900.0), (1, 1800.0), (2, 3600.0), (3, 7200.0), (6, 57600.0), (7, DAY), (10, DAY), (100_000, DAY)],
)
def test_backoff_doubles_from_the_interval_up_to_max_interval(errors: int, delay: float) -> None:
    settings = ScheduleSettings(jitter=0.0, suspend_after=1_000_000)
    assert run(failed(), settings, errors=errors) == (delay, "backoff", None)


def test_backoff_starts_from_the_feeds_own_interval_and_respects_min_interval() -> None:
    assert run(failed(None), interval=90.0, errors=2) == (360.0, "backoff", None)
    assert run(failed(None), interval=10.0, errors=1) == (MINUTE, "backoff", None)


@pytest.mark.parametrize(
    ("status", "retry_after", "errors", "delay", "reason"),
    [
        (503, 2 * HOUR, 0, 2 * HOUR, "retry-after"),
        (429, 2 * HOUR, 0, 2 * HOUR, "retry-after"),
        (429, 60.0, 3, 7200.0, "backoff"),  # backoff is already longer
        (503, 1800.0, 1, 1800.0, "backoff"),  # a tie keeps backoff
        (503, None, 1, 1800.0, "backoff"),  # a 503 without Retry-After
        (503, 3 * DAY, 0, DAY, "retry-after"),  # honoured up to max_interval
        (503, 0.0, 0, 900.0, "backoff"),
    ],
    ids=["503", "429", "backoff-longer", "tie", "no-header", "beyond-max", "zero"],
)
def test_retry_after_beats_backoff(
    status: int, retry_after: float | None, errors: int, delay: float, reason: str
) -> None:
    assert run(failed(status, retry_after), errors=errors) == (delay, reason, None)


def test_retry_after_counts_only_for_the_check_that_sent_it() -> None:
    assert run(failed(429, retry_after=6 * HOUR), errors=0)[:2] == (6 * HOUR, "retry-after")
    assert run(failed(500), errors=1)[:2] == (1800.0, "backoff")
    assert run(ok(), errors=0)[:2] == (900.0, "interval")


# --- suspension ---------------------------------------------------------------------------------


def test_410_suspends_at_once() -> None:
    delay, reason, suspend = run(failed(410))
    assert suspend == GONE == "HTTP 410 Gone: the publisher removed this feed"
    assert (delay, reason) == (900.0, "backoff")
    assert run(failed(404))[2] is None


@pytest.mark.parametrize(
    ("interval", "threshold"),
    # 15 min: 15m+30m+1h+2h+4h+8h = 15¾ h, +16h crosses a day at the 7th failure
    [(900.0, 7), (HOUR, 5), (MINUTE, 11), (12 * HOUR, 3), (DAY, 3), (10.0, 14)],
    ids=["15min", "1h", "1min", "12h-at-least-3", "1d-at-least-3", "below-min-interval"],
)
def test_default_threshold_is_a_days_worth_of_backoff(interval: float, threshold: int) -> None:
    settings = ScheduleSettings()
    assert suspend_threshold(settings, interval) == threshold
    delays = [run(failed(), EXACT, interval=interval, errors=e)[0] for e in range(threshold)]
    if threshold > 3:
        assert sum(delays[:-1]) < DAY <= sum(delays)


def test_explicit_suspend_after_wins() -> None:
    assert suspend_threshold(ScheduleSettings(suspend_after=2), 900.0) == 2
    assert suspend_threshold(ScheduleSettings(suspend_after=50), DAY) == 50


def test_suspends_on_the_threshold_failure_naming_when_the_run_began() -> None:
    first = datetime(2026, 3, 5, 20, 15, 42, tzinfo=UTC)
    assert run(failed(), errors=5, first_error=first)[2] is None  # the 6th failure
    delay, reason, suspend = run(failed(), errors=6, first_error=first)  # the 7th
    assert suspend == "7 failures in a row since 2026-03-05 20:15 UTC"
    assert (delay, reason) == (57600.0, "backoff")
    assert run(failed(), errors=9, first_error=first)[2] == "10 failures in a row since 2026-03-05 20:15 UTC"


def test_explicit_threshold_in_plan_and_first_error_defaults_to_now() -> None:
    settings = ScheduleSettings(jitter=0.0, suspend_after=3)
    assert run(failed(None), settings, errors=1, first_error=NOW - timedelta(hours=1))[2] is None
    assert run(failed(None), settings, errors=2, first_error=NOW - timedelta(hours=1))[2] == (
        "3 failures in a row since 2026-03-06 11:00 UTC"
    )
    once = ScheduleSettings(jitter=0.0, suspend_after=1)
    assert run(failed(None), once)[2] == "1 failures in a row since 2026-03-06 12:00 UTC"


def test_suspension_time_is_shown_in_utc() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    first = datetime(2026, 3, 6, 10, 0, tzinfo=india)  # 04:30 UTC
    settings = ScheduleSettings(jitter=0.0, suspend_after=2)
    assert run(failed(), settings, errors=1, first_error=first)[2] == (
        "2 failures in a row since 2026-03-06 04:30 UTC"
    )


# --- adaptive intervals ------------------------------------------------------------------------


def test_usual_gap_is_the_median_of_distinct_posting_times() -> None:
    assert usual_gap(every(timedelta(hours=2), 10)) == 2 * HOUR
    hours = [NOW - timedelta(hours=h) for h in (0, 1, 2, 12)]  # gaps 1h, 1h, 10h
    assert usual_gap(list(reversed(hours))) == HOUR  # order does not matter; one long gap does not
    assert usual_gap([NOW, NOW, NOW, NOW - timedelta(hours=1), NOW - timedelta(hours=3)]) == 1.5 * HOUR
    assert usual_gap([NOW, NOW, NOW, NOW - timedelta(hours=1)]) is None  # 2 distinct times
    assert usual_gap(every(timedelta(hours=1), 2)) is None
    assert usual_gap([]) is None


def test_adaptive_interval_is_half_the_usual_gap_within_bounds() -> None:
    assert adaptive_interval(every(timedelta(hours=2), 20), EXACT) == HOUR
    assert adaptive_interval(every(timedelta(seconds=10), 20), EXACT) == MINUTE
    assert adaptive_interval(every(timedelta(days=7), 5), EXACT) == DAY
    assert adaptive_interval(every(timedelta(hours=2), 2), EXACT) is None


def test_plan_uses_the_adaptive_interval_only_when_enabled() -> None:
    adaptive = ScheduleSettings(jitter=0.0, adaptive=True)
    posts = every(timedelta(hours=2), 20)
    assert run(ok(), adaptive, published=posts) == (HOUR, "adaptive", None)
    assert run(ok(), EXACT, published=posts) == (900.0, "interval", None)
    assert run(ok(), adaptive, published=posts[:2]) == (900.0, "interval", None)  # too few posts
    assert run(ok(ttl=3 * HOUR), adaptive, published=posts) == (3 * HOUR, "ttl", None)
    # a failing feed backs off from its configured interval, not the adaptive one
    assert run(failed(), adaptive, errors=1, published=posts) == (1800.0, "backoff", None)


# --- staleness ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gap", "silent", "last_new_ago", "stale"),
    [
        (timedelta(days=1), timedelta(days=3, hours=12), None, False),  # 3½ days < 4 usual gaps
        (timedelta(days=1), timedelta(days=4, hours=1), None, True),
        (timedelta(hours=1), timedelta(days=1), None, False),  # 24 gaps, but under 2 days
        (timedelta(hours=1), timedelta(days=2, hours=1), None, True),
        (timedelta(days=1), timedelta(days=5), timedelta(days=1), False),  # found something new lately
        (timedelta(days=1), timedelta(days=5), timedelta(days=6), True),
    ],
    ids=["daily-3.5d", "daily-4d", "hourly-1d", "hourly-2d", "recent-last-new", "old-last-new"],
)
def test_is_stale(gap: timedelta, silent: timedelta, last_new_ago: timedelta | None, stale: bool) -> None:
    posts = every(gap, 20, newest=NOW - silent)
    last_new = None if last_new_ago is None else NOW - last_new_ago
    assert is_stale(last_new, posts, NOW) is stale


def test_not_stale_without_enough_history() -> None:
    long_ago = NOW - timedelta(days=365)
    assert is_stale(long_ago, [long_ago, long_ago - timedelta(days=1)], NOW) is False
    assert is_stale(None, [], NOW) is False


# --- datetimes -------------------------------------------------------------------------------------

NAIVE = datetime(2026, 3, 6, 12, 0)  # noqa: DTZ001 - the point of these tests


@pytest.mark.parametrize(
    "call",
    [
        lambda: plan(EXACT, FeedHistory(900.0), ok(), NAIVE, random.Random(0)),
        lambda: plan(EXACT, FeedHistory(900.0, 1, first_error=NAIVE), failed(), NOW, random.Random(0)),
        lambda: plan(EXACT, FeedHistory(900.0, first_error=NAIVE), ok(), NOW, random.Random(0)),
        lambda: plan(EXACT, FeedHistory(900.0, published=[NOW, NAIVE]), ok(), NOW, random.Random(0)),
        lambda: cache_lifetime({"expires": DATE}, NAIVE),
        lambda: usual_gap([NAIVE, NAIVE, NAIVE]),
        lambda: is_stale(NAIVE, every(timedelta(hours=1), 5), NOW),
        lambda: is_stale(None, every(timedelta(hours=1), 5), NAIVE),
    ],
    ids=[
        "now",
        "first-error",
        "first-error-on-success",
        "published",
        "cache-now",
        "gap",
        "stale-last-new",
        "stale-now",
    ],
)
def test_naive_datetimes_raise(call: object) -> None:
    with pytest.raises(ValueError, match="UTC-aware"):
        call()  # type: ignore[operator]


def test_other_offsets_come_back_as_utc() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    decision = plan(EXACT, FeedHistory(900.0), ok(), NOW.astimezone(india), random.Random(0))
    assert decision.next_check == NOW + timedelta(minutes=15)
    assert decision.next_check.tzinfo is UTC


@pytest.mark.parametrize(
    "settings",
    [
        ScheduleSettings(min_interval=HOUR, max_interval=MINUTE),
        ScheduleSettings(min_interval=0.0),
        ScheduleSettings(jitter=1.0),
        ScheduleSettings(jitter=-0.1),
    ],
    ids=["min-over-max", "zero-min", "jitter-one", "negative-jitter"],
)
def test_impossible_settings_raise(settings: ScheduleSettings) -> None:
    with pytest.raises(ValueError):
        plan(settings, FeedHistory(900.0), ok(), NOW, random.Random(0))
    with pytest.raises(ValueError):
        suspend_threshold(settings, 900.0)
