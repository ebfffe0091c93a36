"""Migration m021 (h-save: the archive write at 100,000 archived): articles_fts merges its
segments eight at a time, not four (FTS5's automerge, kept in articles_fts_config).

A fresh archive has the setting, an archive from before m021 gets it when opened, and the
setting changes how the index is laid out, never what it holds: an archive written update by
update under either setting holds the same rows, passes FTS5's integrity check and answers
every search the same."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.archive import fulltext
from monitor.archive.store import Archive, migrations
from tests.archive.test_write_statements import FEED, NOW, new_article, save
from tests.archive.upgrades import schema
from tests.conftest import archive_with_feed

M021 = "m021_full_text_merged_by_eights"


def automerge(db: Path) -> int | None:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("select v from articles_fts_config where k = 'automerge'").fetchone()
    finally:
        conn.close()
    return None if row is None else int(row[0])


def test_a_fresh_archive_and_an_upgraded_one_merge_by_eights(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    Archive.open(fresh).close()
    assert automerge(fresh) == fulltext.AUTOMERGE == 8

    older = tmp_path / "m020.db"
    Archive.open(older).close()
    conn = sqlite3.connect(older, isolation_level=None)
    conn.execute("delete from articles_fts_config where k = 'automerge'")  # as m020 left it
    conn.execute("delete from _sqlite_migrations where name = ?", [M021])
    assert migrations.unapplied(conn) == [M021]
    conn.close()
    assert automerge(older) is None  # FTS5's default, 4

    Archive.open(older).close()  # as `monitor poll` or `run` opens it: upgraded in place
    assert automerge(older) == 8
    assert schema(older) == schema(fresh)


def written(path: Path, segments: int | None) -> tuple[list[tuple[object, ...]], dict[str, list[int]]]:
    """40 updates of 3 articles (a segment each) archived; (the articles, search answers)."""
    with archive_with_feed(path, FEED, NOW) as archive:
        if segments is not None:
            with archive.transaction("set automerge"):
                fulltext.merge_by(archive.conn, segments)
        for update in range(40):
            save(archive, [new_article(update * 3 + n, ("india",)) for n in range(3)])
        archive.conn.execute("insert into articles_fts (articles_fts) values ('integrity-check')")
        rows = archive.conn.execute("select id, title, summary from articles order by id").fetchall()
        answers = {
            query: [hit.id for hit in archive.search(query, limit=200)]
            for query in ("report", "text", '"report 7*"', "report AND text", "nothing")
        }
    return rows, answers


def test_merging_by_eights_changes_no_answer(tmp_path: Path) -> None:
    by_fours = written(tmp_path / "fours.db", 4)
    by_eights = written(tmp_path / "eights.db", None)  # the archive's own setting
    assert automerge(tmp_path / "eights.db") == 8
    assert by_eights == by_fours
    assert len(by_eights[0]) == 120 and len(by_eights[1]["report"]) == 120
