"""A fetched body → its new articles, analysed: the CPU-bound half of a pass.

    parse.parse_feed                  bytes → entries, or ParseError
    | dedupe.entry_keys + known        drop entries the archive already holds
    | rules.match                       which rules fire, with which terms
    | stories.copy_signature            what story grouping reads to find copies
    | stories.words.report              its words as grouping weighs them (boilerplate dropped)

Pure apart from ``known`` (a read of the archive). On a machine with more
than one core ``Analyser`` runs this in worker processes, so parsing, fingerprinting and
comparing with archived stories use every core while the main process fetches, writes the
archive and looks at what the worker's snapshot could not hold; a small pass runs it
in-process, where starting workers would cost more than it saves. The main process checks
identity keys again before it stores anything: two feeds carrying one article in the same
pass still archive it once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from monitor.archive.snapshot import Snapshot
from monitor.errors import BudgetExceeded, ParseError
from monitor.ingest.dedupe import Keyed, distinct_entries
from monitor.ingest.itemcap import MAX_ITEMS
from monitor.ingest.parse import parse_feed, settled
from monitor.rules.matcher import RuleSet
from monitor.service.stoppable import Overrun, TaskFailed, WorkerDied, WorkerPool
from monitor.stories.fingerprint import ArticleFingerprint, copy_signature
from monitor.stories.lookup import FingerprintCache
from monitor.stories.words import Report, reports
from monitor.types import EntryData, FeedData, RuleMatch, StorySettings

log = logging.getLogger(__name__)

Known = Callable[[Iterable[str]], set[str]]
# A pass with fewer feeds to fetch than this analyses in-process: spawning workers takes
# about half a second, which a handful of feeds never earns back.
POOL_MIN_FEEDS = 16
DEFAULT_BUDGET = 10.0  # seconds; FetchSettings.analysis_budget's default
# A body larger than this goes to a worker process even in a small pass: only there can its
# analysis be stopped at the budget. Smaller ones take a fraction of a second in-process.
IN_PROCESS_MAX_BYTES = 64 * 1024


class _OutOfTime(Exception):
    """An in-process analysis ran past its budget."""


@dataclass(frozen=True)
class Analysed:
    """One entry the archive did not hold when it was analysed."""

    entry: EntryData
    url: str | None  # canonical URL
    keys: tuple[str, ...]  # identity keys
    matches: tuple[RuleMatch, ...]
    fingerprint: ArticleFingerprint  # its signature alone (grouping makes the rest if it needs it)
    story_keys: tuple[str, ...] = ()  # evidence keys (stories.candidate_keys): grouping's, if needed
    # its words as grouping reads them (stories.words.report, the feed's boilerplate dropped):
    # made here, beside the fingerprint, so the one process that archives only weighs and compares
    words: Report | None = None

    @property
    def for_grouping(self) -> tuple[ArticleFingerprint, tuple[str, ...], Report | None]:
        """What Grouper.place reads of it beside the entry and its matches."""
        return self.fingerprint, self.story_keys, self.words


@dataclass(frozen=True)
class AnalysedFeed:
    feed: FeedData  # title, ttl, warning; entries emptied (the new ones are in `fresh`)
    fresh: tuple[Analysed, ...]  # in feed order, each once
    items: int = 0  # distinct articles the feed carried, new or not (all new, pass after pass: churn)


def analyse(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    rules: RuleSet,
    stories: StorySettings,
    known: Known,
) -> AnalysedFeed | ParseError:
    read = read_entries(url, body, headers)
    if isinstance(read, ParseError):
        return read
    parsed, keyed = read
    return describe_fresh(parsed, keyed, known(k for _, _, keys in keyed for k in keys), now, rules, stories)


def read_entries(
    url: str, body: bytes, headers: Mapping[str, str], max_items: int = MAX_ITEMS
) -> tuple[FeedData, list[Keyed]] | ParseError:
    """The feed's entries (at most `max_items`), each article once (in any feed order), with its
    identity keys."""
    parsed = parse_feed(url, body, headers, max_items)
    if isinstance(parsed, ParseError):
        return parsed
    return parsed, distinct_entries(parsed.entries)


def describe_fresh(
    parsed: FeedData,
    keyed: list[Keyed],
    seen: set[str],
    now: datetime,
    rules: RuleSet,
    stories: StorySettings,
    deadline: float | None = None,
) -> AnalysedFeed:
    """The entries none of whose keys are in `seen` (known to the archive), analysed. Past
    `deadline` (time.monotonic), _OutOfTime."""
    fresh = []
    for listed, canonical, keys in keyed:
        if deadline is not None and time.monotonic() > deadline:
            raise _OutOfTime
        if seen.intersection(keys):
            continue
        seen.update(keys)  # the same article twice in one feed is one article
        entry = settled(listed, now)  # no date far past when it is first seen
        fp = copy_signature(entry.title, entry.summary, entry.published or now)
        fresh.append(
            Analysed(
                entry=entry,
                url=canonical,
                keys=keys,
                matches=tuple(rules.match(entry.title, entry.summary)),
                fingerprint=fp,
            )
        )
    # The feed's boilerplate is that of its fresh items, as grouping would learn it (learn_feed).
    made = reports([(item.entry.title, item.entry.summary) for item in fresh])
    described = tuple(replace(item, words=words) for item, words in zip(fresh, made, strict=True))
    return AnalysedFeed(replace(parsed, entries=()), described, len(keyed))


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
        self, url: str, body: bytes, headers: Mapping[str, str], now: datetime, pooled: bool
    ) -> AnalysedFeed | ParseError:
        # The main process takes a feed itself (one at a time) while every worker has a feed
        # waiting: it has a core's worth of time to spare when the workers are the busier. A big
        # body never: it is read where it can be stopped (a 1 MB text froze the service, issue 20).
        big = self.workers > 0 and len(body) > IN_PROCESS_MAX_BYTES
        if big or (pooled and (self._queued <= self.workers or self._local)):
            self._queued += 1
            try:
                args = (url, body, dict(headers), now, self.max_items)
                result = await self._start().run(_analyse_in_worker, args, self.budget)
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
            return await self._in_process(url, body, headers, now)
        except _OutOfTime:
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
        self, url: str, body: bytes, headers: Mapping[str, str], now: datetime
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
            describe_fresh, parsed, keyed, seen, now, self.rules, self.stories, deadline
        )

    def _start(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(
                self.workers, _start_worker, (self.rules, self.stories, str(self.db_path))
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


def tune_gc() -> None:
    """For a process that runs passes (`monitor run`, `monitor poll`, a parser worker), called
    once at its start.

    A pass allocates millions of small objects that live until it ends; the cyclic garbage
    collector, run every 700 allocations, took 7% of a cold pass re-scanning them (py-spy),
    and doubled the cost of reading a stored fingerprint in a worker holding thousands.
    Start-up's objects (modules, rules) are frozen out of its scans, and it runs less often."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def default_workers() -> int:
    """Every core but one, which the main process keeps busy; none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores - 1, 4) if cores > 1 else 0


# --- in a worker process ----------------------------------------------------------


@dataclass
class _Worker:
    rules: RuleSet
    stories: StorySettings
    archive: Snapshot
    fingerprints: FingerprintCache  # archived ones, parsed, kept between feeds


_worker: _Worker | None = None


def _start_worker(rules: RuleSet, stories: StorySettings, db_path: str) -> None:
    global _worker
    _worker = _Worker(rules, stories, Snapshot(db_path), FingerprintCache())
    tune_gc()


def _analyse_in_worker(
    url: str, body: bytes, headers: dict[str, str], now: datetime, max_items: int
) -> AnalysedFeed | ParseError:
    assert _worker is not None, "the pool's initializer sets up every worker"
    worker = _worker
    read = read_entries(url, body, headers, max_items)
    if isinstance(read, ParseError):
        return read
    parsed, keyed = read
    # Stories are placed in the main process, against story profiles (grouping.py).
    with worker.archive.reading() as view:
        seen = view.known_keys(k for _, _, keys in keyed for k in keys)
        return describe_fresh(parsed, keyed, seen, now, worker.rules, worker.stories)
