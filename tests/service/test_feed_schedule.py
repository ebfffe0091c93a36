"""The schedule in the archive, end to end: loopback feeds, an injected clock, the real Service.

Each feed's next check honours its own answers (Retry-After, max-age, <ttl>) without
touching its neighbours on the same host; failing feeds back off and are suspended;
10,000 feeds are a handful of scheduler jobs and one indexed query per tick."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime, timedelta

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from fakes.feed_server import FeedServer
from fakes.telegram_api import FakeTelegramAPI
from monitor.app import open_app, run_service
from monitor.archive import feeds as feedstore
from monitor.archive.store import Archive
from monitor.config.load import load_config
from monitor.ingest.schedule import is_stale
from monitor.service.scheduler import Service
from tests.chatkit import items
from tests.conftest import rss

START = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
NO_JITTER = '[schedule]\ninterval = "15m"\njitter = 0\n'


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def checks_at(server: FeedServer, config_path, minutes: list[int], paths: list[str]) -> list[tuple[int, ...]]:
    """Tick the service at each minute; how many requests each path had seen after each tick."""
    config = load_config(config_path, environ={})
    clock = Clock()
    seen = []

    async def main() -> None:
        async with open_app(config, clock) as app:
            service = Service(app.pipeline, app.notifiers, app.telegram, clock)
            for minute in minutes:
                clock.now = START + timedelta(minutes=minute)
                await service.poll_due()
                seen.append(tuple(server.count(p) for p in paths))

    asyncio.run(main())
    return seen


def test_each_feed_keeps_its_own_retry_after_max_age_and_ttl(feed_server, write_config):
    plain = feed_server.add("/plain.xml", rss("Plain", items("plain", 1)))
    limited = feed_server.misbehave("/limited.xml", "status", code=429, headers={"Retry-After": "3600"})
    cached = feed_server.add(
        "/cached.xml", rss("Cached", items("cached", 1)), headers={"Cache-Control": "max-age=7200"}
    )
    ttl_body = rss("Slow", items("slow", 1)).replace(b"<channel>", b"<channel><ttl>45</ttl>", 1)
    slow = feed_server.add("/ttl.xml", ttl_body)
    path = write_config([plain, limited, cached, slow], extra=NO_JITTER)
    paths = ["/plain.xml", "/limited.xml", "/cached.xml", "/ttl.xml"]
    seen = checks_at(feed_server, path, [0, 16, 32, 46, 61, 121], paths)
    # plain: every 15 min. limited: a 429 asks for an hour, for that feed only (same host as
    # the others). cached: max-age 2 h. ttl: 45 min.
    # At 61 the 429 comes again: its second backoff (30 min) is still shorter than the hour asked.
    assert seen == [
        (1, 1, 1, 1),  # 0
        (2, 1, 1, 1),  # 16
        (3, 1, 1, 1),  # 32
        (3, 1, 1, 2),  # 46: plain is due at 47; ttl at 45
        (4, 2, 1, 2),  # 61
        (5, 3, 2, 3),  # 121
    ]


def test_a_failing_feed_backs_off_is_suspended_and_the_admin_is_told_once(
    feed_server, write_config, telegram_api: FakeTelegramAPI
):
    broken = feed_server.misbehave("/broken.xml", "status", code=500)
    fine = feed_server.add("/fine.xml", rss("Fine", items("fine", 1)))
    extra = NO_JITTER + "suspend_after = 4\n"
    path = write_config([broken, fine], telegram=telegram_api.bot_url, chat_id="1001", extra=extra)
    text = path.read_text().replace('chat_id = "1001"', 'chat_id = "1001"\nadmin_chat = "-100777"')
    path.write_text(text)
    config = load_config(path, environ={"TELEGRAM_BOT_TOKEN": telegram_api.token})
    clock = Clock()
    checked: list[int] = []

    async def main() -> None:
        async with open_app(config, clock) as app:
            service = Service(app.pipeline, app.notifiers, app.telegram, clock)
            for minute in range(0, 24 * 60, 15):
                clock.now = START + timedelta(minutes=minute)
                await service.poll_due()
                checked.append(feed_server.count("/broken.xml"))

    asyncio.run(main())
    # Backoff from the 15 min interval: checked at 0, 15, 45, 105 (×1, ×2, ×4), then suspended
    # at the 4th failure and never checked again; the healthy feed goes on every 15 minutes.
    first_checks = [i * 15 for i, n in enumerate(checked) if n > (checked[i - 1] if i else 0)]
    assert first_checks == [0, 15, 45, 105]
    assert feed_server.count("/fine.xml") == 96
    notices = [m for m in telegram_api.messages if m.chat_id == "-100777"]
    assert len(notices) == 1
    assert "Feed suspended" in notices[0].visible_text and broken in notices[0].visible_text
    assert "4 failures in a row" in notices[0].visible_text
    archive = Archive.open(config.storage_path, create=False)
    (status,) = [s for s in archive.feed_statuses(clock.now, is_stale) if s.url == broken]
    archive.close()
    assert status.status == "suspended" and status.last_error == "HTTP 500 Internal Server Error"


def test_ten_thousand_feeds_are_a_handful_of_jobs_and_one_query_per_tick(tmp_path, write_config):
    path = write_config([], extra=NO_JITTER)
    config = load_config(path, environ={})
    archive = Archive.open(config.storage_path)
    urls = [f"http://127.0.0.1:9/feed/{i}.xml" for i in range(10_000)]
    archive.add_feeds([(u, None) for u in urls], START)
    # Spread the next checks over the next 15 minutes, as a running service would.
    archive.db.execute(
        "update feeds set next_check = strftime('%Y-%m-%dT%H:%M:%SZ', ?, '+' || (rowid % 900) || ' seconds')",
        ["2026-03-06T12:00:00Z"],
    )
    archive.db.conn.commit()
    started = time.perf_counter()
    due = archive.feeds_for_update(START + timedelta(seconds=60))
    query_seconds = time.perf_counter() - started
    plan = archive.db.execute("explain query plan " + feedstore.DUE_NOW, ["x"]).fetchall()
    archive.close()
    assert len(due) == sum(1 for i in range(1, 10_001) if i % 900 <= 60)
    assert any("USING INDEX" in row[-1] for row in plan), plan  # not a scan of 10,000 rows
    print(f"due query over 10,000 feeds: {query_seconds * 1000:.1f} ms")  # informative, not asserted

    scheduler = AsyncIOScheduler(timezone=UTC)
    jobs: dict[str, datetime | None] = {}

    async def main() -> None:
        async with open_app(config) as app:
            service = Service(app.pipeline, app.notifiers, app.telegram, app.pipeline.clock)
            stop = asyncio.Event()
            running = asyncio.ensure_future(service.run(stop, scheduler))
            while not scheduler.running:
                await asyncio.sleep(0.01)
            jobs.update({job.id: job.next_run_time for job in scheduler.get_jobs()})
            stop.set()
            await running

    asyncio.run(main())
    assert sorted(jobs) == ["deliver", "heartbeat", "maintenance", "tick"]
    assert all(when is not None for when in jobs.values()), jobs  # none paused


def test_healthz_and_metrics_answer_while_the_service_runs(feed_server, write_config, tmp_path):
    url = feed_server.add("/feed.xml", rss("Feed", items("semiconductor", 2)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.toml").write_text('[[rule]]\nid = "chips"\nname = "Chips"\nquery = "semiconductor"\n')
    path = write_config([url], extra=f'[service]\nlisten = "127.0.0.1:{port}"\n', rules=rules)
    config = load_config(path, environ={})
    answers: dict[str, httpx.Response] = {}

    async def main() -> None:
        stop = asyncio.Event()
        service = asyncio.ensure_future(run_service(config, stop))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    metrics = await client.get("/metrics")
                except httpx.ConnectError:
                    metrics = None
                if metrics is not None and "monitor_articles_total 2.0" in metrics.text:
                    break
                await asyncio.sleep(0.05)
            answers["metrics"] = await client.get("/metrics")
            answers["healthz"] = await client.get("/healthz")
        stop.set()
        await asyncio.wait_for(service, 10)

    asyncio.run(main())
    health = answers["healthz"]
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = answers["metrics"].text
    assert "monitor_passes_total 1.0" in metrics or "monitor_passes_total 2.0" in metrics
    assert "monitor_articles_total 2.0" in metrics and "monitor_matches_total 2.0" in metrics
    assert 'monitor_feeds{status="active"} 1.0' in metrics
    assert f'monitor_feed_last_success_timestamp_seconds{{feed="{url}"}}' in metrics
