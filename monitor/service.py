"""`monitor run`: APScheduler drives polling and delivery until SIGTERM/SIGINT.

Two jobs, however many feeds: a *tick* that runs a pass over the feeds whose
``next_check`` (stored in the archive) has come, and a *delivery* job that
drains the outbox. Per-feed intervals live in the database, so a restart
resumes where it stopped and 10,000 feeds are still two jobs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.deliver import deliver_pending
from monitor.errors import MonitorError
from monitor.notify import Notifier
from monitor.pipeline import PassReport, Pipeline

log = logging.getLogger("monitor.service")

TICK_SECONDS = 10.0  # how often the tick looks for due feeds
DELIVER_SECONDS = 5.0  # how often the outbox is drained between passes
SHUTDOWN_GRACE = 5.0  # seconds in-flight work may take after a stop signal


def log_pass(report: PassReport) -> None:
    for error in report.errors:
        log.warning("event=feed_error feed=%s error=%r", error.url, error.message)
    log.info(
        "event=pass feeds=%d not_modified=%d new_articles=%d alerts_queued=%d errors=%d seconds=%.2f",
        report.feeds,
        report.not_modified,
        report.new_articles,
        report.alerts,
        len(report.errors),
        report.seconds,
    )


@dataclass
class Service:
    pipeline: Pipeline
    notifiers: Mapping[str, Notifier]  # special chats (console)
    default_notifier: Notifier | None  # Telegram, when configured
    clock: Callable[[], datetime]
    tick: float = TICK_SECONDS
    deliver_every: float = DELIVER_SECONDS
    _busy: set[asyncio.Task[None]] = field(default_factory=set)
    _deliver_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    passes: int = 0  # completed passes, for health checks and tests

    async def poll_due(self) -> None:
        await self._guarded(self._poll_due())

    async def _poll_due(self) -> None:
        report = await self.pipeline.run_pass(only_due=True)
        self.passes += 1
        if report.feeds:
            log_pass(report)
        await self._deliver()

    async def deliver(self) -> None:
        await self._guarded(self._deliver())

    async def _deliver(self) -> None:
        async with self._deliver_lock:
            report = await deliver_pending(
                self.pipeline.archive, self.notifiers, self.default_notifier, self.clock
            )
        for line in report.errors:
            log.warning("event=delivery_problem detail=%r", line)
        if report.sent:
            log.info(
                "event=delivered sent=%d failed=%d deferred=%d",
                report.sent,
                report.failed,
                report.deferred,
            )

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a job body, tracked for shutdown; an error is logged, never kills the service."""
        task = asyncio.ensure_future(work)
        self._busy.add(task)
        try:
            await asyncio.shield(task)
        except MonitorError as exc:
            log.error("event=job_error error=%r", str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not stop the service; say what it was
            log.exception("event=job_crash error=%r", f"{type(exc).__name__}: {exc}")
        finally:
            self._busy.discard(task)

    async def run(self, stop: asyncio.Event) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        scheduler.add_job(
            self.poll_due,
            "interval",
            seconds=self.tick,
            next_run_time=now,
            id="tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        scheduler.add_job(
            self.deliver,
            "interval",
            seconds=self.deliver_every,
            id="deliver",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        scheduler.start()
        log.info("event=started feeds=%d tick=%ss", len(self.pipeline.config.feeds), self.tick)
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            await self._finish_in_flight()
        log.info("event=stopped")

    async def _finish_in_flight(self) -> None:
        if not self._busy:
            return
        log.info("event=stopping in_flight=%d grace=%ss", len(self._busy), SHUTDOWN_GRACE)
        done, pending = await asyncio.wait(set(self._busy), timeout=SHUTDOWN_GRACE)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
