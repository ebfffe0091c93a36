"""`monitor run`: APScheduler drives polling, delivery and digests until SIGTERM/SIGINT.

A few loops and jobs, however many feeds: a *poller* that runs a pass over the feeds whose
``next_check`` (stored in the archive) has come, then sleeps until the next one is due (at most a tick);
a *deliverer* that turns due held alerts into digests (routing.flush_held) and drains the outbox, woken
the moment a feed queues an alert, and whose flood-control waits never hold up polling; a *watcher* that
reloads the config and rule files when they change or on SIGHUP (reload.py), and wakes the poller when
another process wrote to the archive (`monitor feeds add|import|resume|remove`: their feeds are due at
once); one cron job per chat with a scheduled digest. Per-feed intervals and the last digest live in the
database, so a restart resumes where it stopped (a digest missed while the service was down is sent at
start) and 10,000 feeds are still a handful of jobs.

With Telegram, the scheduler is python-telegram-bot's JobQueue scheduler, so one loop and one scheduler
drive polling, delivery, digests and chat commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.alerts import policy as chats
from monitor.alerts.deliver import deliver_pending
from monitor.alerts.notify import Notifier
from monitor.alerts.routing import flush_held, queue_digest
from monitor.errors import MonitorError
from monitor.ingest.schedule import is_stale
from monitor.rules.ruleset import RuleSet
from monitor.service.health import Health, ServiceState, health
from monitor.service.pipeline import PassReport, Pipeline
from monitor.service.progress import log_pass
from monitor.service.reload import ConfigWatch, describe_change, needs_restart
from monitor.types import Config, FeedStatus

if TYPE_CHECKING:
    from monitor.service.metrics import Metrics

log = logging.getLogger("monitor.service")

TICK_SECONDS = 10.0  # the longest the poller sleeps (the watcher wakes it sooner for `monitor feeds`)
DELIVER_SECONDS = 5.0  # the longest the deliverer sleeps with nothing queued (retries come due)
WATCH_SECONDS = 1.0  # how often the config and rule files, and the archive's version, are looked at
PASS_GAP = 1.0  # the least time between two passes' starts: feeds due within it share a pass
SHUTDOWN_GRACE = 5.0  # seconds a pass in flight may take after a stop signal
SEND_GRACE = 15.0  # ... and a send in flight (its own timeout is 10 s): never cut off mid-send
FEED_METRICS_MAX = 300  # feeds up to which /metrics has per-feed series unless configured
MAX_PASS_AGE = 900.0  # /healthz fails when no pass has completed for this long


@dataclass
class Service:
    pipeline: Pipeline
    notifiers: Mapping[str, Notifier]  # special chats (console)
    default_notifier: Notifier | None  # Telegram, when configured
    clock: Callable[[], datetime]
    tick: float = TICK_SECONDS
    deliver_every: float = DELIVER_SECONDS
    watch: ConfigWatch | None = None  # the config and rule files to follow; None: not followed
    _busy: set[asyncio.Task[None]] = field(default_factory=set)
    _deliver_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _pass_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    passes: int = 0  # completed passes, for health checks and tests
    last_pass: datetime | None = None  # when the last pass ended
    started: datetime | None = None  # when run() began
    backfilled: int = 0  # old items of new feeds archived without an alert, since the start
    _catch_up: list[str] = field(default_factory=list)  # chats whose scheduled digest was missed
    metrics: Metrics | None = None  # counters for /metrics ([service] listen); None: not served
    last_tick: datetime | None = None  # when the tick job last began: the scheduler is alive
    _feeds_seen: tuple[datetime, list[FeedStatus]] | None = None  # feed health for /metrics, cached
    _wake_poller: asyncio.Event = field(default_factory=asyncio.Event)  # a reload: look for due feeds
    _wake_deliverer: asyncio.Event = field(default_factory=asyncio.Event)  # an alert was queued
    _reload: asyncio.Event = field(default_factory=asyncio.Event)  # SIGHUP: read the files again
    _stopping: bool = False  # a stop signal came: no new pass, no new send
    _sends_over: asyncio.Event = field(default_factory=asyncio.Event)  # the stop's grace is over: no new send
    _pass: PassReport | None = None  # the pass in flight, counted as it goes
    _scheduler: AsyncIOScheduler | None = None

    async def poll(self) -> None:
        """A pass over the due feeds; their alerts wake the deliverer as each feed is done."""
        await self._guarded(self._poll_due())

    async def poll_due(self) -> None:
        """A pass, then the outbox drained: one step of the service as a unit (what tests with
        an injected clock drive). The running service polls and delivers in separate loops."""
        passes = self.passes
        await self.poll()
        if self.passes > passes:  # a pass that failed (the archive locked) has its one error line
            await self.deliver()

    async def heartbeat(self) -> None:
        """A job that only notes the time: proof for /healthz that the scheduler runs jobs,
        even while a long pass keeps the poller busy."""
        self.last_tick = self.clock()

    async def _poll_due(self) -> None:
        async with self._pass_lock:
            self._pass = report = PassReport()
            try:
                await self.pipeline.run_pass(
                    only_due=True, report=report, on_alerts=self._wake_deliverer.set, follow=True
                )
            finally:
                self._pass = None
        self.passes += 1
        self.last_pass = self.clock()
        if self.passes == 1:  # feed statuses a scrape read before the first pass ended: stale now
            self._feeds_seen = None
        self.backfilled += report.backfilled
        if self.metrics is not None:
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
            log_pass(report, self.pipeline.archive.watched()[1])
        # The deliverer delivers (its flood-control waits never hold up a pass): woken for burst digests.
        self._wake_deliverer.set()
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
                p.archive,
                self.notifiers,
                self.default_notifier,
                self.clock,
                sleep=self._flood_wait,
                stopping=self._sends_over.is_set,
            )
        if self.metrics is not None:
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
            # Not re-raised (only the executor or a chat handler awaits a job); the work stays in _busy.
            return
        except Exception as exc:  # a bug must not stop the service; say what it was
            log.exception("event=job_crash error=%r", f"{type(exc).__name__}: {exc}")
        finally:
            if task.done():
                self._busy.discard(task)
            else:
                task.add_done_callback(self._busy.discard)

    async def _flood_wait(self, seconds: float) -> None:
        """Telegram's flood-control wait, in the deliverer (never the poller); a stop ends it."""
        await _sleep(self._sends_over, seconds)

    async def _poller(self) -> None:
        """A pass over the due feeds, then sleep until the next feed is due (at most a tick)."""
        while not self._stopping:
            self._wake_poller.clear()
            began, passes = time.monotonic(), self.passes
            await self.poll()
            # A pass that failed (the archive locked, say) is tried again a tick later, not at once.
            delay = self._until_next_due() if self.passes > passes else self.tick
            await _sleep(self._wake_poller, max(delay, began + PASS_GAP - time.monotonic()))

    def _until_next_due(self) -> float:
        try:
            due = self.pipeline.archive.next_due()
        except MonitorError as exc:  # the next pass reports it
            log.debug("event=next_due_unknown error=%r", str(exc))
            return self.tick
        if due is None:
            return self.tick
        # A hair after the due time: next_check <= now must hold when the pass looks.
        return min(self.tick, max((due - self.clock()).total_seconds() + 0.01, 0.0))

    async def _deliverer(self) -> None:
        """Drain the outbox when an alert is queued, and every few seconds for retries."""
        while not self._stopping:
            self._wake_deliverer.clear()
            await self.deliver()
            await _sleep(self._wake_deliverer, self.deliver_every)

    async def _watcher(self) -> None:
        """Reload the config and rules when their files change, or on SIGHUP; wake the poller
        when another process changed the archive (a feed added, imported, resumed or removed
        there is due at once, or no longer due)."""
        self._archive_changed()  # notes the archive's version: a write from now on is seen
        while not self._stopping:
            await _sleep(self._reload, WATCH_SECONDS)
            if self._stopping:
                break
            asked = self._reload.is_set()
            self._reload.clear()
            if self._archive_changed():
                self._wake_poller.set()
            if self.watch is not None and (self.watch.changed() or asked):
                await self._guarded(self.reload())

    def _archive_changed(self) -> bool:
        try:
            return self.pipeline.archive.changed_elsewhere()
        except MonitorError as exc:  # the next pass reports it
            log.debug("event=archive_version_unknown error=%r", str(exc))
            return False

    async def reload(self) -> None:
        """Read the config and rule files again and apply them; a bad file keeps the old ones."""
        if self.watch is None:
            return
        try:
            config, rules = self.watch.load()
        except MonitorError as exc:
            log.error("event=config_rejected error=%r keeping=%r", str(exc), "the last good config and rules")
            return
        self.apply_config(config, rules)

    def apply_config(self, config: Config, rules: RuleSet) -> None:
        """Follow a new config: feeds synced, rules and settings swapped for the next articles."""
        old = self.pipeline
        old.archive.sync_feeds(config.feeds, self.clock(), config.schedule.interval)
        old.analyser.use(rules, config.stories)
        self.pipeline = replace(old, config=config, rules=rules)
        for what in needs_restart(old.config, config):
            log.warning("event=config_needs_restart changed=%r", what)
        if self._scheduler is not None:
            self._add_digest_jobs(self._scheduler, catch_up=False)
        log.info("event=config_reloaded detail=%r", describe_change(old.config, config, old.rules, rules))
        self._wake_poller.set()

    def ask_reload(self) -> None:
        """SIGHUP: read the config and rule files again now."""
        self._reload.set()

    async def run(self, stop: asyncio.Event, scheduler: AsyncIOScheduler | None = None) -> None:
        """Add the jobs to `scheduler` (a fresh one when None), start it, and run until `stop`."""
        scheduler = scheduler or AsyncIOScheduler(timezone=UTC)
        self._scheduler = scheduler
        now = datetime.now(UTC)
        self.started = self.clock()
        # Each job at most once at a time; a run missed while busy is skipped, not queued up.
        jobs = [
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
        loops = [asyncio.create_task(loop()) for loop in (self._poller, self._deliverer, self._watcher)]
        watched, first = self.pipeline.archive.watched()  # configured and imported
        config = self.pipeline.config
        log.info(
            "event=started feeds=%d tick=%ss config=%s archive=%s first_pass=%s",
            watched,
            self.tick,
            config.path,
            config.storage_path,
            f"{first:%Y-%m-%dT%H:%M:%SZ}" if first else "none",
        )
        try:
            await stop.wait()
        finally:
            self._stopping = True
            for event in (self._wake_poller, self._wake_deliverer, self._reload):
                event.set()  # the loops see _stopping and end; their work in flight is in _busy
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await self._finish_in_flight()
            await asyncio.wait(loops, timeout=1.0)
            for loop_task in loops:
                loop_task.cancel()
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
            last_success={s.url: s.last_success for s in statuses} if self._per_feed(len(statuses)) else {},
        )

    def _per_feed(self, feeds: int) -> bool:
        """Per-feed /metrics series ([service] feed_metrics): by default only up to a few hundred
        feeds, past which one label per feed URL makes every scrape hundreds of KB."""
        wanted = self.pipeline.config.service.feed_metrics
        return feeds <= FEED_METRICS_MAX if wanted is None else wanted

    def _add_digest_jobs(self, scheduler: AsyncIOScheduler, catch_up: bool = True) -> None:
        """One cron job per chat with a digest schedule (those of an older config replaced);
        a digest missed while down goes out now."""
        for job in scheduler.get_jobs():
            if job.id.startswith("digest:"):
                job.remove()
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
            if catch_up and chats.digest_due(chat, state.last_digest if state else None, self.clock()):
                log.info("event=digest_catch_up chat=%s", chat.id)
                self._catch_up.append(chat.id)

    async def _finish_in_flight(self) -> None:
        """Work in flight gets SHUTDOWN_GRACE: a pass's finished feeds are archived already, the
        rest are cut short (fetched again next time). Then no new send starts, but the one in
        flight is never cut off (Telegram may have taken it): it ends and is recorded, within
        SEND_GRACE in all."""
        if not self._busy:
            return
        log.info("event=stopping in_flight=%d grace=%ss", len(self._busy), SHUTDOWN_GRACE)
        done, pending = await asyncio.wait(set(self._busy), timeout=SHUTDOWN_GRACE)
        self._sends_over.set()
        if pending and self._deliver_lock.locked():  # a send in flight: let it end and be recorded
            done, pending = await asyncio.wait(pending, timeout=SEND_GRACE - SHUTDOWN_GRACE)
        cut = self._pass
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
            log.warning(
                "event=stop_cut_short in_flight=%d grace=%ss feeds_done=%d feeds_cut_short=%d",
                len(pending),
                SHUTDOWN_GRACE,
                (cut.feeds - cut.cut_short) if cut else 0,
                cut.cut_short if cut else 0,
            )


async def _sleep(wake: asyncio.Event, seconds: float) -> None:
    """Until `wake` is set or `seconds` have passed."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=max(seconds, 0.0))


def stop_on_signals(stop: asyncio.Event) -> dict[str, int]:
    """SIGTERM and SIGINT set `stop`. The returned dict gets the "signal" that stopped the
    service, for its exit status (130 after Ctrl-C, as a shell expects)."""
    loop = asyncio.get_running_loop()
    seen: dict[str, int] = {}

    def stopped(sig: signal.Signals) -> None:
        seen.setdefault("signal", int(sig))
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped, sig)
    return seen
