"""The archive on a real SQLite file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive import fulltext
from monitor.archive.store import Archive
from monitor.errors import StorageError
from monitor.ingest.schedule import Decision, is_stale
from monitor.types import Alert, AlertIntent, EntryData, FeedConfig, FetchedFeed, NewArticle, RuleMatch
from tests.conftest import archive_with_feed

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
FEED = "https://feed.example/rss"


def after(minutes: float, suspend: str | None = None) -> Decision:
    """A scheduler decision: check again in this many minutes."""
    return Decision(NOW + timedelta(minutes=minutes), minutes * 60, "interval", suspend)


def fetched(etag: str = '"v1"') -> FetchedFeed:
    return FetchedFeed(url=FEED, final_url=FEED, status=200, body=b"", headers={}, etag=etag)


def alert(n: int) -> Alert:
    """An alert as the outbox stores it (channel-neutral), told apart by its title."""
    return Alert(title=f"alert {n}", link=None, outlet=None, published=None, snippet="", rules=())


def article(n: int, title: str = "India and Japan sign rare earths pact", alerts: int = 1):
    entry = EntryData(
        feed_url=FEED,
        title=f"{title} {n}",
        summary="New Delhi and Tokyo agreed.",
        link=f"https://example.org/{n}",
        guid=None,
        published=NOW - timedelta(hours=n),
    )
    new = NewArticle(
        entry=entry,
        url=f"https://example.org/{n}",
        keys=(f"url:https://example.org/{n}",),
        first_seen=NOW,
        matches=(RuleMatch("critical-minerals", ("rare earth*",)),),
    )
    return new, [AlertIntent("123", ("critical-minerals",), alert(n))] * alerts


@pytest.fixture
def archive(tmp_path: Path):
    with archive_with_feed(tmp_path / "monitor.db", FEED, NOW) as archive:
        yield archive


def test_file_is_owner_only_and_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "monitor.db"
    Archive.open(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = Archive.open(path)
    assert {"feeds", "articles", "article_keys", "matches", "alerts"} <= set(again.db.table_names())
    again.close()


def test_a_reader_sees_pending_migrations_as_sqlite_utils_does(tmp_path: Path) -> None:
    """`monitor search` and `status` check the schema with sqlite3 alone (no sqlite_utils
    import): the same answer as sqlite_utils.Migrations on a new, an old and a current file."""
    import sqlite3

    import sqlite_utils

    from monitor.archive.schema import migrations

    db = sqlite_utils.Database(tmp_path / "a.db")
    names = [step.__name__ for step in migrations.steps]
    assert migrations.unapplied(db.conn) == migrations.pending(db) == names
    migrations.apply(db, stop_before="m006_feed_ttl")
    assert migrations.unapplied(db.conn) == migrations.pending(db) == names[5:]
    with pytest.raises(StorageError, match="from an older monitor"):
        Archive.open(tmp_path / "a.db", create=False)
    Archive.open(tmp_path / "a.db").close()  # a writer upgrades it
    assert migrations.unapplied(sqlite3.connect(tmp_path / "a.db")) == migrations.pending(db) == []
    Archive.open(tmp_path / "a.db", create=False).close()


def test_save_update_is_one_transaction_and_dedupes(archive: Archive) -> None:
    saved = archive.save_update(FEED, fetched(), "Feed Title", [article(1), article(2)], NOW, after(15))
    assert saved == 2
    assert archive.known_keys(["url:https://example.org/1", "url:https://nope"]) == {
        "url:https://example.org/1"
    }
    # The same article again (another feed, a later pass) is not stored twice.
    assert archive.save_update(FEED, fetched(), None, [article(1)], NOW, after(15)) == 0
    assert archive.db["articles"].count == 2
    assert archive.db["alerts"].count == 2
    row = archive.db["feeds"].get(FEED)
    assert row["etag"] == '"v1"' and row["title"] == "Feed Title" and row["error_count"] == 0


def test_articles_of_one_update_that_share_a_key_are_stored_once(archive: Archive) -> None:
    """save_update looks the update's keys up once, then counts the keys it writes as known."""
    first, alerts = article(1)
    second = replace(article(2)[0], keys=("guid:shared", "url:https://example.org/2"))
    third = replace(article(3)[0], keys=("url:https://example.org/3", "guid:shared"))
    archive.save_update(FEED, fetched(), None, [article(4)], NOW, after(15))
    old = replace(article(5)[0], keys=("url:https://example.org/4", "url:https://example.org/5"))
    updates = [(first, alerts), (second, []), (third, alerts), (old, alerts), (first, alerts)]
    assert archive.save_update(FEED, fetched(), None, updates, NOW, after(15)) == 2
    titles = [row["title"] for row in archive.db.query("select title from articles order by id")]
    assert titles == [f"India and Japan sign rare earths pact {n}" for n in (4, 1, 2)]
    assert archive.known_keys(["guid:shared", "url:https://example.org/3", "url:https://example.org/5"]) == {
        "guid:shared"
    }


def test_failed_transaction_leaves_nothing(archive: Archive) -> None:
    bad = article(3)[0], [AlertIntent("refused", ("x",), alert(3))]
    archive.db.execute(
        "create trigger no_such_chat before insert on alerts when new.chat_id = 'refused' "
        "begin select raise(abort, 'chat refused'); end"
    )
    with pytest.raises(StorageError):
        archive.save_update(FEED, fetched(), None, [article(4), bad], NOW, after(15))
    assert archive.db["articles"].count == 0
    assert archive.db["article_keys"].count == 0


def test_outbox_lifecycle(archive: Archive) -> None:
    archive.save_update(FEED, fetched(), None, [article(1), article(2), article(3)], NOW, after(15))
    pending = archive.pending_alerts(NOW)
    assert [a.message for a in pending] == [alert(1), alert(2), alert(3)]
    archive.mark_sent(pending[0].id, "77", NOW)
    archive.mark_failed(pending[1].id, "Bad Request: can't parse entities", NOW)
    archive.mark_retry(pending[2].id, "Telegram down", NOW + timedelta(minutes=1))
    assert archive.pending_alerts(NOW) == []
    assert [a.id for a in archive.pending_alerts(NOW + timedelta(minutes=2))] == [pending[2].id]
    assert archive.outbox_counts() == {"sent": 1, "failed": 1, "pending": 1}


def test_a_chat_waiting_to_retry_keeps_its_order_and_does_not_hold_up_other_chats(archive: Archive) -> None:
    waiting = [article(n) for n in range(1, 5)]  # chat "123"
    other = [(new, [replace(a, chat_id="456") for a in alerts]) for new, alerts in [article(9)]]
    archive.save_update(FEED, fetched(), None, [*waiting, *other], NOW, after(15))
    first, *later = archive.pending_alerts(NOW)
    archive.mark_retry(first.id, "Telegram flood control: retry in 120 s", NOW + timedelta(minutes=2))
    # The limit is taken by what can go now: the other chat, not chat 123's later alerts.
    assert [a.chat_id for a in archive.pending_alerts(NOW, limit=2)] == ["456"]
    assert [a.id for a in archive.pending_alerts(NOW + timedelta(minutes=3))] == [first.id] + [
        a.id for a in later
    ]


def test_search_newest_first_with_filters(archive: Archive) -> None:
    archive.save_update(
        FEED, fetched(), None, [article(1), article(5), article(3, "Chip plant in Gujarat")], NOW, after(15)
    )
    hits = archive.search("rare earths")
    assert [h.title for h in hits] == [
        "India and Japan sign rare earths pact 1",
        "India and Japan sign rare earths pact 5",
    ]
    assert hits[0].outlet == "Example" and hits[0].rules == ("critical-minerals",)
    assert [h.title for h in archive.search("earth", since=NOW - timedelta(hours=2))] == [
        "India and Japan sign rare earths pact 1"
    ]
    assert archive.search("Gujarat", rule="no-such-rule") == []
    # FTS syntax errors fall back to plain words rather than failing.
    assert len(archive.search('rare "earths')) == 2


def test_sqlite_utils_cli_can_search_the_archive(archive: Archive, tmp_path: Path) -> None:
    archive.save_update(FEED, fetched(), None, [article(1)], NOW, after(15))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sqlite_utils",
            "search",
            str(tmp_path / "monitor.db"),
            "articles",
            "rare earth",
            "--csv",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "India and Japan sign rare earths pact 1" in out.stdout


def test_feed_checks_store_the_schedule_and_suspension(archive: Archive) -> None:
    archive.feed_error(FEED, "HTTP 500", NOW, after(15))
    archive.feed_error(FEED, "HTTP 500", NOW + timedelta(minutes=15), after(45))
    row = archive.db["feeds"].get(FEED)
    assert row["error_count"] == 2 and row["next_check"] == "2026-03-06T12:45:00Z"
    assert row["first_error"] == "2026-03-06T12:00:00Z"  # when the run of failures began
    assert archive.feeds_for_update(NOW) == []
    assert len(archive.feeds_for_update()) == 1
    history = archive.feed_history(FEED, 900)
    assert (history.errors, history.first_error, history.interval) == (2, NOW, 900)
    archive.feed_error(FEED, "HTTP 410", NOW, after(15, suspend="HTTP 410 Gone"))
    assert archive.feeds_for_update() == []  # suspended: not even on a full pass
    (status,) = archive.feed_statuses(NOW, is_stale)
    assert (status.status, status.suspended_reason) == ("suspended", "HTTP 410 Gone")
    assert archive.set_feed_status(FEED, "active", NOW) == "suspended"  # the status it had
    assert [f.key for f in archive.feeds_for_update(NOW)] == [FEED]  # due at once
    assert archive.feed_history(FEED, 900).errors == 0
    assert archive.set_feed_status("https://unknown.example/", "active", NOW) is None
    # A removed feed stays removed: only the config or an import brings it back.
    assert archive.set_feed_status(FEED, "removed", NOW) == "active"
    assert archive.set_feed_status(FEED, "active", NOW) == "removed"
    assert archive.feeds_for_update() == []
    archive.add_feeds([(FEED, None)], NOW)
    assert [f.key for f in archive.feeds_for_update(NOW)] == [FEED]


def test_config_feeds_sync_and_imported_feeds_stay(archive: Archive) -> None:
    other = "https://other.example/atom"
    added, known = archive.add_feeds([(other, "Other"), (FEED, "Example")], NOW)
    assert (added, known) == ([other], [FEED])
    archive.sync_feeds([], NOW)  # FEED left the config; the imported feed stays
    assert [(s.url, s.origin) for s in archive.feed_statuses(NOW, is_stale)] == [(other, "opml")]
    archive.sync_feeds([FeedConfig(FEED, "Example")], NOW)
    assert [s.url for s in archive.feed_statuses(NOW, is_stale)] == [FEED, other]


def test_staleness_is_judged_on_each_active_feeds_newest_fifty_publication_times(archive: Archive) -> None:
    """feed_statuses reads every feed's recent history in one query; each active feed's stale
    test still sees its own newest 50 times, newest first, and a suspended feed none."""
    quiet = "https://quiet.example/rss"
    archive.add_feeds([(quiet, "Quiet")], NOW)
    archive.save_update(FEED, fetched(), None, [article(n) for n in range(60)], NOW, after(15))
    seen: list[tuple[datetime | None, list[datetime]]] = []

    def stale(last_new: datetime | None, published: Sequence[datetime], now: datetime) -> bool:
        seen.append((last_new, list(published)))
        return len(published) == 50

    statuses = {s.url: s for s in archive.feed_statuses(NOW, stale)}
    assert (statuses[FEED].stale, statuses[FEED].articles, statuses[quiet].stale) == (True, 60, False)
    assert [published for _, published in seen] == [[NOW - timedelta(hours=n) for n in range(50)], []]
    assert seen[0][0] == NOW  # last_new: the pass that found them
    archive.feed_error(FEED, "HTTP 410", NOW, after(15, suspend="HTTP 410 Gone"))
    seen.clear()
    assert not {s.url: s for s in archive.feed_statuses(NOW, stale)}[FEED].stale
    assert [published for _, published in seen] == [[]]  # only the active feed is asked
    # the real test: silent for 4 usual gaps (here 4 hours) and 2 days → stale
    later = NOW + timedelta(days=3)
    archive.set_feed_status(FEED, "active", NOW)
    assert [s.stale for s in archive.feed_statuses(later, is_stale)] == [True, False]
    assert [s.stale for s in archive.feed_statuses(NOW, is_stale)] == [False, False]


def test_backup_is_a_consistent_owner_only_copy(archive: Archive, tmp_path: Path) -> None:
    archive.save_update(FEED, fetched(), None, [article(1), article(2)], NOW, after(15))
    target = tmp_path / "backups" / "copy.db"
    archive.backup(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    copy = Archive.open(target, create=False)
    assert [h.title for h in copy.search("rare earths")] == [
        "India and Japan sign rare earths pact 1",
        "India and Japan sign rare earths pact 2",
    ]
    copy.close()
    with pytest.raises(StorageError, match="already exists"):
        archive.backup(target)


def test_prune_keeps_matched_and_waiting_articles_and_their_identity(archive: Archive) -> None:
    long_ago = NOW - timedelta(days=200)

    def old(n: int, *, matched: bool = True, alert: bool = False):
        new, alerts = article(n)
        entry = replace(new.entry, published=long_ago)
        return replace(new, entry=entry, first_seen=long_ago, matches=new.matches if matched else ()), (
            alerts if alert else []
        )

    batch = [old(1), old(2, matched=False), old(3, alert=True), article(4)]
    archive.save_update(FEED, fetched(), None, batch, NOW, after(15))
    assert archive.prune(NOW - timedelta(days=180)) == 1  # only the unmatched one
    assert archive.known_keys(["url:https://example.org/2"]) == {"url:https://example.org/2"}
    assert archive.prune(NOW - timedelta(days=180), include_matched=True) == 1  # the matched one
    left = sorted(r["title"][-1] for r in archive.db["articles"].rows)
    assert left == ["3", "4"]  # 3 has an alert still waiting; 4 is recent
    assert archive.db["matches"].count == 2 and len(archive.search("rare earths")) == 2


def test_open_missing_archive_for_reading(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="archive not found"):
        Archive.open(tmp_path / "none.db", create=False)


def test_unwritable_location(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError) as info:
        Archive.open(blocker / "monitor.db")
    assert str(blocker) in str(info.value)


def test_the_cjk_index_is_built_for_articles_archived_before_it(archive: Archive) -> None:
    """m009 indexes the CJK articles an archive already holds (fulltext.create backfills), so an
    upgraded archive finds them with `monitor search` as a new one does."""
    japanese = replace(
        article(1)[0], entry=replace(article(1)[0].entry, title="モルディブ、親インドか親中国か")
    )
    archive.save_update(FEED, fetched(), None, [(japanese, []), article(2)], NOW, after(15))
    archive.db.execute("drop table articles_cjk")
    fulltext.create(archive.db)
    assert [hit.title for hit in archive.search("インド")] == ["モルディブ、親インドか親中国か"]
    assert [hit.title for hit in archive.search("rare earths")] == ["India and Japan sign rare earths pact 2"]
    assert archive.db.execute("select count(*) from articles_cjk").fetchone()[0] == 1
