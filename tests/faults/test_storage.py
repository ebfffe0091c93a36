"""The archive in trouble: locked by another process, a full disk, removed, read-only.

What a user must see each time: the pass stops with one line naming the archive (exit code 1
from `monitor poll`), never a traceback; nothing archived or queued before is lost; and once
the trouble is gone, the next pass archives what the failed one could not (a feed whose save
failed kept its old ETag, so it is fetched in full again, not answered 304 with nothing).

Read-only for root: file modes do not stop root, so these tests make a file or a folder
immutable (chattr +i: needs CAP_LINUX_IMMUTABLE and a file system that has the attribute,
ext4 here); as any other user, chmod. Either way they check that it really is read-only first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import open_app
from monitor.archive import connection as storage
from monitor.archive.store import Archive
from monitor.cli.main import main
from monitor.config.load import load_config
from monitor.errors import StorageError
from monitor.service.scheduler import Service
from tests.conftest import rss
from tests.faults.conftest import TOKEN, Faults

pytestmark = pytest.mark.slow  # end to end: `pytest -m "not slow"` leaves it out

# `monitor poll`, with SQLite's busy timeout (storage.BUSY_TIMEOUT, 10 s) cut to half a second.
POLL_WITH_SHORT_BUSY_TIMEOUT = (
    "import sys; from monitor.archive import connection; connection.BUSY_TIMEOUT = 0.5; "
    "from monitor.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


def monitor(config: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """The command line as a user runs it (or `code` standing in for `-m monitor`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MONITOR_"))}
    env["TELEGRAM_BOT_TOKEN"] = TOKEN
    start = ["-c", code] if code else ["-m", "monitor"]
    return subprocess.run(
        [sys.executable, *start, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    # Log lines aside (Telegram is down in the harness, and says so at WARNING).
    lines = [line for line in result.stderr.strip().splitlines() if " level=" not in line]
    assert len(lines) == 1 and lines[0].startswith("monitor: error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def archive_of(config: Path) -> Path:
    return load_config(config, environ={}).storage_path


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def state(db: Path) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Everything a failed pass must leave alone: articles, the outbox, each feed's validators."""
    return (
        query(db, "select feed, title from articles order by id"),
        query(db, "select article_id, chat_id, status from alerts order by id"),
        query(db, "select url, etag, last_modified from feeds order by url"),
    )


def catch_up(faults: Faults, config: Path, url: str, titles: list[str]) -> None:
    """The trouble gone, the next pass archives the articles the failed one could not."""
    report = faults.poll(config)
    assert report.errors == [], report.errors
    archived = [
        t
        for (t,) in query(archive_of(config), f"select title from articles where feed = '{url}' order by id")
    ]
    assert archived == titles


def with_news(faults: Faults, feed_server, extra: int = 1) -> tuple[Path, str, list[str]]:
    """A feed archived by a clean pass (the harness's witness and bystander beside it), which
    then publishes `extra` more articles: (config, its URL, the titles it now has)."""
    items = faults.seeds[2 : 3 + extra]
    url = feed_server.add("/faults/news.xml", rss("News", items[:1]))
    outcome = faults.run([url])
    assert outcome.ok(url) == [items[0].title]
    feed_server.add("/faults/news.xml", rss("News", items))  # a new body, so a new ETag
    return outcome.config, url, [item.title for item in items]


# --- locked ------------------------------------------------------------------------------------


def test_a_long_reader_does_not_stop_a_pass(faults, feed_server):
    """WAL: a reader's open transaction (sqlite3, Datasette, a `monitor search`) blocks no writer."""
    db = archive_of(faults.config([]))
    Archive.open(db).close()  # as a first `monitor poll` leaves it, to have a reader before it
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("begin")
        assert reader.execute("select count(*) from articles").fetchone() == (0,)
        url = feed_server.add("/faults/news.xml", rss("News", faults.seeds[2:3]))
        outcome = faults.run([url])  # both passes with the read transaction open
        assert outcome.ok(url) == [faults.seeds[2].title]
        # Still in its transaction: it still sees the empty archive it began with.
        assert reader.execute("select count(*) from articles").fetchone() == (0,)
        reader.execute("commit")
        assert reader.execute("select count(*) from articles").fetchone() == (3,)
    finally:
        reader.close()


def test_a_write_lock_held_elsewhere_fails_the_pass_in_one_line_and_the_next_pass_catches_up(
    faults, feed_server
):
    config, url, titles = with_news(faults, feed_server)
    db = archive_of(config)
    before = state(db)
    other = sqlite3.connect(db, isolation_level=None)  # a sqlite3 shell in a write, say
    try:
        other.execute("begin immediate")
        result = monitor(config, "poll", code=POLL_WITH_SHORT_BUSY_TIMEOUT)
    finally:
        other.execute("rollback")
        other.close()
    one_line_error(result, str(db), "database is locked", "another connection held its write lock")
    assert state(db) == before
    catch_up(faults, config, url, titles)


def test_monitor_run_logs_a_locked_pass_in_one_line_and_its_next_pass_catches_up(
    faults, feed_server, monkeypatch, caplog
):
    """The service's face of the same fault: a job error, logged, and the next tick tries again."""
    config, url, titles = with_news(faults, feed_server)
    db = archive_of(config)
    monkeypatch.setattr(storage, "BUSY_TIMEOUT", 0.5)  # SQLite's busy timeout, 10 s, cut short
    settings = load_config(config, environ={"TELEGRAM_BOT_TOKEN": TOKEN})
    tomorrow = datetime.now(UTC) + timedelta(days=1)  # every feed is due

    async def two_ticks() -> Service:
        async with open_app(settings, clock=lambda: tomorrow) as app:
            service = Service(app.pipeline, app.notifiers, app.telegram, app.pipeline.clock)
            other = sqlite3.connect(db, isolation_level=None)
            try:
                other.execute("begin immediate")
                await service.poll_due()
            finally:
                other.execute("rollback")
                other.close()
            assert service.passes == 0
            await service.poll_due()
            return service

    service = asyncio.run(two_ticks())
    assert service.passes == 1
    failed = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failed) == 1, failed
    message = failed[0].getMessage()  # which write met the lock first depends on who answered first
    assert message.startswith(f"event=job_error error='{db}: cannot "), message
    assert message.endswith(": database is locked (another connection held its write lock for over 0.5 s)'")
    assert not any(r.exc_info for r in failed)  # no traceback
    archived = [t for (t,) in query(db, f"select title from articles where feed = '{url}' order by id")]
    assert archived == titles


# --- full --------------------------------------------------------------------------------------


def fill_up_and_poll(config: Path) -> StorageError:
    """A pass over an archive that cannot grow by a page: the disk is full."""
    settings = load_config(config, environ={"TELEGRAM_BOT_TOKEN": TOKEN})

    async def poll() -> None:
        async with open_app(settings) as app:
            db = app.pipeline.archive.db
            db.execute(f"pragma max_page_count = {db.execute('pragma page_count').fetchone()[0]}")
            await app.pipeline.run_pass()

    with pytest.raises(StorageError) as failed:
        asyncio.run(poll())
    return failed.value


def test_a_full_disk_fails_the_pass_in_one_line_and_loses_nothing(faults, feed_server):
    config, url, titles = with_news(faults, feed_server, extra=3)
    db = archive_of(config)
    before = state(db)
    error = fill_up_and_poll(config)
    # What `monitor poll` prints after "monitor: error: " (cli.main), and `monitor run` logs.
    assert str(error) == f"{db}: cannot save articles: database or disk is full"
    assert query(db, "pragma integrity_check") == [("ok",)]
    assert state(db) == before
    catch_up(faults, config, url, titles)  # a new process: the space is back


# --- removed -----------------------------------------------------------------------------------


def remove_archive(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)


def test_a_removed_archive_is_not_found_by_readers_and_made_anew_by_poll(faults, feed_server, capsys):
    """Readers say so; a poll starts a new archive as on the first day (so what the feeds carry
    is archived, and alerted, again)."""
    config, url, titles = with_news(faults, feed_server, extra=0)
    db = archive_of(config)
    remove_archive(db)
    for command in (["status"], ["search", "Misri"]):
        assert main(["--config", str(config), *command]) == 1
        err = capsys.readouterr().err
        assert err == f"monitor: error: {db}: archive not found (run 'monitor poll' first)\n"
    assert not db.exists()  # a reader creates nothing

    result = monitor(config, "poll")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert db.stat().st_mode & 0o777 == 0o600
    archived = {feed: n for feed, n in query(db, "select feed, count(*) from articles group by feed")}
    assert archived[url] == len(titles) and archived[faults.witness] == 1
    # again: the witness's and the bystander's; the news joins the witness's story and alerts
    # only for a rule new to it, which depends on which of the two the pass handled first
    # (feeds are handled as they answer)
    assert query(db, "select count(*) from alerts where status = 'pending'") in ([(2,)], [(3,)])


def test_an_archive_removed_under_a_running_monitor_stops_its_passes(faults, feed_server):
    """The open file outlives its name on Linux: a long-running monitor would go on archiving
    into a file no one can open, gone at its exit. Its next pass stops with one line instead."""
    config, url, titles = with_news(faults, feed_server)
    db = archive_of(config)
    settings = load_config(config, environ={"TELEGRAM_BOT_TOKEN": TOKEN})
    fetched = feed_server.count("/faults/news.xml")

    async def remove_then_poll() -> None:
        async with open_app(settings) as app:
            remove_archive(db)
            await app.pipeline.run_pass()

    with pytest.raises(StorageError) as failed:
        asyncio.run(remove_then_poll())
    assert str(failed.value) == (
        f"{db}: the archive file was removed or replaced since monitor opened it; restart monitor"
    )
    assert feed_server.count("/faults/news.xml") == fetched  # it stopped before fetching
    assert not db.exists()
    catch_up(faults, config, url, titles)  # restarted: a new archive


def search(config: Path, capsys) -> str:
    assert main(["--config", str(config), "search", "--json", "Misri"]) == 0
    return capsys.readouterr().out


# --- read-only ---------------------------------------------------------------------------------


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` (a file or a folder) read-only for this process, and back as it was afterwards."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode:
            pytest.fail(f"as root, only chattr +i makes {path} read-only, and it failed: {done.stderr}")
        undo = ["chattr", "-i", str(path)]
    else:
        mode = path.stat().st_mode
        path.chmod(0o500 if path.is_dir() else 0o400)
    try:
        probe = path / ".probe" if path.is_dir() else path
        with pytest.raises(PermissionError):
            probe.open("ab").close()
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(undo, check=True)
        else:
            path.chmod(mode)


def test_a_read_only_archive_is_refused_by_poll_before_fetching_and_still_searched(
    faults, feed_server, capsys
):
    config, url, titles = with_news(faults, feed_server)
    db = archive_of(config)
    before, fetched = state(db), feed_server.count("/faults/news.xml")
    searched = search(config, capsys)
    with read_only(db):
        result = monitor(config, "poll")
        found = search(config, capsys)
        assert main(["--config", str(config), "status"]) == 0
        status = capsys.readouterr().out
    one_line_error(result, str(db), "the archive is read-only")
    assert feed_server.count("/faults/news.xml") == fetched  # refused at open, not at its first write
    assert found == searched and found
    assert f"{url}\n" in status, status
    assert state(db) == before
    catch_up(faults, config, url, titles)


def test_a_read_only_folder_is_refused_by_poll_and_its_archive_still_searched(faults, feed_server, capsys):
    """SQLite keeps the WAL and shared-memory files beside the archive: a writer needs the folder,
    and a reader there reads the file as it is (nothing can be writing it)."""
    config, url, titles = with_news(faults, feed_server)
    db = archive_of(config)
    before, fetched = state(db), feed_server.count("/faults/news.xml")
    searched = search(config, capsys)
    with read_only(db.parent):
        result = monitor(config, "poll")
        found = search(config, capsys)
        assert main(["--config", str(config), "status"]) == 0
        status = capsys.readouterr().out
    one_line_error(result, str(db), "the archive's folder is read-only")
    assert feed_server.count("/faults/news.xml") == fetched
    assert found == searched and found
    assert f"{url}\n" in status, status
    assert state(db) == before
    catch_up(faults, config, url, titles)


def test_a_new_archive_in_a_read_only_folder_is_one_line(tmp_path, write_config):
    folder = tmp_path / "state"
    folder.mkdir()
    config = write_config([])
    config.write_text(config.read_text().replace(str(tmp_path / "monitor.db"), str(folder / "monitor.db")))
    with read_only(folder):
        result = monitor(config, "poll")
    one_line_error(result, str(folder / "monitor.db.lock"), "cannot create the archive's lock")
    assert not (folder / "monitor.db").exists()
