"""needs.py: the clauses a query cannot match without. Table cases, and a property: whenever a
rule's plan holds on an article, every clause it needs has a term there (so the matcher's
skipping of rules by their clauses never loses a match)."""

from __future__ import annotations

import random

import pytest

from monitor.errors import RuleError
from monitor.rules import needs as needs_module
from monitor.rules.matcher import ANY, RuleSet
from monitor.rules.needs import needs
from monitor.rules.query import parse_query
from monitor.types import Rule

CASES = [
    ("term", "a", [{"a"}]),
    ("and", "a AND (b OR c)", [{"a"}, {"b", "c"}]),
    ("near", "a NEAR/5 b", [{"a"}, {"b"}]),
    ("scope and count", "title:a AND b{2}", [{"a"}, {"b"}]),
    ("not not", "NOT NOT a", []),
    ("not beside", "a NOT b", [{"a"}]),
    ("or of ands", "(a AND b) OR (c AND d)", [{"a", "c"}, {"a", "d"}, {"b", "c"}, {"b", "d"}]),
    ("or of a pair", "(a AND b) OR (a NEAR/3 b)", [{"a"}, {"b"}]),
    ("or with nothing needed", "a OR (NOT NOT b)", []),
    ("a larger clause dropped", "a AND (a OR b)", [{"a"}]),
    ("phrase", '"rare earth" AND cc*', [{"cc*"}, {"rare earth"}]),
]


@pytest.mark.parametrize(("query", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_needs(query: str, expected: list[set[str]]) -> None:
    assert [set(clause) for clause in needs(parse_query(query).root)] == expected


def test_an_or_of_too_many_ways_needs_the_union_of_its_smallest_clauses() -> None:
    alternatives = " OR ".join(f"(x{n} AND y{n})" for n in range(7))  # 2**7 = 128 ways > 64
    assert needs_module.MAX_COMBINATIONS < 2**7
    union = {f"x{n}" for n in range(7)}
    assert [set(c) for c in needs(parse_query(alternatives).root)] == [union]


WORDS = ["a", "b", "c", "d", "aab"]


def _query(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice([*WORDS, "aa*", '"a b"'])
    kind = rng.choice(["AND", "OR", "NOT", "NEAR", "title", "count", "lead"])
    left, right = _query(rng, depth - 1), _query(rng, depth - 1)
    if kind == "NEAR":
        return f"{rng.choice(WORDS)} NEAR/{rng.randint(0, 3)} ({rng.choice(WORDS)} OR {rng.choice(WORDS)})"
    if kind in ("title", "lead"):
        return f"{kind}:({left})"
    if kind == "count":
        return f"{rng.choice(WORDS)}{{2}}"
    return f"({left}) {kind} ({right})"


def test_a_plan_never_holds_without_every_clause_it_needs() -> None:
    rng = random.Random(18)
    checked = held = 0
    while checked < 1500:
        try:
            query = parse_query(_query(rng, 4))
        except RuleError:  # a query that holds on nothing: not a rule
            continue
        rules = RuleSet([(Rule("r", "r", "q"), query)])
        clauses = needs(query.root)
        for _ in range(10):
            title = " ".join(rng.choices(WORDS, k=rng.randint(0, 4)))
            summary = ". ".join(" ".join(rng.choices(WORDS, k=rng.randint(0, 6))) for _ in range(2))
            article, _ = rules._article(title, summary, whole=True)
            assert article is not None
            if rules._plans[0].passes(article):
                held += 1
                present = article.present[ANY]
                assert all(clause & present for clause in clauses), (str(query.root), title, summary)
                assert rules.match(title, summary)  # and the matcher, which skips by clauses, finds it
        checked += 1
    assert held > 1000  # the property was put to the test
