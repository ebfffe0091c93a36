"""Story lookups split between a parser worker's snapshot of the archive and the main process.

The seeds hold three stories: 000 and 002 report one event, 001 and 003 another, 004 a third
(tests/stories/test_stories.py). Here 000 is archived first and 002 arrives later."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from monitor.archive.sqltime import iso
from monitor.archive.store import Archive, migrations
from monitor.archive.stories import StoryIndex, latest_article
from monitor.ingest.schedule import Decision
from monitor.service.grouping import Grouper
from monitor.stories.fingerprint import ArticleFingerprint, candidate_keys
from monitor.stories.lookup import FingerprintCache, StoryGuess, archived_story
from monitor.types import EntryData, FetchedFeed, NewArticle, StorySettings
from tests.archive import test_store
from tests.stories.test_stories import _seed_fingerprints

NOW = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
SETTINGS = StorySettings()
FEED = test_store.FEED
archive = test_store.archive  # the fixture: an archive watching FEED


@pytest.fixture
def fps() -> dict[str, ArticleFingerprint]:
    return _seed_fingerprints(SETTINGS)


def _archive(archive: Archive, name: str, fp: ArticleFingerprint) -> int:
    """Archive seed `name` as a story of its own; returns that story's id."""
    link = f"https://example.org/{name}"
    entry = EntryData(FEED, f"Seed {name}", "", link, None, fp.published)
    new = NewArticle(entry, link, (f"url:{link}",), NOW, (), -1, fp.to_json(), candidate_keys(fp, SETTINGS))
    fetched = FetchedFeed(url=FEED, final_url=FEED, status=200, body=b"", headers={}, etag=None)
    archive.save_update(
        FEED, fetched, None, [(new, [])], NOW, Decision(NOW + timedelta(hours=1), 3600, "interval")
    )
    row = archive.db.execute("select story_id from articles where link = ?", [link]).fetchone()
    return int(row[0])


def _worker_guess(path: Path, fp: ArticleFingerprint) -> StoryGuess:
    """What a parser worker finds: a read-only connection, one read transaction."""
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        conn.execute("begin")
        keys = candidate_keys(fp, SETTINGS)
        guess = archived_story(StoryIndex(conn), FingerprintCache(), fp, keys, SETTINGS, latest_article(conn))
        conn.execute("rollback")
        return guess
    finally:
        conn.close()


def _grouper(archive: Archive) -> Grouper:
    return Grouper(archive, SETTINGS, lambda *args: [])


def test_a_worker_finds_the_archived_story_in_its_snapshot(archive, fps) -> None:
    story = _archive(archive, "000", fps["000"])
    joining = _worker_guess(archive.path, fps["002"])
    assert joining.best is not None and joining.best[1] == story
    assert joining.snapshot == archive.latest_article()
    assert _worker_guess(archive.path, fps["004"]).best is None  # another event: no story


def test_what_was_archived_after_the_snapshot_is_found_by_the_main_process(archive, fps) -> None:
    early = _worker_guess(archive.path, fps["002"])  # 000 is not archived yet
    assert early.best is None
    story = _archive(archive, "000", fps["000"])
    placed = _grouper(archive).place(
        EntryData(FEED, "Seed 002", "", "https://example.org/002", None, fps["002"].published),
        None,
        (),
        fps["002"],
        candidate_keys(fps["002"], SETTINGS),
        early,
    )
    assert placed.story == story


def test_the_main_process_takes_the_workers_choice_when_nothing_came_after(archive, fps) -> None:
    story = _archive(archive, "000", fps["000"])
    guess = _worker_guess(archive.path, fps["002"])
    entry = EntryData(FEED, "Seed 002", "", "https://example.org/002", None, fps["002"].published)
    keys = candidate_keys(fps["002"], SETTINGS)
    assert _grouper(archive).place(entry, None, (), fps["002"], keys, guess).story == story
    # The snapshot's verdict is final for what it held: told "no story", the main process
    # does not search the same articles again, and starts a story.
    told_none = StoryGuess(guess.snapshot, guess.keys, None)
    assert _grouper(archive).place(entry, None, (), fps["002"], keys, told_none).story < 0


def test_an_archive_from_before_m008_keeps_its_story_keys(tmp_path, fps) -> None:
    """m008 rebuilds story_keys as one B-tree: an older archive's articles are still found."""
    path = tmp_path / "monitor.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m008_story_keys_one_btree")
    published = iso(fps["000"].published)
    old["articles"].insert({"id": 1, "story_id": 7, "title": "Seed 000", "published": published})
    old["fingerprints"].insert({"article_id": 1, "data": fps["000"].to_json()})
    old["story_keys"].insert_all(
        {"key": k, "article_id": 1, "story_id": 7, "published": published}
        for k in candidate_keys(fps["000"], SETTINGS)
    )
    old.close()
    Archive.open(path).close()  # applies m008
    guess = _worker_guess(path, fps["002"])
    assert guess.best is not None and guess.best[1] == 7
    rows = sqlite3.connect(path).execute("select count(*) from story_keys").fetchone()[0]
    assert rows == len(candidate_keys(fps["000"], SETTINGS))
