"""The archive on a real SQLite file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import StorageError
from monitor.storage import Archive
from monitor.types import AlertIntent, EntryData, FeedConfig, FetchedFeed, NewArticle, RuleMatch

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
FEED = "https://feed.example/rss"


def fetched(etag: str = '"v1"') -> FetchedFeed:
    return FetchedFeed(url=FEED, final_url=FEED, status=200, body=b"", headers={}, etag=etag)


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
    return new, [AlertIntent("123", ("critical-minerals",), f"<b>alert {n}</b>")] * alerts


@pytest.fixture
def archive(tmp_path: Path):
    archive = Archive.open(tmp_path / "monitor.db")
    archive.sync_feeds([FeedConfig(FEED, "Example")], 900, NOW)
    yield archive
    archive.close()


def test_file_is_owner_only_and_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "monitor.db"
    Archive.open(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = Archive.open(path)
    assert {"feeds", "articles", "article_keys", "matches", "alerts"} <= set(again.db.table_names())
    again.close()


def test_save_update_is_one_transaction_and_dedupes(archive: Archive) -> None:
    saved = archive.save_update(FEED, fetched(), "Feed Title", [article(1), article(2)], NOW)
    assert saved == 2
    assert archive.known_keys(["url:https://example.org/1", "url:https://nope"]) == {
        "url:https://example.org/1"
    }
    # The same article again (another feed, a later pass) is not stored twice.
    assert archive.save_update(FEED, fetched(), None, [article(1)], NOW) == 0
    assert archive.db["articles"].count == 2
    assert archive.db["alerts"].count == 2
    row = archive.db["feeds"].get(FEED)
    assert row["etag"] == '"v1"' and row["title"] == "Feed Title" and row["error_count"] == 0


def test_failed_transaction_leaves_nothing(archive: Archive) -> None:
    bad = article(3)[0], [AlertIntent("123", ("x",), None)]  # type: ignore[arg-type]
    archive.db.execute(
        "create trigger no_null_text before insert on alerts when new.text is null "
        "begin select raise(abort, 'text required'); end"
    )
    with pytest.raises(StorageError):
        archive.save_update(FEED, fetched(), None, [article(4), bad], NOW)
    assert archive.db["articles"].count == 0
    assert archive.db["article_keys"].count == 0


def test_outbox_lifecycle(archive: Archive) -> None:
    archive.save_update(FEED, fetched(), None, [article(1), article(2), article(3)], NOW)
    pending = archive.pending_alerts(NOW)
    assert [a.text for a in pending] == ["<b>alert 1</b>", "<b>alert 2</b>", "<b>alert 3</b>"]
    archive.mark_sent(pending[0].id, "77", NOW)
    archive.mark_failed(pending[1].id, "Bad Request: can't parse entities", NOW)
    archive.mark_retry(pending[2].id, "Telegram down", NOW + timedelta(minutes=1))
    assert archive.pending_alerts(NOW) == []
    assert [a.id for a in archive.pending_alerts(NOW + timedelta(minutes=2))] == [pending[2].id]
    assert archive.outbox_counts() == {"sent": 1, "failed": 1, "pending": 1}


def test_search_newest_first_with_filters(archive: Archive) -> None:
    archive.save_update(
        FEED, fetched(), None, [article(1), article(5), article(3, "Chip plant in Gujarat")], NOW
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
    archive.save_update(FEED, fetched(), None, [article(1)], NOW)
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


def test_feed_errors_back_off_and_honour_retry_after(archive: Archive) -> None:
    archive.feed_error(FEED, "HTTP 500", NOW, None)
    archive.feed_error(FEED, "HTTP 500", NOW, None)
    row = archive.db["feeds"].get(FEED)
    assert row["error_count"] == 2 and row["next_check"] == "2026-03-06T12:30:00Z"
    archive.feed_error(FEED, "HTTP 429", NOW, 7200)
    assert archive.db["feeds"].get(FEED)["next_check"] == "2026-03-06T14:00:00Z"
    assert archive.feeds_for_update([FEED], NOW) == []
    assert len(archive.feeds_for_update([FEED])) == 1


def test_open_missing_archive_for_reading(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="archive not found"):
        Archive.open(tmp_path / "none.db", create=False)


def test_unwritable_location(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError) as info:
        Archive.open(blocker / "monitor.db")
    assert str(blocker) in str(info.value)
