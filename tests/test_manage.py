"""`monitor feeds …`, `backup`, `prune` and the writer lock, as a user runs them: the real CLI
in a subprocess, a loopback feed server, a real SQLite archive."""

from __future__ import annotations

import json
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

from monitor.demo import Item
from tests.conftest import rss
from tests.test_cli import assert_one_line_error, monitor

OLD = datetime(2020, 3, 1, 9, 0, tzinfo=UTC)


def items(prefix: str, n: int, published: datetime | None = None) -> list[Item]:
    """n neutral articles (no shipped rule matches them), with links of their own."""
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


def cli(config: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return monitor("--config", str(config), *args, timeout=timeout)


def ok(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = cli(config, *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def db_rows(db: Path, sql: str, *args: object) -> list[tuple]:
    """Read the archive read-only (as sqlite3 or Datasette would next to a running monitor)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def articles_of(db: Path, feed: str) -> int:
    return db_rows(db, "select count(*) from articles where feed = ?", feed)[0][0]


def write_opml(path: Path, outlines: Sequence[str]) -> Path:
    """An OPML file whose outlines are on lines 5, 6, 7 ... (one per line)."""
    head = ['<?xml version="1.0" encoding="UTF-8"?>', '<opml version="2.0">', "<head><title>t</title></head>"]
    path.write_text("\n".join([*head, "<body>", *outlines, "</body>", "</opml>", ""]), encoding="utf-8")
    return path


def outline(title: str, url: str) -> str:
    return f'<outline type="rss" text="{title}" xmlUrl="{url}"/>'


def feed_list(config: Path) -> list[dict]:
    result = ok(config, "feeds", "list", "--json")
    return [json.loads(line) for line in result.stdout.splitlines()]


# --- feeds import / list / export -------------------------------------------------------------


def test_import_opml_lists_polls_and_is_idempotent(feed_server, write_config, tmp_path):
    configured = feed_server.add("/configured.xml", rss("Configured", items("Config", 2)))
    alpha = feed_server.add("/alpha.xml", rss("Alpha channel", items("Alpha", 3)))
    beta = feed_server.add("/beta.xml", rss("Beta channel", items("Beta", 2)))
    gamma = feed_server.add("/gamma.xml", rss("Gamma channel", items("Gamma", 1)))
    config = write_config([configured])
    opml = write_opml(
        tmp_path / "reader.opml",
        [
            outline("Alpha News", alpha),  # line 5
            outline("Beta Daily", beta),  # line 6
            outline("Alpha again", alpha),  # line 7: duplicate of line 5
            outline("Old FTP", "ftp://files.example.org/feed.xml"),  # line 8: invalid
            outline("Gamma Weekly", gamma),  # line 9
        ],
    )

    imported = ok(config, "feeds", "import", str(opml))
    problems = imported.stderr.strip().splitlines()
    assert f"monitor: {opml}:7: duplicate of line 5: {alpha}" in problems
    assert f'monitor: {opml}:8: xmlUrl "ftp://files.example.org/feed.xml" is not an http(s) URL' in problems
    assert problems[-1] == (
        f"imported {opml}: 3 feeds added, 0 already watched, 1 duplicates and 1 invalid entries skipped"
    )
    assert len(problems) == 3

    listed = ok(config, "feeds", "list").stdout
    assert "(no title yet) [ok; config]" in listed and configured in listed
    for title, url in [("Alpha News", alpha), ("Beta Daily", beta), ("Gamma Weekly", gamma)]:
        assert f"{title} [ok; opml]\n    {url}\n    0 articles" in listed
    assert "ftp://" not in listed and listed.count(alpha) == 1

    polled = ok(config, "poll")
    assert "polled 4 feeds" in polled.stderr and "8 new articles" in polled.stderr
    assert [feed_server.count(p) for p in ("/configured.xml", "/alpha.xml", "/beta.xml", "/gamma.xml")] == [
        1,
        1,
        1,
        1,
    ]
    db = tmp_path / "monitor.db"
    assert [articles_of(db, url) for url in (configured, alpha, beta, gamma)] == [2, 3, 2, 1]
    titles = {r[0] for r in db_rows(db, "select title from articles where feed = ?", beta)}
    assert titles == {"Beta report 0", "Beta report 1"}

    again = ok(config, "feeds", "import", str(opml))
    assert (
        f"imported {opml}: 0 feeds added, 3 already watched, 1 duplicates and 1 invalid entries skipped"
        in again.stderr
    )
    # The OPML title stays the feed's name: the channel's own <title> does not replace it.
    names = {f["url"]: (f["name"], f["origin"], f["articles"]) for f in feed_list(config)}
    assert names == {
        configured: ("Configured", "config", 2),
        alpha: ("Alpha News", "opml", 3),
        beta: ("Beta Daily", "opml", 2),
        gamma: ("Gamma Weekly", "opml", 1),
    }


def test_export_is_opml_2_and_round_trips(feed_server, write_config, tmp_path):
    configured = feed_server.add("/configured.xml", rss("Configured", items("Config", 1)))
    imported = [feed_server.url(f"/imported-{i}.xml?lang=en&x={i}") for i in range(2)]
    config = write_config([configured])
    opml = write_opml(
        tmp_path / "in.opml",
        [
            outline("Tom &amp; Jerry", imported[0].replace("&", "&amp;")),
            outline("Plain", imported[1].replace("&", "&amp;")),
        ],
    )
    ok(config, "feeds", "import", str(opml))

    exported = ok(config, "feeds", "export")
    root = ET.fromstring(exported.stdout)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.find("head/title") is not None and root.find("body") is not None
    outlines = {o.get("xmlUrl"): o.get("title") for o in root.iter("outline") if o.get("xmlUrl")}
    assert outlines == {configured: None, imported[0]: "Tom & Jerry", imported[1]: "Plain"}

    to_file = tmp_path / "export.opml"
    written = ok(config, "feeds", "export", "-o", str(to_file))
    assert written.stdout == "" and f"exported 3 feeds to {to_file}" in written.stderr
    assert ET.parse(to_file).getroot().get("version") == "2.0"

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    fresh_config = fresh / "monitor.toml"
    fresh_config.write_text(
        config.read_text(encoding="utf-8")
        .replace(str(tmp_path / "monitor.db"), str(fresh / "monitor.db"))
        .split("[[feeds]]")[0],
        encoding="utf-8",
    )
    back = ok(fresh_config, "feeds", "import", str(to_file))
    assert "3 feeds added, 0 already watched, 0 duplicates and 0 invalid entries skipped" in back.stderr
    feeds = feed_list(fresh_config)
    assert {f["url"] for f in feeds} == {configured, *imported}
    assert {f["name"] for f in feeds if f["url"] in imported} == {"Tom & Jerry", "Plain"}
    assert {f["origin"] for f in feeds} == {"opml"}


# --- suspension, resume, remove ---------------------------------------------------------------


def test_410_suspends_until_resumed(feed_server, write_config):
    good = feed_server.add("/good.xml", rss("Good", items("Good", 2)))
    gone = feed_server.misbehave("/gone.xml", "status", code=410)
    config = write_config([good, gone])

    first = ok(config, "poll")
    assert f"monitor: feed {gone}: HTTP 410" in first.stderr
    status = ok(config, "status").stdout
    assert f"{gone}\n    last check" in status
    gone_block = status.split(f"    {gone}\n", 1)[1].split("\n", 1)[0]
    assert "SUSPENDED" in gone_block and "410" in gone_block and "monitor feeds resume URL" in gone_block
    assert "feeds: 2 (" in status and "1 suspended" in status
    listed = ok(config, "feeds", "list").stdout
    assert f"(no title yet) [SUSPENDED; config]\n    {gone}\n" in listed
    assert "410" in listed.split(gone, 1)[1]
    assert [f["status"] for f in feed_list(config) if f["url"] == gone] == ["suspended"]

    second = ok(config, "poll")
    assert feed_server.count("/gone.xml") == 1, "a suspended feed is not fetched"
    assert feed_server.count("/good.xml") == 2
    assert "polled 1 feeds" in second.stderr and gone not in second.stderr

    feed_server.add("/gone.xml", rss("Back", items("Back", 1)))  # the publisher restored it
    resumed = ok(config, "feeds", "resume", gone)
    assert f"resumed {gone}" in resumed.stderr
    third = ok(config, "poll")
    assert feed_server.count("/gone.xml") == 2
    assert "polled 2 feeds" in third.stderr and "0 failed" in third.stderr
    assert [(f["status"], f["articles"]) for f in feed_list(config) if f["url"] == gone] == [("active", 1)]

    unknown = cli(config, "feeds", "resume", "https://never.example/rss")
    assert_one_line_error(unknown, "no such feed: https://never.example/rss")


def test_remove_stops_polling_an_imported_feed_but_not_a_configured_one(feed_server, write_config, tmp_path):
    configured = feed_server.add("/configured.xml", rss("Configured", items("Config", 1)))
    extra = feed_server.add("/extra.xml", rss("Extra", items("Extra", 2)))
    config = write_config([configured])
    ok(config, "feeds", "import", str(write_opml(tmp_path / "x.opml", [outline("Extra", extra)])))
    assert "polled 2 feeds" in ok(config, "poll").stderr
    assert feed_server.count("/extra.xml") == 1

    removed = ok(config, "feeds", "remove", extra)
    assert f"removed {extra}; its articles stay in the archive" in removed.stderr
    after = ok(config, "poll")
    assert "polled 1 feeds" in after.stderr
    assert feed_server.count("/extra.xml") == 1 and feed_server.count("/configured.xml") == 2
    assert articles_of(tmp_path / "monitor.db", extra) == 2

    refused = cli(config, "feeds", "remove", configured)
    assert_one_line_error(refused, configured, "config file", "[[feeds]]")
    assert [f["url"] for f in feed_list(config)] == [configured]


# --- one writer: run, poll, readers, backup ---------------------------------------------------


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MONITOR_"))}


def start_run(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def wait_for(what: str, done: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"monitor run ended early ({proc.returncode}): {proc.communicate()[1]}")
        try:
            if done():
                return
        except sqlite3.OperationalError:  # the archive is not there yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_writer_readers_and_backup_while_running(feed_server, write_config, tmp_path):
    url = feed_server.add("/feed.xml", rss("Feed", items("Harbour", 3)))
    config = write_config([url])
    db = tmp_path / "monitor.db"
    lock = tmp_path / "monitor.db.lock"
    run = start_run(config)
    try:
        wait_for("the first pass", lambda: articles_of(db, url) == 3, run)
        assert lock.read_text() == f"{run.pid}\n"

        # While it runs, all at once: a second writer is refused, readers and backup work.
        copy = tmp_path / "backups" / "copy.db"
        jobs = {
            "poll": ["poll"],
            "run": ["run"],
            "search": ["search", "--json", "harbour"],
            "status": ["status"],
            "backup": ["backup", str(copy)],
        }
        procs = {
            name: subprocess.Popen(
                [sys.executable, "-m", "monitor", "--config", str(config), *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=clean_env(),
            )
            for name, args in jobs.items()
        }
        results = {}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=30)
            results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        assert run.poll() is None, "the running monitor is not disturbed"

        for name in ("poll", "run"):
            assert_one_line_error(results[name], f"another monitor (pid {run.pid})", str(db))
        assert feed_server.count("/feed.xml") == 1, "the refused poll fetched nothing"
        assert results["search"].returncode == 0, results["search"].stderr
        assert len(results["search"].stdout.splitlines()) == 3
        assert results["status"].returncode == 0, results["status"].stderr
        assert "3 articles" in results["status"].stdout
        assert results["backup"].returncode == 0, results["backup"].stderr
        assert f"backed up {db} to {copy}" in results["backup"].stderr
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert copy.read_bytes()[:16] == b"SQLite format 3\x00"
        assert db_rows(copy, "select count(*) from articles") == db_rows(db, "select count(*) from articles")
        again = cli(config, "backup", str(copy))
        assert_one_line_error(again, "already exists")

        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=15)
    finally:
        run.kill()
    assert run.returncode == 0, err
    assert "event=started" in err and "event=stopped" in err and "Traceback" not in err

    after = ok(config, "poll")
    assert "polled 1 feeds" in after.stderr
    assert feed_server.count("/feed.xml") == 2


def test_a_killed_run_does_not_block_the_next_writer(feed_server, write_config, tmp_path):
    url = feed_server.add("/feed.xml", rss("Feed", items("Harbour", 1)))
    config = write_config([url])
    lock = tmp_path / "monitor.db.lock"
    run = start_run(config)
    try:
        wait_for("the lock", lambda: lock.exists() and lock.read_text() == f"{run.pid}\n", run)
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=15)
    finally:
        run.kill()
    assert run.returncode == -signal.SIGKILL
    assert lock.read_text() == f"{run.pid}\n", "kill -9 leaves the pid behind"

    result = ok(config, "poll")
    assert "another monitor" not in result.stderr and "polled 1 feeds" in result.stderr


# --- prune ------------------------------------------------------------------------------------


def test_prune_old_articles_keeps_their_identity(feed_server, write_config, tmp_path):
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "zebra.toml").write_text(
        '[[rule]]\nid = "zebra"\nname = "Zebrafish"\nquery = "zebrafish"\n', encoding="utf-8"
    )
    old = items("Quay", 2, published=OLD)
    matched = Item("Zebrafish study from 2020", "A zebrafish lab in Kyoto.", OLD, "https://lab.invalid/zebra")
    recent = items("Fresh", 1)
    url = feed_server.add("/feed.xml", rss("Feed", [*recent, matched, *old]))
    config = write_config([url], rules=rules)
    db = tmp_path / "monitor.db"

    first = ok(config, "poll")
    assert "4 new articles" in first.stderr and "1 sent" in first.stderr
    assert "Zebrafish study from 2020" in first.stdout  # the console alert

    # Just archived: however old their dates, articles first seen now are kept.
    assert "deleted 0 articles older than 180d" in ok(config, "prune", "--older-than", "180d").stderr
    # Months later: every article was first seen long ago.
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("update articles set first_seen = '2020-03-02T00:00:00Z'")
    conn.close()

    pruned = ok(config, "prune", "--older-than", "180d")
    assert "deleted 2 articles older than 180d (matched articles kept)" in pruned.stderr
    titles = {r[0] for r in db_rows(db, "select title from articles")}
    assert titles == {"Fresh report 0", "Zebrafish study from 2020"}
    assert db_rows(db, "select count(*) from matches") == [(1,)]

    everything = ok(config, "prune", "--older-than", "180d", "--include-matched")
    assert "deleted 1 articles older than 180d" in everything.stderr
    assert "matched articles kept" not in everything.stderr
    assert {r[0] for r in db_rows(db, "select title from articles")} == {"Fresh report 0"}
    assert db_rows(db, "select count(*) from matches") == [(0,)]

    # The feed still carries the pruned items (and one new one): only the new one is archived.
    newest = Item(
        "Fresh report new", "The fresh town council met again.", datetime.now(UTC), "https://n.invalid/1"
    )
    feed_server.add("/feed.xml", rss("Feed", [newest, *recent, matched, *old]))
    later = ok(config, "poll")
    assert feed_server.count("/feed.xml") == 2
    assert "1 new articles" in later.stderr and "0 queued" in later.stderr
    assert "Zebrafish" not in later.stdout
    assert {r[0] for r in db_rows(db, "select title from articles")} == {"Fresh report 0", "Fresh report new"}

    assert_one_line_error(cli(config, "prune", "--older-than", "soon"), "--older-than", "soon")
