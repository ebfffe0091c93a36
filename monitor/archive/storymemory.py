"""The story tables grouping reads, in the writer's memory: a placement asks SQLite nothing.

For each report, grouping (service/grouping.py) asked the archive for the document
frequencies of its ~80 terms, the window's articles sharing one of its 8 index keys, their
fingerprints and their stories' profiles: ten statements and as many JSON parses, 21 ms at
100,000 archived articles (issue 17). StoryMemory answers the same questions from memory:

    documents, df      term_docs (all languages) and term_df (the terms asked for, a bounded
                       cache that remembers absent terms as 0)
    candidates         story_keys of the articles published since `horizon` (KEEP before the
    (sharing)          newest), each key's postings sorted by time: a window is two bisections;
                       a posting is one 64-bit integer in an array, its time and article id
                       (compact.pack), ordered as story_keys orders them
    fingerprints       of those articles, as written (a bounded cache)
    profiles, lasts    story_profiles: profiles and when each story's last report came (bounded
                       caches that remember absent profiles): closed stories are never parsed

It is exact, not an approximation: the answers are the SQL's (tests/archive/test_storymemory.py
compares both on a generated archive). It is loaded from the archive at its first look-up and
then kept up to date by the writes of stories.py on the same connection. A write by another
process (`monitor stories split`, `prune`) changes SQLite's data_version: the memory starts
again. A transaction that rolled back leaves the articles it told of missing: found at the
next look-up, and the memory starts again. A window reaching back before `horizon` (an old
report of a feed's back catalogue) is asked of SQL, as before.

The long-lived parts are a few large objects (compact.py: arrays of 64-bit integers, times as
integers), not a small object per article (issue 18: the dicts of ints and ISO strings were
44 MB at 50,000 articles, and pinned the heap a pass had freed). Windows of times that cannot
be packed (an article id past 2**28, a year past 2178) are asked of SQL.

Memory is bounded: at most MAX_ARTICLES articles' postings (the horizon moves up when more
come), MAX_TERMS cached document frequencies, MAX_PROFILES profiles (a full cache loses its
oldest quarter, compact.forget_oldest), the newest MAX_LONE_BYTES of the texts of stories of one
report (lonetexts.py), the newest MAX_FINGERPRINTS fingerprints (compact.Signatures)."""

from __future__ import annotations

import sqlite3
import threading
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from monitor.archive import compact
from monitor.archive.compact import ID_MASK, Cache, IntMap, TimeTable, iso_of, pack, packable, time_key
from monitor.archive.lonetexts import LoneTexts, is_lone
from monitor.archive.sqltime import from_iso, iso
from monitor.archive.storyload import Postings, count_articles, load_lasts, load_postings, ranked, shared_by

# postings kept before the newest article: windows of P - 72 h from P ≥ newest - 4 days
KEEP = timedelta(days=7)
MAX_ARTICLES = 60_000  # articles whose postings are kept (about 8 keys each)
MAX_TERMS = 200_000  # document frequencies kept, all languages: all of them up to this many
MAX_LOOKED_UP = 100_000  # ... else those of the terms looked up, up to this many
# 8,000 each: 4,000 (issue 18's memory) asked SQL for a quarter of a cold pass's candidates; the MB it
# adds, the parsed fingerprints lookup.Slots no longer keeps give back (docs/performance-log.md)
MAX_PROFILES = 2_000  # cached profiles of stories of several reports (text, ~1 KB each; 8,000 before h-churn)
MAX_LONE_BYTES = 3 << 20  # ring of the texts of stories of one report (lonetexts.py: ~180 bytes each)
MAX_LASTS = 80_000  # cached times of stories' last reports (about 150 bytes each): MAX_ARTICLES' and more
MAX_FINGERPRINTS = 12_288  # cached fingerprints (compact.Signatures: the newest articles')
MOVE_EVERY = timedelta(hours=6)  # how far the newest article gets past KEEP before old postings go
_Row = TypeVar("_Row", str, str | bytes)


class StoryMemory:
    """The story tables of one connection (the writer's), as far as grouping reads them."""

    def __init__(self, conn: sqlite3.Connection, max_postings: int, max_candidates: int) -> None:
        self.conn = conn
        self.max_postings = max_postings  # a key with more postings in a window is common
        self.max_candidates = max_candidates  # sharing's limit
        self.loaded = False
        self._version = -1
        self._pending = array("q")  # articles written since the last look-up (50,000 in a cold pass)
        self._loaded_in_transaction = False
        self.horizon = ""  # ISO time: every posting published at or after it is in memory
        self._newest = ""  # the newest article's publication
        self._move_at = ""  # when the newest gets past this, old postings go
        self.documents: dict[str, int] = {}  # language → archived articles
        self.df: dict[str, dict[str, int]] = {}  # language → term → document frequency (cached)
        self._df_size = 0
        self._df_complete = False  # df holds every term of term_df (absent: 0)
        self.profiles: dict[int, str | None] = {}  # story → profile JSON (cached; None: has none)
        self.lone = LoneTexts(MAX_LONE_BYTES)  # story → its text, of stories of one report (not in profiles)
        self.lasts = TimeTable()  # story → its profile's last report, ISO (cached)
        self.fingerprints = compact.Signatures(1)  # article → fingerprint as stored (cached; at the load)
        # key → its postings (compact.pack: time, article), sorted as story_keys orders them; a key
        # of one posting (half of them) holds it alone, an int of 40 bytes, not an array of 96
        self.postings: Postings = {}
        self.story_of = IntMap()  # article (with postings in memory) → story
        self._published = IntMap()  # article (with postings in memory) → published (compact.time_key)
        self._packed = True  # every posting since the horizon is in `postings` (see compact.packable)
        self._writes = 0  # story writes told of, loaded or not (a preload read before them is stale)
        self._preload: _Preload | None = None
        # Called before this memory (or MemoryIndex) asks SQL for story keys, fingerprints or
        # counts: the archive waits there for the rows it writes behind (behind.py)
        self.settle: Callable[[], None] = _nothing

    def reset(self) -> None:
        self.loaded = False
        self._writes += 1

    def preload(self) -> None:
        """Start loading in a thread, on a read connection of its own, while the event loop
        fetches (issue 18: loading 15,000 articles' postings held the loop 0.3 s at a pass's first
        placement, every fetch in flight stalled). The first look-up adopts what it read when
        nothing was written to the story tables since (by this connection: no write told of, the
        newest article the same; by another: data_version the same), else loads as before."""
        if self.loaded or self._preload is not None or self.conn.in_transaction:
            return
        path = next((row[2] for row in self.conn.execute("pragma database_list") if row[1] == "main"), "")
        if not path:  # an in-memory archive: nothing to read it with
            return
        version = self.conn.execute("pragma data_version").fetchone()[0]
        preload = _Preload(path, self.max_postings, self.max_candidates, self._writes, version)
        preload.thread.start()
        self._preload = preload

    def _adopt(self) -> bool:
        """The preload's state, if it is still the archive's (see preload); False if not."""
        preload, self._preload = self._preload, None
        if preload is None:
            return False
        preload.thread.join()
        read = preload.memory
        if read is None or preload.writes != self._writes or preload.version != self._version:
            return False
        newest = self.conn.execute("select max(id) from articles").fetchone()[0]
        if newest != preload.newest_id:
            return False
        for name in _STATE:
            setattr(self, name, getattr(read, name))
        del self._pending[:]
        self._loaded_in_transaction = False  # it read committed rows only
        self.loaded = True
        return True

    # --- look-ups ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Before look-ups: start again if another connection changed the tables or a
        transaction this memory heard of rolled back; load when not loaded."""
        version = self.conn.execute("pragma data_version").fetchone()[0]
        if version != self._version:
            self.loaded = False
            self._version = version
        if not self.conn.in_transaction:
            if self._pending:
                self._confirm()
            if self.loaded and self._loaded_in_transaction:
                self.loaded = False
        if not self.loaded and not self._adopt():
            self._load()

    def covers(self, low: str) -> bool:
        """Whether every posting published at or after `low` is in memory."""
        return low >= self.horizon and self._packed

    def selective(self, keys: Sequence[str], low: str, high: str) -> tuple[str, ...]:
        common = set()
        first, last = _bounds(low, high)
        for key in set(keys):
            postings = self.postings.get(key)
            if postings is None:
                continue
            if isinstance(postings, int):
                held = int(first <= postings <= last)
            else:
                held = bisect_right(postings, last) - bisect_left(postings, first)
            if held > self.max_postings:
                common.add(key)
        return tuple(k for k in keys if k not in common)

    def sharing(self, keys: Sequence[str], low: str, high: str, after: int) -> list[tuple[int, int]]:
        return self.candidates(keys, _bounds(low, high), self.max_candidates, after, selective=False)

    def candidates(
        self, keys: Sequence[str], bounds: tuple[int, int], limit: int, after: int = 0, selective: bool = True
    ) -> list[tuple[int, int]]:
        """sharing(selective(keys, low, high), low, high, after)[:limit] (sharing's own keys if
        not `selective`), `bounds` the window's (_bounds): each key's window bisected once, not
        twice then again, and only the `limit` best articles' stories looked up (16 of 64)."""
        most = self.max_postings if selective else 2**63  # a key with more in the window is common
        best = ranked(shared_by(self.postings, keys, bounds, most), min(limit, self.max_candidates), after)
        return list(zip(self.story_of.many(best), best, strict=True))

    def document_frequencies(
        self,
        lang: str,
        terms: Sequence[str],
        read: Callable[[Sequence[str]], dict[str, int]],
        extra: Mapping[str, int] | None = None,
    ) -> tuple[dict[str, int], int]:
        """As stories.document_frequencies (`extra`: counts added, in the same pass); `read`
        asks SQL for the terms not cached (complete: every term is here, one that is not has 0)."""
        known = self.df.setdefault(lang, {})
        if not self._df_complete and (missing := [t for t in terms if t not in known]):
            if self._df_size + len(missing) > MAX_LOOKED_UP:
                self.df = {lang: {}}
                self._df_size = 0
                known = self.df[lang]
                missing = list(dict.fromkeys(terms))
            found = read(missing)
            for term in missing:
                known[term] = found.get(term, 0)
            self._df_size += len(missing)
        get = known.get
        if extra:  # every term, in its order (0 for none), the extra counts added where there are some
            more = extra.get
            return {t: get(t, 0) + more(t, 0) for t in terms}, self.documents.get(lang, 0)
        return {t: n for t in terms if (n := get(t, 0))}, self.documents.get(lang, 0)

    def cached(
        self,
        table: Cache[_Row],
        wanted: Sequence[int],
        read: Callable[[list[int]], dict[int, _Row]],
        limit: int,
    ) -> dict[int, _Row]:
        """Id → row from `table` (profiles or fingerprints), what it lacks read and kept."""
        compact.fill(table, wanted, read, limit)
        return {i: data for i in wanted if (data := table[i]) is not None}

    # --- writes (stories.py, on this connection) --------------------------------------

    def indexed(
        self, article_id: int, story_id: int, published: str, seconds: int, fingerprint: str | bytes,
        keys: Sequence[str],
    ) -> None:  # fmt: skip
        self._writes += 1
        if not self.loaded:
            return
        self._note(article_id)
        self.fingerprints[article_id] = fingerprint
        if published < self.horizon:
            return
        time = seconds + compact.EPOCH_KEY  # its time_key: `seconds`, since 1970, is sqltime.epoch's
        if not packable(time, article_id):
            self._packed = False  # windows asked of SQL until the memory starts again
            return
        self.story_of[article_id] = story_id
        first = self._published.setdefault(article_id, time)  # as first indexed
        if first != time:
            time, published = first, iso_of(first)
        posting = pack(time, article_id)
        for key in dict.fromkeys(keys):
            postings = self.postings.get(key)
            if postings is None:
                self.postings[key] = posting
            elif isinstance(postings, int):
                self.postings[key] = array("Q", sorted((postings, posting)))
            else:
                insort(postings, posting)
        if published > self._newest:
            self._newest = published
        if len(self.story_of) > MAX_ARTICLES or self._newest > self._move_at:
            self._move_horizon()

    def joined(self, article_id: int, story_id: int, profile: str, last: str | None) -> None:
        # a report placed: its story's new profile (its terms' counts: `counted`)
        self._writes += 1
        if not self.loaded:
            return
        self._note(article_id)
        self.profile_set(story_id, profile, last)

    def counted(self, terms: Mapping[str, Mapping[str, int]], documents: Mapping[str, int]) -> None:
        """An update's rarity counts (language → term → its new articles with it; language →
        its new articles), once for the update (stories.write_counts), not per article."""
        self._writes += 1
        if not self.loaded:
            return
        df, complete, before = self.df, self._df_complete, sum(map(len, self.df.values()))
        for lang, counted in terms.items():
            if complete:  # every term kept
                get = (known := df.setdefault(lang, {})).get
                known.update({term: get(term, 0) + n for term, n in counted.items()})
            elif held := df.get(lang):  # a cache: only the terms held
                held.update({term: held[term] + n for term, n in counted.items() if term in held})
        if complete:
            self._df_size += sum(map(len, df.values())) - before
            if self._df_size > MAX_TERMS:  # too many to keep them all: a cache of those asked for
                self.df, self._df_size, self._df_complete = {}, 0, False
        for lang, n in documents.items():
            self.documents[lang] = self.documents.get(lang, 0) + n

    def profile_set(self, story_id: int, profile: str | None, last: str | None) -> None:
        self._writes += 1
        if not self.loaded:
            return
        if profile is not None and is_lone(profile):  # kept denser, and longer (lonetexts.py)
            self.lone.put(story_id, profile)
            self.profiles.pop(story_id, None)
        else:
            self.lone.discard(story_id)
            if len(self.profiles) >= MAX_PROFILES and story_id not in self.profiles:
                compact.forget_oldest(self.profiles, 1)
            self.profiles[story_id] = profile
        if len(self.lasts) >= MAX_LASTS and story_id not in self.lasts:
            self.lasts.clear()
        self.lasts[story_id] = (last or "") if profile is not None else None

    def _note(self, article_id: int) -> None:
        if not self._pending or self._pending[-1] != article_id:  # indexed, then joined: once
            self._pending.append(article_id)

    def moved(self, article_id: int, story_id: int) -> None:
        self._writes += 1
        if self.loaded and article_id in self.story_of:
            self.story_of[article_id] = story_id

    # --- loading ----------------------------------------------------------------------

    def _load(self) -> None:
        self.settle()
        conn = self.conn
        row = conn.execute(
            "select max(first_seen), max(published) from (select first_seen, published from articles"
            " order by id desc limit 200)"
        ).fetchone()
        newest = min(row[0], row[1]) if row[0] and row[1] else (row[0] or row[1] or "")
        self._newest = newest
        self.horizon = ""
        self._move_at = ""
        if newest:
            self._set_horizon(_shift(newest, -KEEP))
        self.documents = {r[0]: int(r[1]) for r in conn.execute("select lang, documents from term_docs")}
        self.df = {}
        self._df_size = conn.execute("select count(*) from term_df").fetchone()[0]
        self._df_complete = self._df_size <= MAX_TERMS
        if self._df_complete:
            # The commonest terms first: a placement looks up ~80 terms here and most look-ups miss
            # the CPU's caches; in this order the terms looked up most share a few pages (entries
            # and strings made in this order). 74 -> 45 µs a report at 100,000 archived.
            for lang, term, df in conn.execute("select lang, term, df from term_df order by df desc"):
                self.df.setdefault(lang, {})[term] = df
        else:
            self._df_size = 0
        self.lasts = TimeTable()
        self.profiles = {}
        self.lone = LoneTexts(MAX_LONE_BYTES)
        self.fingerprints = compact.Signatures(MAX_FINGERPRINTS)
        self.postings, self.story_of, self._published, self._packed = load_postings(conn, self.horizon)
        if len(self.story_of) > MAX_ARTICLES:
            self._move_horizon()
        stories = sorted(set(self.story_of.values()))[:MAX_LASTS]  # what a look-up can find, in order
        load_lasts(conn, stories, self.lasts)
        del self._pending[:]
        self._version = conn.execute("pragma data_version").fetchone()[0]
        # Loaded inside a transaction, it may hold what a rollback takes back: loaded again after.
        self._loaded_in_transaction = conn.in_transaction
        self.loaded = True

    def _set_horizon(self, horizon: str) -> None:
        self.horizon = max(self.horizon, horizon)
        self._move_at = _shift(self.horizon, KEEP + MOVE_EVERY)

    def _move_horizon(self) -> None:
        """Drop the oldest postings: those before KEEP from the newest article, and more while
        over MAX_ARTICLES."""
        horizon = _shift(self._newest, -KEEP)
        if len(self.story_of) > MAX_ARTICLES:
            horizon = max(horizon, iso_of(self._published.rank(len(self._published) - MAX_ARTICLES * 3 // 4)))
        self._set_horizon(horizon)
        since = time_key(self.horizon)
        cut_at = pack(since, 0)
        for key in list(self.postings):
            postings = self.postings[key]
            if isinstance(postings, int):
                if postings < cut_at:
                    del self.postings[key]
                continue
            cut = bisect_left(postings, cut_at)
            if cut == len(postings):
                del self.postings[key]
            elif cut:
                del postings[:cut]
        self.story_of.keep_keys(self._published.keep_from(since))

    def _confirm(self) -> None:
        """The articles written since the last look-up are committed; else start again."""
        pending = sorted(set(self._pending))
        del self._pending[:]
        if count_articles(self.conn, pending) != len(pending):
            self.loaded = False


# What a load sets (and a preload hands over).
_STATE = (
    "horizon", "_newest", "_move_at", "documents", "df", "_df_size", "_df_complete",
    "profiles", "lone", "lasts", "fingerprints", "postings", "story_of", "_published", "_packed",
)  # fmt: skip


class _Preload:
    """A load in a thread, on its own read-only connection, in one read transaction."""

    def __init__(self, path: str, max_postings: int, max_candidates: int, writes: int, version: int) -> None:
        self.path, self.writes, self.version = path, writes, version
        self.limits = max_postings, max_candidates
        self.memory: StoryMemory | None = None  # what it read; None if it failed
        self.newest_id: int | None = None  # the newest article it saw
        self.thread = threading.Thread(target=self._run, name="story-memory-load", daemon=True)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(f"{Path(self.path).as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return
        try:
            conn.execute("pragma cache_size = -256")  # it reads each page once: 1.7 MB less (issue 18)
            conn.execute("begin")  # one snapshot for every statement of the load
            memory = StoryMemory(conn, *self.limits)
            memory._load()
            self.newest_id = conn.execute("select max(id) from articles").fetchone()[0]
            conn.execute("commit")
            memory.conn = None  # type: ignore[assignment]  # only its state is used
            self.memory = memory
        except sqlite3.Error:  # the synchronous load will say what is wrong
            pass
        finally:
            conn.close()


def _nothing() -> None:
    pass


def _bounds(low: str, high: str) -> tuple[int, int]:
    """The first and last posting (compact.pack) of the window [low, high], ISO times."""
    return pack(time_key(low), 0), pack(time_key(high), ID_MASK)


def _shift(when: str, by: timedelta) -> str:
    moved = from_iso(when)
    assert moved is not None
    return iso(moved + by)
