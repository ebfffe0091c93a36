"""Operations as a user meets them: two writers on one archive, an archive migrated from the first
feed-schedule schema, `monitor run` stopped while it delivers, and the backup file's mode."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from fakes.telegram_api import SentMessage
from monitor.archive.store import Archive, migrations
from monitor.ingest.schedule import is_stale
from monitor.types import FeedConfig
from tests.chatkit import items
from tests.cli.test_manage import clean_env, db_rows, finish, outline, start, write_opml

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)


def start_run(config: Path, token: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        env={**clean_env(), "TELEGRAM_BOT_TOKEN": token},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --- SIGTERM while an alert is on its way ------------------------------------------------------


def test_sigterm_during_delivery_stops_quietly_and_records_the_alert(chat_config, telegram_api, tmp_path):
    feed = items("semiconductor", 2)
    config = chat_config('[[chats]]\nid = "1001"\nburst = 100\n', feed=feed)
    process = start_run(config, telegram_api.token)

    def stop_while_sending(message: SentMessage) -> None:
        if len(telegram_api.messages) == 1:
            # Telegram has the first alert but has not answered: monitor is in the middle of
            # delivering when the stop signal comes.
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # answer once the signal has arrived

    telegram_api.on_accept = stop_while_sending
    try:
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    telegram_api.on_accept = None
    assert process.returncode == 0, err
    assert "event=stopping" in err and "event=stopped" in err  # it did stop with work in flight
    assert "Traceback" not in err and "ERROR" not in err and "CancelledError" not in err, err
    # The alert in flight at the signal was finished and recorded, not cut off or left pending.
    assert feed[0].title in telegram_api.messages[0].visible_text
    assert db_rows(tmp_path / "monitor.db", "select status, count(*) from alerts group by status") == [
        ("sent", len(telegram_api.messages))
    ]


# --- two writers at once -----------------------------------------------------------------------

# A writer that reads, then writes, in each transaction (as every Archive write does), over and
# over until told to stop: add a feed of its own, then suspend it.
WRITER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from monitor.archive.store import Archive
archive, name, stop = Archive.open(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3])
i = 0
while i < 50 or not stop.exists():
    url = f"https://{name}.example/{i}.xml"
    archive.add_feeds([(url, f"{name} {i}")], datetime.now(UTC))
    archive.set_feed_status(url, "suspended", datetime.now(UTC), "by the test")
    i += 1
    if i == 1:
        print("writing", flush=True)
archive.close()
print(i)
"""


def test_concurrent_writers_wait_for_each_other_instead_of_failing(write_config, tmp_path):
    config = write_config([])
    db = tmp_path / "monitor.db"
    Archive.open(db).close()  # created and migrated; from here on, every process only writes rows
    stop = tmp_path / "stop"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), name, str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        for name in ("alpha", "beta")
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        # Meanwhile, from a shell: an OPML import and a prune, on the same archive.
        opml = write_opml(
            tmp_path / "more.opml", [outline(f"Wire {i}", f"https://wire.example/{i}") for i in range(30)]
        )
        importing, pruning = (
            start(config, "feeds", "import", str(opml)),
            start(config, "prune", "--older-than", "1d"),
        )
        imported, pruned = finish(importing), finish(pruning)
    finally:
        stop.touch()
        results = [finish(writer) for writer in writers]
    for result in (*results, imported, pruned):
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert "30 feeds added" in imported.stderr
    done = {name: int(r.stdout.split()[-1]) for name, r in zip(("alpha", "beta"), results, strict=True)}
    rows = db_rows(db, "select substr(url, 1, 13), status, count(*) from feeds group by 1, 2 order by 1")
    assert rows == [
        ("https://alpha", "suspended", done["alpha"]),
        ("https://beta.", "suspended", done["beta"]),
        ("https://wire.", "active", 30),
    ]


def test_syncing_an_unchanged_config_takes_no_write_lock(tmp_path):
    db = tmp_path / "monitor.db"
    feeds = [FeedConfig("https://a.example/rss", "A"), FeedConfig("https://b.example/rss", None, 600.0)]
    archive = Archive.open(db)
    assert archive.sync_feeds(feeds, NOW)
    # Another process holds the write lock (a long write of monitor run's, say).
    other = sqlite3.connect(db, isolation_level=None, timeout=0.1)
    other.execute("begin immediate")
    try:
        assert not archive.sync_feeds(feeds, NOW), "nothing changed, nothing written"
        assert [s.url for s in archive.feed_statuses(NOW, is_stale)] == [f.url for f in feeds]
    finally:
        other.rollback()
        other.close()
    assert archive.sync_feeds(feeds[:1], NOW)  # b left the config: that is a change
    assert [s.url for s in archive.feed_statuses(NOW, is_stale)] == ["https://a.example/rss"]
    assert not archive.sync_feeds(feeds[:1], NOW)
    archive.close()


# --- migrations --------------------------------------------------------------------------------


def feed_columns(db: Path) -> set[str]:
    return {r[1] for r in db_rows(db, "pragma table_info(feeds)")}


def test_an_archive_from_the_first_m005_gets_ttl_and_a_next_check_for_every_feed(tmp_path):
    db = tmp_path / "monitor.db"
    old = sqlite_utils.Database(db)
    migrations.apply(old, stop_before="m006_feed_ttl")  # m001..m005, m005 as first released
    old["feeds"].insert_all(  # as the first m005 left them: a feed never checked has no next_check
        [
            {"url": "https://never.example/rss", "added": "2026-01-02T00:00:00Z", "next_check": None},
            {
                "url": "https://checked.example/rss",
                "added": "2026-01-01T00:00:00Z",
                "next_check": "2026-03-06T12:15:00Z",
            },
        ]
    )
    old.close()
    assert "ttl" not in feed_columns(db)

    archive = Archive.open(db)
    due = [f.key for f in archive.feeds_for_update(NOW)]
    archive.close()
    assert "ttl" in feed_columns(db)
    assert db_rows(db, "select url, next_check from feeds order by url") == [
        ("https://checked.example/rss", "2026-03-06T12:15:00Z"),
        ("https://never.example/rss", "2026-01-02T00:00:00Z"),  # due since it was added
    ]
    assert due == ["https://never.example/rss"]


def test_an_archive_whose_m005_already_added_ttl_opens(tmp_path):
    """For a while m005 itself added ttl: such an archive applies m006 without a duplicate column."""
    db = tmp_path / "monitor.db"
    old = sqlite_utils.Database(db)
    migrations.apply(old, stop_before="m006_feed_ttl")
    old["feeds"].add_column("ttl", float)
    old.close()
    Archive.open(db).close()
    assert "ttl" in feed_columns(db)
    assert db_rows(db, "select name from _sqlite_migrations where name like 'm006%'") == [("m006_feed_ttl",)]


# --- backup ------------------------------------------------------------------------------------


def test_backup_is_owner_only_from_its_first_byte_and_leaves_the_umask_alone(tmp_path):
    archive = Archive.open(tmp_path / "monitor.db")
    archive.sync_feeds([FeedConfig("https://a.example/rss", "A")], NOW)
    target = tmp_path / "copy.db"
    modes: set[int] = set()

    def look() -> int:  # SQLite calls this while VACUUM INTO runs: the file exists, half written
        if target.exists():
            modes.add(stat.S_IMODE(target.stat().st_mode))
        return 0

    archive.db.conn.set_progress_handler(look, 1)
    previous = os.umask(0o002)  # a permissive umask: new files would be readable by everyone
    try:
        archive.backup(target)
        assert os.umask(0o002) == 0o002, "the umask is restored after the backup"
    finally:
        os.umask(previous)
        archive.db.conn.set_progress_handler(None, 1)
        archive.close()
    assert modes == {0o600}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert db_rows(target, "select name from feeds") == [("A",)]
