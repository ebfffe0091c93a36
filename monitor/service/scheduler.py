"""`monitor run`: APScheduler drives polling, delivery and digests until SIGTERM/SIGINT.

A few jobs, however many feeds: a *tick* that runs a pass over the feeds whose
``next_check`` (stored in the archive) has come, a *delivery* job that turns
due held alerts into digests (routing.flush_held) and drains the outbox, and
one cron job per chat with a scheduled digest. Per-feed intervals and the last
digest live in the database, so a restart resumes where it stopped (a digest
missed while the service was down is sent at start) and 10,000 feeds are
still a handful of jobs.

With Telegram, the scheduler is python-telegram-bot's JobQueue scheduler, so
one loop and one scheduler drive polling, delivery, digests and chat commands.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.alerts import policy as chats
from monitor.alerts.deliver import deliver_pending
from monitor.alerts.notify import Notifier
from monitor.alerts.routing import flush_held, queue_digest
from monitor.errors import MonitorError
from monitor.ingest.schedule import is_stale
from monitor.service.health import Health, Metrics, ServiceState, health
from monitor.service.pipeline import PassReport, Pipeline
from monitor.types import FeedStatus

log = logging.getLogger("monitor.service")

TICK_SECONDS = 10.0  # how often the tick looks for due feeds
DELIVER_SECONDS = 5.0  # how often the outbox is drained between passes
SHUTDOWN_GRACE = 5.0  # seconds in-flight work may take after a stop signal
MAX_PASS_AGE = 900.0  # /healthz fails when no pass has completed for this long


def log_pass(report: PassReport) -> None:
    for feed, why in report.suspended:
        log.error("event=feed_suspended feed=%s reason=%r hint=%r", feed, why, "monitor feeds resume URL")
    for error in report.errors:
        log.warning("event=feed_error feed=%s error=%r", error.url, error.message)
    for feed, note in report.notes:
        log.info("event=feed_note feed=%s note=%r", feed, note)
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
    _pass_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    passes: int = 0  # completed passes, for health checks and tests
    last_pass: datetime | None = None  # when the last pass ended
    started: datetime | None = None  # when run() began
    _catch_up: list[str] = field(default_factory=list)  # chats whose scheduled digest was missed
    metrics: Metrics = field(default_factory=Metrics)  # counters for /metrics
    last_tick: datetime | None = None  # when the tick job last began: the scheduler is alive
    _feeds_seen: tuple[datetime, list[FeedStatus]] | None = None  # feed health for /metrics, cached

    async def poll_due(self) -> None:
        await self._guarded(self._poll_due())

    async def heartbeat(self) -> None:
        """A job that only notes the time: proof for /healthz that the scheduler runs jobs,
        even while a long pass keeps the tick job busy."""
        self.last_tick = self.clock()

    async def _poll_due(self) -> None:
        async with self._pass_lock:
            report = await self.pipeline.run_pass(only_due=True)
        self.passes += 1
        self.last_pass = self.clock()
        self.metrics.pass_done(
            feeds=report.feeds,
            not_modified=report.not_modified,
            errors=len(report.errors),
            new_articles=report.new_articles,
            alerts_queued=report.alerts,
            seconds=report.seconds,
        )
        self.metrics.matches_found(report.matches)
        if report.feeds:
            log_pass(report)
        await self._deliver()
        while self._catch_up:  # digests missed while the service was down, after a first pass
            await self._digest(self._catch_up.pop(0), True)

    async def deliver(self) -> None:
        await self._guarded(self._deliver())

    async def digest(self, chat_id: str, *, scheduled: bool = True) -> None:
        """Queue a chat's digest and send it (a cron job, or /digest from the chat)."""
        await self._guarded(self._digest(chat_id, scheduled))

    async def _digest(self, chat_id: str, scheduled: bool) -> None:
        p = self.pipeline
        async with self._deliver_lock:
            queue_digest(p.archive, p.config, p.rules, chat_id, self.clock(), scheduled=scheduled)
        await self._deliver()

    async def _deliver(self) -> None:
        p = self.pipeline
        async with self._deliver_lock:
            # A burst is digested once its pass is over, not halfway through it.
            flush_held(p.archive, p.config, p.rules, self.clock(), bursts=not self._pass_lock.locked())
            report = await deliver_pending(
                self.pipeline.archive, self.notifiers, self.default_notifier, self.clock
            )
        self.metrics.delivered(sent=report.sent, failed=report.failed, deferred=report.deferred)
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
        """Run a job body, tracked for shutdown; an error is logged, never kills the service.

        The body runs shielded: at a stop, APScheduler's executor cancels the job that awaits it
        (AsyncIOExecutor.shutdown cancels every pending job task), while the body itself goes on
        and _finish_in_flight gives it SHUTDOWN_GRACE to end. That cancellation is how a stop
        looks, not a job failure: returning quietly keeps APScheduler from logging it as an
        ERROR with a traceback."""
        task = asyncio.ensure_future(work)
        self._busy.add(task)
        try:
            await asyncio.shield(task)
        except MonitorError as exc:
            log.error("event=job_error error=%r", str(exc))
        except asyncio.CancelledError:
            # Not re-raised: only the executor (or a chat command's handler) awaits a job, and
            # the work, if still running, stays in _busy until it ends or the grace runs out.
            return
        except Exception as exc:  # a bug must not stop the service; say what it was
            log.exception("event=job_crash error=%r", f"{type(exc).__name__}: {exc}")
        finally:
            if task.done():
                self._busy.discard(task)
            else:
                task.add_done_callback(self._busy.discard)

    async def run(self, stop: asyncio.Event, scheduler: AsyncIOScheduler | None = None) -> None:
        """Add the jobs to `scheduler` (a fresh one when None), start it, and run until `stop`."""
        scheduler = scheduler or AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        self.started = self.clock()
        # Each job at most once at a time; a run missed while busy is skipped, not queued up.
        jobs = [
            ("tick", self.poll_due, self.tick, now),
            ("deliver", self.deliver, self.deliver_every, None),
            ("heartbeat", self.heartbeat, self.tick, now),
            ("maintenance", self.maintain, 86400.0, None),
        ]
        for job_id, function, seconds, first in jobs:
            # APScheduler 3 reads next_run_time=None as "paused": leave it out for "after one period".
            start = {"next_run_time": first} if first is not None else {}
            scheduler.add_job(
                function,
                "interval",
                seconds=seconds,
                id=job_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                **start,
            )
        self._add_digest_jobs(scheduler)
        if not scheduler.running:
            scheduler.start()
        log.info("event=started feeds=%d tick=%ss", len(self.pipeline.config.feeds), self.tick)
        try:
            await stop.wait()
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await self._finish_in_flight()
        log.info("event=stopped")

    async def maintain(self) -> None:
        """Daily: fresh planner statistics and a trimmed WAL file."""

        async def work() -> None:
            async with self._deliver_lock:
                self.pipeline.archive.optimize()
            log.info("event=maintenance")

        await self._guarded(work())

    def health(self) -> Health:
        """For /healthz: the scheduler ticks and passes complete."""
        return health(
            last_tick=self.last_tick,
            last_pass=self.last_pass,
            started=self.started or self.clock(),
            now=self.clock(),
            tick_seconds=self.tick,
            max_pass_age=MAX_PASS_AGE,
        )

    def state(self) -> ServiceState:
        """For /metrics, read at scrape time (feed health at most once a minute: it reads history)."""
        now = self.clock()
        archive = self.pipeline.archive
        if self._feeds_seen is None or now - self._feeds_seen[0] > timedelta(minutes=1):
            self._feeds_seen = (now, archive.feed_statuses(now, is_stale))
        statuses = self._feeds_seen[1]
        feeds = Counter(
            s.status if s.status != "active" else ("failing" if s.last_error else "active") for s in statuses
        )
        feeds["stale"] = sum(1 for s in statuses if s.stale)
        counts = archive.outbox_counts()
        return ServiceState(
            pending=counts.get("pending", 0),
            held=counts.get("held", 0),
            disabled_chats=sum(1 for c in archive.chat_states() if c.status == "disabled"),
            feeds=dict(feeds),
            last_success={s.url: s.last_success for s in statuses},
        )

    def _add_digest_jobs(self, scheduler: AsyncIOScheduler) -> None:
        """One cron job per chat with a digest schedule; a digest missed while down goes out now."""
        states = {s.chat_id: s for s in self.pipeline.archive.chat_states()}
        for chat in self.pipeline.config.chats:
            trigger = chats.digest_trigger(chat)
            if trigger is None:
                continue
            scheduler.add_job(
                self.digest,
                trigger,
                args=[chat.id],
                id=f"digest:{chat.id}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
            state = states.get(chat.id)
            if chats.digest_due(chat, state.last_digest if state else None, self.clock()):
                log.info("event=digest_catch_up chat=%s", chat.id)
                self._catch_up.append(chat.id)

    async def _finish_in_flight(self) -> None:
        if not self._busy:
            return
        log.info("event=stopping in_flight=%d grace=%ss", len(self._busy), SHUTDOWN_GRACE)
        done, pending = await asyncio.wait(set(self._busy), timeout=SHUTDOWN_GRACE)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("event=stop_cut_short in_flight=%d grace=%ss", len(pending), SHUTDOWN_GRACE)
            await asyncio.wait(pending, timeout=1.0)


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
