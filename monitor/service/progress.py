"""A pass in words a newcomer reads: the summary line of `monitor poll` and of each pass in the
service log, and the progress line a long pass shows on a terminal.

    pass_summary(report, next_pass)  → "polled 14 feeds in 2.1s: 0 new articles, 0 unchanged,
                                         14 failed; 14 of 14 feeds failed: no network? try
                                         "monitor demo"; next pass 2026-03-06 10:15 UTC"
    Progress(total, counts).run()    → "feeds 120/1000, 3400 new articles, 12 alerts queued",
                                         redrawn on stderr while the pass runs (a terminal only)
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from monitor.errors import MonitorError
from monitor.service.pipeline import PassReport

log = logging.getLogger("monitor.service")  # the service's log (scheduler.py), one line per event

PROGRESS_AFTER = 3.0  # seconds a pass runs before its progress line appears
PROGRESS_EVERY = 0.5  # seconds between redraws


def pass_summary(report: PassReport, next_pass: datetime | None = None) -> str:
    """One line: what the pass did, what failed and what to try, when the next one is."""
    failed = len(report.errors)
    line = (
        f"polled {report.feeds} feeds in {report.seconds:.1f}s: {report.new_articles} new articles, "
        f"{report.not_modified} unchanged, {failed} failed"
    )
    if report.feeds and failed == report.feeds:
        line += f'; {failed} of {report.feeds} feeds failed: no network? try "monitor demo"'
    elif failed:
        line += " (monitor feeds list says why)"
    if next_pass is not None:
        line += f"; next pass {next_pass:%Y-%m-%d %H:%M} UTC"
    return line


class Progress:
    """Feeds done / total, new articles and alerts queued, redrawn in place on a terminal's
    stderr while a pass runs; `counts` reads them (from the archive, beside the pass). Nothing
    on a pipe or in a log file, and nothing for a pass shorter than PROGRESS_AFTER."""

    def __init__(
        self, total: int, counts: Callable[[], tuple[int, int, int]], stream: TextIO | None = None
    ) -> None:
        self.total = total
        self.counts = counts
        self.stream = stream if stream is not None else sys.stderr
        self.shown = False

    def line(self) -> str:
        done, articles, alerts = self.counts()
        return f"feeds {min(done, self.total)}/{self.total}, {articles} new articles, {alerts} alerts queued"

    async def run(self) -> None:
        """Until cancelled (when the pass ends); then the line is cleared."""
        if not self.stream.isatty():
            return
        try:
            await asyncio.sleep(PROGRESS_AFTER)
            while True:
                try:
                    line = self.line()
                except MonitorError:  # the pass meets the same trouble and reports it: no second word
                    return
                self.stream.write(f"\r\x1b[K{line}")
                self.stream.flush()
                self.shown = True
                await asyncio.sleep(PROGRESS_EVERY)
        finally:
            if self.shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()


def log_pass(report: PassReport, next_pass: datetime | None = None) -> None:
    """The service log's lines for one pass: each feed's trouble, the counts, the summary."""
    for feed, why in report.suspended:
        log.error("event=feed_suspended feed=%s reason=%r hint=%r", feed, why, "monitor feeds resume URL")
    for error in report.errors:
        log.warning("event=feed_error feed=%s error=%r", error.url, error.message)
    for feed in report.churning:
        log.warning(
            "event=feed_churning feed=%s detail=%r",
            feed,
            "every item new on 3 passes in a row (GUIDs rewritten?): its story edits limited to one an hour",
        )
    for feed, note in report.notes:
        log.info("event=feed_note feed=%s note=%r", feed, note)
    log.info(
        "event=pass feeds=%d not_modified=%d new_articles=%d alerts_queued=%d backfilled=%d errors=%d"
        " seconds=%.2f",
        report.feeds,
        report.not_modified,
        report.new_articles,
        report.alerts,
        report.backfilled,
        len(report.errors),
        report.seconds,
    )
    log.info("event=pass_summary text=%r", pass_summary(report, next_pass))
