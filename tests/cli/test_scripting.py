"""Issue 16, as a user meets it: the real `monitor` command in a subprocess, what it prints.

Start-up without the service's libraries, answers that say what happened (all feeds failed,
unknown rule ids, a query searched as plain words, alerts a rule would send, the outbox as it
is), and scripting: pipes closed early, --json as JSON Lines everywhere, global options after
the command, prune --dry-run, export and backup alike on an existing file, `match -`, OPML folders.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from tests.chatkit import items as items_of
from tests.cli.test_cli import assert_one_line_error, monitor
from tests.cli.test_manage import OLD, cli, items, ok, write_opml
from tests.conftest import ROOT, SEEDS, rss

pytestmark = pytest.mark.slow

SERVICE_LIBRARIES = ("telegram", "httpx", "httpcore", "apscheduler", "prometheus_client", "feedparser")
# and sqlite-utils (with click, pluggy, dateutil: about 50 ms): the archive reads through sqlite3
WRITER_LIBRARIES = ("sqlite_utils", "click", "pluggy", "dateutil")
# and what no such command needs (README "CLI start-up"): shutil with bz2 and lzma (argparse's
# formatter asks it the terminal's width), zoneinfo with sysconfig (checking [[chats]] zones)
STDLIB_LEFT_OUT = ("shutil", "bz2", "lzma", "zoneinfo", "sysconfig")
# per command: the modules it does without (json: only --json prints it)
MODULES_LEFT_OUT = {
    "rules check": (
        "monitor.rules.trial",
        "monitor.rules.explain",
        "monitor.archive",
        "monitor.ingest",
        "json",
    ),
    "search": ("monitor.rules", "monitor.ingest"),
    "status": ("monitor.rules",),
    "feeds list": ("monitor.rules",),
}


def imported(result: subprocess.CompletedProcess[str], whole: bool = False) -> set[str]:
    """Top-level packages a `python -X importtime` run imported (every module, if whole)."""
    names = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    return names if whole else {name.split(".")[0] for name in names}


def test_archive_and_rules_commands_start_without_the_service(feed_server, write_config, seeds):
    config = write_config([feed_server.add("/seeds.xml", rss("Seeds", seeds))])
    assert monitor("--config", str(config), "poll").returncode == 0
    for key, command in MODULES_LEFT_OUT.items():
        command = ["search", "Motegi"] if key == "search" else key.split()
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "monitor", "--config", str(config), *command],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        left_out = SERVICE_LIBRARIES + WRITER_LIBRARIES + STDLIB_LEFT_OUT
        assert imported(result).isdisjoint(left_out), (command, imported(result))
        modules = imported(result, whole=True)
        assert modules.isdisjoint(MODULES_LEFT_OUT[key]), (command, sorted(modules))
    assert "New here? Try `monitor demo`" in monitor("--help").stdout


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_pass_where_every_feed_fails_says_what_to_try(write_config, tmp_path):
    urls = [f"http://127.0.0.1:{closed_port()}/feed{i}.xml" for i in range(3)]
    config = write_config(urls)
    result = monitor("--config", str(config), "poll")
    assert result.returncode == 0, result.stderr
    assert '3 of 3 feeds failed: no network? try "monitor demo"' in result.stderr
    assert f"config {config}; archive {tmp_path / 'monitor.db'}" in result.stderr
    status = ok(cli(config, "status")).stdout
    assert status.splitlines()[:2] == [f"config {config}", f"archive {tmp_path / 'monitor.db'}"]


def test_the_poll_summary_counts_the_outbox_as_it_is(feed_server, telegram_api, write_config, seeds):
    """Telegram down: nothing sent, and the summary's waiting alerts are the outbox's pending ones."""
    config = write_config([feed_server.add("/seeds.xml", rss("Seeds", seeds))], telegram=telegram_api.bot_url)
    telegram_api.fail_next(50, status=502)
    result = monitor("--config", str(config), "poll", env={"TELEGRAM_BOT_TOKEN": telegram_api.token})
    assert result.returncode == 0, result.stderr
    queued = int(re.search(r"alerts: (\d+) queued by this pass, 0 sent", result.stderr)[1])
    waiting = int(re.search(r"(\d+) waiting in the outbox", result.stderr)[1])
    status = json.loads(monitor("--config", str(config), "status", "--json").stdout)
    assert queued >= 2 and waiting == queued == status["alerts"]["pending"]


def test_rule_ids_fts_fallback_and_rules_test_counts(feed_server, write_config, seeds):
    wire = feed_server.add("/wire.xml", rss("Wire", [seeds[0], seeds[1]]))
    gazette = feed_server.add("/gazette.xml", rss("Gazette", [seeds[2], seeds[3]]))
    config = write_config([wire, gazette])
    assert monitor("--config", str(config), "poll").returncode == 0

    unknown = monitor("--config", str(config), "rules", "test", "nonexistent-rule", "--since", "2000d")
    assert_one_line_error(
        unknown, "no rule with id 'nonexistent-rule'", "high-speed-rail", "critical-minerals"
    )
    one_word = monitor("--config", str(config), "rules", "test", "defense", "--since", "2000d")
    assert (
        one_word.returncode == 0 and "no rule with id 'defense', so it was run as a query" in one_word.stderr
    )
    by_search = monitor("--config", str(config), "search", "--rule", "nosuchrule", "dialogue")
    assert_one_line_error(by_search, "no rule with id 'nosuchrule'", "high-speed-rail")

    fallback = monitor("--config", str(config), "search", "Motegi AND (")
    assert fallback.returncode == 0 and "seed/" in fallback.stdout
    assert 'searched as plain words: "Motegi" "AND" "("' in fallback.stderr

    # Two outlets report each of two events: four articles, two stories, two alerts.
    trial = monitor("--config", str(config), "rules", "test", "dialogue OR Oue", "--since", "2000d")
    assert "4 of 4 articles in the last 2000d matched; it would have sent 2 alerts" in trial.stdout
    assert "(2 joined a story already alerted)" in trial.stdout
    report = json.loads(
        monitor(
            "--config", str(config), "rules", "test", "dialogue OR Oue", "--since", "2000d", "--json"
        ).stdout
    )
    assert (report["matched"], report["alerts"]) == (4, 2)


def test_json_lines_global_options_after_the_command_and_match_stdin(feed_server, write_config, seeds):
    config = write_config([feed_server.add("/seeds.xml", rss("Seeds", seeds))])
    assert monitor("poll", "--config", str(config)).returncode == 0
    runs = {
        "status": ["status", "--json"],
        "feeds": ["feeds", "list", "--json", "--config", str(config), "--log-level", "DEBUG"],
        "search": ["search", "--json", "Motegi"],
        "rules test": ["rules", "test", "--json", "high-speed-rail", "--since", "2000d"],
        "match": ["match", "--json", *sorted(str(p) for p in SEEDS.glob("*.txt"))[:2]],
    }
    for name, args in runs.items():
        result = monitor(*args[:1], "--config", str(config), *args[1:])
        assert result.returncode == 0, (name, result.stderr)
        lines = result.stdout.splitlines()
        assert lines and all(isinstance(json.loads(line), dict) for line in lines), name
    status = json.loads(monitor("status", "--json", "--config", str(config)).stdout)
    assert status["feeds"][0]["articles"] == 5 and status["archive"].endswith("monitor.db")

    seed = sorted(SEEDS.glob("*.txt"))[0]
    piped = subprocess.run(
        [sys.executable, "-m", "monitor", "match", "--config", str(config), "-"],
        input=seed.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    from_file = monitor("match", "--config", str(config), str(seed))
    assert piped.returncode == 0 and piped.stdout.startswith("-: ")
    assert piped.stdout[3:] == from_file.stdout[len(str(seed)) + 2 :] and "no match" not in piped.stdout


def test_pipes_closed_early_and_opml_folders(write_config, tmp_path):
    """Enough feeds that their listing outgrows a pipe's buffer, filed in folders."""
    outlines = ['<outline text="Asia"><outline text="Japan">']
    outlines += [
        f'<outline type="rss" text="Tokyo {i}" xmlUrl="https://t{i}.invalid/rss"/>' for i in range(600)
    ]
    outlines += ["</outline></outline>", '<outline title="Markets">']
    outlines += [
        f'<outline type="rss" text="Desk {i}" xmlUrl="https://m{i}.invalid/rss"/>' for i in range(600)
    ]
    outlines += ["</outline>", '<outline type="rss" text="Loose" xmlUrl="https://loose.invalid/rss"/>']
    opml = write_opml(tmp_path / "reader.opml", outlines)
    config = write_config([])
    imported_ = ok(cli(config, "feeds", "import", str(opml)))
    assert "1201 feeds added, 0 already watched in 2 folders" in imported_.stderr

    for command in ("status", "feeds list"):
        piped = subprocess.run(
            f"{sys.executable} -m monitor --config {config} {command} | head -1",
            shell=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert piped.stdout.count("\n") == 1 and piped.stderr == "", (command, piped.stderr[-1500:])

    listing = ok(cli(config, "feeds", "list")).stdout
    assert "Asia / Japan / Tokyo 7 [ok; opml]" in listing and "Markets / Desk 3 [ok; opml]" in listing
    assert re.search(r"^Loose \[ok; opml\]$", listing, re.MULTILINE)
    rows = [json.loads(line) for line in ok(cli(config, "feeds", "list", "--json")).stdout.splitlines()]
    assert {r["folder"] for r in rows} == {"Asia / Japan", "Markets", None}

    exported = ok(cli(config, "feeds", "export")).stdout
    body = ET.fromstring(exported).find("body")
    assert body is not None
    asia = next(o for o in body if o.get("text") == "Asia")
    japan = next(o for o in asia if o.get("text") == "Japan")
    assert len(japan) == 600 and all(o.get("xmlUrl") for o in japan)

    # Folders survive a round trip into a fresh archive.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "reader.opml").write_text(exported, encoding="utf-8")
    again = fresh / "monitor.toml"
    again.write_text(config.read_text().replace(str(tmp_path / "monitor.db"), str(fresh / "m.db")))
    ok(cli(again, "feeds", "import", str(fresh / "reader.opml")))
    assert "Asia / Japan / Tokyo 7 [ok; opml]" in ok(cli(again, "feeds", "list")).stdout


def test_export_and_backup_refuse_an_existing_file_alike(feed_server, write_config, tmp_path, seeds):
    config = write_config([feed_server.add("/seeds.xml", rss("Seeds", seeds))])
    ok(cli(config, "poll"))
    for command, target in (("feeds export -o", tmp_path / "feeds.opml"), ("backup", tmp_path / "copy.db")):
        target.write_text("mine")
        refused = cli(config, *command.split(), str(target))
        assert_one_line_error(refused, str(target), "already exists", "--force")
        assert target.read_text() == "mine"
        ok(cli(config, *command.split(), str(target), "--force"))
        assert target.read_text(errors="replace") != "mine"
    conn = sqlite3.connect(tmp_path / "copy.db")
    assert conn.execute("select count(*) from articles").fetchone()[0] == 5
    conn.close()
    assert b"<opml" in (tmp_path / "feeds.opml").read_bytes()
    assert not list(tmp_path.glob(".*.partial"))


def test_prune_dry_run_deletes_nothing(feed_server, write_config, tmp_path):
    url = feed_server.add("/feed.xml", rss("Feed", [*items("Fresh", 1), *items("Quay", 3, published=OLD)]))
    config = write_config([url])
    ok(cli(config, "poll"))
    conn = sqlite3.connect(tmp_path / "monitor.db")
    with conn:
        conn.execute("update articles set first_seen = '2020-03-02T00:00:00Z'")
    dry = ok(cli(config, "prune", "--older-than", "180d", "--dry-run"))
    assert "would delete 3 articles published and first seen over 180d ago" in dry.stderr
    assert "nothing deleted (--dry-run)" in dry.stderr
    assert conn.execute("select count(*) from articles").fetchone()[0] == 4
    real = ok(cli(config, "prune", "--older-than", "180d"))
    assert "deleted 3 articles" in real.stderr
    assert conn.execute("select count(*) from articles").fetchone()[0] == 1
    conn.close()


def test_the_writer_lock_file_is_ignored_by_git():
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "monitor.db.lock"], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.stdout.strip() == "monitor.db.lock"


def test_demo_runs_from_a_fresh_install_outside_the_checkout(tmp_path):
    """`pip install .` into a new venv (from PyPI), then `monitor demo` from an empty folder."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    demo = subprocess.run(
        [str(venv / "bin" / "monitor"), "demo"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    assert "Vikram Misri" in demo.stdout and "8 articles archived" in demo.stderr
    # 3 story alerts, and 2 more for reports matching rules new to their story, or none: as the
    # demo's feeds happen to answer (feeds are handled as they answer)
    assert re.search(r"\b[35] alerts printed", demo.stderr) and str(ROOT) not in demo.stdout + demo.stderr


def test_also_reported_by_names_each_outlet_once_with_a_count(feed_server, write_config, seeds):
    """One event from the Wire and twice from the Gazette (a second Gazette feed republishes it)."""
    copy = replace(seeds[2], link=seeds[2].link + "-copy")
    wire = feed_server.add("/wire.xml", rss("Wire", [seeds[0]]))
    # in this order (feeds are handled as they answer): the Wire's alert lists the Gazette twice
    gazette = feed_server.add("/gazette.xml", rss("Gazette", [seeds[2]]), delay=0.4)
    again = feed_server.add("/gazette-asia.xml", rss("Gazette", [copy]), delay=0.8)
    config = write_config([wire, gazette, again])
    result = monitor("--config", str(config), "poll")
    assert result.returncode == 0, result.stderr
    also = [line for line in result.stdout.splitlines() if "Also reported by" in line]
    # The story's alert, and the Gazette's own for the rule new to the story (indo-pacific)
    assert len(also) == 2 and also[0].count("Gazette") == 1, result.stdout
    assert also[0].endswith("(2 reports)"), also


def test_the_service_counts_every_watched_feed_and_sums_up_each_pass(
    feed_server, write_config, tmp_path, seeds
):
    configured = feed_server.add("/seeds.xml", rss("Seeds", seeds[:1]))
    # the feed server is on loopback: an OPML import of its feeds needs allow_private
    down = f"http://127.0.0.1:{closed_port()}/down.xml"
    config = write_config([configured, down], fetch='allow_private = ["127.0.0.1"]')
    opml = write_opml(
        tmp_path / "more.opml",
        [
            f'<outline type="rss" text="More {i}" xmlUrl="{feed_server.add(f"/more{i}.xml", rss("M", []))}"/>'
            for i in range(3)
        ],
    )
    ok(cli(config, "feeds", "import", str(opml)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "event=pass_summary" in line:
                break
        proc.terminate()
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    log = "".join(lines)
    assert "event=started feeds=5 " in log and f"config={config}" in log and "archive=" in log, log
    summary = next(line for line in lines if "event=pass_summary" in line)
    assert "polled 5 feeds" in summary and "1 failed" in summary and "next pass 20" in summary, summary


def test_the_digest_a_user_asks_for_logs_the_count_its_text_gives(chat_config, telegram_api):
    """Two reports of one story (a copy under another link), through the real `monitor run`:
    asked for with /digest in the chat, the digest says "1 article", and its log line counts the
    same (and the reports apart)."""
    import os
    import signal

    (first,) = items_of("semiconductor", 1)
    copy = replace(first, link=first.link.replace("?utm=feed", "-copy"))
    config = chat_config('[[chats]]\nid = "1001"\ndigest = "daily 08:00"\n', feed=[first, copy])
    text = config.read_text(encoding="utf-8").replace("[telegram]\n", "[telegram]\nallowed_users = [1001]\n")
    config.write_text(text, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        env={**os.environ, "TELEGRAM_BOT_TOKEN": telegram_api.token},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert telegram_api.wait_for(lambda: len(telegram_api.messages) >= 1, 30)  # the alert
        telegram_api.push_message("/digest")  # from user 1001, in the private chat 1001
        assert telegram_api.wait_for(lambda: "digest" in telegram_api.messages[-1].visible_text, 30)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert "1 article in 1 topic" in telegram_api.messages[-1].visible_text
    (line,) = [line for line in err.splitlines() if "event=digest_queued" in line]
    assert "articles=1 reports=2" in line, line


def test_a_long_pass_shows_its_progress_on_a_terminal_only(feed_server, write_config, seeds):
    """Two feeds answer at once, one after 5 s: on a terminal the pass shows how far it got."""
    import os
    import pty

    quick = [feed_server.add(f"/quick{i}.xml", rss(f"Quick {i}", [seed])) for i, seed in enumerate(seeds[:2])]
    slow = feed_server.add("/slow.xml", rss("Slow", seeds[4:]), delay=5.0)
    config = write_config([*quick, slow])
    text = config.read_text().replace('deadline = "3s"\ntimeout = "2s"', 'deadline = "20s"\ntimeout = "15s"')
    config.write_text(text)
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "poll"],
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's other end closed: the command is done
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0, seen
    finally:
        os.close(leader)
    text = seen.decode("utf-8", "replace")
    assert re.search(r"\r\x1b\[Kfeeds 2/3, 2 new articles, 2 alerts queued", text), text
    assert "polled 3 feeds" in text
    piped = monitor("--config", str(config), "poll")  # not a terminal: no progress line
    assert "feeds 2/3" not in piped.stderr and "\r" not in piped.stderr
