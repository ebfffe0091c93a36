"""Salience in the query language: the lead: scope and counts ({n}); their parsing, matching, reports."""

from __future__ import annotations

import pytest

from monitor.errors import RuleError
from monitor.rules.query import Count, Field, ListRef, Or, Term, parse_query
from monitor.rules.ruleset import TermList, compile_rule_set, make_term_list
from monitor.rules.textfold import LEAD_WORDS, lead_end
from monitor.types import Rule, RuleMatch

LISTS = [
    make_term_list("india", ["India", "New Delhi", "Delhi", "Modi"]),
    make_term_list("japan", ["Japan", "Tokyo", "Japanese"]),
]


def match(query: str, title: str, summary: str = "", lists: list[TermList] = LISTS) -> RuleMatch | None:
    found = compile_rule_set([Rule("q", "Query", query)], lists).match(title, summary)
    return found[0] if found else None


def cases(table: list[tuple]) -> dict[str, list]:
    return {"argvalues": [row[1:] for row in table], "ids": [row[0] for row in table]}


PARSED = [
    ("count-term", "India{2}", Count(Term("India", ("india",), False, 0), 2, 5)),
    ("count-list", "@japan{3}", Count(ListRef("japan", 0), 3, 6)),
    (
        "count-group",
        "(a OR b){2}",
        Count(Or((Term("a", ("a",), False, 1), Term("b", ("b",), False, 6))), 2, 8),
    ),
    (
        "count-group-spaced",
        "(a OR b) {2}",
        Count(Or((Term("a", ("a",), False, 1), Term("b", ("b",), False, 6))), 2, 9),
    ),
    ("count-phrase", '"rare earth"{2}', Count(Term('"rare earth"', ("rare", "earth"), False, 0), 2, 12)),
    ("lead-field", "lead:India", Field("lead", Term("India", ("india",), False, 5), 0)),
    ("lead-any-case", "Lead:India", Field("lead", Term("India", ("india",), False, 5), 0)),
    ("count-in-field", "title:@india{2}", Field("title", Count(ListRef("india", 6), 2, 12), 0)),
]


@pytest.mark.parametrize(("query", "tree"), **cases(PARSED))
def test_parse(query: str, tree: object) -> None:
    assert parse_query(query).root == tree


BAD = [
    ("count-zero", "India{0}", 5, "a count is {n}, n from 1 to 20"),
    ("count-too-big", "India{21}", 5, "a count is {n}, n from 1 to 20"),
    ("count-not-a-number", "India{x}", 0, "a count is {n}"),
    ("count-twice", "India{2}{3}", 0, "a count is {n}"),
    ("count-alone", "{2}", 0, "expected a term, found '{2}'"),
    ("count-of-and", "(a AND b){2}", 3, "AND inside a count's operand"),
    ("count-of-near", "(a NEAR/2 b){2}", 3, "a NEAR inside a count's operand"),
    ("count-of-field", "(title:a){2}", 1, "a field inside a count's operand"),
    ("count-in-near", "a NEAR/2 b{2}", 10, "a count inside a NEAR operand"),
    ("lead-needs-term", "lead: India", 0, "'lead:' must be followed directly"),
    ("lead-in-title", "title:(a OR lead:b)", 12, "a field inside another field's group"),
]


@pytest.mark.parametrize(("query", "position", "message"), **cases(BAD))
def test_bad_queries(query: str, position: int, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_query(query)
    assert message in caught.value.message
    assert caught.value.position == position


COUNTS = [
    ("once-is-not-twice", "India{2}", "India and Japan", "", False),
    ("twice", "India{2}", "India and Japan", "India said.", True),
    ("title-and-summary-add-up", "@india{2}", "Modi in Tokyo", "New Delhi said.", True),
    ("list-elements-add-up", "@india{2}", "Modi and New Delhi", "", True),
    ("overlapping-once", "@india{2}", "New Delhi", "", False),  # "Delhi" inside "New Delhi"
    ("overlap-and-another", "@india{2}", "New Delhi", "Delhi", True),
    ("phrase-twice", '"rare earth"{2}', "rare earth", "rare earths and rare earth", True),
    ("prefix-counts-words", "chip*{3}", "chips", "chipmakers and chip plants", True),
    ("in-title-only", "title:@japan{2}", "Japan", "Tokyo and Japan", False),
    ("in-title", "title:@japan{2}", "Japan, Tokyo", "", True),
    ("one-is-presence", "Japan{1}", "Japan", "", True),
    ("count-or-other", "India{2} OR Quad", "Quad", "", True),
    ("not-count", "Japan NOT India{2}", "Japan and India", "India", False),
    ("not-count-once", "Japan NOT India{2}", "Japan and India", "", True),
]


@pytest.mark.parametrize(("query", "title", "summary", "expected"), **cases(COUNTS))
def test_counts(query: str, title: str, summary: str, expected: bool) -> None:
    assert (match(query, title, summary) is not None) is expected


LEADS = [
    ("title-is-lead", "lead:India", "India", "Nothing.", True),
    ("first-sentence-is-lead", "lead:India", "x", "India acts. Then more.", True),
    ("second-sentence-is-not", "lead:India", "x", "Japan acts. India too.", False),
    ("whole-summary-one-sentence", "lead:India", "x", "Japan and India", True),
    ("initial-is-not-an-end", "lead:Japan", "x", "Minister S. Jaishankar met Japan's envoy. Later.", True),
    ("abbreviation-is-not-an-end", "lead:Japan", "x", "Sumitomo Co. will buy from Japan. Later.", True),
    ("decimal-is-not-an-end", "lead:Japan", "x", "Exports rose 2.5 percent to Japan. Later.", True),
    ("lower-case-next-is-not-an-end", "lead:Japan", "x", "It rose. to Japan. Later.", True),
    ("question-ends", "lead:Japan", "x", "Who? Japan.", False),
    ("near-in-lead", "lead:(@india NEAR/3 @japan)", "x", "India and Japan met. Tokyo.", True),
    ("near-across-title-and-lead", "lead:(@india NEAR/3 @japan)", "India", "Japan met.", False),
    ("near-needs-the-lead", "lead:(@india NEAR/3 @japan)", "x", "Rain. India and Japan met.", False),
    ("count-in-lead", "lead:@japan{2}", "Japan", "Tokyo met. And Japan.", True),
    ("count-stops-at-lead", "lead:@japan{3}", "Japan", "Tokyo met. And Japan.", False),
    ("lead-and-elsewhere", "lead:India AND Japan", "India", "Rain. Japan too.", True),
    ("not-lead", "Japan NOT lead:India", "Japan", "Rain. India too.", True),
    ("not-lead-excludes", "Japan NOT lead:India", "Japan", "India. Rain.", False),
    ("phrase-across-the-end", 'lead:"Japan India"', "x", "About Japan. India later.", False),
    ("non-ascii-summary", "lead:India", "x", "Nestlé’s India unit grew. Japón later.", True),
    ("non-ascii-second", "lead:Japon", "x", "Nestlé’s India unit grew. Japón later.", False),
    ("empty-summary", "lead:India", "India", "", True),
]


@pytest.mark.parametrize(("query", "title", "summary", "expected"), **cases(LEADS))
def test_lead(query: str, title: str, summary: str, expected: bool) -> None:
    assert (match(query, title, summary) is not None) is expected


def test_a_long_first_sentence_is_cut() -> None:
    words = ["word"] * (LEAD_WORDS - 1)
    near = " ".join([*words, "India", "and", "Japan"]) + "."
    assert near[: lead_end(near)].split()[-1] == "India"
    assert match("lead:India", "x", near) is not None
    assert match("lead:Japan", "x", near) is None


def test_reports_name_counted_and_lead_terms() -> None:
    found = match("lead:@india{2} AND Japan", "Modi in Japan", "Delhi said. New Delhi again.")
    assert found is not None
    assert found.terms == ("Delhi", "Modi", "Japan")
    assert found.found == ("Modi", "Japan", "Delhi")  # "New Delhi" of the second sentence is no reason


# --- against a reference: tokens and positions, no index, no plans ----------------

WORDS = ["India", "Japan", "chip", "chips", "rare", "earth", "Tokyo"]
TERMS = ["India", "Japan", "chip*", '"rare earth"', "Tokyo", "@japan", "(India OR chips)"]


def _reference(query: str, title: str, summary: str) -> bool:
    """Evaluate a parsed query on folded tokens: what lead: and {n} mean, written plainly."""
    from monitor.rules.termlists import index_term_lists, resolve_lists
    from monitor.rules.textfold import tokenize

    root = resolve_lists(parse_query(query), index_term_lists(LISTS)).root
    cut = lead_end(summary)
    words = {
        "title": [t.text for t in tokenize(title)],
        "summary": [t.text for t in tokenize(summary)],
        "opening": [t.text for t in tokenize(summary[:cut])],
    }
    scopes = {
        "any": ("title", "summary"),
        "title": ("title",),
        "summary": ("summary",),
        "lead": ("title", "opening"),
    }

    def spans(term: Term, field: str) -> list[tuple[str, int, int]]:
        tokens, n = words[field], len(term.tokens)
        found = []
        for i in range(len(tokens) - n + 1):
            *whole, last = term.tokens
            if tokens[i : i + n - 1] == whole and (
                tokens[i + n - 1].startswith(last) if term.prefix else tokens[i + n - 1] == last
            ):
                found.append(("summary" if field == "opening" else field, i, i + n))
        return found

    def occurrences(node: object, scope: str) -> list[tuple[str, int, int]]:
        terms = node.children if isinstance(node, Or) else (node,)
        return sorted({s for term in terms for field in scopes[scope] for s in spans(term, field)})

    def holds(node: object, scope: str) -> bool:
        if isinstance(node, Term):
            return bool(occurrences(node, scope))
        if isinstance(node, Field):
            return holds(node.child, node.name)
        if isinstance(node, Count):
            count, last = 0, ("", -1)
            for field, start, end in occurrences(node.child, scope):
                if (field, start) >= last or field != last[0]:
                    count, last = count + 1, (field, end)
            return count >= node.times
        if isinstance(node, Or):
            return any(holds(child, scope) for child in node.children)
        if hasattr(node, "children"):
            return all(holds(child, scope) for child in node.children)
        return not holds(node.child, scope)

    return holds(root, "any")


def _text(rng) -> str:
    parts = []
    for _ in range(rng.randint(0, 12)):
        parts.append(rng.choice(WORDS) + rng.choice(["", "", ",", ".", "'s", " and", "."]))
    return " ".join(parts)


def _query(rng) -> str:
    parts = []
    for _ in range(rng.randint(1, 3)):
        term = rng.choice(TERMS)
        if rng.random() < 0.5:
            term += "{" + str(rng.randint(1, 3)) + "}"
        if rng.random() < 0.5:
            term = rng.choice(["title:", "summary:", "lead:"]) + term
        parts.append(term)
    query = parts[0]
    for part in parts[1:]:
        query += rng.choice([" AND ", " OR ", " NOT "]) + part
    return query


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matcher_agrees_with_the_reference(seed: int) -> None:
    import random

    rng = random.Random(seed)
    agreed = fired = 0
    for _ in range(700):
        query, title, summary = _query(rng), _text(rng), _text(rng)
        expected = _reference(query, title, summary)
        assert (match(query, title, summary) is not None) is expected, (query, title, summary)
        agreed += 1
        fired += expected
    assert 100 < fired < agreed - 100  # both outcomes are common: the comparison is not vacuous


def test_explain_reports_lead_clauses_of_rules_that_cannot_fire() -> None:
    from monitor.rules.explain import explain

    rules = compile_rule_set([Rule("q", "Query", "Quad AND lead:@japan")], LISTS)
    (report,) = explain(rules, "Ministers meet", "Japan hosts. Rain.")
    assert not report.fired
    assert [(c.text, c.holds, c.terms) for c in report.clauses] == [
        ("Quad", False, ()),
        ("lead:@japan", True, ("Japan",)),
    ]
