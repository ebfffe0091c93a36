"""Per-chat policy: quiet hours on the chat's wall clock, holds, silence, digest schedules."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.alerts.policy import (
    digest_due,
    digest_period,
    digest_trigger,
    hold_for,
    is_quiet,
    is_silent,
    quiet_ends,
    zone,
)
from monitor.config.values import parse_clock, parse_digest_spec, parse_quiet_hours
from monitor.types import ChatConfig, DigestSchedule, QuietHours


def utc(text: str) -> datetime:
    """ "2026-03-29 05:59[:30]" read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, tz: str) -> datetime:
    """ "2026-03-29 05:59" read on the wall clock of `tz`, returned as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def quiet_chat(
    hours: str = "22:00-07:00", tz: str = "UTC", allow_high: bool = True, **kw: object
) -> ChatConfig:
    start, end = parse_quiet_hours(hours)
    return ChatConfig("1", timezone=tz, quiet=QuietHours(start, end, allow_high), **kw)  # type: ignore[arg-type]


def digest_chat(spec: str, tz: str = "UTC") -> ChatConfig:
    every, at, day = parse_digest_spec(spec)
    return ChatConfig("1", timezone=tz, digest=DigestSchedule(every, at, day))


# --- quiet hours ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [
        ("21:59:59", False),
        ("22:00:00", True),  # start inclusive
        ("23:59:59", True),
        ("00:00:00", True),
        ("06:59:59", True),
        ("07:00:00", False),  # end exclusive
        ("12:00:00", False),
    ],
)
def test_quiet_hours_across_midnight(clock: str, quiet: bool) -> None:
    assert is_quiet(quiet_chat("22:00-07:00"), utc(f"2026-05-01 {clock}")) is quiet


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [
        ("08:59:59", False),
        ("09:00:00", True),
        ("16:59:59", True),
        ("17:00:00", False),
        ("23:00:00", False),
        ("03:00:00", False),
    ],
)
def test_quiet_hours_within_one_day(clock: str, quiet: bool) -> None:
    assert is_quiet(quiet_chat("09:00-17:00"), utc(f"2026-05-01 {clock}")) is quiet


def test_no_quiet_hours_is_never_quiet() -> None:
    chat = ChatConfig("1")
    assert not is_quiet(chat, utc("2026-05-01 03:00"))
    assert quiet_ends(chat, utc("2026-05-01 03:00")) is None


@pytest.mark.parametrize(
    ("tz", "when", "quiet"),
    [
        # India, UTC+5:30: 22:00 IST is 16:30 UTC, 07:00 IST is 01:30 UTC
        ("Asia/Kolkata", "2026-05-01 16:29:59", False),
        ("Asia/Kolkata", "2026-05-01 16:30:00", True),
        ("Asia/Kolkata", "2026-05-02 01:29:59", True),
        ("Asia/Kolkata", "2026-05-02 01:30:00", False),
        # Japan, UTC+9: 22:00 JST is 13:00 UTC, 07:00 JST is 22:00 UTC
        ("Asia/Tokyo", "2026-05-01 12:59:59", False),
        ("Asia/Tokyo", "2026-05-01 13:00:00", True),
        ("Asia/Tokyo", "2026-05-01 21:59:59", True),
        ("Asia/Tokyo", "2026-05-01 22:00:00", False),
        # the same UTC hour read in UTC itself is the other way round
        ("UTC", "2026-05-01 13:00:00", False),
        ("UTC", "2026-05-01 22:00:00", True),
    ],
)
def test_quiet_hours_follow_the_chats_time_zone(tz: str, when: str, quiet: bool) -> None:
    assert is_quiet(quiet_chat("22:00-07:00", tz), utc(when)) is quiet


@pytest.mark.parametrize(
    ("when", "quiet"),
    [
        ("2026-03-28 05:59", True),  # 06:59 CET, the day before the change
        ("2026-03-28 06:00", False),  # 07:00 CET
        ("2026-03-29 04:59", True),  # 06:59 CEST: the clocks went forward at 01:00 UTC
        ("2026-03-29 05:00", False),  # 07:00 CEST, an hour earlier in UTC than the day before
        ("2026-03-29 05:59", False),  # would still be quiet with a fixed +01:00 offset
    ],
)
def test_quiet_hours_keep_wall_clock_time_on_dst_change(when: str, quiet: bool) -> None:
    assert is_quiet(quiet_chat("22:00-07:00", "Europe/Berlin"), utc(when)) is quiet


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        is_quiet(quiet_chat(), datetime(2026, 5, 1, 3))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    ("hours", "tz", "now", "ends"),
    [
        ("22:00-07:00", "UTC", "2026-05-01 23:00", "2026-05-02 07:00"),  # before midnight: tomorrow
        ("22:00-07:00", "UTC", "2026-05-02 03:00", "2026-05-02 07:00"),  # after midnight: today
        ("22:00-07:00", "UTC", "2026-05-01 22:00", "2026-05-02 07:00"),  # at the start
        ("09:00-17:00", "UTC", "2026-05-01 09:30", "2026-05-01 17:00"),
        ("22:00-07:00", "Asia/Kolkata", "2026-05-01 17:00", "2026-05-02 01:30"),
        ("22:00-07:00", "Asia/Tokyo", "2026-05-01 13:00", "2026-05-01 22:00"),
        # Berlin, night of 28/29 March 2026: falls asleep on CET, wakes on CEST
        ("22:00-07:00", "Europe/Berlin", "2026-03-28 22:00", "2026-03-29 05:00"),
        # 02:30 does not exist that night (02:00 CET → 03:00 CEST): quiet ends at the change
        ("22:00-02:30", "Europe/Berlin", "2026-03-28 22:00", "2026-03-29 01:00"),
        # 02:30 happens twice on 25 October: the first one (CEST) ends it
        ("22:00-02:30", "Europe/Berlin", "2026-10-24 22:00", "2026-10-25 00:30"),
    ],
)
def test_quiet_ends(hours: str, tz: str, now: str, ends: str) -> None:
    chat = quiet_chat(hours, tz)
    end = quiet_ends(chat, utc(now))
    assert end == utc(ends) and end.tzinfo == UTC
    assert not is_quiet(chat, end) and is_quiet(chat, end - timedelta(seconds=1))


def test_quiet_ends_is_none_outside_quiet_hours() -> None:
    assert quiet_ends(quiet_chat("22:00-07:00"), utc("2026-05-01 12:00")) is None


# --- holding ----------------------------------------------------------------------

QUIET_NIGHT = utc("2026-05-01 23:00")  # inside 22:00-07:00 UTC
DAY = utc("2026-05-01 12:00")


@pytest.mark.parametrize(
    ("chat", "priority", "now", "muted", "recent", "hold"),
    [
        # muted wins over every other reason
        (quiet_chat(low="digest"), "low", QUIET_NIGHT, True, 99, "muted"),
        (quiet_chat(), "high", DAY, True, 0, "muted"),
        # low goes to the digest before quiet or burst are asked
        (quiet_chat(low="digest"), "low", QUIET_NIGHT, False, 99, "low"),
        (quiet_chat(low="digest"), "low", DAY, False, 0, "low"),
        (quiet_chat(low="silent"), "low", DAY, False, 0, None),  # sent, without sound
        (quiet_chat(low="digest"), "normal", DAY, False, 0, None),
        # quiet hours, before burst
        (quiet_chat(), "normal", QUIET_NIGHT, False, 0, "quiet"),
        (quiet_chat(), "normal", QUIET_NIGHT, False, 99, "quiet"),
        (quiet_chat(low="silent"), "low", QUIET_NIGHT, False, 0, "quiet"),
        (quiet_chat(allow_high=True), "high", QUIET_NIGHT, False, 0, None),
        (quiet_chat(allow_high=False), "high", QUIET_NIGHT, False, 0, "quiet"),
        # burst: `recent` alerts already within the window
        (quiet_chat(burst=5), "normal", DAY, False, 4, None),
        (quiet_chat(burst=5), "normal", DAY, False, 5, "burst"),
        (quiet_chat(burst=1), "low", DAY, False, 1, "burst"),
        (quiet_chat(burst=5), "high", DAY, False, 500, None),  # high is never folded into a burst
        (quiet_chat(allow_high=True, burst=5), "high", QUIET_NIGHT, False, 500, None),
    ],
)
def test_hold_for(
    chat: ChatConfig, priority: str, now: datetime, muted: bool, recent: int, hold: str
) -> None:
    assert hold_for(chat, priority, now, muted=muted, recent=recent) == hold


def test_hold_for_a_chat_without_settings_only_holds_bursts() -> None:
    chat = ChatConfig("1")
    assert hold_for(chat, "low", QUIET_NIGHT, muted=False, recent=4) is None
    assert hold_for(chat, "normal", QUIET_NIGHT, muted=False, recent=5) == "burst"


@pytest.mark.parametrize(
    ("low", "priority", "silent"),
    [
        ("silent", "low", True),
        ("digest", "low", False),  # held for the digest rather than sent quietly
        ("silent", "normal", False),
        ("silent", "high", False),
    ],
)
def test_is_silent(low: str, priority: str, silent: bool) -> None:
    assert is_silent(ChatConfig("1", low=low), priority) is silent


# --- scheduled digests --------------------------------------------------------------


def test_zone() -> None:
    assert zone(ChatConfig("1", timezone="Asia/Tokyo")) == ZoneInfo("Asia/Tokyo")
    assert zone(ChatConfig("1")) == ZoneInfo("UTC")


def test_no_digest_no_trigger() -> None:
    assert digest_trigger(ChatConfig("1")) is None
    assert not digest_due(ChatConfig("1"), utc("2026-01-01 00:00"), utc("2026-05-01 00:00"))


@pytest.mark.parametrize(
    ("spec", "tz", "after", "fires"),
    [
        ("daily 08:00", "UTC", "2026-05-01 00:00", "2026-05-01 08:00"),
        ("daily 08:00", "Asia/Kolkata", "2026-05-01 00:00", "2026-05-01 02:30"),  # 08:00 IST
        ("daily 08:00", "Asia/Kolkata", "2026-05-01 02:30:01", "2026-05-02 02:30"),
        ("daily 08:00", "Asia/Tokyo", "2026-05-01 00:00", "2026-05-01 23:00"),  # 08:00 JST next day
        ("daily 08:00", "Europe/Berlin", "2026-03-28 08:00", "2026-03-29 06:00"),  # CET → CEST
        # 2026-03-25 is a Wednesday; the next Monday is 30 March, after the change to CEST
        ("weekly mon 08:00", "Europe/Berlin", "2026-03-25 00:00", "2026-03-30 06:00"),
        ("weekly mon 08:00", "Europe/Berlin", "2026-03-18 00:00", "2026-03-23 07:00"),
        ("weekly sun 20:30", "Asia/Tokyo", "2026-05-01 00:00", "2026-05-03 11:30"),
    ],
)
def test_digest_trigger_fires_at_local_time(spec: str, tz: str, after: str, fires: str) -> None:
    trigger = digest_trigger(digest_chat(spec, tz))
    assert trigger is not None and trigger.timezone == ZoneInfo(tz)
    assert trigger.get_next_fire_time(None, utc(after)) == utc(fires)


@pytest.mark.parametrize(
    ("spec", "tz", "last", "now", "due"),
    [
        # sent on time yesterday; today's is not yet due, then due from 08:00 (inclusive)
        ("daily 08:00", "UTC", "2026-05-01 08:00:00.200", "2026-05-02 07:59:59", False),
        ("daily 08:00", "UTC", "2026-05-01 08:00:00.200", "2026-05-02 08:00", True),
        # sent exactly at its time: that time is not missed again
        ("daily 08:00", "UTC", "2026-05-02 08:00", "2026-05-02 08:00", False),
        ("daily 08:00", "UTC", "2026-05-02 08:00", "2026-05-02 20:00", False),
        # the service was down for three days
        ("daily 08:00", "UTC", "2026-04-28 08:00", "2026-05-01 12:00", True),
        # 08:00 JST is 23:00 UTC the day before
        ("daily 08:00", "Asia/Tokyo", "2026-05-01 23:00", "2026-05-02 22:59", False),
        ("daily 08:00", "Asia/Tokyo", "2026-05-01 23:00", "2026-05-02 23:00", True),
        # weekly: Monday 4 May 2026 was sent; nothing due until Monday 11 May
        ("weekly mon 08:00", "UTC", "2026-05-04 08:00", "2026-05-10 23:59", False),
        ("weekly mon 08:00", "UTC", "2026-05-04 08:00", "2026-05-11 09:00", True),
    ],
)
def test_digest_due(spec: str, tz: str, last: str, now: str, due: bool) -> None:
    assert digest_due(digest_chat(spec, tz), utc(last), utc(now)) is due


def test_digest_never_sent_is_not_due() -> None:
    assert not digest_due(digest_chat("daily 08:00"), None, utc("2026-05-02 12:00"))


@pytest.mark.parametrize(
    ("spec", "last", "start"),
    [
        ("daily 08:00", "2026-05-01 20:00", "2026-05-01 20:00"),  # recent: from the last digest
        ("daily 08:00", "2026-04-20 08:00", "2026-05-01 08:00"),  # long ago: one day back
        ("daily 08:00", None, "2026-05-01 08:00"),
        ("weekly mon 08:00", "2026-04-30 08:00", "2026-04-30 08:00"),
        ("weekly mon 08:00", "2026-04-01 08:00", "2026-04-25 08:00"),  # seven days back
        ("weekly mon 08:00", None, "2026-04-25 08:00"),
    ],
)
def test_digest_period(spec: str, last: str | None, start: str) -> None:
    now = utc("2026-05-02 08:00")
    found = digest_period(digest_chat(spec), None if last is None else utc(last), now)
    assert found == utc(start) and found.tzinfo == UTC


def test_digest_period_counts_a_day_on_the_wall_clock() -> None:
    # 29 March 2026 in Berlin has 23 hours: yesterday 08:00 CET is 23 hours before 08:00 CEST
    chat = digest_chat("daily 08:00", "Europe/Berlin")
    assert digest_period(chat, None, utc("2026-03-29 06:00")) == utc("2026-03-28 07:00")


# --- parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("08:00", time(8)), ("8:05", time(8, 5)), (" 23:59 ", time(23, 59)), ("00:00", time(0))],
)
def test_parse_clock(text: str, value: time) -> None:
    assert parse_clock(text) == value


@pytest.mark.parametrize("text", ["24:00", "8", "08:60", "8am", "08:00:00", "", 800, None])
def test_parse_clock_errors(text: object) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock(text)


def test_parse_quiet_hours() -> None:
    assert parse_quiet_hours("22:00-07:00") == (time(22), time(7))
    assert parse_quiet_hours("09:30 - 17:00") == (time(9, 30), time(17))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("22:00-22:00", "same time"),
        ("22:00", "HH:MM-HH:MM"),
        ("22:00-07:00-08:00", "HH:MM-HH:MM"),
        ("10pm-7am", "HH:MM"),
        (["22:00", "07:00"], "HH:MM-HH:MM"),
    ],
)
def test_parse_quiet_hours_errors(text: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_quiet_hours(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("daily 08:00", ("daily", time(8), 0)),
        ("Daily 7:30", ("daily", time(7, 30), 0)),
        ("weekly mon 08:00", ("weekly", time(8), 0)),
        ("weekly FRI 18:00", ("weekly", time(18), 4)),
        ("weekly sun 20:00", ("weekly", time(20), 6)),
        ("weekly Sunday 20:00", ("weekly", time(20), 6)),
    ],
)
def test_parse_digest_spec(text: str, value: tuple[str, time, int]) -> None:
    assert parse_digest_spec(text) == value


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("hourly", "not a digest schedule"),
        ("daily", "not a digest schedule"),
        ("weekly 08:00", "not a digest schedule"),
        ("daily mon 08:00", "not a digest schedule"),
        ("weekly funday 08:00", "not a weekday: 'funday'"),
        ("daily 25:00", "not a time of day"),
        (8, "not a digest schedule"),
    ],
)
def test_parse_digest_spec_errors(text: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_digest_spec(text)
