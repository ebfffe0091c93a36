"""The story look-ups grouping asks of the archive (stories.lookup.StoryIndex), in SQL and
from the writer's memory.

    StoryIndex   over one connection, in SQL: a parser worker's snapshot (snapshot.py)
    MemoryIndex  the writer's: the same answers from its StoryMemory (storymemory.py), SQL
                 only for what the memory does not hold (store.Archive.story_index)

selective, sharing: the index keys of a window (story_keys); profiles, last_reports,
document_frequencies, fingerprints: what placing a report reads of its candidates; lone_reports:
the text a story of one report's profile is made again from (storyrows.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

from monitor.archive import compact, storymemory
from monitor.archive.sqltime import epoch_of, iso
from monitor.archive.storymemory import StoryMemory

# A key with more postings than this in the window says little (a common name): skip it.
MAX_POSTINGS = 50
MAX_CANDIDATES = 64  # the best-placed ones (see sharing); each costs a comparison


def profiles(conn: sqlite3.Connection, story_ids: Sequence[int]) -> dict[int, str]:
    """Story id → its profile as stored (archive/storyrows.py; stories without one are left out)."""
    found: dict[int, str] = {}
    for i in range(0, len(story_ids), 500):
        chunk = list(story_ids[i : i + 500])
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"select story_id, data from story_profiles where story_id in ({marks})", chunk)
        found.update((int(r[0]), r[1]) for r in rows)
    return found


def lone_reports(conn: sqlite3.Connection, story_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Story id → (title, summary) of its article, for the stories of one article: what a profile
    kept as its report's time and digest (storyrows.py) is made again from."""
    found: dict[int, tuple[str, str]] = {}
    many: set[int] = set()
    for i in range(0, len(story_ids), 500):
        chunk = list(story_ids[i : i + 500])
        marks = ",".join("?" * len(chunk))
        sql = f"select story_id, title, summary from articles where story_id in ({marks})"
        for story, title, summary in conn.execute(sql, chunk):
            if story in found:
                many.add(story)
            found[story] = (title or "", summary or "")
    return {story: text for story, text in found.items() if story not in many}


def last_reports(conn: sqlite3.Connection, story_ids: Sequence[int]) -> dict[int, str]:
    """Story id → when its last report was published (its profile's), ISO ("" for a profile
    without reports); stories without a profile left out."""
    found: dict[int, str] = {}
    for i in range(0, len(story_ids), 500):
        chunk = list(story_ids[i : i + 500])
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"select story_id, coalesce(last, '') from story_profiles where story_id in ({marks})", chunk
        )
        found.update((int(r[0]), r[1]) for r in rows)
    return found


def document_frequencies(
    conn: sqlite3.Connection, lang: str, terms: Sequence[str]
) -> tuple[dict[str, int], int]:
    """(term → how many archived articles of `lang` have it, how many archived articles of `lang`)."""
    found = _df(conn, lang, terms)
    row = conn.execute("select documents from term_docs where lang = ?", (lang,)).fetchone()
    return found, int(row[0]) if row else 0


def _df(conn: sqlite3.Connection, lang: str, terms: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i in range(0, len(terms), 400):
        chunk = list(terms[i : i + 400])
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"select term, df from term_df where lang = ? and term in ({marks})", [lang, *chunk]
        )
        found.update((r[0], int(r[1])) for r in rows)
    return found


def selective(
    conn: sqlite3.Connection, keys: Sequence[str], published: datetime, window_hours: float
) -> tuple[str, ...]:
    """The keys that are not common: the window holds no more than the cap of their postings."""
    if not keys:
        return ()
    low, high = _seconds(published, window_hours)
    # Asked of the index for each key, looking no further than the cap (a common key has
    # thousands), in one statement (one per key cost as much again in calls as in lookups).
    probe = (
        "select * from (select key from story_keys where key = ? and published between ? and ?"
        " limit 1 offset ?)"
    )
    common: set[str] = set()
    for i in range(0, len(keys), 100):  # SQLite allows 500 terms in a compound select
        chunk = keys[i : i + 100]
        common.update(
            row[0]
            for row in conn.execute(
                " union all ".join([probe] * len(chunk)),
                [arg for key in chunk for arg in (key, low, high, MAX_POSTINGS)],
            )
        )
    return tuple(k for k in keys if k not in common)


def sharing(
    conn: sqlite3.Connection, keys: Sequence[str], published: datetime, window_hours: float, after: int = 0
) -> list[tuple[int, int]]:
    """(story id, article id) of the window's articles with one of `keys`, those sharing the
    most first (a report of the same event shares several: text bands, names, pairs of names;
    one sharing a single name is most often other news), at most MAX_CANDIDATES of them.
    `after`: only articles with a greater id (archived after a snapshot that saw up to it)."""
    if not keys:
        return []
    low, high = _seconds(published, window_hours)
    marks = ",".join("?" * len(keys))
    rows = conn.execute(
        f"select story_id, article_id from story_keys where key in ({marks})"
        " and published between ? and ? and article_id > ?"
        " group by article_id order by count(*) desc, article_id desc limit ?",
        [*keys, low, high, after, MAX_CANDIDATES],
    ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def _window(published: datetime, window_hours: float) -> tuple[str, str]:
    span = timedelta(hours=window_hours)
    return iso(published - span), iso(published + span)


def _since_year_one(moment: datetime) -> int:
    """compact.time_key(iso(moment)) of an aware time: whole seconds since year 1, the fraction
    dropped as iso() drops it."""
    delta = moment - _YEAR_ONE
    return delta.days * 86_400 + delta.seconds


_YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)


def _seconds(published: datetime, window_hours: float) -> tuple[int, int]:
    """The window as story_keys.published holds it since m016: whole seconds since 1970."""
    span = timedelta(hours=window_hours)
    return epoch_of(published - span), epoch_of(published + span)


def fingerprints(conn: sqlite3.Connection, article_ids: Sequence[int]) -> dict[int, str | bytes]:
    """Article id → its fingerprint as stored (archive/storyrows.py)."""
    found: dict[int, str | bytes] = {}
    for i in range(0, len(article_ids), 500):
        chunk = article_ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"select article_id, data from fingerprints where article_id in ({marks})", chunk)
        found.update((int(r[0]), r[1]) for r in rows)
    return found


class StoryIndex:
    """stories.lookup.StoryIndex over one connection: what a read transaction on it sees."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def selective(self, keys: Sequence[str], published: datetime, window_hours: float) -> tuple[str, ...]:
        return selective(self.conn, keys, published, window_hours)

    def sharing(
        self, keys: Sequence[str], published: datetime, window_hours: float, after: int = 0
    ) -> list[tuple[int, int]]:
        return sharing(self.conn, keys, published, window_hours, after)

    def candidates(
        self, keys: Sequence[str], published: datetime, window_hours: float, limit: int
    ) -> list[tuple[int, int]]:
        found = self.sharing(self.selective(keys, published, window_hours), published, window_hours)
        return found[:limit]

    def fingerprints(self, article_ids: Sequence[int]) -> dict[int, str | bytes]:
        return fingerprints(self.conn, article_ids)

    def profiles(self, story_ids: Sequence[int]) -> dict[int, str]:
        return profiles(self.conn, story_ids)

    def lone_reports(self, story_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        return lone_reports(self.conn, story_ids)

    def made(self, story_id: int, stored: str, text: str) -> None:
        """The text a story's stored short form (storyrows.py) was made into: SQL keeps none."""

    def last_reports(self, story_ids: Sequence[int]) -> dict[int, datetime | None]:
        return {
            s: datetime.fromisoformat(t) if t else None for s, t in last_reports(self.conn, story_ids).items()
        }

    def closed(self, story_ids: Sequence[int], published: datetime, quiet_hours: float) -> set[int]:
        quiet = quiet_hours * 3600
        lasts = self.last_reports(story_ids)
        closed = {s for s in story_ids if s not in lasts}
        for story, last in lasts.items():  # profile.is_open, without making each story's profile
            if last is not None and abs((published - last).total_seconds()) > quiet:
                closed.add(story)
        return closed

    def document_frequencies(
        self, lang: str, terms: Sequence[str], extra: Mapping[str, int] | None = None
    ) -> tuple[dict[str, int], int]:
        found, documents = document_frequencies(self.conn, lang, terms)
        if extra:
            archived, more = found.get, extra.get
            return {t: archived(t, 0) + more(t, 0) for t in terms}, documents
        return found, documents


class MemoryIndex(StoryIndex):
    """StoryIndex answered from the writer's StoryMemory (SQL for a window it does not cover):
    the same answers, without a statement per look-up."""

    def __init__(self, conn: sqlite3.Connection, memory: StoryMemory) -> None:
        super().__init__(conn)
        self.memory = memory
        memory.refresh()
        self._last_window: tuple[datetime, float, tuple[str, str]] | None = None

    def _window(self, published: datetime, window_hours: float) -> tuple[str, str]:
        """_window, the last one remembered: selective and sharing ask it of the same report."""
        last = self._last_window
        if last is not None and last[0] == published and last[1] == window_hours:
            return last[2]
        window = _window(published, window_hours)
        self._last_window = (published, window_hours, window)
        return window

    def selective(self, keys: Sequence[str], published: datetime, window_hours: float) -> tuple[str, ...]:
        low, high = self._window(published, window_hours)
        if not self.memory.covers(low):
            self.memory.settle()
            return selective(self.conn, keys, published, window_hours)
        return self.memory.selective(keys, low, high)

    def sharing(
        self, keys: Sequence[str], published: datetime, window_hours: float, after: int = 0
    ) -> list[tuple[int, int]]:
        low, high = self._window(published, window_hours)
        if not keys or not self.memory.covers(low):
            self.memory.settle()
            return sharing(self.conn, keys, published, window_hours, after)
        return self.memory.sharing(keys, low, high, after)

    def candidates(
        self, keys: Sequence[str], published: datetime, window_hours: float, limit: int
    ) -> list[tuple[int, int]]:
        """As StoryIndex's, in one pass over the keys' postings (StoryMemory.candidates); the
        window's bounds made from its times (what storymemory._bounds makes of their ISO text:
        whole seconds since year 1), not written as text and parsed again."""
        span = timedelta(hours=window_hours)
        low = published - span
        if low.tzinfo is None or not self.memory.covers(iso(low)):  # iso: a naive time is local
            self.memory.settle()
            return super().candidates(keys, published, window_hours, limit)
        bounds = (
            compact.pack(_since_year_one(low), 0),
            compact.pack(_since_year_one(published + span), compact.ID_MASK),
        )
        return self.memory.candidates(keys, bounds, limit)

    def fingerprints(self, article_ids: Sequence[int]) -> dict[int, str | bytes]:
        return self.memory.fingerprints.many(article_ids, self._fingerprints)

    def _fingerprints(self, article_ids: Sequence[int]) -> dict[int, str | bytes]:
        self.memory.settle()
        return fingerprints(self.conn, article_ids)

    def profiles(self, story_ids: Sequence[int]) -> dict[int, str]:
        """The texts of stories of one report from the memory's ring (lonetexts.py: not their
        short form, to be made again from their article), the rest from its cache (or SQL); in
        the order asked."""
        memory = self.memory
        lone = memory.lone.many(story_ids)
        if len(lone) == len(story_ids):
            return lone
        read = partial(profiles, self.conn)
        rest = [s for s in story_ids if s not in lone]
        other = memory.cached(memory.profiles, rest, read, storymemory.MAX_PROFILES)
        if not lone:
            return other
        return {s: text for s in story_ids if (text := lone.get(s) or other.get(s)) is not None}

    def made(self, story_id: int, stored: str, text: str) -> None:
        """The memory keeps the text in place of the short form it holds: read again, the
        profile is parsed, not made again from its article (the same profile either way)."""
        if self.memory.profiles.get(story_id) == stored:  # not deflated into the ring (lonetexts.py):
            self.memory.profiles[story_id] = text  # ~20 µs a text, a third of placing a report at 100k

    def last_reports(self, story_ids: Sequence[int]) -> dict[int, datetime | None]:
        """As times, not their text made again to be parsed (compact.TimeTable.moments); the
        memory asked first, as it most often holds them all (a look-up each, not three)."""
        lasts = self.memory.lasts
        try:
            return lasts.moments(story_ids)
        except KeyError:  # one it does not hold: read what it lacks
            compact.fill(lasts, story_ids, partial(last_reports, self.conn), storymemory.MAX_LASTS)
            return lasts.moments(story_ids)

    def closed(self, story_ids: Sequence[int], published: datetime, quiet_hours: float) -> set[int]:
        """As StoryIndex's, from the memory's codes of the times (compact.TimeTable.far): no
        time made per story (issue 18)."""
        lasts = self.memory.lasts
        try:
            return lasts.far(story_ids, published, quiet_hours * 3600)
        except KeyError:  # one it does not hold: read what it lacks
            compact.fill(lasts, story_ids, partial(last_reports, self.conn), storymemory.MAX_LASTS)
            return lasts.far(story_ids, published, quiet_hours * 3600)

    def document_frequencies(
        self, lang: str, terms: Sequence[str], extra: Mapping[str, int] | None = None
    ) -> tuple[dict[str, int], int]:
        return self.memory.document_frequencies(lang, terms, partial(self._df, lang), extra)

    def _df(self, lang: str, terms: Sequence[str]) -> dict[str, int]:
        self.memory.settle()
        return _df(self.conn, lang, terms)
