"""`monitor feeds …`, `backup`, `prune` and the writer lock, as a user runs them: the real CLI
in a subprocess, a loopback feed server, a real SQLite archive.

A CLI start costs most of a second, so a few commands run side by side: a poll (the one writer that
holds the archive's writer lock) with readers (search, status, backup, feeds list) or with `monitor
feeds` commands, whose writes wait for the poll's (every write transaction begins IMMEDIATE)."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.cli.demo import Item
from tests.cli.test_cli import assert_one_line_error
from tests.conftest import rss

OLD = datetime(2020, 3, 1, 9, 0, tzinfo=UTC)

Result = subprocess.CompletedProcess[str]


def items(prefix: str, n: int, published: datetime | None = None) -> list[Item]:
    """n neutral articles (no shipped rule matches them), each with a link of its own."""
    when = published or datetime.now(UTC) - timedelta(hours=2)
    return [
        Item(
            title=f"{prefix} report {i}",
            body=f"The {prefix.lower()} town council met on a quiet afternoon, item {i}.",
            published=when - timedelta(minutes=i),
            link=f"https://{prefix.lower()}.invalid/news/{i}",
        )
        for i in range(n)
    ]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MONITOR_"))}


def start(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> Result:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def side_by_side(config: Path, *commands: Sequence[str]) -> list[Result]:
    """Run several `monitor` commands at once (at most one writer); their results in the order given."""
    procs = [start(config, *command) for command in commands]
    return [finish(proc) for proc in procs]


def cli(config: Path, *args: str) -> Result:
    return finish(start(config, *args))


def ok(result: Result) -> Result:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def db_rows(db: Path, sql: str, *args: object) -> list[tuple]:
    """Read the archive read-only (as sqlite3 or Datasette would, next to a running monitor)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def articles_of(db: Path, feed: str) -> int:
    return db_rows(db, "select count(*) from articles where feed = ?", feed)[0][0]


def write_opml(path: Path, outlines: Sequence[str]) -> Path:
    """An OPML file with its outlines on lines 5, 6, 7 ..., one per line."""
    head = ['<?xml version="1.0" encoding="UTF-8"?>', '<opml version="2.0">', "<head><title>t</title></head>"]
    path.write_text("\n".join([*head, "<body>", *outlines, "</body>", "</opml>", ""]), encoding="utf-8")
    return path


def outline(title: str, url: str) -> str:
    return f'<outline type="rss" text="{title}" xmlUrl="{url.replace("&", "&amp;")}"/>'


def block(listing: str, url: str) -> str:
    """A feed's entry in `feeds list` / `status` output: its name line, URL line and detail lines."""
    lines = listing.splitlines()
    at = lines.index(f"    {url}")
    end = next((i for i in range(at + 1, len(lines)) if not lines[i].startswith("    ")), len(lines))
    return "\n".join(lines[at - 1 : end])


# --- feeds: import, list, export, suspension, resume, remove ----------------------------------


def test_feeds_import_list_export_suspend_resume_remove(feed_server, write_config, tmp_path):
    """A feed list's life in one archive. The export goes into a second, fresh archive (with the same
    configured feed), whose commands run alongside the first archive's: one writer per archive."""
    configured = feed_server.add("/configured.xml", rss("Configured", items("Config", 2)))
    gone = feed_server.misbehave("/gone.xml", "status", code=410)
    alpha = feed_server.add("/alpha.xml", rss("Alpha channel", items("Alpha", 3)))
    beta = feed_server.add("/beta.xml?lang=en&page=1", rss("Beta channel", items("Beta", 2)))
    gamma = feed_server.add("/gamma.xml", rss("Gamma channel", items("Gamma", 1)))
    # the feed server is on loopback: an OPML import of its feeds needs allow_private
    config = write_config([configured, gone], fetch='allow_private = ["127.0.0.1"]')
    db = tmp_path / "monitor.db"
    opml = write_opml(
        tmp_path / "reader.opml",
        [
            outline("Alpha News", alpha),  # line 5
            outline("Beta &amp; Sons", beta),  # line 6
            outline("Alpha again", alpha),  # line 7: a duplicate of line 5
            outline("Old FTP", "ftp://files.example.org/feed.xml"),  # line 8: not http(s)
            outline("Gamma Weekly", gamma),  # line 9
        ],
    )

    imported = ok(cli(config, "feeds", "import", str(opml)))
    assert imported.stderr.splitlines() == [
        f"monitor: {opml}:7: duplicate of line 5: {alpha}",
        f'monitor: {opml}:8: xmlUrl "ftp://files.example.org/feed.xml" is not an http(s) URL',
        f"imported {opml}: 3 feeds added, 0 already watched, 1 duplicate and 1 invalid entry skipped",
    ]

    polled = ok(cli(config, "poll"))
    assert "polled 5 feeds" in polled.stderr and "8 new articles" in polled.stderr
    assert f"monitor: feed {gone}: HTTP 410" in polled.stderr
    paths = ["/configured.xml", "/gone.xml", "/alpha.xml", "/beta.xml?lang=en&page=1", "/gamma.xml"]
    assert [feed_server.count(p) for p in paths] == [1, 1, 1, 1, 1]
    assert [articles_of(db, url) for url in (configured, alpha, beta, gamma)] == [2, 3, 2, 1]
    assert {r[0] for r in db_rows(db, "select title from articles where feed = ?", beta)} == {
        "Beta report 0",
        "Beta report 1",
    }

    status, listing = side_by_side(config, ["status"], ["feeds", "list"])
    suspended = block(ok(status).stdout, gone)
    assert "SUSPENDED" in suspended and "410 Gone" in suspended and "monitor feeds resume URL" in suspended
    assert "1 suspended" in status.stdout.splitlines()[-1]
    listed = ok(listing).stdout
    suspended = block(listed, gone)
    assert suspended.startswith(f"(no title yet) [SUSPENDED; config]\n    {gone}\n") and "410" in suspended
    # Imported feeds keep the title the OPML file gave them; the configured one takes its channel's.
    assert block(listed, configured).startswith(f"Configured [ok; config]\n    {configured}\n    2 articles")
    for name, url, n in [("Alpha News", alpha, "3 articles"), ("Beta & Sons", beta, "2 articles")]:
        assert block(listed, url).startswith(f"{name} [ok; opml]\n    {url}\n    {n}; next check ")
    assert block(listed, gamma).startswith(
        f"Gamma Weekly [ok; opml]\n    {gamma}\n    1 article; next check "
    )
    assert "next check" not in suspended and "until resumed (monitor feeds resume URL)" in suspended
    assert listed.splitlines()[-1] == "5 feeds: 4 ok, 0 failing, 1 suspended, 0 removed"
    assert "ftp://" not in listed and listed.count(alpha) == 1

    exported = tmp_path / "export.opml"
    export = ok(cli(config, "feeds", "export", "-o", str(exported)))
    assert export.stdout == "" and f"exported 5 feeds to {exported}" in export.stderr
    root = ET.parse(exported).getroot()
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.find("head/title") is not None and root.find("body") is not None
    outlines = {o.get("xmlUrl"): o.get("title") for o in root.iter("outline")}
    assert outlines == {
        configured: "Configured",
        gone: None,  # no title known: its URL is the outline's text
        alpha: "Alpha News",
        beta: "Beta & Sons",
        gamma: "Gamma Weekly",
    }

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    fresh_config = fresh / "monitor.toml"
    settings = config.read_text(encoding="utf-8").split("[[feeds]]")[0]
    fresh_config.write_text(
        settings.replace(str(db), str(fresh / "monitor.db")) + f'[[feeds]]\nurl = "{configured}"\n',
        encoding="utf-8",
    )
    again = start(config, "feeds", "import", str(opml))
    back = ok(cli(fresh_config, "feeds", "import", str(exported)))
    assert ok(finish(again)).stderr.splitlines()[-1] == (
        f"imported {opml}: 0 feeds added, 3 already watched, 1 duplicate and 1 invalid entry skipped"
    )
    # Round trip: the fresh archive watches the same feeds, under the same names.
    assert "4 feeds added, 1 already watched, 0 duplicates and 0 invalid entries skipped" in back.stderr
    rows = db_rows(fresh / "monitor.db", "select url, name from feeds where status = 'active'")
    assert dict(rows) == {**outlines, configured: None}  # configured there, and not polled yet

    # Remove an imported feed; a configured one can only leave through the config file.
    removed = start(config, "feeds", "remove", beta)
    refused = cli(fresh_config, "feeds", "remove", configured)
    assert f"removed {beta}; its articles stay in the archive" in ok(finish(removed)).stderr
    assert_one_line_error(refused, configured, "config file", "[[feeds]]")

    # While a poll writes the archive, the feeds commands write it too: they wait, they do not fail.
    polling = start(config, "poll")
    resuming, removing = side_by_side(config, ["feeds", "resume", beta], ["feeds", "remove", beta])
    unknown = cli(fresh_config, "feeds", "resume", "https://never.example/rss")
    second = ok(finish(polling))
    assert "polled 3 feeds" in second.stderr and gone not in second.stderr
    assert_one_line_error(unknown, "no such feed: https://never.example/rss")
    assert_one_line_error(resuming, beta, "was removed", "monitor feeds import")
    assert ok(removing).stderr == f"{beta} was already removed; its articles stay in the archive\n"
    assert feed_server.count("/gone.xml") == 1, "a suspended feed is not fetched"
    assert feed_server.count("/beta.xml?lang=en&page=1") == 1, "a removed feed is not fetched"
    assert feed_server.count("/alpha.xml") == 2
    assert articles_of(db, beta) == 2, "a removed feed's articles stay"

    feed_server.add("/gone.xml", rss("Back", items("Back", 1)))  # the publisher restored it
    assert f"resumed {gone}" in ok(cli(config, "feeds", "resume", gone)).stderr
    third = ok(cli(config, "poll"))
    assert (
        "polled 4 feeds" in third.stderr and "1 new articles" in third.stderr and "0 failed" in third.stderr
    )
    assert feed_server.count("/gone.xml") == 2 and feed_server.count("/beta.xml?lang=en&page=1") == 1
    assert articles_of(db, gone) == 1

    # The configured feed leaves the config file: the list shows it removed (without writing).
    settings = config.read_text(encoding="utf-8")
    config.write_text(settings.replace(f'[[feeds]]\nurl = "{configured}"\n', ""), encoding="utf-8")
    before = db_rows(db, "select url, status from feeds order by url")
    listed = ok(cli(config, "feeds", "list")).stdout
    assert db_rows(db, "select url, status from feeds order by url") == before, "feeds list writes nothing"
    assert block(listed, configured).startswith(
        f"Configured [REMOVED; config]\n    {configured}\n    2 articles; not checked"
    )
    assert block(listed, beta).startswith(
        f"Beta & Sons [REMOVED; opml]\n    {beta}\n    2 articles; not checked"
    )
    assert listed.splitlines()[-1] == "5 feeds: 3 ok, 0 failing, 0 suspended, 2 removed"


# --- one writer: run, poll, readers, backup ---------------------------------------------------


def wait_for(what: str, done: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"monitor run ended early ({proc.returncode}): {proc.communicate()[1]}")
        try:
            if done():
                return
        except (sqlite3.DatabaseError, FileNotFoundError):  # not created yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_writer_while_readers_and_backup_work(feed_server, write_config, tmp_path):
    url = feed_server.add("/feed.xml", rss("Feed", items("Harbour", 3)))
    config = write_config([url])
    db = tmp_path / "monitor.db"
    lock = tmp_path / "monitor.db.lock"
    copy = tmp_path / "backups" / "copy.db"

    run = start(config, "run")
    try:
        wait_for("the first pass", lambda: articles_of(db, url) == 3, run)
        assert lock.read_text() == f"{run.pid}\n"
        poll, second_run, search, status, backup = side_by_side(
            config, ["poll"], ["run"], ["search", "--json", "harbour"], ["status"], ["backup", str(copy)]
        )
        assert run.poll() is None, "the running monitor goes on"
        live = db_rows(db, "select count(*) from articles")
        run.send_signal(signal.SIGTERM)
        stopped = finish(run, timeout=15)
    finally:
        run.kill()
    assert stopped.returncode == 0, stopped.stderr
    assert "event=started" in stopped.stderr and "event=stopped" in stopped.stderr
    assert "Traceback" not in stopped.stderr

    for refused in (poll, second_run):
        assert_one_line_error(refused, f"another monitor (pid {run.pid}) is already writing", str(db))
    assert feed_server.count("/feed.xml") == 1, "the refused poll fetched nothing"
    assert len(ok(search).stdout.splitlines()) == 3
    assert block(ok(status).stdout, url).endswith("3 articles; ok")
    assert f"backed up {db} to {copy}" in ok(backup).stderr
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert copy.read_bytes()[:16] == b"SQLite format 3\x00"
    assert db_rows(copy, "select count(*) from articles") == live == [(3,)]

    # Stopped with SIGTERM, the lock is free: a new run starts, and takes it.
    run = start(config, "run")
    try:
        wait_for("the lock", lambda: lock.read_text() == f"{run.pid}\n", run)
        run.send_signal(signal.SIGKILL)
        killed = finish(run, timeout=15)
    finally:
        run.kill()
    assert killed.returncode == -signal.SIGKILL
    assert lock.read_text() == f"{run.pid}\n", "kill -9 leaves its pid in the lock file"
    # ... but the kernel released the lock itself: the next writer is not blocked.
    after, backup_again = side_by_side(config, ["poll"], ["backup", str(copy)])
    assert "another monitor" not in ok(after).stderr and "polled 1 feeds" in after.stderr
    assert_one_line_error(backup_again, str(copy), "already exists")


# --- prune ------------------------------------------------------------------------------------


def test_prune_old_articles_and_keep_their_identity(feed_server, write_config, tmp_path):
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "zebra.toml").write_text(
        '[[rule]]\nid = "zebra"\nname = "Zebrafish"\nquery = "zebrafish"\n', encoding="utf-8"
    )
    old = items("Quay", 2, published=OLD)
    matched = Item("Zebrafish study from 2020", "A zebrafish lab in Kyoto.", OLD, "https://lab.invalid/z")
    recent = items("Fresh", 1)
    url = feed_server.add("/feed.xml", rss("Feed", [*recent, matched, *old]))
    config = write_config([url], rules=rules)
    db = tmp_path / "monitor.db"

    first = ok(cli(config, "poll"))
    assert "4 new articles" in first.stderr and "1 sent" in first.stderr
    assert "Zebrafish study from 2020" in first.stdout  # the console alert
    # Months pass: every article was first seen long ago (prune spares what it saw recently).
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("update articles set first_seen = '2020-03-02T00:00:00Z'")
    conn.close()

    pruned = ok(cli(config, "prune", "--older-than", "180d"))
    assert (
        "deleted 2 articles published and first seen over 180d ago (matched articles kept)" in pruned.stderr
    )
    assert {r[0] for r in db_rows(db, "select title from articles")} == {
        "Fresh report 0",
        "Zebrafish study from 2020",
    }
    assert db_rows(db, "select count(*) from matches") == [(1,)]

    everything = ok(cli(config, "prune", "--older-than", "180d", "--include-matched"))
    assert "deleted 1 article published and first seen over 180d ago" in everything.stderr
    assert "matched articles kept" not in everything.stderr
    assert db_rows(db, "select title from articles") == [("Fresh report 0",)]
    assert db_rows(db, "select count(*) from matches") == [(0,)]

    # The feed still carries the pruned items, and one new one: only the new one is archived.
    newest = Item(
        "Fresh report new", "The fresh town council met again.", datetime.now(UTC), "https://n.invalid/1"
    )
    feed_server.add("/feed.xml", rss("Feed", [newest, *recent, matched, *old]))
    later, bad = side_by_side(config, ["poll"], ["prune", "--older-than", "soon"])
    assert feed_server.count("/feed.xml") == 2
    assert "1 new articles" in ok(later).stderr and "0 queued" in later.stderr
    assert "Zebrafish" not in later.stdout, "a pruned matched article is not alerted again"
    assert {r[0] for r in db_rows(db, "select title from articles")} == {"Fresh report 0", "Fresh report new"}
    # A bad argument is a usage error: exit 2, one line, no traceback, not blamed on the config.
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines() == [
        "monitor: error: --older-than: not a duration: 'soon'"
        " (use a number of seconds or e.g. '90s', '15m', '1h')"
    ]
