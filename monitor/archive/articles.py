"""The archive's articles: articles (with its full-text indexes articles_fts and, for CJK text,
articles_cjk: fulltext.py), their identity
keys (article_keys) and the rules that matched them (matches).

known_keys (keys.py) is shared by the writer (ArticlesMixin, part of store.Archive) and the
workers' read-only snapshot (snapshot.py). save_update writes a feed update's articles with their
stories, matches and alerts in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from monitor.archive import feeds as feedstore
from monitor.archive import fulltext, outbox
from monitor.archive import stories as storystore
from monitor.archive.behind import Rows
from monitor.archive.connection import ArchiveBase, reads, sqlite_errors, wrap_errors, writes
from monitor.archive.keys import key_digest, known_keys
from monitor.archive.sqltime import epoch_of, from_iso, iso
from monitor.types import (
    AlertIntent,
    Decision,
    FetchedFeed,
    NewArticle,
    SearchHit,
    StoredArticle,
    StoryEdit,
)

if TYPE_CHECKING:
    import sqlite_utils


def insert_article(
    db: sqlite_utils.Database,
    feed_url: str,
    article: NewArticle,
    alerts: Sequence[AlertIntent],
    now: tuple[datetime, str],
    new_stories: dict[int, int],
    memory: storystore.StoryMemory,
    counts: storystore.DocumentCounts,
    index: Rows,
) -> None:
    """One new article with its story, keys, matches and alerts (inside save_update's transaction);
    `now`: the update's time, and as text (iso). Its index rows (full text, story keys) go to
    `index`: collected, to be written with the update's (behind.py)."""
    # Plain SQL: this runs once per new article, 50,000 times in a cold pass of 1,000 feeds.
    entry, conn = article.entry, db.conn
    created = now[1]
    # Its times as text made once each: first seen is the update's time (Pipeline.new_articles)
    seen = created if article.first_seen == now[0] else iso(article.first_seen)
    published = iso(entry.published) if entry.published is not None else seen
    # The story first, so the article row is written once: an UPDATE of it would
    # re-index its text in the full-text index (sqlite-utils' FTS triggers).
    wanted = article.story
    existing = new_stories.get(wanted) if wanted is not None and wanted < 0 else wanted
    story_id = storystore.join_story(db, existing, entry.title, created)
    if wanted is not None and wanted < 0:
        new_stories.setdefault(wanted, story_id)
    article_id = conn.execute(
        "insert into articles (story_id, url, link, guid, title, summary, outlet, published, first_seen,"
        " feed, related) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            story_id,
            article.url,
            entry.link,
            entry.guid,
            entry.title,
            entry.summary,
            entry.outlet,
            published,
            seen,
            feed_url,
            json.dumps([[r.title, r.url, r.outlet] for r in entry.related]) if entry.related else None,
        ),
    ).lastrowid
    assert article_id is not None  # an INTEGER PRIMARY KEY insert always has one
    fulltext.index(index, article_id, entry.title, entry.summary)
    if existing is None:
        storystore.first_article(db, story_id, article_id)
    if article.fingerprint:
        seconds = epoch_of(entry.published or article.first_seen)  # as sqltime.epoch(published) reads it
        storystore.index_article(
            index, article_id, story_id, published, seconds, article.fingerprint, article.story_keys, memory
        )
    if article.joined is not None:
        storystore.record_join(db, article_id, story_id, article.joined, memory, counts)
    if article.keys:  # one statement for its keys, not one each
        conn.execute(
            "insert or ignore into article_keys (key, article_id) values "
            + ",".join(["(?, ?)"] * len(article.keys)),
            [v for k in article.keys for v in (key_digest(k), article_id)],
        )
    if article.matches:
        conn.executemany(
            "insert into matches (article_id, rule_id, terms, found) values (?, ?, ?, ?)",
            [
                (article_id, m.rule_id, json.dumps(list(m.terms)), json.dumps(list(m.found)))
                for m in article.matches
            ],
        )
    if alerts:
        outbox.queue_alerts(db, article_id, story_id, alerts, created)


class ArticlesMixin(ArchiveBase):
    _deferred: Rows | None = None  # inside Archive.deferring(): index rows collected, not written

    @reads("read article keys")
    def known_keys(self, keys: Iterable[str]) -> set[str]:
        return known_keys(self.conn, keys)

    @writes("save articles")
    def save_update(
        self,
        feed_url: str,
        fetched: FetchedFeed,
        feed_title: str | None,
        articles: Sequence[tuple[NewArticle, Sequence[AlertIntent]]],
        now: datetime,
        decision: Decision,
        edits: Sequence[StoryEdit] = (),
        ttl: float | None = None,
        warning: str | None = None,
        known: set[str] | None = None,
    ) -> int:
        """Archive new articles with their matches, stories and alerts, the story alerts they
        update, and the feed's state: one transaction.

        Returns how many articles were new (an article another feed archived
        since the caller checked its keys is skipped, not stored twice). `known`: which of the
        articles' keys are archived, when the caller read them in this same transaction (taken
        and added to); else read here.
        """
        saved = 0
        new_stories: dict[int, int] = {}  # NewArticle.story < 0 → the story created for it
        memory = storystore.memory_of(self)  # told of every story row written (storymemory.py)
        counts = storystore.DocumentCounts()  # the rarity counts, written once for the update
        index = Rows() if self._deferred is None else self._deferred  # written below, or behind (behind.py)
        created = iso(now)
        # one look-up for the update's keys, then the keys written meanwhile: what a look-up per
        # article would find (the caller's check may be stale; two articles may share a key)
        if known is None:
            known = known_keys(self.conn, (key for article, _ in articles for key in article.keys))
        for article, alerts in articles:
            if not known.isdisjoint(article.keys):
                continue
            known.update(article.keys)
            insert_article(
                self.db, feed_url, article, alerts, (now, created), new_stories, memory, counts, index
            )
            saved += 1
        storystore.write_counts(index, counts, memory)
        if self._deferred is None:
            index.write(self.conn)
        for story_edit in edits:
            outbox.queue_edit(self.db, story_edit, created)
        feedstore.record_ok(self.db, feed_url, fetched, feed_title, decision, created, saved, ttl)
        self.db.execute("update feeds set warning = ? where url = ?", [warning, feed_url])
        return saved

    def articles_since(self, since: datetime | None, batch: int = 1000) -> Iterator[StoredArticle]:
        """Every archived article published at or after `since` (all when None), newest first."""
        sql = (
            "select a.id, a.title, a.summary, a.published, coalesce(a.outlet, f.name, f.title), a.story_id"
            " from articles a left join feeds f on f.url = a.feed where a.published >= ?"
            " order by a.published desc, a.id desc"
        )
        with wrap_errors(self.path, "read articles"):  # a generator: the decorator would not see its errors
            cursor = self.conn.execute(sql, [iso(since) if since else ""])
            while rows := cursor.fetchmany(batch):
                for r in rows:
                    published = from_iso(r[3]) or datetime.min.replace(tzinfo=UTC)
                    yield StoredArticle(
                        id=r[0],
                        title=r[1],
                        summary=r[2] or "",
                        published=published,
                        outlet=r[4],
                        story_id=r[5],
                    )

    def search(
        self,
        query: str,
        *,
        since: datetime | None = None,
        rule: str | None = None,
        limit: int = 20,
        as_words: Callable[[str], None] | None = None,
    ) -> list[SearchHit]:
        """Full-text search, newest first.

        FTS5 syntax is accepted; a query FTS5 rejects is searched as plain words (and
        `as_words`, when given, is told the query that was searched instead). A query with
        Chinese, Japanese or Korean in it searches the CJK index (fulltext.py)."""
        table, shape = (
            ("articles_cjk", fulltext.cjk_query) if fulltext.has_cjk(query) else ("articles_fts", str)
        )
        try:
            return self._search(table, shape(query), since, rule, limit)
        except sqlite_errors(sqlite3.OperationalError):
            words = _escape_fts(query)
            if as_words is not None:
                as_words(words)
            return self._search(table, shape(words), since, rule, limit)

    def _search(
        self, table: str, fts: str, since: datetime | None, rule: str | None, limit: int
    ) -> list[SearchHit]:
        where, args = [f"{table} match ?"], [fts]
        if since is not None:
            where.append("a.published >= ?")
            args.append(iso(since))
        if rule is not None:
            where.append("exists (select 1 from matches m where m.article_id = a.id and m.rule_id = ?)")
            args.append(rule)
        sql = (
            "select a.id, a.title, a.link, a.outlet, a.published, f.url, coalesce(f.name, f.title),"
            " (select group_concat(rule_id, ',') from matches m where m.article_id = a.id), a.story_id"
            f" from articles a join {table} on {table}.rowid = a.id"
            " left join feeds f on f.url = a.feed"
            f" where {' and '.join(where)} order by a.published desc, a.id desc limit ?"
        )
        rows = self.conn.execute(sql, [*args, limit]).fetchall()
        return [
            SearchHit(
                id=r[0],
                title=r[1],
                link=r[2],
                outlet=r[3] or r[6],
                published=from_iso(r[4]),
                feed=r[5],
                rules=tuple(sorted((r[7] or "").split(","))) if r[7] else (),
                story_id=r[8],
            )
            for r in rows
        ]

    def prune(self, before: datetime, *, include_matched: bool = False, batch: int = 1000) -> int:
        """Delete articles published and first seen before `before`; matched ones only when asked,
        never one with an alert still waiting. Their identity keys stay, so an old article a
        feed still carries is not archived (or alerted) again. Returns articles deleted."""
        deleted = 0
        while found := self._prune_batch(iso(before), include_matched, batch):
            deleted += found
        self._prune_stories()
        return deleted

    @reads("read the archive")
    def prunable(self, before: datetime, *, include_matched: bool = False) -> tuple[int, int]:
        """What prune would delete, deleting nothing: (articles, how many of them were matched)."""
        sql = (
            "select count(*), count(case when exists (select 1 from matches m where m.article_id = a.id)"
            " then 1 end) from articles a where " + _prunable(include_matched)
        )
        found, matched = self.conn.execute(sql, [iso(before), iso(before)]).fetchone()
        return int(found), int(matched)

    @reads("read the archive")
    def high_water(self) -> tuple[int, int]:
        """The newest article id and alert id: what comes after them is new work (activity_after)."""
        articles, alerts = self.db.execute(
            "select (select coalesce(max(id), 0) from articles), (select coalesce(max(id), 0) from alerts)"
        ).fetchone()
        return int(articles), int(alerts)

    @reads("read the archive")
    def activity_after(self, mark: tuple[int, int], since: datetime) -> tuple[int, int, int]:
        """A pass's progress, read beside it: (feeds checked since `since`, articles and alerts
        added after `mark`, a high_water taken when it began). Rowid ranges and one small scan."""
        found = self.db.execute(
            "select (select count(*) from feeds where last_checked >= ?),"
            " (select count(*) from articles where id > ?), (select count(*) from alerts where id > ?)",
            [iso(since), *mark],
        ).fetchone()
        return int(found[0]), int(found[1]), int(found[2])

    @writes("prune the archive")
    def _prune_batch(self, cutoff: str, include_matched: bool, batch: int) -> int:
        sql = "select a.id from articles a where " + _prunable(include_matched) + " limit ?"
        ids = [r[0] for r in self.db.execute(sql, [cutoff, cutoff, batch]).fetchall()]
        if ids:
            marks = ",".join("?" * len(ids))
            for table in ("matches", "fingerprints", "story_keys", "story_joins", "alerts"):
                self.db.execute(f"delete from {table} where article_id in ({marks})", ids)
            self.db.execute(f"delete from articles where id in ({marks})", ids)
        return len(ids)

    @writes("prune the archive")
    def _prune_stories(self) -> None:
        self.db.execute(
            "delete from stories where not exists (select 1 from articles a where a.story_id = stories.id)"
        )
        self.db.execute(
            "delete from story_profiles where not exists"
            " (select 1 from articles a where a.story_id = story_profiles.story_id)"
        )


def _prunable(include_matched: bool) -> str:
    """The articles prune deletes: published and first seen before the cutoff (bound twice),
    none with an alert still waiting, and unless asked none that a rule matched."""
    keep = "" if include_matched else " and not exists (select 1 from matches m where m.article_id = a.id)"
    return (
        "a.published < ? and a.first_seen < ?"
        " and not exists (select 1 from alerts w where w.article_id = a.id"
        " and w.status in ('pending', 'held'))" + keep
    )


def _escape_fts(query: str) -> str:
    words = [w.replace('"', '""') for w in query.split()]
    return " ".join(f'"{w}"' for w in words) or '""'
