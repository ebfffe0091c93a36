"""Faults of the running service's own parts (issue 20, items 4, 5, 6, 13): a Telegram that
rate-limits or answers late, a stop in the middle of a send, a client hoarding the health port,
a feed that rewrites every GUID on every poll. Real parts on loopback, a real archive."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from fakes.telegram_api import SentMessage
from monitor.app import open_app
from monitor.archive.store import Archive
from monitor.config.load import TOKEN_ENV, load_config
from monitor.ingest.schedule import is_stale
from monitor.service.health import HealthServer, health
from monitor.service.metrics import Metrics
from monitor.service.scheduler import Service
from monitor.types import Config
from tests.chatkit import feed_of, items
from tests.cli.test_manage import db_rows
from tests.cli.test_ops_fixes import start_run
from tests.conftest import rss

pytestmark = pytest.mark.slow  # the fault catalogue, through the real service: seconds each

FAST = '[schedule]\ninterval = "1s"\nmin_interval = "1s"\njitter = 0\n'


async def until(what: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        await asyncio.sleep(0.05)
    return bool(what())


def test_a_flood_control_wait_never_holds_up_polling(chat_config, telegram_api, feed_server):
    """Before: the wait (retry_after 30 s, up to 5 tries) was slept inside the tick job, and nothing
    was fetched or archived meanwhile. After: the deliverer waits, the poller goes on."""
    first, second = items("semiconductor", 1), items("semiconductor", 1, start=1)
    path = chat_config(FAST, feed=first)
    config = load_config(path, environ={TOKEN_ENV: telegram_api.token})
    telegram_api.fail_next(1000, status=429, retry_after=30)

    async def main() -> bool:
        async with open_app(config) as app:
            service = Service(app.pipeline, app.notifiers, app.telegram, app.pipeline.clock)
            stop = asyncio.Event()
            running = asyncio.create_task(service.run(stop))
            assert await until(lambda: any(m == "sendMessage" for m, _ in telegram_api.calls), 15)
            feed_server.add("/feed.xml", feed_of(first + second))  # a new item while Telegram says wait
            archived = await until(lambda: app.pipeline.archive.db["articles"].count == 2, 10)
            stop.set()
            await running
            return archived

    assert asyncio.run(main()), "the feed's new item was archived during Telegram's flood-control wait"


def test_a_telegram_slower_than_the_timeout_gets_each_alert_at_most_twice(chat_config, telegram_api):
    """Before: every round sent the first alert again (8 rounds: 8 copies). After: an alert whose
    send went unanswered is retried once, then marked maybe_sent: at most one duplicate each."""
    path = chat_config('[[chats]]\nid = "1001"\nburst = 100\n', feed=items("semiconductor", 3))
    config = load_config(path, environ={TOKEN_ENV: telegram_api.token})
    clock = Clock()

    def answer_late(message: SentMessage) -> None:
        time.sleep(0.6)  # taken, answered after the client's timeout

    async def rounds() -> None:
        async with open_app(config, clock) as app:
            await app.pipeline.run_pass()
        from monitor.alerts.deliver import deliver_pending
        from monitor.alerts.notify import TelegramNotifier

        archive = Archive.open(config.storage_path, create=False)
        notifier = TelegramNotifier(telegram_api.token, telegram_api.bot_url, timeout=0.3)
        try:
            for _ in range(8):
                clock.now += timedelta(hours=1)
                await deliver_pending(archive, {}, notifier, clock)
        finally:
            await notifier.close()
            archive.close()

    telegram_api.on_accept = answer_late
    asyncio.run(rounds())
    telegram_api.on_accept = None
    copies: dict[str, int] = {}
    for message in telegram_api.messages:
        title = message.visible_text.split("\n")[0]
        copies[title] = copies.get(title, 0) + 1
    assert copies and max(copies.values()) == 2, copies
    statuses = db_rows(config.storage_path, "select status, count(*) from alerts group by status")
    assert statuses == [("maybe_sent", 3)]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 6, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_stop_waits_for_the_send_telegram_took_instead_of_cutting_it_off(
    chat_config, telegram_api, tmp_path
):
    """Before: the 5 s grace cancelled a send Telegram had taken (answer at 7 s): the alert stayed
    pending and was sent again at the next start. After: the send ends and is recorded."""
    path = chat_config('[[chats]]\nid = "1001"\nburst = 100\n', feed=items("semiconductor", 2))
    process = start_run(path, telegram_api.token)

    def stop_and_answer_late(message: SentMessage) -> None:
        if len(telegram_api.messages) == 1:
            process.send_signal(signal.SIGTERM)
            time.sleep(7.0)  # past the 5 s grace, within the client's 10 s timeout

    telegram_api.on_accept = stop_and_answer_late
    try:
        _out, err = process.communicate(timeout=60)
    finally:
        process.kill()
        telegram_api.on_accept = None
    assert process.returncode == 0, err
    rows = db_rows(tmp_path / "monitor.db", "select status from alerts order by id")
    assert rows[0] == ("sent",), rows  # the one Telegram took is recorded: no duplicate at restart
    assert len(telegram_api.messages) == 1 and "Traceback" not in err


def test_a_client_hoarding_health_connections_cannot_lock_out_a_scraper(caplog):
    """Before: every connection stayed open until its timeout (1,100 idle ones used up the
    process's file descriptors). After: at most max_connections, the oldest dropped first, and
    one warning a minute however many were dropped."""
    held: list[socket.socket] = []

    async def main() -> tuple[int, bytes, int]:
        now = datetime.now(UTC)
        check = lambda: health(  # noqa: E731
            last_tick=now, last_pass=now, started=now, now=now, tick_seconds=10, max_pass_age=900
        )
        server = HealthServer("127.0.0.1:0", Metrics(), check, timeout=30, max_connections=8)
        await server.start()
        try:
            for _ in range(60):
                conn = socket.create_connection(("127.0.0.1", server.port))
                held.append(conn)
                await asyncio.sleep(0.005)
            await until(lambda: server.dropped >= 52, 10)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            return len(server._connections), answer, server.problems.logged
        finally:
            await server.close()

    with caplog.at_level(logging.WARNING, logger="monitor.health"):
        open_now, answer, logged = asyncio.run(main())
    for conn in held:
        conn.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert open_now <= 8
    assert logged == 1 and sum("health_connections_capped" in r.getMessage() for r in caplog.records) == 1


def test_a_failing_accept_is_logged_once_a_minute_with_a_count(caplog):
    """Before: asyncio logged "socket.accept() out of system resource" at ERROR once per attempt
    (28,633 lines in one run). After: one warning, the rest counted into the next one."""

    async def main() -> None:
        server = HealthServer("127.0.0.1:0", Metrics(), lambda: health(
            last_tick=None, last_pass=None, started=datetime.now(UTC), now=datetime.now(UTC),
            tick_seconds=10, max_pass_age=900))  # fmt: skip
        await server.start()
        loop = asyncio.get_running_loop()
        try:
            for _ in range(1000):
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(24, "Too many"),
                    }
                )
        finally:
            await server.close()

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    lines = [r for r in caplog.records if "accept" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING


def test_a_feed_rewriting_every_guid_is_flagged_and_edits_a_story_at_most_once_an_hour(
    feed_server, write_config, seeds, tmp_path
):
    """Before: every poll of the churning copy edited the story's alert ("Also reported by: Churn,
    Churn, ..."). After: flagged churning after 3 all-new polls, then at most one edit an hour."""
    wire = feed_server.add("/wire.xml", rss("Wire", seeds[0:1]))
    churn_path = "/churn.xml"
    config = write_config([wire, feed_server.url(churn_path)], extra=FAST.replace('"1s"', '"10m"', 1))
    clock = Clock()
    edits_after: list[int] = []

    def churned(n: int) -> bytes:  # the same report, under a new GUID and link each time
        item = seeds[2]
        return rss("Churn", [type(item)(item.title, item.body, item.published, f"{item.link}?v={n}")])

    async def main() -> None:
        async with open_app(load_config(config, environ={}), clock) as app:
            service = Service(app.pipeline, app.notifiers, app.telegram, clock)
            for n in range(9):
                # the first pass: the Wire answers first, so the story's one alert is the Wire's
                # (the other way round, the Wire's report would alert too, for rules new to it)
                feed_server.add(churn_path, churned(n), delay=0.5 if n == 0 else 0)
                await service.poll_due()
                edits_after.append(
                    app.pipeline.archive.db.execute(
                        # edits of the story's first alert (a report with rules new to the
                        # story has an alert of its own, edited as the story grows too)
                        "select count(*) from alerts where kind = 'edit'"
                        " and edit_of = (select min(id) from alerts where kind = 'send')"
                    ).fetchone()[0]
                )
                clock.now += timedelta(minutes=11)
            statuses = {s.url: s for s in app.pipeline.archive.feed_statuses(clock.now, is_stale)}
            assert statuses[feed_server.url(churn_path)].churning
            assert not statuses[wire].churning

    asyncio.run(main())
    # Passes 11 minutes apart. The first: the copy joins the story while its alert is queued (a
    # rewrite, no edit); the next two each edit the alert. The churn count reaches 3 at the fourth:
    # no edit for an hour after the last one (passes 4-8), then one at most.
    assert edits_after[:3] == [0, 1, 2], edits_after
    assert set(edits_after[3:8]) == {2}, edits_after
    assert edits_after[8] <= 3, edits_after


def test_per_feed_metrics_are_optional_and_off_past_a_few_hundred_feeds(feed_server, write_config, seeds):
    """Before: one series per feed URL, always (532 KB per scrape at 5,000 feeds). After: only up to
    300 feeds unless [service] feed_metrics says otherwise."""
    url = feed_server.add("/a.xml", rss("A", seeds[:1]))
    found = {}
    for setting in ("", "[service]\nfeed_metrics = false", "[service]\nfeed_metrics = true"):
        config = load_config(write_config([url], extra=setting), environ={})

        async def main(config: Config = config) -> dict[str, object]:
            async with open_app(config) as app:
                await app.pipeline.run_pass()
                service = Service(app.pipeline, app.notifiers, app.telegram, app.pipeline.clock)
                return dict(service.state().last_success)

        found[setting.split("= ")[-1] or "default"] = asyncio.run(main())
    assert list(found["default"]) == [url] and found["false"] == {} and list(found["true"]) == [url]
