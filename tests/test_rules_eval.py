"""The shipped rules against the labelled reports in tests/data/rules_eval (bench/rules_quality.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.rules.ruleset import compile_rule_set
from monitor.types import Rule
from tests.conftest import import_bench

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.95
MIN_ARTICLES = 80
MIN_NEGATIVES = 30
MIN_PER_TOPIC = 8


bench = import_bench("rules_quality")


@pytest.fixture(scope="module")
def quality():
    rules = bench.load_rules([bench.RULES])
    articles = bench.load_articles(bench.ARTICLES, [rule.id for rule in rules.rules])
    return bench.evaluate(rules, articles)


def test_the_set_is_big_enough_to_mean_something(quality) -> None:
    articles = [outcome.article for outcome in quality.outcomes]
    assert len(articles) >= MIN_ARTICLES
    assert sum(not article.topics for article in articles) >= MIN_NEGATIVES
    for topic in quality.topics:
        assert sum(topic in article.topics for article in articles) >= MIN_PER_TOPIC, topic


@pytest.mark.parametrize("measure", ["alert_precision", "alert_recall", "topic_recall"])
def test_shipped_rules_meet_the_target(quality, measure: str) -> None:
    rate = getattr(quality, measure)
    assert rate.value >= TARGET, f"{measure} {rate}\n" + bench.report(quality, verbose=True)


def test_unknown_topic_label_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[[article]]\ntitle = "t"\nbody = "b"\ntopics = ["defense"]\n')
    with pytest.raises(ValueError, match=r"a\.toml#1: unknown topics \['defense'\]"):
        bench.load_articles(tmp_path, ["defence"])


def test_one_file_is_a_batch(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[[article]]\ntitle = "t"\nbody = "b"\ntopics = []\n')
    (tmp_path / "b.toml").write_text('[[article]]\ntitle = "u"\nbody = "b"\ntopics = []\n')
    assert [a.title for a in bench.load_articles(tmp_path / "b.toml", [])] == ["u"]
    assert [a.title for a in bench.load_articles(tmp_path, [])] == ["t", "u"]


def test_measures_count_alerts_topics_and_misses() -> None:
    rules = compile_rule_set([Rule("defence", "D", "navy OR army"), Rule("diplomacy", "P", "summit")])
    articles = [
        bench.Article("Navy summit", "", frozenset({"defence", "diplomacy"}), "a#1"),
        bench.Article("Army drill", "", frozenset({"defence", "diplomacy"}), "a#2"),
        bench.Article("Hockey", "", frozenset({"defence"}), "a#3"),
        bench.Article("Navy beats army", "", frozenset(), "a#4"),
    ]
    quality = bench.evaluate(rules, articles)
    assert str(quality.alert_precision) == "0.667 (2/3)"
    assert str(quality.alert_recall) == "0.667 (2/3)"
    assert str(quality.topic_recall) == "0.600 (3/5)"
    assert (quality.topics_per_alert.hits, quality.topics_per_alert.total) == (3, 2)  # a#1 two, a#2 one
    assert "topics per true alert: 1.50 (3 topics on 2 true alerts)" in bench.report(quality)
    assert [str(rate) for rate in quality.per_topic("defence")] == ["0.667 (2/3)", "0.667 (2/3)"]
    verbose = bench.report(quality, verbose=True)
    assert "a#4: Navy beats army\n    labelled: -\n    fired defence: Navy, army" in verbose
    assert "a#2: Army drill" in verbose and "missed: diplomacy" in verbose
