"""An update's index rows written behind its placement (archive/behind.py), on a real SQLite file:
collected inside Archive.deferring(), run by the index thread, waited for by Archive.settle()."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from monitor.archive.behind import Insert, Rows
from monitor.archive.store import Archive
from monitor.archive.stories import memory_of
from monitor.errors import StorageError
from tests.archive.test_write_statements import FEED, NOW, new_article, save
from tests.conftest import archive_with_feed

INDEX_TABLES = ("fingerprints", "story_keys", "term_df", "term_docs")
FOUND = "select rowid from articles_fts where articles_fts match 'report'"  # its own rows, not articles' text


@pytest.fixture
def archive(tmp_path: Path):
    with archive_with_feed(tmp_path / "monitor.db", FEED, NOW) as archive:
        yield archive


def rows(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"select count(*) from {table}").fetchone()[0])


def index_rows(path: Path) -> dict[str, object]:
    """What another connection sees of the index tables (committed rows)."""
    with sqlite3.connect(path) as conn:
        return {
            "fingerprints": sorted(r[0] for r in conn.execute("select article_id from fingerprints")),
            "story_keys": sorted(conn.execute("select key, article_id from story_keys").fetchall()),
            "term_df": sorted(conn.execute("select lang, term, df from term_df").fetchall()),
            "term_docs": sorted(conn.execute("select lang, documents from term_docs").fetchall()),
            "fts": sorted(r[0] for r in conn.execute(FOUND)),
        }


def test_index_rows_wait_in_deferring_and_commit_with_their_articles(archive: Archive) -> None:
    """Inside deferring() the articles are written and their index rows are not; handed over and
    settled, they are, in the same transaction: committed together, found by a search."""
    with archive.transaction("save"):
        with archive.deferring() as index:
            assert save(archive, [new_article(1, ("india", "japan")), new_article(2, ("india",))]) == 2
        assert rows(archive.conn, "articles") == 2
        assert {table: rows(archive.conn, table) for table in INDEX_TABLES} == dict.fromkeys(INDEX_TABLES, 0)
        assert archive.conn.execute(FOUND).fetchall() == []
        assert len(index.kinds) == 5  # the full text, fingerprints, story keys, counts: collected
        archive.write_behind(index)
        archive.settle()
        assert rows(archive.conn, "fingerprints") == 2
    seen = index_rows(archive.path)
    assert seen["fingerprints"] == [1, 2] and seen["fts"] == [1, 2]
    assert ("latin/stems", "india", 2) in seen["term_df"]  # type: ignore[operator]
    assert [hit.title for hit in archive.search("Report")] == ["Report 1", "Report 2"]


def test_written_behind_or_not_the_archive_holds_the_same_rows(tmp_path: Path) -> None:
    articles = [new_article(n, ("india", "japan", f"only{n}")) for n in range(1, 6)]
    with archive_with_feed(tmp_path / "direct.db", FEED, NOW) as direct:
        save(direct, articles[:3])
        save(direct, articles[3:])
    with archive_with_feed(tmp_path / "behind.db", FEED, NOW) as behind:
        with behind.transaction("save"):
            for part in (articles[:3], articles[3:]):
                with behind.deferring() as index:
                    save(behind, part)
                behind.write_behind(index)
            behind.settle()
    assert index_rows(tmp_path / "behind.db") == index_rows(tmp_path / "direct.db")


def test_settle_waits_for_the_statements_still_running(archive: Archive) -> None:
    archive.conn.create_function("slowly", 1, lambda data: time.sleep(0.3) or data)
    with archive.transaction("save"):
        index = Rows()  # the row's value is made 0.3 s late
        slow = Insert(
            "insert into fingerprints (article_id, data) select column1, slowly(column2) from (", 2, ")"
        )
        index.add(slow, 77, b"x")
        archive.write_behind(index)
        archive.settle()  # returns only once the insert, 0.3 s behind, has run
        found = archive.conn.execute("select data from fingerprints where article_id = 77").fetchone()
        assert found == (b"x",)


def test_a_failed_statement_behind_is_a_storage_error_at_settle(archive: Archive) -> None:
    with pytest.raises(StorageError, match="cannot save articles: no such table: nowhere"):
        with archive.transaction("save"):
            index = Rows()
            index.add(Insert("insert into nowhere (a)", 1), 1)
            archive.write_behind(index)
            archive.settle()
    assert not archive.conn.in_transaction
    archive.settle()  # the error was said once: nothing left to wait for


def test_the_story_memory_waits_for_rows_behind_before_it_asks_sql(archive: Archive) -> None:
    """Grouping's look-ups in SQL (a fingerprint the memory does not hold, here) come after the
    rows handed over are written: the memory settles first. Here settle stands for the index
    thread, writing the row the look-up must find."""
    save(archive, [new_article(1, ("india",))])
    memory = memory_of(archive)
    assert memory.settle == archive.settle  # the archive's, from the first look-up on
    index = archive.story_index()
    written: list[int] = []

    def settle() -> None:
        archive.conn.execute("insert into fingerprints (article_id, data) values (?, ?)", (99, b"behind"))
        written.append(99)

    memory.settle = settle
    assert index.fingerprints([99]) == {99: b"behind"}
    assert written == [99]


def test_rarity_counts_written_behind_add_up(archive: Archive) -> None:
    batches = [[new_article(1, ("india", "japan"))], [new_article(2, ("india",)), new_article(3, ("chips",))]]
    with archive.transaction("save"):
        for part in batches:
            with archive.deferring() as index:
                save(archive, part)
            archive.write_behind(index)
        archive.settle()
    expected = Counter(term for part in batches for a in part for term in a.joined.terms)  # type: ignore[union-attr]
    counted = {term: df for _, term, df in index_rows(archive.path)["term_df"]}  # type: ignore[attr-defined]
    assert counted == dict(expected)
