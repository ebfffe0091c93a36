"""The analysis of a pass's fetched bodies, in worker processes when it pays (parsing.py is
what is run: parse, drop known entries, match rules, sign and describe for grouping).

On a machine with more than one core ``Analyser`` runs it in worker processes, so parsing,
fingerprinting and making each report's words use every core while the main process fetches,
writes the archive and places stories; a small pass runs it in-process, where starting workers
would cost more than it saves. A worker imports parsing.py and what it names, not the service
(stoppable.py, serve.py). The main process checks identity keys again before it stores
anything: two feeds carrying one article in the same pass still archive it once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from monitor.errors import BudgetExceeded, ParseError
from monitor.ingest.dedupe import Keyed
from monitor.ingest.itemcap import MAX_ITEMS
from monitor.rules.matcher import RuleSet
from monitor.service import parsing
from monitor.service.parsing import Analysed as Analysed
from monitor.service.parsing import AnalysedFeed as AnalysedFeed
from monitor.service.parsing import HeldFeed as HeldFeed
from monitor.service.parsing import Known as Known
from monitor.service.parsing import OutOfTime, describe_fresh, read_entries
from monitor.service.parsing import analyse as analyse
from monitor.service.parsing import loaded as loaded
from monitor.service.parsing import tune_gc as tune_gc
from monitor.service.stoppable import Overrun, TaskFailed, WorkerDied, WorkerPool
from monitor.types import FeedData, StorySettings

log = logging.getLogger(__name__)

# A pass with fewer feeds to fetch than this analyses in-process: spawning workers takes
# about half a second, which a handful of feeds never earns back.
POOL_MIN_FEEDS = 16
DEFAULT_BUDGET = 10.0  # seconds; FetchSettings.analysis_budget's default
# A body larger than this goes to a worker process even in a small pass: only there can its
# analysis be stopped at the budget. Smaller ones take a fraction of a second in-process.
IN_PROCESS_MAX_BYTES = 64 * 1024


class Analyser:
    """Runs `analyse` for a pass: in worker processes when it pays, else in-process; each feed
    under a time budget (issue 20).

    One per pipeline; the workers start on first use and live until `close()`. A worker whose
    feed runs past the budget is killed (stoppable.py) and the feed is BudgetExceeded. Bodies
    over IN_PROCESS_MAX_BYTES always go to a worker (when there are any); in-process, the
    budget is checked between entries (text is truncated before any regex sees it, so one
    entry's cost is bounded).
    """

    def __init__(
        self,
        rules: RuleSet,
        stories: StorySettings,
        db_path: Path,
        known: Known,
        workers: int,
        *,
        max_items: int = MAX_ITEMS,
        budget: float = DEFAULT_BUDGET,
    ):
        self.rules, self.stories, self.db_path, self.known = rules, stories, db_path, known
        self.workers, self.max_items, self.budget = workers, max_items, budget
        self.in_workers = 0  # bodies analysed in a worker process, since the start
        self._pool: WorkerPool | None = None
        self._queued = 0  # feeds sent to the workers and not back yet
        self._local = 0  # feeds being analysed in this process

    def use(self, rules: RuleSet, stories: StorySettings) -> None:
        """New rules (a reloaded config): used by the next feeds analysed. The workers, started
        with the old ones, finish what they hold and are replaced at the next use."""
        if rules is self.rules and stories == self.stories:
            return
        self.rules, self.stories = rules, stories
        if self._pool is not None:
            self._pool.retire()
            self._pool = None

    def use_workers(self, feeds: int) -> bool:
        return self.workers > 0 and feeds >= POOL_MIN_FEEDS

    def in_flight(self) -> int:
        """Feeds worth analysing at once, saved ones excluded (the pipeline's bound): one being
        read by each worker and one queued behind it, one in this process, one being saved."""
        return 2 * self.workers + 2

    async def __call__(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        now: datetime,
        pooled: bool,
        name: str | None = None,
    ) -> AnalysedFeed | HeldFeed | ParseError:
        """`name`: the feed's configured name, the outlet of its entries that name none."""
        # The main process takes a feed itself (one at a time) while every worker has a feed
        # waiting: it has a core's worth of time to spare when the workers are the busier. A big
        # body never: it is read where it can be stopped (a 1 MB text froze the service, issue 20).
        big = self.workers > 0 and len(body) > IN_PROCESS_MAX_BYTES
        if big or (pooled and (self._queued <= self.workers or self._local)):
            self._queued += 1
            try:
                args = (url, body, dict(headers), now, self.max_items, name)
                # held pickled until saved (parsing.HeldFeed): the feeds waiting for the writer
                result = await self._start().run(parsing.analyse_to_hold, args, self.budget)
                self.in_workers += 1
                return result  # type: ignore[no-any-return]
            except Overrun:
                return self._over_budget(url)
            except WorkerDied:
                # Killed or out of memory: this feed's error, not a reason to try it in this
                # process; and, like a feed over its budget, not read again until it changes.
                return BudgetExceeded(
                    url,
                    "its parser process died (out of memory?) while reading it;"
                    " skipped until its content changes",
                )
            except TaskFailed as exc:
                if exc.kind != "StorageError":
                    return ParseError(url, f"could not be analysed: {exc}")
                log.warning(
                    "a parser process could not read the archive (%s); feed %s analysed in-process", exc, url
                )
            finally:
                self._queued -= 1
        self._local += 1
        try:
            return await self._in_process(url, body, headers, now, name)
        except OutOfTime:
            return self._over_budget(url)
        finally:
            self._local -= 1

    def _over_budget(self, url: str) -> BudgetExceeded:
        return BudgetExceeded(
            url,
            f"reading it took longer than {self.budget:g} s ([fetch] analysis_budget);"
            " skipped until its content changes",
        )

    async def _in_process(
        self, url: str, body: bytes, headers: Mapping[str, str], now: datetime, name: str | None = None
    ) -> AnalysedFeed | ParseError:
        # In-process, in a thread, so a big feed does not stop the event loop (and every fetch
        # in flight with it, until their deadlines pass) for the seconds it takes. The archive's
        # keys are read in between, on the loop's thread, whose connection it is.
        started, read = await asyncio.to_thread(_timed_read, url, body, headers, self.max_items)
        if isinstance(read, ParseError):
            return read
        deadline = started + self.budget
        parsed, keyed = read
        seen = self.known(k for _, _, keys in keyed for k in keys)
        return await asyncio.to_thread(
            describe_fresh, parsed, keyed, seen, now, self.rules, self.stories, deadline, name
        )

    def _start(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(
                self.workers, parsing.start_worker, (self.rules, self.stories, str(self.db_path))
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _timed_read(
    url: str, body: bytes, headers: Mapping[str, str], max_items: int
) -> tuple[float, tuple[FeedData, list[Keyed]] | ParseError]:
    """read_entries, and when it started (in its thread: the budget does not count the queue)."""
    return time.monotonic(), read_entries(url, body, headers, max_items)


def default_workers() -> int:
    """Every core but one, which the main process keeps busy; none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores - 1, 4) if cores > 1 else 0
