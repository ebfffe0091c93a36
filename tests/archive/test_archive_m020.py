"""Migration m020: the outbox indexed by story, so reading a story's alerts (which rules it has
already alerted for, asked for every report that joins a story and matches a rule) no longer
scans every alert ever queued. An archive from before it upgrades in place to a fresh archive's
schema, and the story's alerts are read through the index, the same alerts as before."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from monitor.archive.store import Archive, migrations
from monitor.cli.demo import Item
from tests.archive.upgrades import before_m020, poll, schema
from tests.conftest import rss

M020 = "m020_alerts_by_story"
STORY_ALERTS = (
    "select id, chat_id, article_id, rules from alerts where story_id = ? and kind = 'send'"
    " and status in ('pending', 'sent') order by id"
)


def plan(db: Path, sql: str, *args: object) -> str:
    conn = sqlite3.connect(db)
    try:
        return " ".join(row[-1] for row in conn.execute(f"explain query plan {sql}", args))
    finally:
        conn.close()


def test_an_archive_without_the_index_upgrades_and_reads_a_storys_alerts_through_it(
    feed_server, write_config, tmp_path
):
    when = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    items = [
        Item(
            "Velmora port strike halts cranes",
            "Dockers at Velmora stopped the cranes.",
            when,
            "https://velmora.test/1",
        ),
        Item(
            "Quarry collapse near Ostrin",
            "Rescuers searched the Ostrin quarry.",
            when,
            "https://velmora.test/2",
        ),
    ]
    url = feed_server.add("/velmora.xml", rss("Velmora", items))
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.toml").write_text('[[rule]]\nid = "all"\nname = "All"\nquery = "velmora OR ostrin"\n')
    config = write_config([url], rules=rules)
    poll(config)
    db = tmp_path / "monitor.db"
    archive = Archive.open(db)
    story = archive.db.execute("select story_id from articles order by id limit 1").fetchone()[0]
    before = archive.story_alerts(story)
    archive.close()
    assert before, "the first article's alert is queued for its story"

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("begin")
    before_m020(conn)
    conn.execute("commit")
    conn.close()
    older = tmp_path / "m019.db"
    made = sqlite_utils.Database(older)
    migrations.apply(made, stop_before=M020)
    made.close()
    assert schema(db) == schema(older)
    assert "alerts_story" not in plan(db, STORY_ALERTS, story)

    Archive.open(db).close()  # as `monitor poll` or `run` opens it: upgraded in place
    fresh = tmp_path / "fresh.db"
    Archive.open(fresh).close()
    assert schema(db) == schema(fresh)
    assert "USING INDEX alerts_story" in plan(db, STORY_ALERTS, story)
    archive = Archive.open(db)
    assert archive.story_alerts(story) == before
    archive.close()
