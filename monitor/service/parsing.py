"""A fetched body → its new articles, analysed: what a parser process runs (workers.py starts
them), and the main process itself in a small pass.

    parse.parse_feed                  bytes → entries, or ParseError
    | dedupe.entry_keys + known        drop entries the archive already holds
    | rules.match                       which rules fire, with which terms
    | stories.copy_signature            what story grouping reads to find copies, and its BLOB
    | stories.words.report              its words as grouping weighs them (boilerplate dropped)

Pure apart from ``known`` (a read of the archive). A parser process imports this module, the
stages it names and nothing of the service (no asyncio, no HTTP client, no Telegram): its
memory is what parsing needs (issue 18), not a copy of the main process's imports.
"""

from __future__ import annotations

import gc
import pickle
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.archive.snapshot import Snapshot
from monitor.errors import ParseError
from monitor.ingest.dedupe import Keyed, distinct_entries
from monitor.ingest.itemcap import MAX_ITEMS
from monitor.ingest.parse import parse_feed, settled
from monitor.rules.matcher import RuleSet
from monitor.stories.fingerprint import ArticleFingerprint, copy_signature
from monitor.stories.textform import signature_blob
from monitor.stories.words import Report, reports
from monitor.types import EntryData, FeedData, RuleMatch, StorySettings

Known = Callable[[Iterable[str]], set[str]]


class OutOfTime(Exception):
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
    # the fingerprint's signature as the archive stores it and grouping compares it
    # (stories.lookup.signature_of): made here too, not in the one process that archives
    signature: bytes | None = None

    @property
    def for_grouping(self) -> tuple[ArticleFingerprint, tuple[str, ...], Report | None, bytes | None]:
        """What Grouper.place reads of it beside the entry and its matches."""
        return self.fingerprint, self.story_keys, self.words, self.signature


@dataclass(frozen=True)
class AnalysedFeed:
    feed: FeedData  # title, ttl, warning; entries emptied (the new ones are in `fresh`)
    fresh: tuple[Analysed, ...]  # in feed order, each once
    items: int = 0  # distinct articles the feed carried, new or not (all new, pass after pass: churn)

    @property
    def articles(self) -> int:
        return len(self.fresh)

    @property
    def span(self) -> tuple[datetime, datetime] | None:
        """The earliest and latest publication of its fresh articles; None: none, or one undated."""
        published = [item.entry.published for item in self.fresh]
        if not published or any(when is None for when in published):
            return None
        dated = [when for when in published if when is not None]
        return min(dated), max(dated)


@dataclass(frozen=True)
class HeldFeed:
    """An AnalysedFeed as a parser worker hands it over: pickled. The main process holds it so
    until its feed is saved, and unpickles it then (load): a feed of 50 articles waits as some
    200 KB, not as 9,000 objects of 640 KB (issue 18); what is asked of it before, beside it."""

    data: bytes  # the AnalysedFeed, pickled
    articles: int  # its fresh articles (AnalysedFeed.articles)
    span: tuple[datetime, datetime] | None  # AnalysedFeed.span

    def load(self) -> AnalysedFeed:
        feed = pickle.loads(self.data)
        assert isinstance(feed, AnalysedFeed), "a HeldFeed holds an AnalysedFeed"
        return feed


def held(feed: AnalysedFeed) -> HeldFeed:
    return HeldFeed(pickle.dumps(feed), feed.articles, feed.span)


def loaded(analysed: AnalysedFeed | HeldFeed | ParseError | None) -> AnalysedFeed | ParseError | None:
    """The AnalysedFeed a HeldFeed holds, unpickled; anything else as it is."""
    return analysed.load() if isinstance(analysed, HeldFeed) else analysed


def analyse(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    rules: RuleSet,
    stories: StorySettings,
    known: Known,
    name: str | None = None,
) -> AnalysedFeed | ParseError:
    read = read_entries(url, body, headers)
    if isinstance(read, ParseError):
        return read
    parsed, keyed = read
    seen = known(k for _, _, keys in keyed for k in keys)
    return describe_fresh(parsed, keyed, seen, now, rules, stories, name=name)


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
    name: str | None = None,
) -> AnalysedFeed:
    """The entries none of whose keys are in `seen` (known to the archive), analysed. Past
    `deadline` (time.monotonic), OutOfTime. An entry without an outlet of its own is the
    feed's: its configured `name`, else the outlet its title names (as the pipeline would
    credit it: done here, off the archive's thread)."""
    fresh = []
    outlet = name or parsed.outlet
    for listed, canonical, keys in keyed:
        if deadline is not None and time.monotonic() > deadline:
            raise OutOfTime
        if seen.intersection(keys):
            continue
        seen.update(keys)  # the same article twice in one feed is one article
        entry = settled(listed, now)  # no date far past when it is first seen
        if not entry.outlet and outlet:
            entry = replace(entry, outlet=outlet)
        fp = copy_signature(entry.title, entry.summary, entry.published or now)
        fresh.append(
            Analysed(
                entry=entry,
                url=canonical,
                keys=keys,
                matches=tuple(rules.match(entry.title, entry.summary)),
                fingerprint=fp,
                signature=signature_blob(fp.published, fp.signature),
            )
        )
    # The feed's boilerplate is that of its fresh items, as grouping would learn it (learn_feed).
    made = reports([(item.entry.title, item.entry.summary) for item in fresh])
    described = tuple(replace(item, words=words) for item, words in zip(fresh, made, strict=True))
    return AnalysedFeed(replace(parsed, entries=()), described, len(keyed))


def tune_gc() -> None:
    """For a process that runs passes (`monitor run`, `monitor poll`, a parser worker), called
    once at its start.

    A pass allocates millions of small objects that live until it ends; the cyclic garbage
    collector, run every 700 allocations, took 7% of a cold pass re-scanning them (py-spy),
    and doubled the cost of reading a stored fingerprint in a worker holding thousands.
    Start-up's objects (modules, rules) are frozen out of its scans, and it runs less often."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


# --- in a worker process ----------------------------------------------------------


@dataclass
class _Worker:
    rules: RuleSet
    stories: StorySettings
    archive: Snapshot


_worker: _Worker | None = None


def start_worker(rules: RuleSet, stories: StorySettings, db_path: str) -> None:
    global _worker
    _worker = _Worker(rules, stories, Snapshot(db_path))
    tune_gc()


def analyse_in_worker(
    url: str, body: bytes, headers: dict[str, str], now: datetime, max_items: int, name: str | None = None
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
        return describe_fresh(parsed, keyed, seen, now, worker.rules, worker.stories, name=name)


def analyse_to_hold(
    url: str, body: bytes, headers: dict[str, str], now: datetime, max_items: int, name: str | None = None
) -> HeldFeed | ParseError:
    """analyse_in_worker, its AnalysedFeed pickled here (held): the main process unpickles it only
    when it saves the feed."""
    analysed = analyse_in_worker(url, body, headers, now, max_items, name)
    return held(analysed) if isinstance(analysed, AnalysedFeed) else analysed
