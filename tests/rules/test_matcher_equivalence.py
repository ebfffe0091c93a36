"""The one-pass matcher gives exactly the rule ids the straightforward regex matcher gives.

bench/rules_bench.py has both (the generator and the baseline); its --equivalence run compares
them on small generated worlds, with no timing, and exits 1 if any article differs.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import run_bench


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_pass_matcher_agrees_with_the_regex_baseline(seed: int) -> None:
    result = run_bench("rules_bench.py", "--equivalence", "--seed", str(seed))
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(
        r"^equivalence: identical: 100 articles, 120 rules, (\d+) matches$", result.stdout, re.M
    )
    assert found, result.stdout
    assert int(found[1]) > 100  # the comparison is not vacuous
