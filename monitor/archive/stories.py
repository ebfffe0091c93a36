"""The archive's story tables: which article belongs to which story, and the index to find them.

    stories      one row per story: first article, title, how many reports, last update
    story_keys   stories.profile.keys of every article (at most 8), with its publication time
    fingerprints stories.ArticleFingerprint of every article (once rarity decides its signature
                 alone, a BLOB: service/grouping.py, storyrows.py)
    story_profiles  stories.profile.Profile (as text: storyrows.py) of every story: what a report
                 is compared with
    story_joins  how each article was placed: score and reason (`monitor stories show`)
    term_df, term_docs  document frequencies per language, kept as articles are archived

The functions take the connection and hold the SQL; StoriesMixin (part of store.Archive)
wraps them in the archive's error handling; save_update calls them inside its transaction,
telling the writer's StoryMemory (storymemory.py), from which story_index answers grouping.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.archive import storyindex
from monitor.archive.behind import Insert, Rows
from monitor.archive.connection import ArchiveBase, reads, writes
from monitor.archive.outbox import queue_alerts
from monitor.archive.sqltime import from_iso, iso
from monitor.archive.storyindex import (  # noqa: F401 (MAX_*, StoryIndex: imported from here too)
    MAX_CANDIDATES,
    MAX_POSTINGS,
    MemoryIndex,
    StoryIndex,
    document_frequencies,
    fingerprints,
    profiles,
)
from monitor.archive.storymemory import StoryMemory
from monitor.archive.storyrows import profile_last
from monitor.types import AlertIntent, EntryData, RuleMatch, StoryJoin

if TYPE_CHECKING:  # a parser worker looks stories up (stories.lookup) on a plain sqlite3 connection
    import sqlite_utils


def memory_of(archive: ArchiveBase) -> StoryMemory:
    """The archive's StoryMemory (one per connection: the writer's), made on first use."""
    memory = archive.__dict__.get("_story_memory")
    if memory is None:
        limits = storyindex.MAX_POSTINGS, storyindex.MAX_CANDIDATES  # read now: a test sets them
        memory = archive.__dict__["_story_memory"] = StoryMemory(archive.db.conn, *limits)
        # its look-ups in SQL wait for the index rows written behind (behind.py)
        memory.settle = getattr(archive, "settle", memory.settle)
    return memory


class DocumentCounts:
    """One save's additions to term_df and term_docs, written once per term (write_counts)
    instead of once per term per article: a feed's reports share many words."""

    def __init__(self) -> None:
        self.terms: dict[str, Counter[str]] = {}  # language → term → articles with it
        self.documents: Counter[str] = Counter()  # language → articles

    def add(self, language: str, terms: Sequence[str]) -> None:
        counts = self.terms.get(language)
        if counts is None:
            counts = self.terms[language] = Counter()
        counts.update(terms)  # counted in C, by the terms' own (cached) hashes, no pair made each
        self.documents[language] += 1


def record_join(
    db: sqlite_utils.Database,
    article_id: int,
    story_id: int,
    joined: StoryJoin,
    memory: StoryMemory,
    counts: DocumentCounts,
) -> None:
    """The article's placement, its story's new profile, and one more document for its terms
    (in `counts`: write_counts writes them, and tells `memory`, once for the update)."""
    last = profile_last(joined.profile)
    # the text, not a new story's shorter form (storyrows.py): what the writer reads back soon
    # is parsed, not made again from its article
    memory.joined(article_id, story_id, joined.text or joined.profile, last)
    conn = db.conn
    conn.execute(
        "insert or replace into story_joins (article_id, story_id, score, reason) values (?, ?, ?, ?)",
        (article_id, story_id, joined.score, joined.reason),
    )
    conn.execute(
        "insert or replace into story_profiles (story_id, last, data) values (?, ?, ?)",
        (story_id, last, joined.profile),
    )
    counts.add(joined.language, joined.terms)


FINGERPRINT_ROW = Insert("insert or replace into fingerprints (article_id, data)", 2)
STORY_KEY_ROW = Insert("insert or ignore into story_keys (key, article_id, story_id, published)", 4)
TERM_DF_ROW = Insert(
    "insert into term_df (lang, term, df)", 3, " on conflict (lang, term) do update set df = df + excluded.df"
)
TERM_DOCS_ROW = Insert(
    "insert into term_docs (lang, documents)",
    2,
    " on conflict (lang) do update set documents = documents + excluded.documents",
)


def write_counts(rows: Rows, counts: DocumentCounts, memory: StoryMemory) -> None:
    """An update's rarity counts written, and `memory` told of them: once per term, not per
    term per article (the update's articles are placed before it is saved: none reads them).
    In term_df's order (lang, term): each of its pages is read once, and its rows updated
    together (at 100,000 archived, 1,370 terms an update on 900 pages; h-save)."""
    memory.counted(counts.terms, counts.documents)
    rows.add(
        TERM_DF_ROW,
        *(
            v
            for lang, terms in sorted(counts.terms.items())
            for term in sorted(terms)
            for v in (lang, term, terms[term])
        ),
    )
    rows.add(TERM_DOCS_ROW, *(v for lang_docs in counts.documents.items() for v in lang_docs))


def story_joins(
    db: sqlite_utils.Database, story_id: int
) -> list[tuple[int, str, str | None, str, float | None, str | None]]:
    """(article id, published, outlet, title, score, reason) of a story's reports, oldest first."""
    rows = db.execute(
        "select a.id, a.published, coalesce(a.outlet, f.name, f.title), a.title, j.score, j.reason"
        " from articles a left join feeds f on f.url = a.feed left join story_joins j on j.article_id = a.id"
        " where a.story_id = ? order by a.published, a.id",
        [story_id],
    ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def move_article(
    db: sqlite_utils.Database, article_id: int, title: str, now: str, memory: StoryMemory | None = None
) -> tuple[int, int]:
    """Take an article out of its story into a new story of its own: (old story, new story),
    the same twice when it was its story's only report. The caller writes both profiles again
    (set_profile)."""
    row = db.execute("select story_id from articles where id = ?", [article_id]).fetchone()
    old = int(row[0])
    if db.execute("select count(*) from articles where story_id = ?", [old]).fetchone()[0] < 2:
        return old, old  # alone in its story already
    new = join_story(db, None, title, now)
    first_article(db, new, article_id)
    db.execute("update articles set story_id = ? where id = ?", [new, article_id])
    db.execute("update story_keys set story_id = ? where article_id = ?", [new, article_id])
    if memory is not None:
        memory.moved(article_id, new)
    db.execute(
        "update story_joins set story_id = ?, score = 0, reason = 'split by hand' where article_id = ?",
        [new, article_id],
    )
    db.execute("update stories set articles = articles - 1, updated = ? where id = ?", [now, old])
    first = db.execute(
        "select id from articles where story_id = ? order by published, id limit 1", [old]
    ).fetchone()
    if first is not None:
        db.execute("update stories set first_article_id = ? where id = ?", [first[0], old])
    return old, new


def set_profile(
    db: sqlite_utils.Database, story_id: int, profile: str | None, memory: StoryMemory | None = None
) -> None:
    last = profile_last(profile) if profile is not None else None
    if memory is not None:
        memory.profile_set(story_id, profile, last)
    if profile is None:
        db.execute("delete from story_profiles where story_id = ?", [story_id])
        return
    db.execute(
        "insert or replace into story_profiles (story_id, last, data) values (?, ?, ?)",
        [story_id, last, profile],
    )


def join_story(db: sqlite_utils.Database, story_id: int | None, title: str, now: str) -> int:
    """Count one more article in a story (a new one when story_id is None); returns the story id.
    A new story's first article is set once that article has its id (first_article)."""
    if story_id is None:
        cursor = db.conn.execute(
            "insert into stories (title, articles, created, updated) values (?, 1, ?, ?)", (title, now, now)
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid
    db.conn.execute("update stories set articles = articles + 1, updated = ? where id = ?", (now, story_id))
    return story_id


def first_article(db: sqlite_utils.Database, story_id: int, article_id: int) -> None:
    db.conn.execute("update stories set first_article_id = ? where id = ?", (article_id, story_id))


def index_article(
    rows: Rows,
    article_id: int,
    story_id: int,
    published: str,
    seconds: int,
    fingerprint: str | bytes,
    keys: Sequence[str],
    memory: StoryMemory,
) -> None:
    """`seconds`: `published` as sqltime.epoch reads it, made by insert_article from its time;
    `rows`: written with the update's (behind.py)."""
    memory.indexed(article_id, story_id, published, seconds, fingerprint, keys)
    rows.add(FINGERPRINT_ROW, article_id, fingerprint)
    if keys:
        rows.add(STORY_KEY_ROW, *(v for k in keys for v in (k, article_id, story_id, seconds)))


def story_alerts(db: sqlite_utils.Database, story_id: int) -> list[tuple[int, str, int, tuple[str, ...]]]:
    """(alert id, chat id, article id, rule ids) of the story's alerts that were or will be sent."""
    rows = db.execute(
        "select id, chat_id, article_id, rules from alerts where story_id = ? and kind = 'send'"
        " and status in ('pending', 'sent') order by id",
        [story_id],
    ).fetchall()
    return [(r[0], r[1], r[2], tuple(json.loads(r[3] or "[]"))) for r in rows]


def story_reports(conn: sqlite3.Connection, story_id: int) -> list[tuple[int, str | None, str | None]]:
    """(article id, outlet, link) of every article in the story, oldest first."""
    rows = conn.execute(
        "select a.id, coalesce(a.outlet, f.name, f.title), a.link from articles a"
        " left join feeds f on f.url = a.feed where a.story_id = ? order by a.published, a.id",
        [story_id],
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def alerted_article(
    db: sqlite_utils.Database, article_id: int
) -> tuple[EntryData, str | None, tuple[RuleMatch, ...]]:
    """What compose_alert needs to draw an article's alert again."""
    row = db.execute(
        "select a.feed, a.title, a.summary, a.link, a.guid, a.published, a.outlet, coalesce(f.name, f.title)"
        " from articles a left join feeds f on f.url = a.feed where a.id = ?",
        [article_id],
    ).fetchone()
    entry = EntryData(
        feed_url=row[0],
        title=row[1],
        summary=row[2] or "",
        link=row[3],
        guid=row[4],
        published=from_iso(row[5]),
        outlet=row[6],
    )
    matches = tuple(
        RuleMatch(rule_id=r[0], terms=tuple(json.loads(r[1] or "[]")), found=tuple(json.loads(r[2] or "[]")))
        for r in db.execute(
            "select rule_id, terms, found from matches where article_id = ? order by rowid", [article_id]
        )
    )
    return entry, row[6] or row[7], matches


class StoriesMixin(ArchiveBase):
    @reads("read the story index")
    def story_index(self) -> StoryIndex:
        """The stories' look-up index (stories.lookup.StoryIndex) on the writer's connection,
        answered from memory (storymemory.py); it also reads profiles, fingerprints and
        document frequencies. One per report: taken, it answers as of then."""
        return MemoryIndex(self.conn, memory_of(self))

    @reads("read the story index")
    def preload_stories(self) -> None:
        """Start reading the story index into memory in a thread (StoryMemory.preload), for a
        pass about to place stories: the event loop goes on fetching meanwhile."""
        memory_of(self).preload()

    @reads("read story fingerprints")
    def fingerprints(self, article_ids: Sequence[int]) -> dict[int, str | bytes]:
        """Article id → its fingerprint as stored (stories.lookup.stored_fingerprint)."""
        return fingerprints(self.conn, article_ids)

    @reads("read a story's alerts")
    def story_alerts(self, story_id: int) -> list[tuple[int, str, int, tuple[str, ...]]]:
        return story_alerts(self.db, story_id)

    @reads("read a story")
    def story_reports(self, story_id: int) -> list[tuple[int, str | None, str | None]]:
        return story_reports(self.conn, story_id)

    def story_outlets(self, story_id: int) -> list[str]:
        """The outlets that reported a story, first report first, each once."""
        reports = self.story_reports(story_id)
        return list(dict.fromkeys(outlet or "?" for _, outlet, _ in reports))

    @reads("read an article")
    def alerted_article(self, article_id: int) -> tuple[EntryData, str | None, tuple[RuleMatch, ...]]:
        return alerted_article(self.db, article_id)

    @reads("read story profiles")
    def story_profiles(self, story_ids: Sequence[int]) -> dict[int, str]:
        """Story id → its profile as text (stories.profile.Profile.to_text)."""
        return profiles(self.conn, story_ids)

    @reads("read document frequencies")
    def document_frequencies(self, lang: str, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """(term → archived articles of `lang` with it, archived articles of `lang`)."""
        return document_frequencies(self.conn, lang, terms)

    @reads("read a story")
    def story_joins(self, story_id: int) -> list[tuple[int, str, str | None, str, float | None, str | None]]:
        """(article id, published, outlet, title, score, reason) of a story's reports, oldest first."""
        return story_joins(self.db, story_id)

    @writes("split a story")
    def split_article(
        self, article_id: int, now: datetime, rebuild: Callable[[list[tuple[str, str, str]]], str | None]
    ) -> tuple[int, int]:
        """Take an article out of its story into a story of its own; `rebuild` makes a story's
        profile from its reports' (title, summary, published). Returns (old story, new story),
        the same twice when the article was its story's only report. KeyError: no such article."""
        row = self.db.execute("select title from articles where id = ?", [article_id]).fetchone()
        if row is None:
            raise KeyError(article_id)
        memory = memory_of(self)
        old, new = move_article(self.db, article_id, row[0], iso(now), memory)
        if old == new:
            return old, new
        for story in (old, new):
            texts = [
                (r[0], r[1] or "", r[2])
                for r in self.db.execute(
                    "select title, summary, published from articles where story_id = ?"
                    " order by published, id",
                    [story],
                )
            ]
            set_profile(self.db, story, rebuild(texts) if texts else None, memory)
        return old, new

    @writes("queue alerts")
    def queue_story_alerts(
        self, article_id: int, story_id: int, alerts: Sequence[AlertIntent], now: datetime
    ) -> None:
        """Queue an archived article's own alerts (a report taken out of a story by hand)."""
        queue_alerts(self.db, article_id, story_id, alerts, iso(now))
