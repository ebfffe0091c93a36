"""Migration m016 (issue 18: bytes per article): identity keys as digests, story_keys' times as
integer seconds, no index on articles(feed) alone.

An archive filled by `monitor poll`, then put back in the forms m015 left (the keys' text, ISO
times, the index), upgrades when opened and answers every read as the
archive the new code wrote does: search, stories, status, the keys a worker checks, the story
index grouping reads."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils

from monitor.archive.articles import key_digest
from monitor.archive.store import Archive, migrations
from monitor.archive.storyindex import StoryIndex
from monitor.cli.main import main
from monitor.config.load import load_config
from monitor.ingest.dedupe import entry_keys
from monitor.types import EntryData
from tests.archive.test_archive_m017 import back_to_m016
from tests.archive.upgrades import before_m020, poll, schema
from tests.conftest import rss

M016 = "m016_smaller_archive"


def _identity_keys(db: Path) -> list[str]:
    """Every archived article's identity keys, as ingest makes them (text)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("select feed, title, link, guid from articles").fetchall()
    finally:
        conn.close()
    return [
        key
        for feed, title, link, guid in rows
        for key in entry_keys(EntryData(feed, title, "", link, guid, None))[1]
    ]


def _answers(config: Path, keys: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """What the reading commands print, and what the archive answers grouping and a worker."""
    out: dict[str, object] = {}
    capsys.readouterr()
    for name, args in {
        "search": ["search", "--json", "dialogue OR Oue OR Motegi OR weaponisation"],
        "stories": ["search", "--stories", "--json", "dialogue OR Oue"],
        "status": ["status"],
        "feeds": ["feeds", "list"],
    }.items():
        assert main(["--config", str(config), *args]) == 0
        out[name] = capsys.readouterr().out
    archive = Archive.open(load_config(config, environ={}).storage_path)
    try:
        story_ids = sorted({hit.story_id for hit in archive.search("dialogue OR Oue OR Motegi")})
        out["story_reports"] = [archive.story_reports(s) for s in story_ids if s is not None]
        out["known"] = sorted(archive.known_keys([*keys, "url:https://example.org/never"]))
        rows = archive.db.execute("select key, published, article_id from story_keys").fetchall()
        out["postings"] = sorted(rows)
        when = datetime.fromtimestamp(rows[0][1], UTC)
        probe = [key for key, _, _ in rows[:40]]
        for name, index in (("sql", StoryIndex(archive.conn)), ("memory", archive.story_index())):
            out[f"sharing {name}"] = index.sharing(probe, when, 72.0)
            out[f"selective {name}"] = index.selective(probe, when, 72.0)
        out["links"] = archive.db.execute("select id, url, link from articles order by id").fetchall()
    finally:
        archive.close()
    return out


def _back_to_m015(db: Path, keys: list[str]) -> None:
    """The archive as m015 left it: what an older monitor wrote (m017's forms undone first)."""
    back_to_m016(db)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("begin")
        ids = dict(conn.execute("select key, article_id from article_keys").fetchall())
        conn.execute("drop table article_keys")
        conn.execute(
            "create table article_keys (key text primary key not null, article_id integer"
            " references articles(id)) without rowid"
        )
        conn.executemany(
            "insert or ignore into article_keys values (?, ?)", [(k, ids[key_digest(k)]) for k in keys]
        )
        conn.execute("alter table story_keys rename to story_keys_m016")
        conn.execute(
            "create table story_keys (key text not null, article_id integer not null, story_id integer,"
            " published text not null, primary key (key, published, article_id)) without rowid"
        )
        conn.execute(
            "insert into story_keys select key, article_id, story_id,"
            " strftime('%Y-%m-%dT%H:%M:%SZ', published, 'unixepoch') from story_keys_m016"
        )
        conn.execute("drop table story_keys_m016")
        conn.execute("create index idx_articles_feed on articles (feed)")
        conn.execute("delete from _sqlite_migrations where name = ?", [M016])
        before_m020(conn)
        conn.execute("commit")
    finally:
        conn.close()


def test_an_archive_at_m015_upgrades_in_place_and_answers_the_same(
    feed_server, write_config, seeds, tmp_path, capsys
):
    wire = feed_server.add("/wire.xml", rss("Wire", [seeds[0], seeds[1], seeds[4]]))
    gazette = feed_server.add("/gazette.xml", rss("Gazette", [seeds[2], seeds[3]]))
    config = write_config([wire, gazette])
    # `monitor poll` in a process of its own, as a user runs it (in this one, it would leave the
    # root logger writing to this test's captured stderr, closed for the tests after it)
    poll(config)
    db = load_config(config, environ={}).storage_path
    keys = _identity_keys(db)
    assert len(keys) >= 5
    written = _answers(config, keys, capsys)
    assert written["known"] == sorted(set(keys)) and len(str(written["search"]).splitlines()) >= 3
    assert written["postings"] and written["sharing sql"] and written["story_reports"]
    assert written["sharing sql"] == written["sharing memory"]
    conn = sqlite3.connect(db)  # every article keeps its canonical URL (SQL reads articles.url)
    assert conn.execute("select count(*) from articles where url is null").fetchone()[0] == 0
    conn.close()

    _back_to_m015(db, keys)
    older = tmp_path / "m015.db"  # the same schema as an archive made by m001..m015
    made = sqlite_utils.Database(older)
    migrations.apply(made, stop_before=M016)
    made.close()
    assert schema(db) == schema(older)
    conn = sqlite3.connect(db)
    assert conn.execute("select count(*) from article_keys where typeof(key) = 'text'").fetchone()[0] == len(
        set(keys)
    )
    conn.close()

    assert main(["--config", str(config), "search", "Oue"]) == 1  # a reader asks for the upgrade
    assert "run 'monitor poll' to upgrade it" in capsys.readouterr().err
    Archive.open(db).close()  # as `monitor poll` or `run` opens it: upgraded in place
    upgraded = _answers(config, keys, capsys)
    assert upgraded == written
    conn = sqlite3.connect(db)
    try:
        assert {t for (t,) in conn.execute("select distinct typeof(key) from article_keys")} == {"blob"}
        assert {t for (t,) in conn.execute("select distinct typeof(published) from story_keys")} == {
            "integer"
        }
        assert conn.execute("select count(*) from articles where url is null").fetchone()[0] == 0
        assert (
            conn.execute("select count(*) from sqlite_master where name = 'idx_articles_feed'").fetchone()[0]
            == 0
        )
        # the full-text index still agrees with its articles: FTS5's integrity check raises
        # "database disk image is malformed" when it does not
        conn.execute("insert into articles_fts(articles_fts, rank) values ('integrity-check', 1)")
    finally:
        conn.close()
    fresh = tmp_path / "fresh.db"
    Archive.open(fresh).close()
    assert schema(db) == schema(fresh)  # upgraded as a new archive is made
