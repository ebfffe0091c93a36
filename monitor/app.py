"""Wiring: build the pipeline's parts from a Config, and tear them down.

The one place that creates the long-lived clients (httpx, telegram.Bot) and
hands them to the stages, so every other module can be tested with its own.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor import _bytecode
from monitor.alerts.deliver import DeliveryReport, deliver_pending
from monitor.alerts.notify import ConsoleNotifier, Notifier, TelegramNotifier
from monitor.alerts.routing import CONSOLE, check_routing, flush_held
from monitor.archive.store import Archive
from monitor.chat.bot import ChatBot, build_application
from monitor.errors import ConfigError, RetryLater, Unavailable
from monitor.ingest.fetch import make_client
from monitor.rules.rulefile import load_rules
from monitor.service.health import HealthServer
from monitor.service.lock import WriterLock
from monitor.service.pipeline import PassReport, Pipeline
from monitor.service.reload import ConfigWatch
from monitor.service.scheduler import Service, stop_on_signals
from monitor.service.workers import Analyser, default_workers
from monitor.types import Config

log = logging.getLogger("monitor.app")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class App:
    pipeline: Pipeline
    notifiers: dict[str, Notifier]  # special chats: "console"
    telegram: Notifier | None  # every other chat

    async def deliver(self) -> DeliveryReport:
        p = self.pipeline
        flush_held(p.archive, p.config, p.rules, p.clock())
        return await deliver_pending(
            self.pipeline.archive, self.notifiers, self.telegram, self.pipeline.clock
        )


@asynccontextmanager
async def open_app(config: Config, clock: Callable[[], datetime] = utc_now) -> AsyncIterator[App]:
    """Rules and archive first (they fail fast with a clear error), then the clients.

    Holds the archive's writer lock throughout: a second run or poll on it refuses to start."""
    _bytecode.release()  # every module of a pass is imported: its records are made (issue 18)
    rules = load_rules(config.rule_paths)
    check_routing(rules, config)
    lock = WriterLock(config.storage_path).acquire()
    try:
        archive = Archive.open(config.storage_path)
    except BaseException:
        lock.release()
        raise
    try:
        archive.sync_feeds(config.feeds, clock(), config.schedule.interval)
        async with make_client(config.fetch) as client:
            telegram = await _start_telegram(config)
            try:
                workers = config.fetch.workers
                analyser = Analyser(
                    rules,
                    config.stories,
                    config.storage_path,
                    archive.known_keys,
                    default_workers() if workers is None else workers,
                    max_items=config.fetch.max_items,
                    budget=config.fetch.analysis_budget,
                )
                pipeline = Pipeline(config, archive, rules, client, clock, analyser)
                try:
                    yield App(pipeline, {CONSOLE: ConsoleNotifier()}, telegram)
                finally:
                    analyser.close()
            finally:
                if telegram is not None:
                    await telegram.close()
    finally:
        archive.close()
        lock.release()


async def _start_telegram(config: Config) -> Notifier | None:
    if not config.telegram.token:
        return None
    notifier = TelegramNotifier(config.telegram.token, config.telegram.api_url)
    try:
        await notifier.start()
    except (Unavailable, RetryLater) as exc:
        # Telegram unreachable at start is not fatal: alerts wait in the outbox.
        # Any other NotifyError (a bad token) is: the operator must fix the config.
        log.warning("event=telegram_unavailable error=%r", str(exc))
    return notifier


async def poll_once(
    config: Config, clock: Callable[[], datetime] = utc_now
) -> tuple[PassReport, DeliveryReport]:
    async with open_app(config, clock) as app:
        report = PassReport()
        try:
            await app.pipeline.run_pass(only_due=False, report=report)
        except asyncio.CancelledError:  # Ctrl-C: what finished is archived; say what was not
            log.warning(
                "event=pass_cut_short feeds_done=%d feeds_cut_short=%d new_articles=%d",
                report.feeds - report.cut_short,
                report.cut_short,
                report.new_articles,
            )
            raise
        delivery = await app.deliver()
    return report, delivery


async def run_service(config: Config, stop: asyncio.Event | None = None) -> int:
    """`monitor run` until SIGTERM (exit status 0) or Ctrl-C (130); SIGHUP reloads the config."""
    stop = stop or asyncio.Event()
    stopped_by = stop_on_signals(stop)
    async with open_app(config) as app:
        watch = ConfigWatch(config.path, config.rule_paths)
        service = Service(app.pipeline, app.notifiers, app.telegram, app.pipeline.clock, watch=watch)
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, service.ask_reload)
        async with _health_server(config, service):
            if not isinstance(app.telegram, TelegramNotifier):
                await service.run(stop)
            else:
                # One loop, one scheduler: the chat-command Application's JobQueue runs the service's jobs.
                chatbot = ChatBot(build_application(app.telegram), app.telegram, service)
                chatbot.start()
                try:
                    await service.run(stop, chatbot.scheduler)
                finally:
                    await chatbot.stop()
    return 130 if stopped_by.get("signal") == signal.SIGINT else 0


@asynccontextmanager
async def _health_server(config: Config, service: Service) -> AsyncIterator[None]:
    """/healthz and /metrics on [service] listen, for as long as the service runs."""
    if not config.service.listen:
        yield
        return
    from monitor.service.metrics import Metrics  # only here: prometheus-client is 1 MB (issue 18)

    service.metrics = Metrics()
    service.metrics.set_state(service.state)
    server = HealthServer(config.service.listen, service.metrics, service.health)
    try:
        await server.start()
    except ConfigError as exc:
        raise ConfigError(exc.message, config.path) from None
    log.info("event=health_listening address=%s", config.service.listen)
    try:
        yield
    finally:
        await server.close()
