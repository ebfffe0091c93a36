"""The SQLite archive: the only module that knows table names and SQL.

Tables (documented in README.md, "The archive"):

    feeds         one row per feed: origin, status, HTTP cache validators and the schedule
                  (see feedstore.py)
    articles      every article ever seen, once; FTS5 index articles_fts
    article_keys  identity keys (canonical URL, feed-scoped GUID) → article
    matches       which rule matched which article, with the terms
    alerts        the outbox: one row per article per chat (and per digest message),
                  pending until sent, or held for a digest (see chatstore.py)
    chats, mutes  per-chat state: disabled or migrated chats, last digest; muted rules

sqlite3 errors are wrapped into StorageError here and nowhere else.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils
from sqlite_utils.utils import OperationalError

from monitor.archive import articles
from monitor.archive import chats as chatstore
from monitor.archive import feeds as feedstore
from monitor.archive import stories as storystore
from monitor.archive.sqltime import from_iso, iso
from monitor.errors import StorageError
from monitor.types import (
    AlertIntent,
    ArticleRef,
    ChatState,
    Decision,
    EntryData,
    FeedConfig,
    FeedForUpdate,
    FeedHistory,
    FeedStatus,
    FetchedFeed,
    HeldAlert,
    NewArticle,
    PendingAlert,
    RuleMatch,
    SearchHit,
    StoredArticle,
    StoryEdit,
)

migrations = sqlite_utils.Migrations("monitor")
# How long a write waits for another connection's lock before failing.
BUSY_TIMEOUT = 10.0


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("feeds").create(
        {
            "url": str,
            "fetch_url": str,
            "name": str,
            "title": str,
            "etag": str,
            "last_modified": str,
            "interval": float,
            "next_check": str,
            "last_checked": str,
            "last_success": str,
            "last_error": str,
            "error_count": int,
            "added": str,
        },
        pk="url",
    )
    db.table("articles").create(
        {
            "id": int,
            "url": str,
            "link": str,
            "guid": str,
            "title": str,
            "summary": str,
            "outlet": str,
            "published": str,
            "first_seen": str,
            "feed": str,
        },
        pk="id",
    )
    db.table("articles").create_index(["published"])
    db.table("articles").create_index(["feed"])
    db.table("articles").enable_fts(["title", "summary"], create_triggers=True, tokenize="porter")
    db.table("article_keys").create(
        {"key": str, "article_id": int}, pk="key", foreign_keys=[("article_id", "articles", "id")]
    )
    db.table("matches").create(
        {"article_id": int, "rule_id": str, "terms": str},
        pk=("article_id", "rule_id"),
        foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("matches").create_index(["rule_id"])
    db.table("alerts").create(
        {
            "id": int,
            "article_id": int,
            "chat_id": str,
            "rules": str,
            "text": str,
            "status": str,
            "created": str,
            "attempts": int,
            "next_attempt": str,
            "last_error": str,
            "sent_at": str,
            "message_id": str,
        },
        pk="id",
        foreign_keys=[("article_id", "articles", "id")],
    )
    db.table("alerts").create_index(["status", "next_attempt"])


@migrations()
def m002_alert_silent(db: sqlite_utils.Database) -> None:
    db.table("alerts").add_column("silent", int, not_null_default=0)


@migrations()
def m003_stories(db: sqlite_utils.Database) -> None:
    storystore.migrate(db)


@migrations()
def m004_chats(db: sqlite_utils.Database) -> None:
    chatstore.migrate(db)


@migrations()
def m005_feed_schedule(db: sqlite_utils.Database) -> None:
    feedstore.migrate(db)


# A released migration is never edited: archives that applied it would never see the change.
@migrations()
def m006_feed_ttl(db: sqlite_utils.Database) -> None:
    feedstore.migrate_ttl(db)


@migrations()
def m007_feed_body_hash(db: sqlite_utils.Database) -> None:
    feedstore.migrate_body_hash(db)


@migrations()
def m008_story_keys_one_btree(db: sqlite_utils.Database) -> None:
    storystore.migrate_keys_one_btree(db)


@migrations()
def m009_story_profiles(db: sqlite_utils.Database) -> None:
    storystore.migrate_profiles(db)


@contextmanager
def _wrap(path: Path | str, action: str) -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OperationalError) as exc:
        why = str(exc)
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY":
            why += f" (another connection held its write lock for over {BUSY_TIMEOUT:g} s)"
        raise StorageError(f"cannot {action}: {why}", path) from None
    except OSError as exc:
        raise StorageError(f"cannot {action}: {exc.strerror or exc}", path) from None


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """One write transaction that holds SQLite's write lock from its start (BEGIN IMMEDIATE).

    A deferred BEGIN (sqlite-utils' atomic()) asks for the write lock only at its first write.
    When another process (monitor run, and monitor feeds or prune in a shell) wrote in between,
    SQLite fails at once with "database is locked": this transaction's snapshot is stale, so
    the busy timeout cannot help. Asked for at BEGIN, the lock is waited for (BUSY_TIMEOUT).
    Inside an open transaction, it is a savepoint."""
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if conn.in_transaction:
        try:
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class Archive:
    """The archive file, opened once per process (one connection)."""

    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self.db = db
        self.path = path
        self._file = _identity(path)  # the file opened: see check_file

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> Archive:
        if not create and not path.exists():
            raise StorageError("archive not found (run 'monitor poll' first)", path)
        with _wrap(path, "open the archive"):
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    # Owner-only: the archive holds what the operator chose to watch.
                    path.touch(mode=0o600)
                _check_writable(path)
            conn = _connect(path, create)
            db = sqlite_utils.Database(conn, execute_plugins=False)
            # WAL with synchronous=NORMAL: a commit is not flushed to disk on its own, so a power
            # cut may undo the last passes, feed state (ETags) included, and their articles are
            # fetched again. An application crash loses nothing.
            conn.execute("pragma synchronous = normal")
            # 8 MiB of page cache instead of SQLite's 2: a cold pass inserts into four indexes
            # keyed at random (identity keys, story keys, full text), and with 2 MiB an eighth
            # of the main process's time went to reading pages back (measured with py-spy).
            conn.execute("pragma cache_size = -8192")
            if create:
                db.enable_wal()
                if migrations.pending(db):  # under the write lock: two processes may upgrade at once
                    with write_transaction(db):
                        migrations.apply(db)
            elif migrations.pending(db):
                raise StorageError("archive is from an older monitor: run 'monitor poll' to upgrade it", path)
        return cls(db, path)

    def close(self) -> None:
        self.db.conn.close()

    def check_file(self) -> None:
        """Fail when the archive's path no longer names the file opened (removed, or replaced by
        a restored copy): the open file lives on, unlinked, and whatever a long-running process
        wrote to it would vanish at its exit."""
        if _identity(self.path) != self._file:
            raise StorageError(
                "the archive file was removed or replaced since monitor opened it; restart monitor",
                self.path,
            )

    def write(self) -> AbstractContextManager[None]:
        """Every write transaction of the archive (see write_transaction)."""
        return write_transaction(self.db)

    # --- feeds ------------------------------------------------------------

    def sync_feeds(self, feeds: Sequence[FeedConfig], now: datetime) -> bool:
        """Make the feeds table know every configured feed (new ones are due at once).

        Writes nothing (takes no write lock) when the table already matches; False then."""
        with _wrap(self.path, "update feeds"):
            if feedstore.sync_changes(self.db, feeds, iso(now)) == ([], []):
                return False
            with self.write():  # looked at again under the lock: another process may have synced
                return feedstore.sync(self.db, feeds, iso(now))

    def add_feeds(
        self, feeds: Sequence[tuple[str, str | None]], now: datetime, origin: str = "opml"
    ) -> tuple[list[str], list[str]]:
        """Watch these (url, title) feeds too; returns (added, already watched)."""
        with _wrap(self.path, "add feeds"), self.write():
            return feedstore.add(self.db, feeds, origin, iso(now))

    def set_feed_status(self, url: str, status: str, now: datetime, reason: str | None = None) -> str | None:
        """ "active" (resume: due at once), "suspended" or "removed". Returns the feed's status
        before, None for an unknown feed; a removed feed is left removed."""
        with _wrap(self.path, "change a feed"), self.write():
            return feedstore.set_status(self.db, url, status, reason, iso(now))

    def feeds_for_update(self, now: datetime | None = None) -> list[FeedForUpdate]:
        """Active feeds to fetch: only those due at `now` when given, else all.

        A pass begins here, so here it finds out that the archive file is gone (check_file)."""
        self.check_file()
        with _wrap(self.path, "read feeds"):
            return feedstore.due(self.db, iso(now) if now is not None else None)

    def feed_history(self, feed_url: str, default_interval: float) -> FeedHistory:
        """What the scheduler needs to plan a feed's next check."""
        with _wrap(self.path, "read a feed's history"):
            return feedstore.history(self.db, feed_url, default_interval)

    def feed_error(self, feed_url: str, error: str, now: datetime, decision: Decision) -> None:
        """Record a failed check, its next check, and a suspension if the decision says so."""
        with _wrap(self.path, "record a feed error"), self.write():
            feedstore.record_error(self.db, feed_url, error, decision, iso(now))

    def feed_not_modified(
        self, feed_url: str, fetched: FetchedFeed, now: datetime, decision: Decision
    ) -> None:
        with _wrap(self.path, "record a feed check"), self.write():
            feedstore.record_ok(self.db, feed_url, fetched, None, decision, iso(now), 0)

    # --- articles ---------------------------------------------------------

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        with _wrap(self.path, "read article keys"):
            return articles.known_keys(self.db.conn, keys)

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
    ) -> int:
        """Archive new articles with their matches, stories and alerts, the story alerts they
        update, and the feed's state: one transaction.

        Returns how many articles were new (an article another feed archived
        since the caller checked its keys is skipped, not stored twice).
        """
        saved = 0
        new_stories: dict[int, int] = {}  # NewArticle.story < 0 → the story created for it
        with _wrap(self.path, "save articles"), self.write():
            for article, alerts in articles:
                if self.known_keys(article.keys):
                    continue
                self._insert_article(feed_url, article, alerts, now, new_stories)
                saved += 1
            for story_edit in edits:
                storystore.queue_edit(self.db, story_edit, iso(now))
            feedstore.record_ok(self.db, feed_url, fetched, feed_title, decision, iso(now), saved, ttl)
        return saved

    def _insert_article(
        self,
        feed_url: str,
        article: NewArticle,
        alerts: Sequence[AlertIntent],
        now: datetime,
        new_stories: dict[int, int],
    ) -> None:
        # Plain SQL: this runs once per new article, 50,000 times in a cold pass of 1,000 feeds.
        entry, conn, created = article.entry, self.db.conn, iso(now)
        published = iso(entry.published or article.first_seen)
        # The story first, so the article row is written once: an UPDATE of it would
        # re-index its text in the full-text index (sqlite-utils' FTS triggers).
        wanted = article.story
        existing = new_stories.get(wanted) if wanted is not None and wanted < 0 else wanted
        story_id = storystore.join_story(self.db, existing, entry.title, created)
        if wanted is not None and wanted < 0:
            new_stories.setdefault(wanted, story_id)
        article_id = conn.execute(
            "insert into articles (story_id, url, link, guid, title, summary, outlet, published, first_seen,"
            " feed) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                story_id,
                article.url,
                entry.link,
                entry.guid,
                entry.title,
                entry.summary,
                entry.outlet,
                published,
                iso(article.first_seen),
                feed_url,
            ),
        ).lastrowid
        assert article_id is not None  # an INTEGER PRIMARY KEY insert always has one
        if existing is None:
            storystore.first_article(self.db, story_id, article_id)
        if article.fingerprint:
            storystore.index_article(
                self.db, article_id, story_id, published, article.fingerprint, article.story_keys
            )
        if article.joined is not None:
            storystore.record_join(self.db, article_id, story_id, article.joined)
        conn.executemany(
            "insert or ignore into article_keys (key, article_id) values (?, ?)",
            [(k, article_id) for k in article.keys],
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
            conn.executemany(
                "insert into alerts (article_id, chat_id, rules, text, status, hold, priority, silent,"
                " kind, story_id, created, attempts) values (?, ?, ?, ?, ?, ?, ?, ?, 'send', ?, ?, 0)",
                [
                    (
                        article_id,
                        chatstore.current_id(self.db, a.chat_id),
                        json.dumps(list(a.rule_ids)),
                        a.text,
                        "held" if a.hold else "pending",
                        a.hold,
                        a.priority,
                        int(a.silent),
                        story_id,
                        created,
                    )
                    for a in alerts
                ],
            )

    def story_index(self) -> storystore.StoryIndex:
        """The stories' look-up index (stories.lookup.StoryIndex), on the writer's connection:
        for a feed analysed in this process, where a worker would use its snapshot."""
        return storystore.StoryIndex(self.db.conn)

    def story_candidates_after(
        self, keys: Sequence[str], published: datetime, window_hours: float, snapshot: int
    ) -> list[tuple[int, int]]:
        """(story id, article id) of the window's articles archived after `snapshot` (the greatest
        article id a snapshot held, stories.lookup.StoryGuess) sharing one of `keys` (its selective ones)."""
        with _wrap(self.path, "look up stories"):
            return storystore.sharing(self.db.conn, keys, published, window_hours, after=snapshot)

    def latest_article(self) -> int:
        with _wrap(self.path, "look up stories"):
            return storystore.latest_article(self.db.conn)

    def fingerprints(self, article_ids: Sequence[int]) -> dict[int, str]:
        """Article id → its fingerprint as JSON (stories.fingerprint.ArticleFingerprint)."""
        with _wrap(self.path, "read story fingerprints"):
            return storystore.fingerprints(self.db.conn, article_ids)

    def story_profiles(self, story_ids: Sequence[int]) -> dict[int, str]:
        """Story id → its profile JSON (stories.profile.Profile)."""
        with _wrap(self.path, "read story profiles"):
            return storystore.profiles(self.db.conn, story_ids)

    def document_frequencies(self, lang: str, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """(term → archived articles of `lang` with it, archived articles of `lang`)."""
        with _wrap(self.path, "read document frequencies"):
            return storystore.document_frequencies(self.db.conn, lang, terms)

    def story_joins(self, story_id: int) -> list[tuple[int, str, str | None, str, float | None, str | None]]:
        """(article id, published, outlet, title, score, reason) of a story's reports, oldest first."""
        with _wrap(self.path, "read a story"):
            return storystore.story_joins(self.db, story_id)

    def split_article(
        self, article_id: int, now: datetime, profiles: Callable[[list[tuple[str, str, str]]], str | None]
    ) -> tuple[int, int]:
        """Take an article out of its story into a story of its own; `profiles` builds a story's
        profile from its reports' (title, summary, published). Returns (old story, new story)."""
        with _wrap(self.path, "split a story"), self.write():
            row = self.db.execute("select title from articles where id = ?", [article_id]).fetchone()
            if row is None:
                raise KeyError(article_id)
            old, new = storystore.move_article(self.db, article_id, row[0], iso(now))
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
                storystore.set_profile(self.db, story, profiles(texts) if texts else None)
            return old, new

    def queue_story_alerts(
        self, article_id: int, story_id: int, alerts: Sequence[AlertIntent], now: datetime
    ) -> None:
        """Queue an archived article's own alerts (a report taken out of a story by hand)."""
        with _wrap(self.path, "queue alerts"), self.write():
            storystore.queue_alerts(self.db, article_id, story_id, alerts, iso(now))

    def story_alerts(self, story_id: int) -> list[tuple[int, str, int, tuple[str, ...]]]:
        with _wrap(self.path, "read a story's alerts"):
            return storystore.story_alerts(self.db, story_id)

    def story_reports(self, story_id: int) -> list[tuple[int, str | None, str | None]]:
        with _wrap(self.path, "read a story"):
            return storystore.story_reports(self.db, story_id)

    def story_outlets(self, story_id: int) -> list[str]:
        """The outlets that reported a story, first report first, each once."""
        reports = self.story_reports(story_id)
        return list(dict.fromkeys(outlet or "?" for _, outlet, _ in reports))

    def alerted_article(self, article_id: int) -> tuple[EntryData, str | None, tuple[RuleMatch, ...]]:
        with _wrap(self.path, "read an article"):
            return storystore.alerted_article(self.db, article_id)

    # --- outbox -----------------------------------------------------------

    def pending_alerts(self, now: datetime, limit: int = 100) -> list[PendingAlert]:
        """Alerts due at `now`, oldest first, but none behind an older one of its chat that is
        not due yet (a chat's alerts go in order) and none to a disabled chat."""
        with _wrap(self.path, "read the outbox"):
            rows = self.db.execute(
                "select a.id, a.chat_id, a.text, a.attempts, a.silent, a.edit_of, t.status, t.message_id,"
                " a.kind from alerts a left join alerts t on t.id = a.edit_of where a.status = 'pending'"
                " and (a.next_attempt is null or a.next_attempt <= ?)"
                " and a.chat_id not in (select id from chats where status = 'disabled')"
                # in order per chat: none overtakes an older one of its chat that waits to retry
                " and not exists (select 1 from alerts w where w.status = 'pending'"
                " and w.next_attempt > ? and w.chat_id = a.chat_id and w.id < a.id)"
                " order by a.id limit ?",
                [iso(now), iso(now), limit],
            ).fetchall()
        return [
            PendingAlert(
                id=r[0],
                chat_id=r[1],
                text=r[2],
                attempts=r[3],
                silent=bool(r[4]),
                edit_of=r[5],
                target_status=r[6],
                target_message_id=r[7],
                kind=r[8] or "send",
            )
            for r in rows
        ]

    def mark_sent(self, alert_id: int, message_id: str | None, now: datetime) -> None:
        with _wrap(self.path, "record a sent alert"), self.write():
            self.db.table("alerts").update(
                alert_id,
                {
                    "status": "sent",
                    "sent_at": iso(now),
                    "message_id": message_id,
                    "last_error": None,
                },
            )

    def mark_failed(self, alert_id: int, error: str, now: datetime) -> None:
        """Telegram refused this alert for good; keep it, with the reason."""
        with _wrap(self.path, "record a failed alert"), self.write():
            self.db.execute(
                "update alerts set status = 'failed', last_error = ?, attempts = attempts + 1,"
                " sent_at = null where id = ?",
                [error, alert_id],
            )

    def mark_retry(self, alert_id: int, error: str, at: datetime) -> None:
        with _wrap(self.path, "record an alert retry"), self.write():
            self.db.execute(
                "update alerts set last_error = ?, attempts = attempts + 1, next_attempt = ? where id = ?",
                [error, iso(at), alert_id],
            )

    def outbox_by_chat(self) -> dict[str, dict[str, int]]:
        """chat → status → alerts, for status reports."""
        found: dict[str, dict[str, int]] = {}
        with _wrap(self.path, "read the outbox"):
            for chat, status, count in self.db.execute(
                "select chat_id, status, count(*) from alerts group by chat_id, status"
            ):
                found.setdefault(chat, {})[status] = count
        return found

    # --- chats and digests (chatstore.py) --------------------------------------

    def chat_states(self) -> list[ChatState]:
        with _wrap(self.path, "read chats"):
            return chatstore.chat_states(self.db)

    def disable_chat(self, chat_id: str, reason: str, now: datetime) -> None:
        """The bot cannot post there: its alerts wait (they are kept) until it is enabled."""
        with _wrap(self.path, "disable a chat"), self.write():
            chatstore.set_chat(self.db, chat_id, status="disabled", reason=reason, changed=iso(now))

    def enable_chat(self, chat_id: str, now: datetime) -> bool:
        """Send to a disabled chat again; False when it was not disabled."""
        with _wrap(self.path, "enable a chat"), self.write():
            states = {s.chat_id: s for s in chatstore.chat_states(self.db)}
            if chat_id not in states or states[chat_id].status != "disabled":
                return False
            chatstore.set_chat(self.db, chat_id, status="active", reason=None, changed=iso(now))
            return True

    def move_chat(self, old: str, new: str, reason: str, now: datetime) -> int:
        """A group became a supergroup: its waiting alerts (and later ones) go to the new id."""
        with _wrap(self.path, "record a chat migration"), self.write():
            return chatstore.move_chat(self.db, old, new, reason, iso(now))

    def current_chat_id(self, chat_id: str) -> str:
        with _wrap(self.path, "read chats"):
            return chatstore.current_id(self.db, chat_id)

    def mute(self, chat_id: str, rule_id: str, until: datetime) -> None:
        with _wrap(self.path, "mute a rule"), self.write():
            self.db.table("mutes").upsert(
                {"chat_id": chat_id, "rule_id": rule_id, "until": iso(until)}, pk=("chat_id", "rule_id")
            )

    def unmute(self, chat_id: str, rule_id: str, now: datetime) -> bool:
        """End a mute now (it is digested with the next flush); False when none was running."""
        with _wrap(self.path, "unmute a rule"), self.write():
            return bool(
                self.db.execute(
                    "update mutes set until = ? where chat_id = ? and rule_id = ? and until > ?",
                    [iso(now), chat_id, rule_id, iso(now)],
                ).rowcount
            )

    def muted_rules(self, chat_id: str, now: datetime) -> dict[str, datetime]:
        with _wrap(self.path, "read mutes"):
            found = chatstore.muted_rules(self.db, chat_id, iso(now))
        return {rule: from_iso(until) or now for rule, until in found.items()}

    def ended_mutes(self, now: datetime) -> list[tuple[str, str]]:
        with _wrap(self.path, "read mutes"):
            return chatstore.ended_mutes(self.db, iso(now))

    def forget_mutes(self, mutes: Sequence[tuple[str, str]]) -> None:
        with _wrap(self.path, "clear mutes"), self.write():
            for chat_id, rule_id in mutes:
                self.db.execute("delete from mutes where chat_id = ? and rule_id = ?", [chat_id, rule_id])

    def recent_alerts(self, chat_id: str, since: datetime) -> int:
        with _wrap(self.path, "read the outbox"):
            return chatstore.recent_alerts(self.db, chat_id, iso(since))

    def held_alerts(self, chat_id: str, holds: Sequence[str] | None = None) -> list[HeldAlert]:
        with _wrap(self.path, "read held alerts"):
            return chatstore.held_alerts(self.db, chat_id, holds)

    def held_chats(self) -> list[tuple[str, str]]:
        with _wrap(self.path, "read held alerts"):
            return chatstore.held_chats(self.db)

    def matched_between(self, rule_ids: Sequence[str], since: datetime, until: datetime) -> list[ArticleRef]:
        with _wrap(self.path, "read matches"):
            return chatstore.matched_between(self.db, rule_ids, iso(since), iso(until))

    def match_counts(self, since: datetime) -> dict[str, int]:
        with _wrap(self.path, "read matches"):
            return chatstore.match_counts(self.db, iso(since))

    def queue_digest(
        self,
        chat_id: str,
        parts: Sequence[str],
        folded: Sequence[int],
        now: datetime,
        *,
        silent: bool = False,
        scheduled: bool = False,
    ) -> int | None:
        """Queue a digest's messages and mark the held alerts it carries, in one transaction."""
        with _wrap(self.path, "queue a digest"), self.write():
            first = chatstore.queue_digest(self.db, chat_id, parts, folded, silent, iso(now))
            if scheduled:
                chatstore.set_chat(self.db, chat_id, last_digest=iso(now))
            return first

    def queue_notice(self, chat_id: str, html: str, now: datetime) -> None:
        """A message for the operator (a feed suspended), sent through the outbox like an alert."""
        with _wrap(self.path, "queue a notice"), self.write():
            chatstore.queue_digest(self.db, chat_id, [html], [], False, iso(now), kind="notice")

    def outbox_counts(self) -> dict[str, int]:
        with _wrap(self.path, "read the outbox"):
            return {
                r[0]: r[1] for r in self.db.execute("select status, count(*) from alerts group by status")
            }

    # --- archive care -----------------------------------------------------

    def backup(self, target: Path) -> None:
        """A consistent copy (VACUUM INTO), safe while the service writes; owner-only."""
        if target.exists():
            raise StorageError("backup target already exists; choose a new file name", target)
        with _wrap(target, "write the backup"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch(mode=0o600)
            target.unlink()  # VACUUM INTO wants a new file; the touch checked we can write there
            # SQLite creates the file with the umask's mode: owner-only from its first byte.
            # (The umask is the process's: fine in `monitor backup`, which does nothing else.)
            umask = os.umask(0o077)
            try:
                self.db.execute("vacuum into ?", [str(target)])
            finally:
                os.umask(umask)
            target.chmod(0o600)

    def prune(self, before: datetime, *, include_matched: bool = False, batch: int = 1000) -> int:
        """Delete articles published and first seen before `before`; matched ones only when asked,
        never one with an alert still waiting. Their identity keys stay, so an old article a
        feed still carries is not archived (or alerted) again. Returns articles deleted."""
        cutoff = iso(before)
        keep = (
            "" if include_matched else " and not exists (select 1 from matches m where m.article_id = a.id)"
        )
        sql = (
            "select a.id from articles a where a.published < ? and a.first_seen < ?"
            " and not exists (select 1 from alerts w where w.article_id = a.id"
            " and w.status in ('pending', 'held'))" + keep + " limit ?"
        )
        deleted = 0
        while True:
            with _wrap(self.path, "prune the archive"), self.write():
                ids = [r[0] for r in self.db.execute(sql, [cutoff, cutoff, batch]).fetchall()]
                if not ids:
                    break
                marks = ",".join("?" * len(ids))
                for table in ("matches", "fingerprints", "story_keys", "alerts"):
                    self.db.execute(f"delete from {table} where article_id in ({marks})", ids)
                self.db.execute(f"delete from articles where id in ({marks})", ids)
                deleted += len(ids)
        with _wrap(self.path, "prune the archive"), self.write():
            self.db.execute(
                "delete from stories"
                " where not exists (select 1 from articles a where a.story_id = stories.id)"
            )
        return deleted

    def optimize(self) -> None:
        """Daily upkeep: refresh the query planner's statistics and trim the WAL file."""
        with _wrap(self.path, "optimize the archive"):
            self.db.execute("pragma optimize")
            self.db.execute("pragma wal_checkpoint(truncate)")

    # --- reading ----------------------------------------------------------

    def feed_statuses(
        self, now: datetime, stale: feedstore.StaleTest, *, include_removed: bool = False
    ) -> list[FeedStatus]:
        """Every feed the archive watches, configured first, with its schedule and health."""
        with _wrap(self.path, "read feeds"):
            return feedstore.statuses(self.db, now, stale, include_removed=include_removed)

    def articles_since(self, since: datetime | None, batch: int = 1000) -> Iterator[StoredArticle]:
        """Every archived article published at or after `since` (all when None), newest first."""
        sql = (
            "select a.id, a.title, a.summary, a.published, coalesce(a.outlet, f.name, f.title)"
            " from articles a left join feeds f on f.url = a.feed where a.published >= ?"
            " order by a.published desc, a.id desc"
        )
        with _wrap(self.path, "read articles"):
            cursor = self.db.execute(sql, [iso(since) if since else ""])
            while rows := cursor.fetchmany(batch):
                for r in rows:
                    published = from_iso(r[3]) or datetime.min.replace(tzinfo=UTC)
                    yield StoredArticle(
                        id=r[0], title=r[1], summary=r[2] or "", published=published, outlet=r[4]
                    )

    def search(
        self, query: str, *, since: datetime | None = None, rule: str | None = None, limit: int = 20
    ) -> list[SearchHit]:
        """Full-text search, newest first.

        FTS5 syntax is accepted; a query FTS5 rejects is searched as plain words."""
        try:
            return self._search(query, since, rule, limit)
        except (sqlite3.OperationalError, OperationalError):
            return self._search(_escape_fts(query), since, rule, limit)

    def _search(self, fts: str, since: datetime | None, rule: str | None, limit: int) -> list[SearchHit]:
        where, args = ["articles_fts match ?"], [fts]
        if since is not None:
            where.append("a.published >= ?")
            args.append(iso(since))
        if rule is not None:
            where.append("exists (select 1 from matches m where m.article_id = a.id and m.rule_id = ?)")
            args.append(rule)
        sql = (
            "select a.id, a.title, a.link, a.outlet, a.published, f.url, coalesce(f.name, f.title),"
            " (select group_concat(rule_id, ',') from matches m where m.article_id = a.id), a.story_id"
            " from articles a join articles_fts on articles_fts.rowid = a.id"
            " left join feeds f on f.url = a.feed"
            f" where {' and '.join(where)} order by a.published desc, a.id desc limit ?"
        )
        rows = self.db.execute(sql, [*args, limit]).fetchall()
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


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _check_writable(path: Path) -> None:
    """A writer fails at open, before its pass fetches anything, not at its first write.

    os.access asks the kernel, which refuses root too for an immutable file or a read-only mount
    (and lets root write a file whose mode says read-only: so can SQLite, then)."""
    if not os.access(path, os.W_OK):
        raise StorageError(
            "the archive is read-only: poll, run and feeds write to it (search only reads)", path
        )
    if not os.access(path.parent, os.W_OK):
        raise StorageError(
            f"the archive's folder is read-only: SQLite keeps {path.name}-wal and -shm beside the archive",
            path,
        )


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    if create or os.access(path.parent, os.W_OK) or path.with_name(path.name + "-wal").exists():
        return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT)
    # A reader in a read-only folder: SQLite cannot create the -wal and -shm files it reads a
    # WAL archive with. Nor can any writer (it needs them), so the file is as it stays: immutable.
    return sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)


def _escape_fts(query: str) -> str:
    words = [w.replace('"', '""') for w in query.split()]
    return " ".join(f'"{w}"' for w in words) or '""'
