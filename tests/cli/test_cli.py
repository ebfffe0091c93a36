"""The command line as a user runs it: real processes, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.cli.demo import NOISE
from tests.conftest import SEEDS, rss

pytestmark = pytest.mark.slow  # end to end: `pytest -m "not slow"` leaves it out

TOKEN = "123456789:AAF-fake-token-for-tests_abcdefghijk"


def monitor(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MONITOR_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("monitor: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_poll_search_status(feed_server, telegram_api, write_config, seeds):
    good = feed_server.add("/good.xml", rss("Good", seeds))
    down = feed_server.misbehave("/down.xml", "status", code=503, headers={"Retry-After": "120"})
    path = write_config([good, down], telegram=telegram_api.bot_url)
    env = {"TELEGRAM_BOT_TOKEN": telegram_api.token}

    result = monitor("--config", str(path), "poll", env=env)
    assert result.returncode == 0, result.stderr
    assert f"monitor: feed {down}: HTTP 503" in result.stderr
    # three stories; 002 and 003 also alert the rules new to theirs
    assert "5 new articles" in result.stderr and "5 sent" in result.stderr
    assert len(telegram_api.messages) == 5
    assert telegram_api.token not in result.stderr + result.stdout

    found = monitor("--config", str(path), "search", "--json", "weaponisation", env=env)
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(hits) == 1 and hits[0]["link"].endswith("004_71219a9ee79dfeb7")
    assert "critical-minerals" in hits[0]["rules"] and hits[0]["feed"] == good
    both = monitor("--config", str(path), "search", "--json", "Motegi", env=env)
    dates = [json.loads(line)["published"] for line in both.stdout.splitlines()]
    assert len(dates) == 2 and dates == sorted(dates, reverse=True)

    by_rule = monitor("--config", str(path), "search", "--rule", "high-speed-rail", "dialogue")
    assert by_rule.returncode == 0 and "[" in by_rule.stdout

    status = monitor("--config", str(path), "status")
    assert status.returncode == 0
    assert "HTTP 503" in status.stdout and "5 articles" in status.stdout
    assert (
        "feeds: 2 (1 failing, 0 suspended, 0 stale); alerts: 0 pending, 0 held for digests, 5 sent"
        in status.stdout
    )
    assert "chat 1001: 0 pending, 0 held, 5 sent" in status.stdout


def test_match_json_on_seeds(write_config):
    path = write_config([])
    files = sorted(str(p) for p in SEEDS.glob("*.txt"))
    result = monitor("--config", str(path), "match", "--json", *files)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in rows] == files
    for row in rows:
        assert row["matches"], row["path"]
        assert all(m["terms"] for m in row["matches"])


def test_match_json_no_match_is_an_empty_list(write_config, tmp_path):
    text = tmp_path / "hockey.txt"
    text.write_text(f"{NOISE[1][0]}\n{NOISE[1][1]}\n")
    result = monitor("--config", str(write_config([])), "match", "--json", str(text))
    assert json.loads(result.stdout) == {"path": str(text), "matches": []}


def test_bad_config_is_one_line(tmp_path):
    path = tmp_path / "monitor.toml"
    path.write_text('[storage]\npath = "x.db"\n\n[[feeds]]\nurl = "https://a.example/"\nevery = "5m"\n')
    assert_one_line_error(monitor("--config", str(path), "poll"), f"{path}:6", "unknown key 'every'")


def test_missing_config_is_one_line(tmp_path):
    assert_one_line_error(monitor("poll", cwd=tmp_path), "config file not found")


def test_bad_rule_is_one_line(tmp_path, write_config):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.toml").write_text('[[rule]]\nid = "broken"\nname = "Broken"\nquery = "(India AND"\n')
    path = write_config([], rules=rules)
    assert_one_line_error(monitor("--config", str(path), "poll"), "bad.toml", "broken")


def test_unwritable_archive_is_one_line(tmp_path, write_config):
    path = write_config([])
    (tmp_path / "monitor.db").mkdir()  # a folder where the archive file should be
    assert_one_line_error(monitor("--config", str(path), "poll"), "monitor.db")


def test_search_before_any_poll(tmp_path, write_config):
    assert_one_line_error(monitor("--config", str(write_config([])), "search", "x"), "archive not found")


def test_demo_runs_offline():
    result = monitor("demo")
    assert result.returncode == 0, result.stderr
    assert "Vikram Misri" in result.stdout
    # 3 story alerts, and one more for each report that matches a rule its story's first report
    # did not: 2 more or none, as the demo's two feeds happen to answer
    assert "8 articles archived" in result.stderr
    assert re.search(r"\b[35] alerts printed", result.stderr), result.stderr
    assert "hockey" not in result.stdout


def test_run_polls_delivers_and_stops_on_sigterm(feed_server, telegram_api, write_config, seeds):
    url = feed_server.add("/feed.xml", rss("Feed", seeds[:2]))
    path = write_config([url], telegram=telegram_api.bot_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MONITOR_"))}
    env["TELEGRAM_BOT_TOKEN"] = telegram_api.token
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(path), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while len(telegram_api.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert len(telegram_api.messages) == 2
    assert proc.returncode == 0, err
    assert "event=stopped" in err and "Traceback" not in err
    assert telegram_api.token not in err + out
    assert "event=pass" in err


def test_rules_check_passes_on_the_shipped_rules(write_config):
    result = monitor("--config", str(write_config([])), "rules", "check")
    assert result.returncode == 0, result.stderr
    assert "all pass" in result.stdout


def rule_file(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "myrules"
    folder.mkdir(exist_ok=True)
    (folder / "mine.toml").write_text(body, encoding="utf-8")
    return folder


def test_rules_check_reports_a_failing_example(tmp_path, write_config):
    folder = rule_file(
        tmp_path,
        '[[rule]]\nid = "chips"\nname = "Chips"\nquery = "semiconductor*"\n'
        'must_match = ["Tata builds a chip plant"]\nmust_not_match = ["Semiconductor stocks fall"]\n',
    )
    result = monitor("--config", str(write_config([], rules=folder)), "rules", "check")
    assert result.returncode == 1
    assert "2 failed" in result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and all("chips" in line and "mine.toml" in line for line in errors)
    assert "Traceback" not in result.stderr


def test_rules_check_reports_a_syntax_error_with_position(tmp_path, write_config):
    folder = rule_file(tmp_path, '[[rule]]\nid = "broken"\nname = "Broken"\nquery = "India AND (Japan"\n')
    result = monitor("--config", str(write_config([], rules=folder)), "rules", "check")
    assert_one_line_error(result, "mine.toml", "broken", "position")


def test_rules_test_over_the_archive(feed_server, write_config, seeds):
    url = feed_server.add("/seeds.xml", rss("Seeds", seeds))
    path = write_config([url])
    assert monitor("--config", str(path), "poll").returncode == 0

    by_id = monitor("--config", str(path), "rules", "test", "high-speed-rail", "--since", "2000d", "--json")
    assert by_id.returncode == 0, by_id.stderr
    report = json.loads(by_id.stdout)
    assert report["articles"] == 5 and report["alerted"] == len(report["samples"]) >= 1
    assert sum(report["per_day"].values()) == report["alerted"]

    query = monitor("--config", str(path), "rules", "test", "Motegi AND Jaishankar", "--since", "2000d")
    assert query.returncode == 0, query.stderr
    assert "query 'Motegi AND Jaishankar': " in query.stdout and "2026-" in query.stdout

    bad = monitor("--config", str(path), "rules", "test", "Motegi AND (", "--since", "2000d")
    assert_one_line_error(bad, "position")


def test_search_one_line_per_story(feed_server, write_config, seeds):
    wire = feed_server.add("/wire.xml", rss("Wire", [seeds[0], seeds[1]]))
    gazette = feed_server.add("/gazette.xml", rss("Gazette", [seeds[2], seeds[3]]))
    path = write_config([wire, gazette])
    assert monitor("--config", str(path), "poll").returncode == 0
    plain = monitor("--config", str(path), "search", "--json", "dialogue OR Oue")
    stories = monitor("--config", str(path), "search", "--stories", "dialogue OR Oue")
    as_json = monitor("--config", str(path), "search", "--stories", "--json", "dialogue OR Oue")
    assert len(plain.stdout.splitlines()) == 4
    lines = stories.stdout.strip().splitlines()
    # Outlets in the order their reports were archived: feeds are handled as they answer.
    assert len(lines) == 2
    assert all("2 reports: Wire, Gazette" in line or "2 reports: Gazette, Wire" in line for line in lines)
    outlets = [sorted(json.loads(line)["outlets"]) for line in as_json.stdout.splitlines()]
    assert outlets == [["Gazette", "Wire"]] * 2


EXPLAINED_RULES = """
[terms]
india = ["India", "New Delhi"]
japan = ["Japan", "Tokyo"]

[[rule]]
id = "pact"
name = "Pact"
query = '''
(title:(@india AND @japan) OR lead:(@india NEAR/4 @japan)) AND (pact OR summit) NOT hockey
'''

[[rule]]
id = "twice"
name = "Twice"
query = "@india{2} AND Japan"
"""


def test_match_explain_names_each_clause_and_its_terms(tmp_path, write_config):
    path = write_config([], rules=rule_file(tmp_path, EXPLAINED_RULES))
    article = tmp_path / "pact.txt"
    article.write_text("Tokyo and New Delhi sign pact\nThe pact covers rare earths. Japan said more.\n")
    result = monitor("--config", str(path), "match", "--explain", str(article))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{article}: pact (New Delhi, Tokyo, pact)",
        "  pact: fired",
        "    holds  title:(@india AND @japan) OR lead:(@india NEAR/4 @japan)",
        "           by title:(@india AND @japan): New Delhi, Tokyo",
        "           by lead:(@india NEAR/4 @japan): New Delhi, Tokyo",
        "    holds  pact OR summit",
        "           terms: pact",
        "    holds  NOT hockey",
        "  twice: no match",
        "    fails  @india{2}",
    ]
    as_json = monitor("--config", str(path), "match", "--json", "--explain", str(article))
    row = json.loads(as_json.stdout)
    assert row["explain"][0]["rule_id"] == "pact" and row["explain"][0]["fired"] is True
    failed = {"text": "@india{2}", "holds": False, "terms": [], "branches": []}
    assert row["explain"][1]["clauses"][0] == failed


def test_rules_test_explain_shows_why_each_sample_fired(feed_server, write_config, seeds):
    url = feed_server.add("/seeds.xml", rss("Seeds", seeds))
    path = write_config([url])
    assert monitor("--config", str(path), "poll").returncode == 0
    result = monitor("--config", str(path), "rules", "test", "defence", "--since", "2000d", "--explain")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    salient = (  # the clause is cut with "…" after 100 characters: its start
        '        holds  title:(@defence OR (@submarines AND NOT "submarine cable*")'
        " OR (@security_cooperation AND NOT ((cyb"
    )
    assert any(line.startswith(salient) for line in lines), result.stdout
    assert any(line.startswith("               by @defence{2}: ") for line in lines), result.stdout
    assert "no match" not in result.stdout  # samples are matches: only their clauses, all holding
