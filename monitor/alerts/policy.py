"""Per-chat delivery policy: quiet hours, bursts, low priority, scheduled digests.

Pure functions over a ChatConfig: no I/O and no clock reads, so the caller
passes `now` (UTC-aware). Local times (quiet hours, digest times) are wall-clock
times in the chat's own IANA zone, so "08:00" stays 08:00 across DST changes.

    hold_for(chat, priority, now, muted=..., recent=...)
        "muted"  the rule is muted in this chat
        "low"    priority "low" and the chat collects low alerts into its digest
        "quiet"  inside quiet hours (high alerts pass when quiet.allow_high)
        "burst"  `recent` alerts (high priority ones included) already went out within burst_window
        "high"   the same, for a high-priority alert: it goes out in a "High priority" digest
        None     send now

Quiet hours and digest schedules are parsed by monitor.config.values when the config is read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.types import ChatConfig

_PERIOD = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


# --- time zones and quiet hours ----------------------------------------------


def zone(chat: ChatConfig) -> ZoneInfo:
    """The chat's time zone (ZoneInfo caches, so this is cheap)."""
    return ZoneInfo(chat.timezone)


def _local(chat: ChatConfig, now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now!r}: pass an aware (UTC) time")
    return now.astimezone(zone(chat))


def is_quiet(chat: ChatConfig, now: datetime) -> bool:
    """Whether `now` falls in the chat's quiet hours, read on the chat's wall clock.

    The start is inclusive and the end exclusive; an end at or before the start
    spans midnight ("22:00-07:00" is quiet from 22:00 until 06:59:59).
    """
    if chat.quiet is None:
        return False
    clock = _local(chat, now).time()
    start, end = chat.quiet.start, chat.quiet.end
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end


def quiet_ends(chat: ChatConfig, now: datetime) -> datetime | None:
    """When (UTC) the current quiet period ends, or None when it is not quiet now.

    The end is the next time the chat's wall clock shows quiet.end. When DST
    skips that wall time (02:30 on a spring-forward night), the period ends at
    the changeover itself, the first instant the clock reads later than the end.
    """
    if chat.quiet is None or not is_quiet(chat, now):
        return None
    tz = zone(chat)
    local = _local(chat, now)
    end = chat.quiet.end
    day: date = local.date() + timedelta(days=1 if local.time() >= end else 0)
    wall = datetime.combine(day, end)
    first = wall.replace(tzinfo=tz)  # fold=0: the earlier of a repeated hour
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return first.astimezone(UTC)
    return _gap_end(tz, wall)


def _gap_end(tz: ZoneInfo, wall: datetime) -> datetime:
    """The UTC instant a DST gap containing the (non-existent) wall time `wall` closes."""
    # fold=1 reads `wall` with the offset after the change, which lands before it; fold=0 after it.
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    after = hi.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


# --- holding and sound --------------------------------------------------------


def hold_for(chat: ChatConfig, priority: str, now: datetime, *, muted: bool, recent: int) -> str | None:
    """Why an alert for this chat waits for a digest instead of going out now, or None to send it.

    `recent` counts the alerts sent (or queued to send) to this chat within its
    burst_window; the caller counts them. The first reason wins, in this order:
    muted, low (when the chat collects low alerts in its digest), quiet (unless
    the alert is high and quiet.allow_high), burst.

    High alerts count towards the burst like any other: a storm of high matches would
    otherwise be dozens of messages, past Telegram's pace for one chat. Past the burst they
    are held as "high", and go out (with sound) as one "High priority" digest per pass.
    """
    if muted:
        return "muted"
    if priority == "low" and chat.low == "digest":
        return "low"
    if is_quiet(chat, now) and not (priority == "high" and chat.quiet is not None and chat.quiet.allow_high):
        return "quiet"
    if recent >= chat.burst:
        return "high" if priority == "high" else "burst"
    return None


def is_silent(chat: ChatConfig, priority: str) -> bool:
    """Whether an alert goes out without sound: priority "low" in a chat whose low = "silent"."""
    return priority == "low" and chat.low == "silent"


# --- scheduled digests --------------------------------------------------------


def digest_trigger(chat: ChatConfig) -> CronTrigger | None:
    """An APScheduler CronTrigger firing at the chat's digest time, in its zone; None without one."""
    digest = chat.digest
    if digest is None:
        return None
    fields: dict[str, int] = {"hour": digest.at.hour, "minute": digest.at.minute}
    if digest.every == "weekly":
        fields["day_of_week"] = digest.day  # APScheduler 3.x: 0 = Monday, as in DigestSchedule
    return CronTrigger(timezone=zone(chat), **fields)


def digest_due(chat: ChatConfig, last: datetime | None, now: datetime) -> bool:
    """Whether a scheduled digest time fell in (last, now]: one was missed, say while the service was down.

    `last` is when the last scheduled digest was queued; None (never sent)
    gives False, so a new chat waits for its first scheduled time.
    """
    trigger = digest_trigger(chat)
    if trigger is None or last is None:
        return False
    # get_next_fire_time(None, t) returns t itself when t is a fire time; start just after `last`
    fire = trigger.get_next_fire_time(None, last + timedelta(microseconds=1))
    return fire is not None and fire <= now


def digest_period(chat: ChatConfig, last: datetime | None, now: datetime) -> datetime:
    """Start (UTC) of the period a scheduled digest covers: the last digest, at most one period back.

    The cap is 1 day for a daily digest and 7 days for a weekly one (1 day when
    the chat has no schedule), counted on the chat's wall clock so a DST
    change does not cut an hour off.
    """
    period = _PERIOD[chat.digest.every] if chat.digest is not None else _PERIOD["daily"]
    earliest = (_local(chat, now) - period).astimezone(UTC)  # aware arithmetic is wall-clock
    if last is None:
        return earliest
    return max(last.astimezone(UTC), earliest)
