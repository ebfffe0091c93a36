"""The archive's feeds table: which feeds exist, and each one's schedule.

    feeds   one row per feed, keyed by its URL as configured or imported:
            origin   "config" ([[feeds]] in monitor.toml), "opml" (monitor feeds import) or
                     "cli" (monitor feeds add)
            status   "active", "suspended" (failing for too long, or 410 Gone) or
                     "removed" (gone from the config, or monitor feeds remove)
            the schedule: interval (NULL = [schedule] interval), next_check,
            error_count and first_error of the current run of failures, last_error,
            last_new (when it last brought a new article); HTTP validators;
            planned_interval (the interval next_check was planned under: a lowered one
            applies from the last check), churn (passes in a row with every item new)

The service's tick asks for the active feeds whose next_check has come, so
10,000 feeds are one indexed query, not 10,000 scheduler jobs. The functions take the
connection and hold the SQL; FeedsMixin (part of store.Archive) wraps them in the archive's
error handling and transactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.archive.connection import ArchiveBase, reads, writes
from monitor.archive.feedstatus import CHURN_PASSES as CHURN_PASSES  # the service's churn count
from monitor.archive.feedstatus import HISTORY, StaleTest, statuses
from monitor.archive.sqltime import from_iso, iso
from monitor.types import Decision, FeedConfig, FeedForUpdate, FeedHistory, FeedStatus, FetchedFeed

if TYPE_CHECKING:
    import sqlite_utils


Changes = tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]  # (rows to insert, (url, update))
_SYNCED = "url, name, interval, origin, status, planned_interval, last_checked, next_check"


def sync_changes(
    db: sqlite_utils.Database, feeds: Sequence[FeedConfig], now: str, default_interval: float | None = None
) -> Changes:
    """What sync would write; nothing when the table already matches the config.

    With `default_interval` ([schedule] interval), a feed whose interval is now shorter than the
    one its next check was planned under is due at its last check plus the new interval, when
    that comes sooner (next_check = min(stored, last_check + new interval))."""
    rows = {r["url"]: r for r in db.table("feeds").rows_where(select=_SYNCED)}
    inserts, updates = [], {}
    for feed in feeds:
        row = rows.get(feed.url)
        if row is None:
            rows[feed.url] = _new_row(feed.url, feed.name, feed.interval, "config", now)
            if default_interval is not None:
                rows[feed.url]["planned_interval"] = feed.interval or default_interval
            inserts.append(rows[feed.url])
            continue
        wanted: dict[str, Any] = {"name": feed.name, "interval": feed.interval, "origin": "config"}
        if row["status"] == "removed":
            wanted["status"] = "active"
        update = {k: v for k, v in wanted.items() if row[k] != v}
        if update:
            updates[feed.url] = update
    listed = {feed.url for feed in feeds}
    for url, row in rows.items():
        if row["origin"] == "config" and row["status"] != "removed" and url not in listed:
            updates[url] = {"status": "removed"}
    if default_interval is not None:
        inserted = {row["url"] for row in inserts}
        for url, row in rows.items():
            if url in inserted or updates.get(url, {}).get("status") == "removed":
                continue
            interval = updates.get(url, {}).get("interval", row["interval"]) or default_interval
            if row["planned_interval"] != interval:
                updates.setdefault(url, {}).update(_replanned(row, interval))
    return inserts, list(updates.items())


def _replanned(row: dict[str, Any], interval: float) -> dict[str, Any]:
    update: dict[str, Any] = {"planned_interval": interval}
    planned, last, stored = (
        row["planned_interval"],
        from_iso(row["last_checked"]),
        from_iso(row["next_check"]),
    )
    if planned is not None and interval < planned and last is not None and stored is not None:
        sooner = last + timedelta(seconds=interval)
        if sooner < stored:
            update["next_check"] = iso(sooner)
    return update


def sync(
    db: sqlite_utils.Database, feeds: Sequence[FeedConfig], now: str, default_interval: float | None = None
) -> bool:
    """The configured feeds exist (new ones due at once); configured ones no longer listed are removed.

    Writes only what differs; False when nothing did."""
    inserts, updates = sync_changes(db, feeds, now, default_interval)
    table = db.table("feeds")
    if inserts:
        table.insert_all(inserts)
    for url, update in updates:
        table.update(url, update)
    return bool(inserts or updates)


def set_churn(db: sqlite_utils.Database, url: str, passes: int) -> None:
    db.execute("update feeds set churn = ? where url = ?", [passes, url])


def next_due(db: sqlite_utils.Database) -> datetime | None:
    """When the first active feed is due (None: no active feed)."""
    row = db.execute("select min(next_check) from feeds where status = 'active'").fetchone()
    return from_iso(row[0]) if row and row[0] else None


def add(
    db: sqlite_utils.Database,
    feeds: Sequence[tuple[str, str | None]],
    origin: str,
    now: str,
    folders: Mapping[str, str | None] | None = None,
    interval: float | None = None,
) -> tuple[list[str], list[str]]:
    """Add (url, title) feeds not known yet, due at once, each in its folder (by URL) if given;
    (added, already there). A removed one comes back. A known feed without a folder is filed in
    the one given."""
    added, known = [], []
    table = db.table("feeds")
    folders = folders or {}
    for url, title in feeds:
        row = next(table.rows_where("url = ?", [url]), None)
        folder = folders.get(url)
        if row is None:
            table.insert(_new_row(url, title, interval, origin, now) | {"folder": folder})
            added.append(url)
        elif row["status"] == "removed":
            back = {"status": "active", "origin": origin, "name": title or row["name"], "next_check": now}
            back |= {"folder": folder or row["folder"]}
            table.update(url, back | ({"interval": interval} if interval else {}))
            added.append(url)
        else:
            if folder and not row["folder"]:
                table.update(url, {"folder": folder})
            known.append(url)
    return added, known


def _new_row(url: str, name: str | None, interval: float | None, origin: str, now: str) -> dict[str, Any]:
    return {
        "url": url,
        "fetch_url": url,
        "name": name,
        "interval": interval,
        "error_count": 0,
        "added": now,
        "next_check": now,  # due at once; never NULL, so the due query is one index range
        "status": "active",
        "origin": origin,
    }


def set_status(db: sqlite_utils.Database, url: str, status: str, reason: str | None, now: str) -> str | None:
    """Suspend, resume (due at once) or remove a feed; returns its status before, None when there is
    no such feed. A removed feed stays removed: only the config or an import brings it back."""
    row = next(db.table("feeds").rows_where("url = ?", [url]), None)
    if row is None:
        return None
    if row["status"] == "removed":
        return "removed"
    update: dict[str, Any] = {"status": status, "suspended_reason": reason}
    update["suspended_at"] = now if status == "suspended" else None
    if status == "active":
        update |= {"next_check": now, "error_count": 0, "first_error": None}  # due at once
    db.table("feeds").update(url, update)
    return str(row["status"])


DUE = (
    "select url, fetch_url, etag, last_modified, name, body_hash, last_success is null, churn,"
    " origin = 'opml'"
    " from feeds where status = 'active'"
)
DUE_NOW = DUE + " and next_check <= ?"  # one range of the (status, next_check) index


def due(db: sqlite_utils.Database, now: str | None) -> list[FeedForUpdate]:
    """Active feeds to fetch: those whose next check has come, or all when now is None."""
    sql, args = (DUE, []) if now is None else (DUE_NOW, [now])
    return [
        FeedForUpdate(
            url=r[1] or r[0],
            etag=r[2],
            last_modified=r[3],
            name=r[4],
            key=r[0],
            body_hash=r[5],
            new=bool(r[6]),
            churn=r[7] or 0,
            guarded=bool(r[8]),
        )
        for r in db.execute(sql + " order by next_check, rowid", args).fetchall()
    ]


def history(db: sqlite_utils.Database, url: str, default_interval: float) -> FeedHistory:
    row = db.execute(
        "select interval, error_count, first_error, ttl from feeds where url = ?", [url]
    ).fetchone()
    published = [
        from_iso(r[0])
        for r in db.execute(
            "select published from articles where feed = ? order by published desc limit ?", [url, HISTORY]
        )
    ]
    return FeedHistory(
        interval=(row[0] if row and row[0] else default_interval),
        errors=(row[1] or 0) if row else 0,
        first_error=from_iso(row[2]) if row else None,
        published=[p for p in published if p is not None],
        ttl=row[3] if row else None,
    )


def record_ok(
    db: sqlite_utils.Database,
    url: str,
    fetched: FetchedFeed,
    title: str | None,
    decision: Decision,
    now: str,
    new_articles: int,
    ttl: float | None = None,
) -> None:
    update: dict[str, Any] = {
        "last_checked": now,
        "last_success": now,
        "last_error": None,
        "error_count": 0,
        "first_error": None,
        "next_check": iso(decision.next_check),
        "etag": fetched.etag,
        "last_modified": fetched.last_modified,
    }
    if fetched.permanent_url:
        update["fetch_url"] = fetched.permanent_url
    if title:
        update["title"] = title
    if fetched.status == 200 and not fetched.unchanged:  # a full answer: its <ttl>, or none any more
        update["ttl"] = ttl
    if fetched.body_hash:
        update["body_hash"] = fetched.body_hash
    if new_articles:
        update["last_new"] = now
    update_feed(db, url, update)


def update_feed(db: sqlite_utils.Database, url: str, values: Mapping[str, Any]) -> None:
    """One feed's row updated in one statement (sqlite-utils' `update` asks for the table's
    columns and primary keys and reads the row first: four statements per feed checked, on the
    event loop's thread, issue 18). A feed that is not there is an error, as it was."""
    columns = ", ".join(f"[{column}] = ?" for column in values)
    if db.execute(f"update feeds set {columns} where url = ?", [*values.values(), url]).rowcount == 0:
        raise LookupError(f"no feed {url} in the archive")


def record_error(
    db: sqlite_utils.Database,
    url: str,
    error: str,
    decision: Decision,
    now: str,
    fetched: FetchedFeed | None = None,
) -> None:
    row = db.execute("select error_count, first_error from feeds where url = ?", [url]).fetchone()
    update: dict[str, Any] = {
        "last_checked": now,
        "last_error": error,
        "error_count": (row[0] or 0) + 1,
        "first_error": row[1] or now,
        "next_check": iso(decision.next_check),
    }
    if decision.suspend:
        update |= {"status": "suspended", "suspended_reason": decision.suspend, "suspended_at": now}
    if fetched is not None:
        update |= {"etag": fetched.etag, "last_modified": fetched.last_modified}
        if fetched.body_hash:
            update["body_hash"] = fetched.body_hash
    update_feed(db, url, update)


class FeedsMixin(ArchiveBase):
    @reads("update feeds")
    def sync_feeds(
        self, feeds: Sequence[FeedConfig], now: datetime, default_interval: float | None = None
    ) -> bool:
        """Make the feeds table know every configured feed (new ones are due at once); with
        `default_interval`, a lowered interval applies from each feed's last check.

        Writes nothing (takes no write lock) when the table already matches; False then."""
        if sync_changes(self.db, feeds, iso(now), default_interval) == ([], []):
            return False
        with self.write():  # looked at again under the lock: another process may have synced
            return sync(self.db, feeds, iso(now), default_interval)

    @writes("add feeds")
    def add_feeds(
        self,
        feeds: Sequence[tuple[str, str | None]],
        now: datetime,
        origin: str = "opml",
        folders: Mapping[str, str | None] | None = None,
        interval: float | None = None,
    ) -> tuple[list[str], list[str]]:
        """Watch these (url, title) feeds too, due at once, filed in `folders` (url → "Asia /
        Japan"); returns (added, already watched)."""
        return add(self.db, feeds, origin, iso(now), folders, interval)

    @reads("read feeds")
    def watched(self) -> tuple[int, datetime | None]:
        """(active feeds, the earliest next check among them): what `monitor run` watches, and
        when its next pass is due."""
        count, first = self.db.execute(
            "select count(*), min(next_check) from feeds where status = 'active'"
        ).fetchone()
        return int(count), from_iso(first)

    @reads("read feeds")
    def next_due(self) -> datetime | None:
        """When the first active feed is due: the service sleeps until then."""
        return next_due(self.db)

    @writes("record a feed's churn")
    def set_churn(self, feed_url: str, passes: int) -> None:
        """How many passes in a row brought only new items (a feed rewriting its GUIDs churns)."""
        set_churn(self.db, feed_url, passes)

    @writes("change a feed")
    def set_feed_status(self, url: str, status: str, now: datetime, reason: str | None = None) -> str | None:
        """ "active" (resume: due at once), "suspended" or "removed". Returns the feed's status
        before, None for an unknown feed; a removed feed is left removed."""
        return set_status(self.db, url, status, reason, iso(now))

    def feeds_for_update(self, now: datetime | None = None) -> list[FeedForUpdate]:
        """Active feeds to fetch: only those due at `now` when given, else all.

        A pass begins here, so here it finds out that the archive file is gone (check_file)."""
        self.check_file()
        return self._due(iso(now) if now is not None else None)

    @reads("read feeds")
    def _due(self, now: str | None) -> list[FeedForUpdate]:
        return due(self.db, now)

    @reads("read a feed's history")
    def feed_history(self, feed_url: str, default_interval: float) -> FeedHistory:
        """What the scheduler needs to plan a feed's next check."""
        return history(self.db, feed_url, default_interval)

    @writes("record a feed error")
    def feed_error(
        self, feed_url: str, error: str, now: datetime, decision: Decision, fetched: FetchedFeed | None = None
    ) -> None:
        """Record a failed check, its next check, and a suspension if the decision says so; with
        `fetched`, its validators and body hash too (a body not to read again)."""
        record_error(self.db, feed_url, error, decision, iso(now), fetched)

    @writes("record a feed check")
    def feed_not_modified(
        self, feed_url: str, fetched: FetchedFeed, now: datetime, decision: Decision
    ) -> None:
        record_ok(self.db, feed_url, fetched, None, decision, iso(now), 0)

    @reads("read feeds")
    def feed_statuses(
        self, now: datetime, stale: StaleTest, *, include_removed: bool = False
    ) -> list[FeedStatus]:
        """Every feed the archive watches, configured first, with its schedule and health."""
        return statuses(self.conn, now, stale, include_removed=include_removed)
