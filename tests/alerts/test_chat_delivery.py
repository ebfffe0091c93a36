"""Delivery per chat, end to end with an injected clock: routing, priorities, bursts,
quiet hours, digests, mutes, and what Telegram's refusals do to one chat and not others."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from fakes.telegram_api import MAX_TEXT, check_text, utf16_len
from monitor.app import open_app
from monitor.archive.store import Archive
from monitor.cli.demo import Item
from monitor.config.load import load_config
from monitor.service.scheduler import Service
from tests.chatkit import items
from tests.conftest import rss

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def run(config_path: Path, token: str, clock: Clock, steps: Callable[[Service, Clock], object]) -> None:
    """Open the app with the clock, and drive a Service through `steps` (an async function)."""
    config = load_config(config_path, environ={TOKEN_ENV: token})

    async def main() -> None:
        async with open_app(config, clock) as app:
            service = Service(app.pipeline, app.notifiers, app.telegram, clock)
            await steps(service, clock)  # type: ignore[misc]

    asyncio.run(main())


def archive_of(config_path: Path) -> Archive:
    return Archive.open(load_config(config_path, environ={}).storage_path, create=False)


def titles_in(text: str, feed: list[Item]) -> list[str]:
    return [item.title for item in feed if item.title in text]


def test_a_burst_of_50_becomes_five_alerts_and_a_split_digest(chat_config, telegram_api, feed_server):
    feed = items("semiconductor", 30) + items("shinkansen", 20, start=30)
    config = chat_config(feed=feed)

    async def steps(service: Service, clock: Clock) -> None:
        await service.poll_due()

    run(config, telegram_api.token, Clock(datetime(2026, 3, 6, 12, tzinfo=UTC)), steps)
    messages = telegram_api.messages
    singles, digests = messages[:5], messages[5:]
    # The default: five alerts one by one within ten minutes, then the rest as a digest.
    assert [titles_in(m.visible_text, feed) for m in singles] == [[item.title] for item in feed[:5]]
    assert len(digests) >= 2, "45 long lines do not fit in one message"
    for number, message in enumerate(digests, 1):
        check_text(message.text, "HTML")  # valid Telegram HTML; the fake also refused anything longer
        assert utf16_len(message.visible_text) <= MAX_TEXT
        assert message.visible_text.startswith(f"More matches ({number}/{len(digests)})")
        assert message.disable_notification, "a burst's digest does not ring again"
    digested = [title for m in digests for title in titles_in(m.visible_text, feed)]
    assert sorted(digested) == sorted(item.title for item in feed[5:])  # each once, none lost
    text = "\n".join(m.visible_text for m in digests)
    assert text.index("Semiconductors") < text.index("High-speed rail")  # grouped by topic
    archive = archive_of(config)
    counts = archive.outbox_counts()
    archive.close()
    assert counts["digested"] == 45 and counts.get("pending", 0) == 0 and counts.get("held", 0) == 0


def test_priorities_choose_the_sound(chat_config, telegram_api):
    feed = items("semiconductor", 1) + items("shinkansen", 1, 1) + items("destroyer", 1, 2)
    config = chat_config(feed=feed)

    async def steps(service: Service, clock: Clock) -> None:
        await service.poll_due()

    run(config, telegram_api.token, Clock(datetime(2026, 3, 6, 12, tzinfo=UTC)), steps)
    silent = {titles_in(m.visible_text, feed)[0]: m.disable_notification for m in telegram_api.messages}
    assert silent == {feed[0].title: False, feed[1].title: True, feed[2].title: False}


def test_quiet_hours_hold_alerts_and_release_them_as_a_digest(chat_config, telegram_api, feed_server):
    feed = items("semiconductor", 2) + items("destroyer", 1, 2) + items("shinkansen", 1, 3)
    chats = '[[chats]]\nid = "1001"\ntimezone = "Asia/Tokyo"\nquiet_hours = "22:00-07:00"\n'
    config = chat_config(chats, feed=feed)
    night = datetime(2026, 3, 6, 14, tzinfo=UTC)  # 23:00 in Tokyo
    seen: dict[str, list[str]] = {}

    async def steps(service: Service, clock: Clock) -> None:
        await service.poll_due()
        seen["night"] = [m.visible_text for m in telegram_api.messages]
        clock.now = datetime(2026, 3, 6, 21, 59, tzinfo=UTC)  # 06:59: still quiet
        await service.deliver()
        seen["dawn"] = [m.visible_text for m in telegram_api.messages]
        clock.now = datetime(2026, 3, 6, 22, 0, tzinfo=UTC)  # 07:00: quiet hours are over
        await service.deliver()
        await service.deliver()  # nothing more: the digest went out once

    run(config, telegram_api.token, Clock(night), steps)
    # The high-priority alert goes through at night; the rest waits.
    assert [titles_in(t, feed) for t in seen["night"]] == [[feed[2].title]]
    assert len(seen["dawn"]) == 1
    assert len(telegram_api.messages) == 2
    digest = telegram_api.messages[1]
    assert digest.visible_text.startswith("Held during quiet hours")
    assert sorted(titles_in(digest.visible_text, feed)) == sorted(
        [feed[0].title, feed[1].title, feed[3].title]
    )


def test_quiet_hours_can_hold_high_alerts_too(chat_config, telegram_api):
    feed = items("destroyer", 1)
    chats = (
        '[[chats]]\nid = "1001"\ntimezone = "Asia/Kolkata"\nquiet_hours = "22:00-07:00"\n'
        "quiet_allow_high = false\n"
    )
    config = chat_config(chats, feed=feed)

    async def steps(service: Service, clock: Clock) -> None:
        await service.poll_due()
        assert telegram_api.messages == []
        clock.now += timedelta(hours=8)
        await service.deliver()

    run(config, telegram_api.token, Clock(datetime(2026, 3, 6, 17, 30, tzinfo=UTC)), steps)  # 23:00 IST
    assert len(telegram_api.messages) == 1
    assert feed[0].title in telegram_api.messages[0].visible_text


def test_each_rule_goes_to_its_chat_and_a_403_disables_only_that_chat(chat_config, telegram_api):
    feed = items("semiconductor", 2) + items("shinkansen", 2, 2)
    chats = '[[chats]]\nid = "-100200"\nname = "rail-desk"\n'
    config = chat_config(chats, rail_chat='chat_id = "rail-desk"', feed=feed)
    telegram_api.block("-100200")

    async def steps(service: Service, clock: Clock) -> None:
        await service.poll_due()
        await service.deliver()

    run(config, telegram_api.token, Clock(datetime(2026, 3, 6, 12, tzinfo=UTC)), steps)
    assert [m.chat_id for m in telegram_api.messages] == ["1001", "1001"]
    assert [titles_in(m.visible_text, feed) for m in telegram_api.messages] == [
        [feed[0].title],
        [feed[1].title],
    ]
    # One attempt at the blocked chat, then it is disabled: no retries hammering it.
    blocked_calls = [
        p for method, p in telegram_api.calls if method == "sendMessage" and p["chat_id"] == "-100200"
    ]
    assert len(blocked_calls) == 1
    archive = archive_of(config)
    states = {s.chat_id: s for s in archive.chat_states()}
    by_chat = archive.outbox_by_chat()
    archive.close()
    assert states["-100200"].status == "disabled" and "blocked" in (states["-100200"].reason or "")
    assert by_chat["-100200"] == {"pending": 2}, "the disabled chat's alerts are kept"
    status = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "status"], capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    assert "chat -100200: 2 pending, 0 held, 0 sent; DISABLED since" in status.stdout
    assert "Forbidden: bot was blocked by the user" in status.stdout


def test_a_migrated_group_gets_its_alerts_at_the_new_id(chat_config, telegram_api, feed_server):
    feed = items("semiconductor", 2)
    config = chat_config(feed=feed)
    telegram_api.migrate("1001", -1009999)

    async def steps(service: Service, clock: Clock) -> None:
        await service.poll_due()
        feed_server.add("/feed.xml", rss("Wire", feed + items("semiconductor", 1, 2)))
        clock.now += timedelta(hours=1)
        await service.poll_due()

    run(config, telegram_api.token, Clock(datetime(2026, 3, 6, 12, tzinfo=UTC)), steps)
    assert [m.chat_id for m in telegram_api.messages] == ["-1009999"] * 3
    sends = [p["chat_id"] for method, p in telegram_api.calls if method == "sendMessage"]
    assert sends == ["1001", "-1009999", "-1009999", "-1009999"]  # the old id is tried once


def test_scheduled_digest_fires_in_the_chats_time_zone_and_lists_the_day(chat_config, telegram_api):
    feed = items("semiconductor", 3)
    chats = '[[chats]]\nid = "1001"\ntimezone = "Asia/Kolkata"\ndigest = "daily 08:00"\n'
    config = chat_config(chats, feed=feed)

    async def steps(service: Service, clock: Clock) -> None:
        await service.poll_due()
        await service.digest("1001")

    run(config, telegram_api.token, Clock(datetime(2026, 3, 6, 2, 30, tzinfo=UTC)), steps)
    *alerts, digest = telegram_api.messages
    assert len(alerts) == 3
    assert digest.visible_text.startswith("Daily digest")
    assert titles_in(digest.visible_text, feed) == [item.title for item in feed]
    archive = archive_of(config)
    (state,) = archive.chat_states()
    archive.close()
    assert state.last_digest == datetime(2026, 3, 6, 2, 30, tzinfo=UTC)


def test_low_priority_can_wait_for_the_digest(chat_config, telegram_api):
    feed = items("semiconductor", 1) + items("shinkansen", 2, 1)
    chats = '[[chats]]\nid = "1001"\nlow = "digest"\ndigest = "weekly mon 09:00"\n'
    config = chat_config(chats, feed=feed)

    async def steps(service: Service, clock: Clock) -> None:
        await service.poll_due()
        assert [titles_in(m.visible_text, feed) for m in telegram_api.messages] == [[feed[0].title]]
        clock.now += timedelta(days=3)
        await service.deliver()
        assert len(telegram_api.messages) == 1, "low alerts wait for the digest, not a flush"
        await service.digest("1001")

    run(config, telegram_api.token, Clock(datetime(2026, 3, 6, 12, tzinfo=UTC)), steps)
    digest = telegram_api.messages[-1]
    assert digest.visible_text.startswith("Weekly digest")
    assert set(titles_in(digest.visible_text, feed)) == {item.title for item in feed}


def test_a_muted_rule_is_archived_and_shown_when_the_mute_ends(chat_config, telegram_api, feed_server):
    feed = items("semiconductor", 2)
    config = chat_config(feed=feed)
    start = datetime(2026, 3, 6, 12, tzinfo=UTC)
    archive = Archive.open(load_config(config, environ={}).storage_path)
    archive.mute("1001", "chips", start + timedelta(hours=8))
    archive.close()

    async def steps(service: Service, clock: Clock) -> None:
        await service.poll_due()
        assert telegram_api.messages == []
        clock.now += timedelta(hours=8)
        await service.deliver()

    run(config, telegram_api.token, Clock(start), steps)
    (digest,) = telegram_api.messages
    assert digest.visible_text.startswith("While muted")
    assert titles_in(digest.visible_text, feed) == [item.title for item in feed]
    archive = archive_of(config)
    assert archive.db.execute("select count(*) from articles").fetchone()[0] == 2
    archive.close()


def test_a_digest_survives_a_restart_between_queueing_and_sending(chat_config, telegram_api):
    feed = items("semiconductor", 8)
    config = chat_config(feed=feed)
    telegram_api.down = True

    async def first(service: Service, clock: Clock) -> None:
        await service.poll_due()  # 5 alerts and a digest queued; Telegram is down

    async def second(service: Service, clock: Clock) -> None:
        clock.now += timedelta(minutes=31)
        await service.deliver()

    clock = Clock(datetime(2026, 3, 6, 12, tzinfo=UTC))
    run(config, telegram_api.token, clock, first)
    assert telegram_api.messages == []
    telegram_api.down = False
    run(config, telegram_api.token, clock, second)
    sent = [title for m in telegram_api.messages for title in titles_in(m.visible_text, feed)]
    assert sorted(sent) == sorted(item.title for item in feed)  # all, once each
    assert len(telegram_api.messages) == 6


def test_run_schedules_each_digest_as_a_cron_job_and_catches_up_a_missed_one(chat_config, telegram_api):
    feed = items("semiconductor", 2)
    chats = (
        '[[chats]]\nid = "1001"\ntimezone = "Asia/Kolkata"\ndigest = "daily 08:00"\nburst = 100\n'
        '[[chats]]\nid = "-100300"\ntimezone = "Asia/Tokyo"\ndigest = "weekly fri 18:30"\n'
    )
    config_path = chat_config(chats, feed=feed)
    archive = Archive.open(load_config(config_path, environ={}).storage_path)
    archive.queue_digest("1001", None, [], datetime.now(UTC) - timedelta(days=2), scheduled=True)
    archive.close()
    config = load_config(config_path, environ={TOKEN_ENV: telegram_api.token})
    scheduler = AsyncIOScheduler(timezone=UTC)
    jobs: dict[str, datetime] = {}

    async def main() -> None:
        async with open_app(config) as app:
            service = Service(app.pipeline, app.notifiers, app.telegram, app.pipeline.clock)
            stop = asyncio.Event()
            running = asyncio.ensure_future(service.run(stop, scheduler))
            while not any(m.visible_text.startswith("Daily digest") for m in telegram_api.messages):
                await asyncio.sleep(0.05)
            jobs.update({job.id: job.next_run_time for job in scheduler.get_jobs()})
            stop.set()
            await running

    asyncio.run(main())
    # A handful of jobs, however many feeds: heartbeat, maintenance, one per digest schedule (polling
    # and delivery are the service's own loops, each woken when there is work).
    assert set(jobs) == {"heartbeat", "maintenance", "digest:1001", "digest:-100300"}
    daily = jobs["digest:1001"].astimezone(ZoneInfo("Asia/Kolkata"))
    weekly = jobs["digest:-100300"].astimezone(ZoneInfo("Asia/Tokyo"))
    assert (daily.hour, daily.minute) == (8, 0) and daily - datetime.now(UTC) <= timedelta(days=1)
    assert (weekly.weekday(), weekly.hour, weekly.minute) == (4, 18, 30)
    # The daily digest was missed (last one two days ago): sent at start, with the matches.
    (digest,) = [m for m in telegram_api.messages if m.visible_text.startswith("Daily digest")]
    assert titles_in(digest.visible_text, feed) == [item.title for item in feed]
    assert not any(m.chat_id == "-100300" for m in telegram_api.messages)  # not due


def test_a_digest_with_nothing_new_says_so(chat_config, telegram_api):
    config = chat_config('[[chats]]\nid = "1001"\ndigest = "daily 08:00"\n', feed=items("unrelated", 2))

    async def steps(service: Service, clock: Clock) -> None:
        await service.poll_due()
        await service.digest("1001")

    run(config, telegram_api.token, Clock(datetime(2026, 3, 6, 8, tzinfo=UTC)), steps)
    (digest,) = telegram_api.messages
    assert digest.visible_text == "Daily digest\nNo new matches since 5 Mar 08:00 UTC."
