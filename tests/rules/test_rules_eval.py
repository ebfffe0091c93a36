"""The shipped rules against the labelled reports in tests/data/rules_eval, measured by
bench/rules_quality.py (run as a script: tests import nothing from bench/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import printed_rate, run_bench

TARGET = 0.95
MIN_ARTICLES = 80
MIN_NEGATIVES = 30
MIN_PER_TOPIC = 8
MEASURES = {
    "alert_precision": "alert precision",
    "alert_recall": "alert recall",
    "topic_recall": "topic recall",
}
# a row of the per-topic table: topic, precision (hits/total), recall (hits/labelled)
TOPIC_ROW = re.compile(r"^(\S+)\s+[\d.]+ \(\d+/\d+\)\s+[\d.]+ \(\d+/(\d+)\)$", re.MULTILINE)


@pytest.fixture(scope="module")
def quality() -> str:
    """What `python bench/rules_quality.py --verbose` prints for the shipped rules."""
    result = run_bench("rules_quality.py", "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_set_is_big_enough_to_mean_something(quality: str) -> None:
    counts = re.search(r"^articles: (\d+) \((\d+) relevant, (\d+) not\)$", quality, re.MULTILINE)
    assert counts, quality
    assert int(counts[1]) >= MIN_ARTICLES
    assert int(counts[3]) >= MIN_NEGATIVES
    labelled = dict(TOPIC_ROW.findall(quality))
    assert len(labelled) >= 8, quality  # every shipped topic has its row
    for topic, count in labelled.items():
        assert int(count) >= MIN_PER_TOPIC, topic


@pytest.mark.parametrize("measure", list(MEASURES))
def test_shipped_rules_meet_the_target(quality: str, measure: str) -> None:
    value, hits, total = printed_rate(quality, MEASURES[measure])
    assert total > 0 and value >= TARGET, f"{measure} {value:.3f} ({hits}/{total})\n{quality}"


def test_unknown_topic_label_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[[article]]\ntitle = "t"\nbody = "b"\ntopics = ["defense"]\n')
    result = run_bench("rules_quality.py", "--articles", str(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == "error: a.toml#1: unknown topics ['defense']\n"


def test_measures_count_alerts_topics_and_misses(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nid = "defence"\nname = "D"\nquery = "navy OR army"\n\n'
        '[[rule]]\nid = "diplomacy"\nname = "P"\nquery = "summit"\n'
    )
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "a.toml").write_text(
        '[[article]]\ntitle = "Navy summit"\nbody = ""\ntopics = ["defence", "diplomacy"]\n'
        '[[article]]\ntitle = "Army drill"\nbody = ""\ntopics = ["defence", "diplomacy"]\n'
        '[[article]]\ntitle = "Hockey"\nbody = ""\ntopics = ["defence"]\n'
        '[[article]]\ntitle = "Navy beats army"\nbody = ""\ntopics = []\n'
    )
    result = run_bench(
        "rules_quality.py", "--rules", str(rules), "--articles", str(tmp_path / "articles"), "-v"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert printed_rate(out, "alert precision")[1:] == (2, 3)
    assert printed_rate(out, "alert recall")[1:] == (2, 3)
    assert printed_rate(out, "topic recall")[1:] == (3, 5)
    assert "topics per true alert: 1.50 (3 topics on 2 true alerts)" in out  # a#1 two, a#2 one
    assert re.search(r"^defence\s+0\.667 \(2/3\)\s+0\.667 \(2/3\)$", out, re.MULTILINE), out
    assert "a.toml#4: Navy beats army\n    labelled: -\n    fired defence: Navy, army" in out
    assert "a.toml#2: Army drill" in out and "missed: diplomacy" in out


def test_one_file_is_a_batch(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[[article]]\ntitle = "India"\nbody = "b"\ntopics = []\n')
    (tmp_path / "b.toml").write_text('[[article]]\ntitle = "Japan"\nbody = "b"\ntopics = []\n')
    one = run_bench("rules_quality.py", "--articles", str(tmp_path / "b.toml"))
    both = run_bench("rules_quality.py", "--articles", str(tmp_path))
    assert one.returncode == 0 and both.returncode == 0, one.stderr + both.stderr
    assert "articles: 1 (0 relevant, 1 not)" in one.stdout
    assert "articles: 2 (0 relevant, 2 not)" in both.stdout
