"""`monitor run` follows its config and rule files, and each feed is on its own clock (issue 14).

A real `monitor run` subprocess, real files edited on disk, the loopback feed server; every
wait is for something to happen, never a measured duration. The deadlines are generous but
for the bounds the issue's "Done when" sets: an interval lowered from 600 s to 2 s applies
within 5 s of the edit; a feed made due by `monitor feeds` is fetched within 5 s, where the
service used to wait up to its 10 s tick.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.test_manage import cli, items, ok
from tests.conftest import rss

pytestmark = pytest.mark.slow  # a real `monitor run` per test: seconds each

FAST = '[schedule]\ninterval = "2s"\nmin_interval = "1s"\njitter = 0'


def start_run(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MONITOR_"))}
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )


def wait_for(what: Callable[[], object], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.05)
    return bool(what())


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=30)
    finally:
        process.kill()


def articles(db: Path, feed: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("select count(*) from articles where feed = ?", [feed]).fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0


def test_a_running_service_follows_feeds_added_removed_and_a_lowered_interval(
    feed_server, write_config, seeds, tmp_path
):
    a = feed_server.add("/a.xml", rss("A", seeds[:1]))
    b = feed_server.add("/b.xml", rss("B", seeds[1:2]))
    slow = feed_server.add("/slow.xml", rss("Slow", seeds[2:3]))
    config = write_config([a, slow], extra=FAST.replace('"2s"', '"600s"'))
    log = tmp_path / "run.log"
    process = start_run(config, log)
    try:
        assert wait_for(lambda: feed_server.count("/a.xml") >= 1 and feed_server.count("/slow.xml") >= 1)

        # Interval 600 s -> 2 s: counted from the last check, so the feeds are due again at once.
        config.write_text(config.read_text().replace('"600s"', '"2s"'))
        assert wait_for(lambda: feed_server.count("/slow.xml") >= 2, timeout=5)
        assert "config reloaded" in log.read_text()

        # A feed added to the file is fetched at once; a removed one is not fetched again.
        text = config.read_text().replace(f'[[feeds]]\nurl = "{a}"\n', f'[[feeds]]\nurl = "{b}"\n')
        config.write_text(text)
        assert wait_for(lambda: feed_server.count("/b.xml") >= 1, timeout=10)
        assert "+1 feed, -1 feed" in log.read_text()
        fetched = feed_server.count("/a.xml")
        assert wait_for(lambda: feed_server.count("/b.xml") >= 3)  # b: two more passes at 2 s
        assert feed_server.count("/a.xml") == fetched
        assert stop(process) == 0
    finally:
        process.kill()
    text = log.read_text()
    assert "Traceback" not in text and "event=stopped" in text


def matched(db: Path, title: str) -> list[str]:
    """The rules that matched the archived article of that title."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            sql = "select rule_id from matches join articles on articles.id = article_id where title = ?"
            return [row[0] for row in conn.execute(sql, [title])]
        except sqlite3.OperationalError:  # not created yet
            return []


def test_a_broken_rule_file_keeps_the_old_rules_and_sighup_reloads(feed_server, write_config, tmp_path):
    rules = tmp_path / "myrules"
    rules.mkdir()
    rule = rules / "mine.toml"
    rule.write_text('[[rule]]\nid = "chips"\nname = "Chips"\nquery = "semiconductor*"\n')
    url = feed_server.add("/a.xml", rss("A", []))
    config = write_config([url], rules=rules, extra=FAST)
    db = tmp_path / "monitor.db"
    log = tmp_path / "run.log"
    process = start_run(config, log)
    try:
        assert wait_for(lambda: "event=pass" in log.read_text() or feed_server.count("/a.xml") >= 1)
        # A query that does not parse: its file and line (and where in the query) in one line.
        rule.write_text('[[rule]]\nid = "chips"\nname = "Chips"\nquery = "semiconductor AND (fab"\n')
        assert wait_for(lambda: "event=config_rejected" in log.read_text())
        rejected = next(line for line in log.read_text().splitlines() if "config_rejected" in line)
        assert f"{rule}:4" in rejected and "chips" in rejected and "position" in rejected
        # A file that is not TOML any more: its file and line too.
        rule.write_text('[[rule]]\nid = "chips"\nname = "Chips\nquery = "semiconductor*"\n')
        assert wait_for(lambda: log.read_text().count("event=config_rejected") == 2)
        rejected = [line for line in log.read_text().splitlines() if "config_rejected" in line][-1]
        assert f"{rule}:3" in rejected and "invalid TOML" in rejected
        assert process.poll() is None, "still running"
        # ... on the last good rules: a new article is matched by the old query.
        news = items("Semiconductor", 1)
        feed_server.add("/a.xml", rss("A", news))
        assert wait_for(lambda: matched(db, news[0].title) == ["chips"])
        assert "Traceback" not in log.read_text()

        rule.write_text('[[rule]]\nid = "chips"\nname = "Chips"\nquery = "semiconductor*"\n')
        assert wait_for(lambda: log.read_text().count("config reloaded") == 1)  # the rules fixed

        # A change the file watcher cannot see (same size, same modification time): SIGHUP.
        before = config.stat()
        config.write_text(config.read_text().replace("/a.xml", "/b.xml"))
        os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: feed_server.count("/b.xml") >= 1, timeout=10)
        assert stop(process) == 0
    finally:
        process.kill()
    assert "Traceback" not in log.read_text()


def test_a_dripping_feed_first_holds_back_no_neighbour_and_ctrl_c_keeps_them(
    feed_server, write_config, seeds, tmp_path
):
    drip = feed_server.misbehave("/drip.xml", "drip", interval=1.0)
    fast = [feed_server.add(f"/fast{i}.xml", rss(f"Fast {i}", seeds[i : i + 1])) for i in (0, 1)]
    config = write_config([drip, *fast])
    config.write_text(config.read_text().replace('deadline = "3s"', 'deadline = "30s"'))
    db = tmp_path / "monitor.db"
    log = tmp_path / "run.log"
    process = start_run(config, log)
    started = time.monotonic()
    try:
        # The fast feeds are archived while the dripping one, listed first, is still being read.
        assert wait_for(lambda: all(articles(db, url) == 1 for url in fast), timeout=15)
        assert feed_server.count("/drip.xml") == 1 and process.poll() is None
        time.sleep(max(0.0, started + 3 - time.monotonic()))  # Ctrl-C 3 s in, as a user would
        assert stop(process, signal.SIGINT) == 130
    finally:
        process.kill()
    assert [articles(db, url) for url in fast] == [1, 1]
    text = log.read_text()
    assert "feeds_cut_short=1" in text and "Traceback" not in text


def test_a_feed_added_or_resumed_with_the_cli_is_fetched_by_the_running_service_within_seconds(
    feed_server, write_config, seeds, tmp_path
):
    a = feed_server.add("/a.xml", rss("A", seeds[:1]))
    b = feed_server.add("/b.xml", rss("B", seeds[1:2]))
    config = write_config([a], extra=FAST.replace('"2s"', '"600s"'))  # nothing due again by itself
    log = tmp_path / "run.log"
    process = start_run(config, log)
    try:
        assert wait_for(lambda: "event=pass" in log.read_text())
        ok(cli(config, "feeds", "add", b))  # another process writes the archive
        assert wait_for(lambda: feed_server.count("/b.xml") >= 1, timeout=5)
        result = ok(cli(config, "feeds", "resume", a))  # active: due at once all the same
        assert (
            result.stderr.strip()
            == f"{a} is not suspended; due now: checked within seconds while monitor run is up"
        )
        assert wait_for(lambda: feed_server.count("/a.xml") >= 2, timeout=5)
        assert stop(process) == 0
    finally:
        process.kill()
    text = log.read_text()
    assert "Traceback" not in text
    assert "config_reloaded" not in text, "nothing changed the config (a stop is not a reload)"


def test_a_feed_due_again_while_a_slow_neighbour_holds_its_pass_is_fetched_on_its_own_clock(
    feed_server, write_config, seeds, tmp_path
):
    drip = feed_server.misbehave("/drip.xml", "drip", interval=1.0)
    fast = feed_server.add("/fast.xml", rss("Fast", seeds[:1]))
    config = write_config([drip, fast], extra=FAST)  # every 2 s
    config.write_text(config.read_text().replace('deadline = "3s"', 'deadline = "30s"'))
    log = tmp_path / "run.log"
    process = start_run(config, log)
    try:
        # The first pass waits for the dripping feed (30 s); the fast one, due every 2 s, joins
        # it again and again instead of waiting for its end.
        assert wait_for(lambda: feed_server.count("/fast.xml") >= 3, timeout=15)
        assert feed_server.count("/drip.xml") == 1 and "event=pass " not in log.read_text()
        assert stop(process) == 0
    finally:
        process.kill()
    assert "Traceback" not in log.read_text()
