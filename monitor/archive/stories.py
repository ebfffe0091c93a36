"""The archive's story tables: which article belongs to which story, and the index to find them.

    stories      one row per story: first article, title, how many reports, last update
    story_keys   stories.profile.keys of every article (at most 8), with its publication time
    fingerprints stories.ArticleFingerprint (JSON) of every article
    story_profiles  stories.profile.Profile (JSON) of every story: what a report is compared with
    story_joins  how each article was placed: score and reason (`monitor stories show`)
    term_df, term_docs  document frequencies per language, kept as articles are archived

The functions take the connection and hold the SQL; StoriesMixin (part of store.Archive)
wraps them in the archive's error handling; save_update calls them inside its transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.archive.connection import ArchiveBase, reads, writes
from monitor.archive.outbox import queue_alerts
from monitor.archive.sqltime import from_iso, iso
from monitor.types import AlertIntent, EntryData, RuleMatch, StoryJoin

if TYPE_CHECKING:  # a parser worker looks stories up (stories.lookup) on a plain sqlite3 connection
    import sqlite_utils

# A key with more postings than this in the window says little (a common name): skip it.
MAX_POSTINGS = 50
MAX_CANDIDATES = 64  # the best-placed ones (see sharing); each costs a comparison


def record_join(db: sqlite_utils.Database, article_id: int, story_id: int, joined: StoryJoin) -> None:
    """The article's placement, its story's new profile, and one more document for its terms."""
    conn = db.conn
    conn.execute(
        "insert or replace into story_joins (article_id, story_id, score, reason) values (?, ?, ?, ?)",
        (article_id, story_id, joined.score, joined.reason),
    )
    last = json.loads(joined.profile).get("l")
    conn.execute(
        "insert or replace into story_profiles (story_id, last, data) values (?, ?, ?)",
        (story_id, last, joined.profile),
    )
    conn.executemany(
        "insert into term_df (lang, term, df) values (?, ?, 1)"
        " on conflict (lang, term) do update set df = df + 1",
        [(joined.language, t) for t in joined.terms],
    )
    conn.execute(
        "insert into term_docs (lang, documents) values (?, 1)"
        " on conflict (lang) do update set documents = documents + 1",
        (joined.language,),
    )


def profiles(conn: sqlite3.Connection, story_ids: Sequence[int]) -> dict[int, str]:
    """Story id → its profile JSON (stories without one are left out)."""
    found: dict[int, str] = {}
    for i in range(0, len(story_ids), 500):
        chunk = list(story_ids[i : i + 500])
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"select story_id, data from story_profiles where story_id in ({marks})", chunk)
        found.update((int(r[0]), r[1]) for r in rows)
    return found


def document_frequencies(
    conn: sqlite3.Connection, lang: str, terms: Sequence[str]
) -> tuple[dict[str, int], int]:
    """(term → how many archived articles of `lang` have it, how many archived articles of `lang`)."""
    found: dict[str, int] = {}
    for i in range(0, len(terms), 400):
        chunk = list(terms[i : i + 400])
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"select term, df from term_df where lang = ? and term in ({marks})", [lang, *chunk]
        )
        found.update((r[0], int(r[1])) for r in rows)
    row = conn.execute("select documents from term_docs where lang = ?", (lang,)).fetchone()
    return found, int(row[0]) if row else 0


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


def move_article(db: sqlite_utils.Database, article_id: int, title: str, now: str) -> tuple[int, int]:
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


def set_profile(db: sqlite_utils.Database, story_id: int, profile: str | None) -> None:
    if profile is None:
        db.execute("delete from story_profiles where story_id = ?", [story_id])
        return
    db.execute(
        "insert or replace into story_profiles (story_id, last, data) values (?, ?, ?)",
        [story_id, json.loads(profile).get("l"), profile],
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
    db: sqlite_utils.Database,
    article_id: int,
    story_id: int,
    published: str,
    fingerprint: str,
    keys: Sequence[str],
) -> None:
    db.conn.execute(
        "insert or replace into fingerprints (article_id, data) values (?, ?)", (article_id, fingerprint)
    )
    db.conn.executemany(
        "insert or ignore into story_keys (key, article_id, story_id, published) values (?, ?, ?, ?)",
        [(k, article_id, story_id, published) for k in keys],
    )


def selective(
    conn: sqlite3.Connection, keys: Sequence[str], published: datetime, window_hours: float
) -> tuple[str, ...]:
    """The keys that are not common: the window holds no more than the cap of their postings."""
    if not keys:
        return ()
    low, high = _window(published, window_hours)
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
    low, high = _window(published, window_hours)
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


def fingerprints(conn: sqlite3.Connection, article_ids: Sequence[int]) -> dict[int, str]:
    """Article id → its fingerprint JSON."""
    found: dict[int, str] = {}
    for i in range(0, len(article_ids), 500):
        chunk = article_ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"select article_id, data from fingerprints where article_id in ({marks})", chunk)
        found.update((int(r[0]), r[1]) for r in rows)
    return found


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

    def fingerprints(self, article_ids: Sequence[int]) -> dict[int, str]:
        return fingerprints(self.conn, article_ids)

    def profiles(self, story_ids: Sequence[int]) -> dict[int, str]:
        return profiles(self.conn, story_ids)

    def document_frequencies(self, lang: str, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        return document_frequencies(self.conn, lang, terms)


class StoriesMixin(ArchiveBase):
    def story_index(self) -> StoryIndex:
        """The stories' look-up index (stories.lookup.StoryIndex), on the writer's connection:
        for a feed analysed in this process, where a worker would use its snapshot."""
        return StoryIndex(self.conn)

    @reads("read story fingerprints")
    def fingerprints(self, article_ids: Sequence[int]) -> dict[int, str]:
        """Article id → its fingerprint as JSON (stories.fingerprint.ArticleFingerprint)."""
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
        """Story id → its profile JSON (stories.profile.Profile)."""
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
        old, new = move_article(self.db, article_id, row[0], iso(now))
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
            set_profile(self.db, story, rebuild(texts) if texts else None)
        return old, new

    @writes("queue alerts")
    def queue_story_alerts(
        self, article_id: int, story_id: int, alerts: Sequence[AlertIntent], now: datetime
    ) -> None:
        """Queue an archived article's own alerts (a report taken out of a story by hand)."""
        queue_alerts(self.db, article_id, story_id, alerts, iso(now))
