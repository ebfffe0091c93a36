"""The one-pass matcher gives exactly the rule ids the straightforward regex matcher gives.

Both come from bench/rules_bench.py (the generator and the baseline); no timing here.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from monitor.rules import compile_rule_set

ROOT = Path(__file__).resolve().parent.parent


def _import_bench() -> ModuleType:
    # bench/ is scripts, not a package; dataclasses need the module in sys.modules
    spec = importlib.util.spec_from_file_location("rules_bench", ROOT / "bench" / "rules_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _import_bench()


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
