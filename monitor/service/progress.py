"""A pass in words a newcomer reads: the summary line of `monitor poll` and of each pass in the
service log, and the progress line a long pass shows on a terminal.

    pass_summary(report, pending, next_pass)  → "polled 14 feeds in 2.1s: ... 14 of 14 feeds
                                                  failed: no network? try "monitor demo""
    Progress(report, total).run()             → "feeds 120/1000, 3,400 new articles, 12 alerts"
                                                  redrawn on stderr while the pass runs (TTY only)
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from typing import TextIO

from monitor.service.pipeline import PassReport

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
        line += " (see `monitor feeds list` for why)"
    if next_pass is not None:
        line += f"; next pass {next_pass:%Y-%m-%d %H:%M} UTC"
    return line


class Progress:
    """Feeds done / total, articles and alerts, redrawn in place on a terminal's stderr while a
    pass fills `report` (the pipeline counts into the report it is given). Nothing on a pipe or a
    log file, and nothing for a pass shorter than PROGRESS_AFTER."""

    def __init__(self, report: PassReport, stream: TextIO | None = None) -> None:
        self.report = report
        self.stream = stream if stream is not None else sys.stderr
        self.shown = False

    def line(self) -> str:
        r = self.report
        done = r.feeds - getattr(r, "cut_short", r.feeds)
        return f"feeds {done}/{r.feeds}, {r.new_articles} new articles, {r.alerts} alerts queued"

    async def run(self) -> None:
        """Until cancelled (when the pass ends): then the line is cleared."""
        if not self.stream.isatty():
            return
        try:
            await asyncio.sleep(PROGRESS_AFTER)
            while True:
                self.stream.write(f"\r\x1b[K{self.line()}")
                self.stream.flush()
                self.shown = True
                await asyncio.sleep(PROGRESS_EVERY)
        finally:
            if self.shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
