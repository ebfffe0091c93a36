"""Migration m019 (issue 18: the cold pass's archive write): an article's words go into
articles_fts from insert_article, not from the trigger articles_ai.

An archive written by `monitor poll`, put back as m017 left it (the trigger), upgrades when
opened: the trigger is gone, the schema is a fresh archive's, and articles polled into it after
are indexed once each (FTS5's integrity check: an article indexed twice, by the trigger and by
the code, or not at all, fails it) and found by search, old and new alike."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from monitor.archive.store import Archive, migrations
from monitor.cli.demo import Item
from monitor.cli.main import main
from tests.archive.upgrades import before_m020, poll, schema
from tests.conftest import rss

M019 = "m019_full_text_written_beside_the_article"
WHEN = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
# m001's trigger, as sqlite-utils' enable_fts wrote it
TRIGGER = (
    'CREATE TRIGGER "articles_ai" AFTER INSERT ON "articles" BEGIN\n'
    '  INSERT INTO "articles_fts" (rowid, "title", "summary")'
    ' VALUES (new.rowid, new."title", new."summary");\n'
    "END"
)


def items(word: str, count: int) -> list[Item]:
    return [
        Item(
            f"Harbour {word} report number {n}",
            f"The {word} council of Velmora met on day {n} and spoke of quays, cranes and ferries.",
            WHEN + timedelta(hours=n),
            f"https://velmora.test/{word}/{n}",
        )
        for n in range(count)
    ]


def found(config: Path, query: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    main(["--config", str(config), "search", "--json", "--limit", "100", query])
    return sorted(json.loads(line)["title"] for line in capsys.readouterr().out.splitlines() if line)


def back_to_m017(db: Path) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("begin")
        conn.execute(TRIGGER)
        conn.execute("delete from _sqlite_migrations where name = ?", [M019])
        before_m020(conn)
        conn.execute("commit")
    finally:
        conn.close()


def integrity_checked(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("insert into articles_fts (articles_fts, rank) values ('integrity-check', 1)")
    finally:
        conn.close()


def test_an_archive_with_the_fts_trigger_upgrades_in_place_and_indexes_each_article_once(
    feed_server, write_config, tmp_path, capsys
):
    url = feed_server.add("/velmora.xml", rss("Velmora", items("granary", 6)))
    config = write_config([url])
    poll(config)
    db = tmp_path / "monitor.db"
    assert found(config, "granary", capsys) == sorted(i.title for i in items("granary", 6))

    back_to_m017(db)
    older = tmp_path / "m017.db"
    made = sqlite_utils.Database(older)
    migrations.apply(made, stop_before=M019)
    made.close()
    assert ("articles_ai", " ".join(TRIGGER.lower().replace('"', "").split())) in schema(db)
    assert schema(db) == schema(older)
    assert main(["--config", str(config), "search", "granary"]) == 1  # a reader asks for the upgrade
    assert "run 'monitor poll' to upgrade it" in capsys.readouterr().err

    Archive.open(db).close()  # as `monitor poll` or `run` opens it: upgraded in place
    fresh = tmp_path / "fresh.db"
    Archive.open(fresh).close()
    assert schema(db) == schema(fresh)
    assert "articles_ai" not in dict(schema(db))
    integrity_checked(db)

    feed_server.add("/velmora.xml", rss("Velmora", [*items("granary", 6), *items("lighthouse", 4)]))
    poll(config)
    integrity_checked(db)  # each new article indexed once: by the code, no trigger beside it
    assert found(config, "lighthouse", capsys) == sorted(i.title for i in items("lighthouse", 4))
    assert found(config, "harbour", capsys) == sorted(
        i.title for i in [*items("granary", 6), *items("lighthouse", 4)]
    )
    assert found(config, "title: lighthouse", capsys) == sorted(i.title for i in items("lighthouse", 4))
