"""A fetched body → its new articles, analysed: the CPU-bound half of a pass.

    parse.parse_feed                  bytes → entries, or ParseError
    | dedupe.entry_keys + known        drop entries the archive already holds
    | rules.match                       which rules fire, with which terms
    | stories.fingerprint               what story grouping compares, and its index keys

Pure apart from ``known`` and, in a worker, ``lookup`` (reads of the archive). On a machine with more
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
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path

from monitor.archive.snapshot import Snapshot
from monitor.errors import ParseError, StorageError
from monitor.ingest.dedupe import Keyed, distinct_entries
from monitor.ingest.parse import parse_feed, settled
from monitor.rules.matcher import RuleSet
from monitor.stories.fingerprint import ArticleFingerprint, candidate_keys, fingerprint
from monitor.stories.lookup import FingerprintCache
from monitor.types import EntryData, FeedData, RuleMatch, StorySettings

log = logging.getLogger(__name__)

Known = Callable[[Iterable[str]], set[str]]
# A pass with fewer feeds to fetch than this analyses in-process: spawning workers takes
# about half a second, which a handful of feeds never earns back.
POOL_MIN_FEEDS = 16


@dataclass(frozen=True)
class Analysed:
    """One entry the archive did not hold when it was analysed."""

    entry: EntryData
    url: str | None  # canonical URL
    keys: tuple[str, ...]  # identity keys
    matches: tuple[RuleMatch, ...]
    fingerprint: ArticleFingerprint
    story_keys: tuple[str, ...]


@dataclass(frozen=True)
class AnalysedFeed:
    feed: FeedData  # title, ttl, warning; entries emptied (the new ones are in `fresh`)
    fresh: tuple[Analysed, ...]  # in feed order, each once


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
    url: str, body: bytes, headers: Mapping[str, str]
) -> tuple[FeedData, list[Keyed]] | ParseError:
    """The feed's entries, each article once (in any feed order), with its identity keys."""
    parsed = parse_feed(url, body, headers)
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
) -> AnalysedFeed:
    """The entries none of whose keys are in `seen` (known to the archive), analysed."""
    fresh = []
    for listed, canonical, keys in keyed:
        if seen.intersection(keys):
            continue
        seen.update(keys)  # the same article twice in one feed is one article
        entry = settled(listed, now)  # no date far past when it is first seen
        fp = fingerprint(entry.title, entry.summary, entry.published or now)
        story_keys = candidate_keys(fp, stories)
        fresh.append(
            Analysed(
                entry=entry,
                url=canonical,
                keys=keys,
                matches=tuple(rules.match(entry.title, entry.summary)),
                fingerprint=fp,
                story_keys=story_keys,
            )
        )
    return AnalysedFeed(replace(parsed, entries=()), tuple(fresh))


class Analyser:
    """Runs `analyse` for a pass: in worker processes when it pays, else in-process.

    One per pipeline; the workers start on first use and live until `close()`.
    """

    def __init__(self, rules: RuleSet, stories: StorySettings, db_path: Path, known: Known, workers: int):
        self.rules, self.stories, self.db_path, self.known = rules, stories, db_path, known
        self.workers = workers
        self.in_workers = 0  # bodies analysed in a worker process, since the start
        self._pool: ProcessPoolExecutor | None = None
        self._queued = 0  # feeds sent to the workers and not back yet
        self._local = 0  # feeds being analysed in this process

    def use_workers(self, feeds: int) -> bool:
        return self.workers > 0 and feeds >= POOL_MIN_FEEDS

    async def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], now: datetime, pooled: bool
    ) -> AnalysedFeed | ParseError:
        # The main process takes a feed itself (one at a time) while every worker has a feed
        # waiting: it has a core's worth of time to spare when the workers are the busier.
        if pooled and (self._queued <= self.workers or self._local):
            pool = self._start()
            self._queued += 1
            try:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(pool, _analyse_in_worker, url, body, dict(headers), now)
                self.in_workers += 1
                return result
            except BrokenProcessPool:
                # A worker died (killed, out of memory): this feed is analysed here, the pool restarts.
                log.warning("a parser process died; restarting them (feed %s analysed in-process)", url)
                self._stop()
            except StorageError as exc:  # the worker could not read the archive
                log.warning(
                    "a parser process could not read the archive (%s); feed %s analysed in-process", exc, url
                )
            finally:
                self._queued -= 1
        self._local += 1
        try:
            return await self._in_process(url, body, headers, now)
        finally:
            self._local -= 1

    async def _in_process(
        self, url: str, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> AnalysedFeed | ParseError:
        # In-process, in a thread, so a big feed does not stop the event loop (and every fetch
        # in flight with it, until their deadlines pass) for the seconds it takes. The archive's
        # keys are read in between, on the loop's thread, whose connection it is.
        read = await asyncio.to_thread(read_entries, url, body, headers)
        if isinstance(read, ParseError):
            return read
        parsed, keyed = read
        seen = self.known(k for _, _, keys in keyed for k in keys)
        return await asyncio.to_thread(describe_fresh, parsed, keyed, seen, now, self.rules, self.stories)

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                # spawn, not fork: the service has threads (APScheduler, the HTTP client's pool)
                mp_context=get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.rules, self.stories, str(self.db_path)),
            )
        return self._pool

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


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
    # The main process decides when to stop (SIGTERM from systemd reaches the whole group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _worker = _Worker(rules, stories, Snapshot(db_path), FingerprintCache())
    tune_gc()
    # A worker holds both ends of its task queue, so it never sees the parent go: after a
    # kill -9 of the monitor it would wait forever. It checks once a second instead.
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _analyse_in_worker(
    url: str, body: bytes, headers: dict[str, str], now: datetime
) -> AnalysedFeed | ParseError:
    assert _worker is not None, "the pool's initializer sets up every worker"
    worker = _worker
    read = read_entries(url, body, headers)
    if isinstance(read, ParseError):
        return read
    parsed, keyed = read
    # Stories are placed in the main process, against story profiles (grouping.py).
    with worker.archive.reading() as view:
        seen = view.known_keys(k for _, _, keys in keyed for k in keys)
        return describe_fresh(parsed, keyed, seen, now, worker.rules, worker.stories)
