"""The archive's schema: every migration, in order (sqlite_utils.Migrations, applied by
store.Archive.open under the write lock; a reader only checks that none is pending, with
sqlite3 alone: see Steps).

    feeds         one row per feed: origin, status, HTTP cache validators and the schedule (feeds.py)
    articles      every article ever seen, once; FTS5 indexes articles_fts and, for text in
                  CJK scripts, articles_cjk (articles.py, fulltext.py)
    article_keys  identity keys (canonical URL, feed-scoped GUID; their digests since m016) → article
    matches       which rule matched which article, with the terms
    stories, story_keys, fingerprints   which article belongs to which story (stories.py)
    story_profiles, story_joins, term_df, term_docs   story profiles, how each report was
                  placed, the archive's document frequencies (stories.py)
    alerts        the outbox: one row per article per chat (and per digest or notice),
                  pending until sent, or held for a digest (outbox.py)
    chats, mutes  per-chat state: disabled or migrated chats, last digest; muted rules (chats.py)

A released migration is never edited: archives that applied it would never see the change.
Add a new one at the end instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.archive import fulltext, storyrows
from monitor.archive.keys import key_digest

if TYPE_CHECKING:
    import sqlite_utils

Step = Callable[["sqlite_utils.Database"], None]


class Steps:
    """The migrations, registered as sqlite_utils.Migrations registers them (`@migrations()`),
    handed to a sqlite_utils.Migrations only when one may have to run: a command that only
    reads (search, status) asks `unapplied(conn)` and never imports sqlite_utils."""

    TABLE = "_sqlite_migrations"  # where sqlite_utils.Migrations records each one applied

    def __init__(self, name: str) -> None:
        self.name = name
        self.steps: list[Step] = []
        self._migrations: sqlite_utils.Migrations | None = None

    def __call__(self) -> Callable[[Step], Step]:
        def register(step: Step) -> Step:
            self.steps.append(step)
            return step

        return register

    def migrations(self) -> sqlite_utils.Migrations:
        if self._migrations is None:
            import sqlite_utils

            self._migrations = sqlite_utils.Migrations(self.name)
            for step in self.steps:
                self._migrations()(step)
        return self._migrations

    def pending(self, db: sqlite_utils.Database) -> list[str]:
        return [m.name for m in self.migrations().pending(db)]

    def apply(self, db: sqlite_utils.Database, *, stop_before: str | None = None) -> None:
        self.migrations().apply(db, stop_before=stop_before)

    def unapplied(self, conn: sqlite3.Connection) -> list[str]:
        """The names of the steps the archive has not had, read with sqlite3 alone."""
        if conn.execute("select 1 from sqlite_master where name = ?", [self.TABLE]).fetchone() is None:
            applied: set[str] = set()
        else:
            sql = f"select name from {self.TABLE} where migration_set = ?"
            applied = {name for (name,) in conn.execute(sql, [self.name])}
        return [step.__name__ for step in self.steps if step.__name__ not in applied]


migrations = Steps("monitor")


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
    db.table("stories").create(
        {"id": int, "title": str, "first_article_id": int, "articles": int, "created": str, "updated": str},
        pk="id",
    )
    db.table("articles").add_column("story_id", int)
    db.table("articles").create_index(["story_id"])
    db.table("story_keys").create(
        {"key": str, "article_id": int, "story_id": int, "published": str}, pk=("key", "article_id")
    )
    db.table("story_keys").create_index(["key", "published"])
    db.table("fingerprints").create({"article_id": int, "data": str}, pk="article_id")
    db.table("matches").add_column("found", str)
    db.table("alerts").add_column("kind", str, not_null_default="send")
    db.table("alerts").add_column("edit_of", int)
    db.table("alerts").add_column("story_id", int)


@migrations()
def m004_chats(db: sqlite_utils.Database) -> None:
    db.table("alerts").add_column("priority", str, not_null_default="normal")
    db.table("alerts").add_column("hold", str)
    db.table("alerts").add_column("digest_id", int)
    db.table("alerts").create_index(["chat_id", "status", "created"])
    db.table("chats").create(
        {
            "id": str,
            "status": str,
            "reason": str,
            "changed": str,
            "moved_to": str,
            "last_digest": str,
        },
        pk="id",
    )
    db.table("mutes").create({"chat_id": str, "rule_id": str, "until": str}, pk=("chat_id", "rule_id"))


@migrations()
def m005_feed_schedule(db: sqlite_utils.Database) -> None:
    """As first released: never edit it (see m006)."""
    feeds = db.table("feeds")
    feeds.add_column("status", str, not_null_default="active")
    feeds.add_column("origin", str, not_null_default="config")
    feeds.add_column("suspended_reason", str)
    feeds.add_column("suspended_at", str)
    feeds.add_column("first_error", str)
    feeds.add_column("last_new", str)
    feeds.create_index(["status", "next_check"])
    db.execute("create index if not exists articles_feed_published on articles(feed, published)")


@migrations()
def m006_feed_ttl(db: sqlite_utils.Database) -> None:
    """The feed's own <ttl>, and a next_check on every feed.

    For a while these two were part of m005 itself, so an archive made then has the column
    already; one made with m005 as first released has neither."""
    feeds = db.table("feeds")
    if "ttl" not in feeds.columns_dict:
        feeds.add_column("ttl", float)
    # The due query is one range of the (status, next_check) index: NULL would never be due.
    db.execute("update feeds set next_check = coalesce(next_check, added, '') where next_check is null")


@migrations()
def m007_feed_body_hash(db: sqlite_utils.Database) -> None:
    """A digest of each feed's last body, so that a server without ETag or
    Last-Modified answering the same bytes again costs no parse."""
    db.table("feeds").add_column("body_hash", str)


@migrations()
def m008_story_keys_one_btree(db: sqlite_utils.Database) -> None:
    """story_keys as one B-tree, ordered as it is searched (key, then time): a table WITHOUT
    ROWID whose primary key is (key, published, article_id). It was a rowid table with two
    indexes, three B-trees to write for each of an article's 29 keys (7% of a cold pass)."""
    db.execute(
        "create table story_keys_new (key text not null, article_id integer not null, story_id integer,"
        " published text not null, primary key (key, published, article_id)) without rowid"
    )
    db.execute(
        "insert into story_keys_new (key, article_id, story_id, published)"
        " select key, article_id, story_id, published from story_keys where published is not null"
    )
    db.execute("drop table story_keys")
    db.execute("alter table story_keys_new rename to story_keys")


@migrations()
def m009_related_and_cjk_search(db: sqlite_utils.Database) -> None:
    """articles.related: the other reports an item lists (Google News coverage), JSON;
    articles_cjk: the search index for text without spaces between words (fulltext.py);
    feeds.warning: what the last full answer needed fixing (an encoding guessed, GUIDs shared)."""
    db.table("articles").add_column("related", str)
    fulltext.create(db)
    db.table("feeds").add_column("warning", str)


@migrations()
def m010_feed_folder(db: sqlite_utils.Database) -> None:
    """The folder (OPML category, "Asia / Japan") an imported feed was filed in. (Briefly named
    m009_feed_folder on a branch: an archive made then has the column already.)"""
    if "folder" not in db.table("feeds").columns_dict:
        db.table("feeds").add_column("folder", str)


@migrations()
def m011_feed_planned_interval_and_churn(db: sqlite_utils.Database) -> None:
    """The interval each feed's schedule was planned under (a lowered one applies from the last
    check), and each feed's run of passes on which every item was new (churn)."""
    feeds = db.table("feeds")
    feeds.add_column("planned_interval", float)
    feeds.add_column("churn", int, not_null_default=0)


@migrations()
def m012_story_profiles(db: sqlite_utils.Database) -> None:
    """Story profiles, placement reasons and the archive's document frequencies. Old
    archives' stories have no profile: they take no more reports (a new report starts a story)."""
    db.execute(
        "create table if not exists story_profiles"
        " (story_id integer primary key, last text, data text not null)"
    )
    db.execute(
        "create table if not exists story_joins (article_id integer primary key, story_id integer,"
        " score real, reason text)"
    )
    db.execute(
        "create table if not exists term_df (lang text not null, term text not null, df integer not null,"
        " primary key (lang, term)) without rowid"
    )
    db.execute("create table if not exists term_docs (lang text primary key, documents integer not null)")


@migrations()
def m013_outbox_payload(db: sqlite_utils.Database) -> None:
    """The outbox stores channel-neutral messages (payload, JSON: payload.py), rendered by each
    notifier when sent; rows queued before keep their Telegram HTML in text and go out as it.
    parts_sent: messages of a row already sent (a digest may take several)."""
    db.table("alerts").add_column("payload", str)
    db.table("alerts").add_column("parts_sent", int, not_null_default=0)


@migrations()
def m014_article_keys_one_btree(db: sqlite_utils.Database) -> None:
    """article_keys as one B-tree (WITHOUT ROWID, keyed by its key): a rowid table with a unique
    index on its text key held every key twice, a fifth of an article's bytes besides its text
    (issue 18: the archive's size per article)."""
    db.execute(
        "create table article_keys_new (key text primary key not null, article_id integer"
        " references articles(id)) without rowid"
    )
    db.execute(
        "insert or ignore into article_keys_new (key, article_id)"
        " select key, article_id from article_keys where key is not null"
    )
    db.execute("drop table article_keys")
    db.execute("alter table article_keys_new rename to article_keys")


@migrations()
def m015_compact_story_rows(db: sqlite_utils.Database) -> None:
    """Story profiles as text, and copy signatures as BLOBs (storyrows.py): half the bytes of
    their JSON, and parsed in half the time or less (issues 17 and 18). Rewritten in place."""
    conn = db.conn
    for table, convert in (
        ("story_profiles", storyrows.profile_text),
        ("fingerprints", storyrows.fingerprint_blob),
    ):
        key = "story_id" if table == "story_profiles" else "article_id"
        after = -1
        while True:
            rows = conn.execute(
                f"select {key}, data from {table} where {key} > ? and data like '{{%'"
                f" order by {key} limit 2000",
                [after],
            ).fetchall()
            if not rows:
                break
            conn.executemany(
                f"update {table} set data = ? where {key} = ?", [(convert(data), i) for i, data in rows]
            )
            after = rows[-1][0]


@migrations()
def m016_smaller_archive(db: sqlite_utils.Database) -> None:
    """Fewer bytes per article (issue 18: 4.8 KB an article after a cold pass, target 4 KB):

    * article_keys holds each identity key's 16-byte digest (keys.key_digest), not its text
      (88 characters on average: a URL, or a feed URL and a GUID);
    * story_keys.published is whole seconds since 1970 (an integer of 4 to 6 bytes instead of 20
      characters, in each of an article's 8 index rows);
    * no index on articles(feed) alone: articles_feed_published (feed, published) serves it."""
    conn = db.conn
    conn.execute("drop index if exists idx_articles_feed")
    conn.execute(
        "create table article_keys_new (key blob primary key not null, article_id integer"
        " references articles(id)) without rowid"
    )
    after = ""
    while rows := conn.execute(
        "select key, article_id from article_keys where key > ? order by key limit 5000", [after]
    ).fetchall():
        conn.executemany(
            "insert or ignore into article_keys_new (key, article_id) values (?, ?)",
            [(key_digest(key), article_id) for key, article_id in rows],
        )
        after = rows[-1][0]
    conn.execute("drop table article_keys")
    conn.execute("alter table article_keys_new rename to article_keys")
    conn.execute(
        "create table story_keys_new (key text not null, article_id integer not null, story_id integer,"
        " published integer not null, primary key (key, published, article_id)) without rowid"
    )
    conn.execute(
        "insert or ignore into story_keys_new (key, article_id, story_id, published)"
        " select key, article_id, story_id, cast(strftime('%s', published) as integer) from story_keys"
        " where strftime('%s', published) is not null"
    )
    conn.execute("drop table story_keys")
    conn.execute("alter table story_keys_new rename to story_keys")
    # articles.url stays the canonical URL even when it equals the link: NULL there would save
    # about 99 bytes of payload (nothing in the farm's pages, two rows fill a page either way)
    # but break every SQL query that reads articles.url (README "The archive").


@migrations()
def m017_smaller_index_and_stories(db: sqlite_utils.Database) -> None:
    """Fewer bytes per article again (issue 18: 4.4 KB an article after a cold pass, target 4 KB):

    * articles_fts indexes (summary, title) in this order, not (title, summary): FTS5 writes a
      word's positions in its first column bare and in any other after two bytes naming the
      column, so putting the summary (most of an article's words) first saves about 280 bytes an
      article. Queries name columns ("title: x"), never their order: every search answers the
      same. The index is made again from the articles (FTS5's rebuild).
    * copy signatures of 16-bit slots, not 32 (storyrows.fingerprint_16): 136 bytes, not 264. The
      stories' code compares 16-bit slots since: each archived signature is rewritten as it would
      make it now.
    * (no change to the tables: a new story of one report keeps its report's time and a digest
      instead of its profile, made again from its article when needed; older rows stay as they are.)"""
    conn = db.conn
    conn.execute("drop table if exists articles_fts")
    conn.execute(FTS_TABLE)
    conn.execute("insert into articles_fts (articles_fts) values ('rebuild')")
    after = -1
    sql = "select article_id, data from fingerprints where article_id > ? order by article_id limit 2000"
    while rows := conn.execute(sql, [after]).fetchall():
        conn.executemany(
            "update fingerprints set data = ? where article_id = ?",
            [(new, i) for i, data in rows if (new := storyrows.fingerprint_16(data)) != data],
        )
        after = rows[-1][0]


@migrations()
def m019_full_text_written_beside_the_article(db: sqlite_utils.Database) -> None:
    """The article's words go into articles_fts from insert_article (fulltext.index), no longer
    from the trigger articles_ai (issue 18: the cold pass's archive write).

    FTS5 keeps a transaction's new words in memory and writes them out as one segment at the
    commit, and at every savepoint. A trigger's statement writes two tables, so SQLite opens a
    statement savepoint around each insert into articles: every article became a segment of its
    own, merged again later, and the index cost twice its insert alone (0.12 against 0.06 ms an
    article, docs/performance-log.md "Cold pass, main-process CPU"). Rows and index are the same.
    Deleting (articles_ad) and updating (articles_au) an article still go through their triggers."""
    db.conn.execute('drop trigger if exists "articles_ai"')


@migrations()
def m020_alerts_by_story(db: sqlite_utils.Database) -> None:
    """An index of the outbox by story: a report that joins a story and matches a rule reads
    the story's alerts (stories.story_alerts: which rules it already alerted for), and without
    it each read scanned every alert ever queued, a cost that grew with the archive's age (a
    1,000-feed cold pass: 81 µs a read; docs/performance-log.md "Cold-pass placement")."""
    db.conn.execute("create index if not exists alerts_story on alerts(story_id)")


@migrations()
def m021_full_text_merged_by_eights(db: sqlite_utils.Database) -> None:
    """articles_fts merges its segments eight at a time, not four (fulltext.AUTOMERGE; h-save)."""
    fulltext.merge_by(db.conn)


# articles_fts since m017 (as sqlite-utils' enable_fts writes it, so that its `search` and
# Datasette find it: content="articles"); its triggers (m001) name its columns.
FTS_TABLE = (
    'CREATE VIRTUAL TABLE "articles_fts" USING FTS5 (\n    "summary", "title",\n'
    "    tokenize='porter',\n    content=\"articles\"\n)"
)
