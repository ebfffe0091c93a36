"""article_keys as one B-tree (migration m014): each identity key stored once, kept on upgrade."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from monitor.archive.store import Archive, migrations


def test_an_archive_from_before_m014_keeps_its_keys_in_one_btree(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m014_article_keys_one_btree")
    db["articles"].insert({"id": 1, "title": "Chip plant opens in Gujarat"})
    db["article_keys"].insert_all(
        [{"key": "url:https://example.org/1", "article_id": 1}, {"key": "guid:feed#1", "article_id": 1}]
    )
    assert db.execute("select count(*) from sqlite_master where tbl_name = 'article_keys'").fetchone()[0] == 2
    db.close()

    archive = Archive.open(path)  # applies m014
    try:
        objects = archive.db.execute(
            "select type, sql from sqlite_master where tbl_name = 'article_keys'"
        ).fetchall()
        assert len(objects) == 1 and "without rowid" in objects[0][1].lower()  # no second copy of the keys
        assert archive.known_keys(["url:https://example.org/1", "guid:feed#1", "url:other"]) == {
            "url:https://example.org/1",
            "guid:feed#1",
        }
    finally:
        archive.close()
