"""The one-pass matcher gives exactly the rule ids the straightforward regex matcher gives.

Both come from bench/rules_bench.py (the generator and the baseline); no timing here.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from monitor.rules.ruleset import compile_rule_set
from tests.conftest import import_bench

pytestmark = pytest.mark.slow  # seconds per test: `pytest -m "not slow"` leaves it out

ROOT = Path(__file__).resolve().parent.parent


bench = import_bench("rules_bench")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_pass_matcher_agrees_with_the_regex_baseline(seed: int) -> None:
    # a small world, so that rules and articles share words and NEAR, NOT, fields really decide
    rng = random.Random(seed)
    world = bench.make_world(rng, words=600, topics=40)
    lists = bench.make_term_lists(rng, world, count=8)
    rules = bench.make_rules(rng, world, lists, 120)
    articles = [_short(bench.make_article(rng, world), rng) for _ in range(100)]
    fast = compile_rule_set(rules, lists)
    slow = bench.RegexMatcher(rules, lists)
    matched = 0
    for title, summary in articles:
        expected = slow.match(title, summary)
        assert [m.rule_id for m in fast.match(title, summary)] == expected, (title, summary)
        matched += len(expected)
    assert matched > 100  # the comparison is not vacuous


def _short(article: tuple[str, str], rng: random.Random) -> tuple[str, str]:
    """Cut the summary at a random point: short fields put more occurrences near their edges."""
    title, summary = article
    return title, summary[: rng.randint(0, len(summary))]
