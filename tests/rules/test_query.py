"""The query language additions: NEAR/n, title:/summary:/body:, @lists; their matching and reports."""

from __future__ import annotations

import pytest

from monitor.errors import RuleError
from monitor.rules.ruleset import TermList, compile_rule_set, make_term_list
from monitor.types import Rule, RuleMatch

LISTS = [
    make_term_list("india", ["India", "Indian", "New Delhi", "Indo-*"]),
    make_term_list("japan", ["Japan", "Tokyo"]),
]


def match(query: str, title: str, summary: str = "", lists: list[TermList] = LISTS) -> RuleMatch | None:
    found = compile_rule_set([Rule("q", "Query", query)], lists).match(title, summary)
    return found[0] if found else None


def cases(table: list[tuple]) -> dict[str, list]:
    return {"argvalues": [row[1:] for row in table], "ids": [row[0] for row in table]}


NEAR = [
    ("adjacent-is-distance-0", "India NEAR/0 Japan", "India Japan", True),
    ("either-order", "India NEAR/0 Japan", "Japan, India", True),
    ("one-word-between", "India NEAR/0 Japan", "India and Japan", False),
    ("within-n", "India NEAR/1 Japan", "India and Japan", True),
    ("punctuation-is-no-word", "India NEAR/0 Japan", "India – “Japan”", True),
    ("possessive-is-no-word", "India NEAR/0 Japan", "India's Japan", True),
    ("dash-makes-two-words", "India NEAR/0 Japan", "India sub-Japan", False),
    ("phrase-spans-its-words", '"rare earth" NEAR/2 India', "rare earth deal with India", True),
    ("phrase-before", '"rare earth" NEAR/2 India', "India to buy rare earth", True),
    ("phrase-too-far", '"rare earth" NEAR/1 India', "rare earth deal with India", False),
    ("prefix-operand", "semiconductor* NEAR/3 Japan", "Semiconductors made in Japan", True),
    ("or-group-operand", "(Delhi OR Mumbai) NEAR/2 Tokyo", "Tokyo and Mumbai", True),
    ("same-word-needs-two", "India NEAR/5 India", "India and Japan", False),
    ("same-word-twice", "India NEAR/5 India", "India and India", True),
    ("overlap-is-one-word", '"rare earth" NEAR/3 earth*', "rare earth deal", False),
    ("overlap-and-another", '"rare earth" NEAR/3 earth*', "rare earth and earths", True),
    ("not-across-fields", "India NEAR/10 Japan", "About India", False),
    ("chain-holds", "a1 NEAR/1 b1 NEAR/1 c1", "a1 x b1 y c1", True),
    ("chain-needs-each-pair", "a1 NEAR/1 b1 NEAR/1 c1", "a1 x b1 y z c1", False),
    ("chain-through-one-occurrence", "a1 NEAR/0 b1 NEAR/0 c1", "a1 b1 x x x b1 c1", False),
    ("chain-ends-not-compared", "a1 NEAR/0 b1 NEAR/0 a1", "a1 b1", True),
    ("near-list", "@india NEAR/2 @japan", "New Delhi and Tokyo", True),
    ("near-list-too-far", "@india NEAR/1 @japan", "New Delhi and then Tokyo", False),
    ("not-near", "Japan NOT (hockey NEAR/2 India)", "Japan beat India in the final of the hockey cup", True),
    ("not-near-excludes", "Japan NOT (hockey NEAR/2 India)", "Japan: India hockey", False),
    ("in-title-only", "title:(India NEAR/3 Japan)", "India", False),
]


@pytest.mark.parametrize(("query", "title", "expected"), **cases(NEAR))
def test_near(query: str, title: str, expected: bool) -> None:
    assert (match(query, title) is not None) is expected


def test_near_never_spans_title_and_summary() -> None:
    assert match("India NEAR/10 Japan", "About India", "Japan too") is None
    assert match("India NEAR/10 Japan", "About India", "India and Japan") is not None


FIELDS = [
    ("title-hit", "title:Japan", "Japan plan", "", True),
    ("title-not-summary", "title:Japan", "A plan", "Japan", False),
    ("summary-hit", "summary:Japan", "A plan", "Japan", True),
    ("body-is-summary", "body:Japan", "A plan", "Japan", True),
    ("summary-not-title", "summary:Japan", "Japan plan", "", False),
    ("unscoped-searches-both", "Japan AND India", "Japan", "India", True),
    ("group", 'title:(India OR Japan) AND summary:"rare earth*"', "India deal", "rare earths", True),
    ("group-wrong-field", 'title:(India OR Japan) AND summary:"rare earth*"', "rare earths", "India", False),
    ("all-in-title", "title:(India Japan)", "India", "Japan", False),
    ("not-title-allows", "Japan NOT title:hockey", "Japan wins", "a hockey final", True),
    ("not-title-excludes", "Japan NOT title:hockey", "Japan hockey", "", False),
    ("title-list", "title:@india", "New Delhi talks", "", True),
    ("title-list-in-summary", "title:@india", "Talks", "New Delhi", False),
    ("near-in-summary", "summary:(India NEAR/1 Japan)", "India Japan", "India and Japan", True),
    ("near-in-title-fails", "title:(India NEAR/0 Japan)", "India and Japan", "India Japan", False),
]


@pytest.mark.parametrize(("query", "title", "summary", "expected"), **cases(FIELDS))
def test_fields(query: str, title: str, summary: str, expected: bool) -> None:
    assert (match(query, title, summary) is not None) is expected


LISTS_MATCH = [
    ("element-word", "@india", "India", True),
    ("element-phrase", "@india", "New Delhi", True),
    ("element-any-word-after", "@india", "Indo-Pacific", True),
    ("element-any-word-needs-a-word", "@india", "Pacific Indo", False),
    ("phrase-needs-all-words", "@india", "Delhi", False),
    ("list-and-term", "@india AND summit", "Indian summit", True),
    ("not-list", "summit NOT @japan", "Tokyo summit", False),
]


@pytest.mark.parametrize(("query", "title", "expected"), **cases(LISTS_MATCH))
def test_lists(query: str, title: str, expected: bool) -> None:
    assert (match(query, title) is not None) is expected


REPORTED = [
    (
        "list-element-as-written",
        "@india AND @japan",
        "New Delhi, Tokyo agree",
        ("New Delhi", "Tokyo"),
        ("New Delhi", "Tokyo"),
    ),
    ("list-prefix-element", "@india", "Indo-Pacific", ("Indo-*",), ("Indo-Pacific",)),
    (
        "near-only-close-ones",
        "India NEAR/1 Japan",
        "JAPAN first, much later India and Japan",
        ("India", "Japan"),
        ("India", "Japan"),
    ),
    (
        "near-chain-reports-the-chain",
        "a1 NEAR/0 b1 NEAR/0 c1",
        "b1 x a1 b1 c1",
        ("a1", "b1", "c1"),
        ("a1", "b1", "c1"),
    ),
    (
        "scoped-words-from-that-field",
        "title:Japan AND India",
        "JAPAN and India",
        ("Japan", "India"),
        ("JAPAN", "India"),
    ),
    ("possessive-as-written", "Japan", "Japan’s plan", ("Japan",), ("Japan’s",)),
]


@pytest.mark.parametrize(("query", "title", "terms", "found"), **cases(REPORTED))
def test_reports(query: str, title: str, terms: tuple[str, ...], found: tuple[str, ...]) -> None:
    assert match(query, title, "") == RuleMatch("q", terms, found)


def test_near_found_words_are_the_close_occurrences_only() -> None:
    found = match("INDIA NEAR/1 Japan", "India first, much later INDIA and Japan")
    assert found == RuleMatch("q", ("INDIA", "Japan"), ("INDIA", "Japan"))


def test_list_errors() -> None:
    with pytest.raises(RuleError, match=r"unknown term list @indai \(known: @india, @japan\)") as caught:
        compile_rule_set([Rule("q", "Q", "Quad AND @indai")], LISTS)
    assert caught.value.position == 9 and caught.value.rule_id == "q"
    with pytest.raises(RuleError, match="element 2 .*not allowed in a list element"):
        make_term_list("x", ["India", "@japan"])
    with pytest.raises(RuleError, match="non-empty list"):
        make_term_list("x", [])
    with pytest.raises(RuleError, match="bad term list name 'India'"):
        make_term_list("India", ["x"])
    with pytest.raises(RuleError, match="duplicate term list 'india'"):
        compile_rule_set([], [*LISTS, make_term_list("india", ["Bharat"])])


def test_with_query_adds_an_ad_hoc_rule_that_may_use_lists() -> None:
    rules = compile_rule_set([Rule("quad", "Quad", "Quad")], LISTS)
    tried = rules.with_query("query", "@india AND Quad")
    assert [rule.id for rule in tried.rules] == ["quad", "query"]
    assert [m.rule_id for m in tried.match("Quad meets in New Delhi", "")] == ["quad", "query"]
    with pytest.raises(RuleError) as caught:
        rules.with_query("query", "Quad AND (")
    assert caught.value.position == 10


def test_priority_must_be_known() -> None:
    with pytest.raises(RuleError, match="'priority' must be"):
        compile_rule_set([Rule("q", "Q", "Quad", priority="urgent")])
