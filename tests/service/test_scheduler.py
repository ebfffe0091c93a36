"""The service's tick with an injected clock: per-feed intervals from the archive, backoff."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from monitor.app import open_app
from monitor.config.load import load_config
from monitor.service.scheduler import Service
from tests.conftest import rss


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def test_tick_polls_each_feed_on_its_own_interval(feed_server, write_config, seeds):
    fast = feed_server.add("/fast.xml", rss("Fast", seeds[:1]))
    slow = feed_server.add("/slow.xml", rss("Slow", seeds[1:2]))
    failing = feed_server.misbehave("/failing.xml", "status", code=500)
    path = write_config([fast, slow, failing], extra="[schedule]\njitter = 0")
    text = path.read_text().replace(f'url = "{fast}"', f'url = "{fast}"\ninterval = "5m"')
    path.write_text(text.replace(f'url = "{slow}"', f'url = "{slow}"\ninterval = "1h"'))
    config = load_config(path, environ={})
    clock = Clock()

    async def scenario() -> list[tuple[int, int, int]]:
        counts = []
        async with open_app(config, clock) as app:
            service = Service(app.pipeline, app.notifiers, app.telegram, clock)
            for minutes in (0, 1, 5, 30, 60):
                clock.now = datetime(2026, 3, 6, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes)
                await service.poll_due()
                counts.append(
                    (
                        feed_server.count("/fast.xml"),
                        feed_server.count("/slow.xml"),
                        feed_server.count("/failing.xml"),
                    )
                )
        return counts

    counts = asyncio.run(scenario())
    # fast: every 5 min; slow: hourly; failing: the 15 min default after its first
    # failure (due at 12:15, checked at 12:30), then doubled: 30 min (due 13:00).
    assert counts == [(1, 1, 1), (1, 1, 1), (2, 1, 1), (3, 1, 2), (4, 2, 3)]


@pytest.mark.slow
def test_schedule_survives_a_restart(feed_server, write_config, seeds):
    url = feed_server.add("/feed.xml", rss("Feed", seeds[:1]))
    config = load_config(write_config([url]), environ={})
    clock = Clock()

    async def one_tick() -> None:
        async with open_app(config, clock) as app:
            await Service(app.pipeline, app.notifiers, app.telegram, clock).poll_due()

    asyncio.run(one_tick())
    clock.advance(minutes=10)
    asyncio.run(one_tick())  # a new process: the next check time came from the archive
    assert feed_server.count("/feed.xml") == 1
    clock.advance(minutes=7)  # 17 min: past the 15 min default and its ±10 % jitter
    asyncio.run(one_tick())
    assert feed_server.count("/feed.xml") == 2
