"""`monitor run` and `monitor poll`: the commands that fetch feeds and deliver alerts.

The only command module that imports the service (and with it httpx, python-telegram-bot and
APScheduler): the other commands start without them.
"""

from __future__ import annotations

import argparse
import asyncio

from monitor.app import open_app, run_service
from monitor.cli.context import Context, say
from monitor.config.values import redact_urls
from monitor.service.logs import setup_logging
from monitor.service.progress import Progress, pass_summary
from monitor.service.workers import tune_gc
from monitor.types import Config


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    setup_logging(ctx.log_level, [config.telegram.token or ""])
    tune_gc()
    return asyncio.run(run_service(config))


def cmd_poll(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    setup_logging("WARNING" if ctx.log_level == "INFO" else ctx.log_level, [config.telegram.token or ""])
    tune_gc()
    report, delivery, outbox = asyncio.run(_poll(config))
    for error in report.errors:  # credentials in a feed's URL are never shown
        say(redact_urls(f"monitor: feed {error.url}: {error.message}"))
    for feed, note in report.notes:
        say(redact_urls(f"monitor: feed {feed}: {note}"))
    for line in delivery.errors:
        say(f"monitor: {line}")
    say(pass_summary(report))
    pending, held = outbox.get("pending", 0), outbox.get("held", 0)
    waiting = f"{pending} waiting in the outbox" + (f", {held} held for digests" if held else "")
    say(
        f"alerts: {report.alerts} queued by this pass, {delivery.sent} sent, {delivery.failed} rejected, "
        f"{waiting}"
    )
    say(f"config {config.path}; archive {config.storage_path}")
    return 0


async def _poll(config: Config):  # type: ignore[no-untyped-def]
    """One pass over every feed (its progress on a terminal), delivery, then the outbox as it is."""
    async with open_app(config) as app:
        archive = app.pipeline.archive
        mark, began = archive.high_water(), app.pipeline.clock()
        watched = Progress(archive.watched()[0], lambda: archive.activity_after(mark, began))
        progress = asyncio.create_task(watched.run())
        try:
            report = await app.pipeline.run_pass(only_due=False)
        finally:
            progress.cancel()
        delivery = await app.deliver()
        outbox = archive.outbox_counts()
    return report, delivery, outbox
