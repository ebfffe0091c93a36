"""monitor.rules.ruleset: the query language, the matcher, the rule-file loader, the shipped rules."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.rules.rulefile import load_rules
from monitor.rules.ruleset import (
    And,
    Field,
    ListRef,
    Near,
    Node,
    Not,
    Or,
    RuleSet,
    Term,
    compile_rule_set,
    parse_query,
)
from monitor.types import Rule, RuleMatch

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "rules"
SEEDS = ROOT / "seeds"


def show(node: Node) -> str:
    """A compact, fully parenthesised rendering of a parsed query."""
    if isinstance(node, Term):
        text = " ".join(node.tokens) + ("*" if node.prefix else "")
        return f'"{text}"' if len(node.tokens) > 1 else text
    if isinstance(node, Not):
        return f"NOT {show(node.child)}"
    if isinstance(node, ListRef):
        return f"@{node.name}"
    if isinstance(node, Field):
        return f"{node.name}:{show(node.child)}"
    if isinstance(node, Near):
        parts = [show(node.children[0])]
        for child, distance in zip(node.children[1:], node.distances, strict=True):
            parts += [f"NEAR/{distance}", show(child)]
        return "[" + " ".join(parts) + "]"
    joiner = " AND " if isinstance(node, And) else " OR "
    assert isinstance(node, And | Or)
    return "(" + joiner.join(show(child) for child in node.children) + ")"


def cases(table: list[tuple]) -> dict[str, list]:
    """parametrize arguments from a table whose rows start with the case id."""
    return {"argvalues": [row[1:] for row in table], "ids": [row[0] for row in table]}


def match_query(query: str, title: str, summary: str = "") -> RuleMatch | None:
    matches = compile_rule_set([Rule("q", "Query", query)]).match(title, summary)
    return matches[0] if matches else None


# --- parsing -----------------------------------------------------------------

PARSED = [
    ("implicit-and", "India Japan", "(india AND japan)"),
    ("explicit-and", "India AND Japan", "(india AND japan)"),
    ("and-binds-tighter-than-or", "a OR b AND c", "(a OR (b AND c))"),
    ("adjacency-binds-tighter-than-or", "a b OR c", "((a AND b) OR c)"),
    ("not-binds-tightest", "NOT a b", "(NOT a AND b)"),
    ("a-not-b-is-and-not", "a NOT b OR c", "((a AND NOT b) OR c)"),
    ("group-then-not", "(a OR b) NOT c", "((a OR b) AND NOT c)"),
    ("parentheses", "a AND (b OR c)", "(a AND (b OR c))"),
    ("redundant-parentheses", "(((a)))", "a"),
    ("double-not", "a NOT NOT b", "(a AND NOT NOT b)"),
    ("lower-case-operators-are-words", "Japan and or not", "(japan AND and AND or AND not)"),
    ("prefix", "mineral*", "mineral*"),
    ("phrase", '"rare earths"', '"rare earths"'),
    ("phrase-prefix", '"rare earth*"', '"rare earth*"'),
    ("curly-quotes", "“rare earths”", '"rare earths"'),
    ("dashed-word-is-phrase", "India–Japan", '"india japan"'),
    ("plus-separates", "2+2", '"2 2"'),
    ("possessive", "Japan’s", "japan"),
    ("diacritics", "JAPÓN", "japon"),
    ("operators-inside-phrase-are-words", '"free AND open"', '"free and open"'),
    ("no-space-around-parens", "(a)OR(b)", "(a OR b)"),
    ("near", "India NEAR/3 Japan", "[india NEAR/3 japan]"),
    ("near-binds-tighter-than-and", "a AND b NEAR/5 c", "(a AND [b NEAR/5 c])"),
    ("near-binds-tighter-than-not", "a NOT b NEAR/5 c", "(a AND NOT [b NEAR/5 c])"),
    ("near-chain", "a NEAR/1 b NEAR/2 c", "[a NEAR/1 b NEAR/2 c]"),
    ("near-or-groups", '(a OR "b c") NEAR/0 dd*', '[(a OR "b c") NEAR/0 dd*]'),
    ("near-list", "@india NEAR/8 @japan", "[@india NEAR/8 @japan]"),
    ("lower-case-near-is-a-word", "Japan near Tokyo", "(japan AND near AND tokyo)"),
    ("field-term", "title:Japan", "title:japan"),
    ("field-binds-tightest", "title:a b", "(title:a AND b)"),
    ("field-group", "title:(a OR b) AND summary:cc*", "(title:(a OR b) AND summary:cc*)"),
    ("field-phrase", 'summary:"rare earth*"', 'summary:"rare earth*"'),
    ("body-is-summary", "body:Japan", "summary:japan"),
    ("field-any-case", "TITLE:Japan", "title:japan"),
    ("field-list", "title:@india", "title:@india"),
    ("field-around-near", "title:(a NEAR/2 b)", "title:[a NEAR/2 b]"),
    ("colon-is-punctuation", "10:30", '"10 30"'),
    ("list", "@india AND chip*", "(@india AND chip*)"),
    ("star-after-a-separator-is-any-word", '"rare *" Indo-*', '("rare *" AND "indo *")'),
]


@pytest.mark.parametrize(("query", "expected"), **cases(PARSED))
def test_parse_query_builds_the_tree(query: str, expected: str) -> None:
    assert show(parse_query(query).root) == expected


BAD_QUERIES = [
    ("empty", "", 0, "empty query"),
    ("blank", "   ", 0, "empty query"),
    ("unclosed-paren", "India AND (Japan OR Tokyo", 10, "'(' is never closed"),
    ("stray-close-paren", "India) Japan", 5, "')' without a matching '('"),
    ("empty-parens", "India ()", 7, "expected a term, found ')'"),
    ("dangling-and", "India AND", 9, "expected a term, found end of query"),
    ("dangling-not", "India NOT", 9, "expected a term, found end of query"),
    ("leading-or", "OR India", 0, "expected a term, found 'OR'"),
    ("double-operator", "India OR AND Japan", 9, "expected a term, found 'AND'"),
    ("close-after-and", "India AND )", 10, "expected a term, found ')'"),
    ("unclosed-quote", 'India "rare earth', 6, "unclosed quote"),
    ("empty-phrase", 'India ""', 6, "empty phrase"),
    ("star-inside-word", "India min*eral", 9, "only allowed at the end"),
    ("star-inside-phrase", '"rare* earth"', 5, "only allowed at the end"),
    ("one-letter-prefix", "Japan a*", 6, "at least 2 letters"),
    ("punctuation-only-word", "India & Japan", 6, "'&' has no letters or digits"),
    ("only-not", "NOT hockey", 0, "at least one word"),
    ("or-not", "Japan OR NOT hockey", 9, "at least one word"),
    ("not-group", "NOT (India OR Japan)", 0, "at least one word"),
    ("near-without-distance", "India NEAR Japan", 6, "NEAR needs a distance"),
    ("near-too-far", "India NEAR/101 Japan", 6, "from 0 to 100"),
    ("near-not-a-number", "India NEAR/x Japan", 6, "whole number"),
    ("near-lower-case", "India near/3 Japan", 6, "write 'NEAR/3' in upper case"),
    ("near-dangling", "India NEAR/3", 12, "expected a term, found end of query"),
    ("near-leading", "NEAR/3 India", 0, "expected a term, found 'NEAR/3'"),
    ("near-and-operand", "(a AND b) NEAR/3 c", 3, "AND inside a NEAR operand"),
    ("near-implied-and-operand", "a NEAR/3 (b c)", 12, "AND inside a NEAR operand"),
    ("near-not-operand", "a NEAR/3 (b NOT c)", 12, "AND inside a NEAR operand"),
    ("near-nested", "(a NEAR/1 b) NEAR/3 c", 3, "another NEAR inside a NEAR operand"),
    ("near-field-operand", "a NEAR/3 title:b", 9, "a field inside a NEAR operand"),
    ("near-not-in-or", "a NEAR/3 (b OR NOT c)", 15, "NOT inside a NEAR operand"),
    ("field-space", "India title: Japan", 6, "must be followed directly"),
    ("field-nothing", "India title:", 6, "must be followed directly"),
    ("field-operator", "title:AND x", 0, "must be followed directly"),
    ("field-in-field", "title:(a OR summary:b)", 12, "a field inside another field"),
    ("field-only-not", "title:(NOT a)", 7, "at least one word"),
    ("bad-list-name", "@India Japan", 0, "bad list name '@India'"),
    ("list-prefix", "@india*", 0, "bad list name"),
    ("bare-at", "Japan @", 6, "bad list name '@'"),
    ("too-deep-parens", "(" * 150 + "a" + ")" * 150, 100, "nested more than 100"),
    ("too-many-nots", "a " + "NOT " * 150 + "b", 402, "nested more than 100"),
]


@pytest.mark.parametrize(("query", "position", "message"), **cases(BAD_QUERIES))
def test_parse_query_reports_where_it_is_wrong(query: str, position: int, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_query(query)
    assert caught.value.position == position
    assert message in caught.value.message


def test_parse_query_rejects_a_non_string() -> None:
    with pytest.raises(RuleError, match="must be a string"):
        parse_query(None)  # type: ignore[arg-type]


def test_parse_query_raises_only_rule_errors_on_garbage() -> None:
    pieces = [
        "(",
        ")",
        '"',
        "“",
        "”",
        "AND",
        "OR",
        "NOT",
        "a",
        "bb*",
        "*",
        "-",
        "é",
        "NEAR",
        "NEAR/2",
        "title:",
        "body:x",
        "@x",
        "'s",
        "\u0301",
        "2+2",
        " ",
        "\t",
        "\n",
    ]
    generator = random.Random(1234)
    for _ in range(3000):
        query = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 12)))
        try:
            parsed = parse_query(query)
        except RuleError as error:
            assert error.position is not None and 0 <= error.position <= len(query), query
        else:
            # a query that parses can be triggered by a word (or by an element of a list)
            assert parsed.positive or parsed.lists, query


def test_query_lists_its_terms_in_order_and_which_are_positive() -> None:
    query = parse_query('Japan (India OR "New Delhi") NOT hockey japan')
    assert [term.text for term in query.terms] == ["Japan", "India", '"New Delhi"', "hockey"]
    assert [term.text for term in query.positive] == ["Japan", "India", '"New Delhi"']


# --- matching ----------------------------------------------------------------

DASHES = ["-", "–", "—", "‑", "‒", "−", " ", "  "]

MATCHES = [
    ("whole-word", "AI", "Japan bets on AI", "", True),
    ("whole-word-not-inside-said", "AI", "He said it was against the plan", "", False),
    ("whole-word-not-prefix", "Quad", "Quadrant survey of Tokyo Bay", "", False),
    ("whole-word-hit", "Quad", "QUAD leaders meet", "", True),
    ("case", "japan", "JAPAN EXPANDS", "", True),
    ("plural-needs-star", "mineral", "Minerals deal signed", "", False),
    ("prefix", "mineral*", "Minerals deal signed", "", True),
    ("prefix-whole-word-start", "mineral*", "Non-mineral exports", "", True),
    ("prefix-not-inside-word", "mineral*", "Aminerals", "", False),
    ("singular-bare-word", "minerals", "Mineral water", "", False),
    ("phrase", '"rare earth"', "Rare earth supply", "", True),
    ("phrase-needs-adjacency", '"rare earth"', "Rare metals and earth", "", False),
    ("phrase-order", '"rare earth"', "Earth rare", "", False),
    ("phrase-prefix", '"rare earth*"', "Rare-earths supply", "", True),
    ("phrase-punctuation-between", '"Japan India"', "Japan, India sign pact", "", True),
    ("possessive-straight", "Japan", "JAPAN'S PLAN", "", True),
    ("possessive-curly", "Japan", "Japan’s plan", "", True),
    ("possessive-in-query", "Japan's", "Japan plan", "", True),
    ("possessive-in-phrase", '"India Japan"', "India’s Japan policy", "", True),
    ("diacritics-in-text", "Japon", "Japón y la India", "", True),
    ("diacritics-in-query", "Japón", "Japon", "", True),
    ("decomposed-diacritics", "Japon", "Japo\u0301n", "", True),
    ("curly-quotes-in-text", '"free and open"', "a “free and open” Indo-Pacific", "", True),
    ("curly-quotes-in-query", "“rare earths”", "rare earths", "", True),
    ("numbers", "G20", "At the G20 summit", "", True),
    ("digits-and-letters", "5G", "5G rollout", "", True),
    ("not-excludes", "Japan NOT hockey", "Japan beat India at hockey", "", False),
    ("not-allows", "Japan NOT hockey", "Japan trade", "", True),
    ("not-sees-summary", "Japan NOT hockey", "Japan wins", "A hockey final", False),
    ("not-prefix", "Japan NOT hock*", "Japan hockey final", "", False),
    (
        "not-inside-or-excludes",
        'semiconductor* OR (chips NOT "blue-chip*")',
        "Blue-chip stocks and chips",
        "",
        False,
    ),
    (
        "not-inside-or-allows",
        'semiconductor* OR (chips NOT "blue-chip*")',
        "Chips plant opens",
        "",
        True,
    ),
    (
        "not-inside-or-other-branch",
        'semiconductor* OR (chips NOT "blue-chip*")',
        "Semiconductor blue-chip",
        "",
        True,
    ),
    ("precedence-or-branch", "Tokyo OR Delhi AND summit", "Tokyo", "", True),
    ("precedence-and-branch", "Tokyo OR Delhi AND summit", "Delhi", "", False),
    ("parentheses-change-it", "(Tokyo OR Delhi) AND summit", "Tokyo", "", False),
    ("implicit-and-needs-both", "India Japan", "India only", "", False),
    ("implicit-and-any-order", "India Japan", "Japan and India", "", True),
    ("lower-case-or-is-a-word", "Japan or India", "Japan", "", False),
    ("lower-case-or-matches-word", "Japan or India", "Japan or India", "", True),
    ("title-and-summary-together", "India Japan", "India", "Japan", True),
    ("phrase-not-across-fields", '"rare earth"', "Deal on rare", "earth magnets", False),
    ("phrase-in-summary", '"rare earth"', "Deal", "on rare earth magnets", True),
    ("plus-phrase", '"2+2 dialogue"', "India-Japan 2+2 Dialogue", "", True),
    ("empty-article", "Japan", "", "", False),
]


@pytest.mark.parametrize(("query", "title", "summary", "expected"), **cases(MATCHES))
def test_match(query: str, title: str, summary: str, expected: bool) -> None:
    assert (match_query(query, title, summary) is not None) is expected


@pytest.mark.parametrize("dash", DASHES, ids=[f"U+{ord(d[0]):04X}x{len(d)}" for d in DASHES])
@pytest.mark.parametrize("query", ['"India-Japan"', '"India–Japan"', '"India Japan"', "India-Japan"])
def test_phrase_matches_across_dash_variants(query: str, dash: str) -> None:
    found = match_query(query, f"The India{dash}Japan partnership")
    assert found is not None and found.found == (f"India{dash}Japan",)


EXPLAINED = [
    (
        "terms-in-query-order-words-in-text-order",
        '(India OR Delhi) AND ("rare earth*" OR lithium) NOT hockey',
        "New Delhi, Tokyo on rare-earths",
        "India’s rare earth deal",
        ("India", "Delhi", '"rare earth*"'),
        ("Delhi", "rare-earths", "India’s", "rare earth"),
    ),
    (
        "failed-or-branch-left-out",
        "(India AND summit) OR (Japan AND trade)",
        "India trade with Japan",
        "",
        ("Japan", "trade"),
        ("trade", "Japan"),
    ),
    (
        "not-terms-left-out",
        "Japan NOT (hockey AND cricket)",
        "Japan hockey",
        "",
        ("Japan",),
        ("Japan",),
    ),
    ("deduped", "JAPAN OR japan", "Japan meets Japan", "", ("JAPAN",), ("Japan",)),
    ("spelling-kept", "japan", "Japan, JAPAN", "", ("japan",), ("Japan", "JAPAN")),
    (
        "prefix-words",
        "semiconductor*",
        "Semiconductors",
        "semiconductor",
        ("semiconductor*",),
        ("Semiconductors", "semiconductor"),
    ),
    ("diacritics-as-written", "Japon", "Japón", "", ("Japon",), ("Japón",)),
]


@pytest.mark.parametrize(
    ("query", "title", "summary", "terms", "found"),
    **cases(EXPLAINED),
)
def test_match_reports_terms_and_found_words(
    query: str, title: str, summary: str, terms: tuple[str, ...], found: tuple[str, ...]
) -> None:
    assert match_query(query, title, summary) == RuleMatch("q", terms, found)


def test_rule_set_matches_in_rule_order_and_spells_terms_per_rule() -> None:
    rules = compile_rule_set(
        [
            Rule("zeta", "Z", "JAPAN"),
            Rule("alpha", "A", "Japan AND India"),
            Rule("mid", "M", "hockey"),
        ]
    )
    assert rules.match("Japan and India", "") == (
        RuleMatch("zeta", ("JAPAN",), ("Japan",)),
        RuleMatch("alpha", ("Japan", "India"), ("Japan", "India")),
    )


def test_rule_set_get() -> None:
    rule = Rule("quad", "Quad", "Quad")
    rules = compile_rule_set([rule])
    assert rules.get("quad") is rule
    assert rules.get("missing") is None
    assert rules.rules == (rule,)


BAD_RULES = [
    (
        "bad-query",
        [Rule("quad", "Q", "Quad AND", path=Path("x.toml"), line=3)],
        "x.toml:3, rule 'quad', position 8: bad query: expected a term, found end of query",
    ),
    ("bad-id", [Rule("Quad", "Q", "Quad")], "id 'Quad' is not kebab-case"),
    (
        "duplicate-id",
        [
            Rule("quad", "Q", "Quad", path=Path("a.toml"), line=1),
            Rule("quad", "Q", "x", path=Path("b.toml"), line=9),
        ],
        "b.toml:9, rule 'quad': duplicate rule id 'quad', first defined at a.toml:1",
    ),
    (
        "duplicate-ad-hoc",
        [Rule("quad", "Q", "Quad"), Rule("quad", "Q", "x")],
        "first defined at an earlier rule",
    ),
]


@pytest.mark.parametrize(("rules", "message"), **cases(BAD_RULES))
def test_compile_rule_set_errors(rules: list[Rule], message: str) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule_set(rules)
    assert message in str(caught.value)


# --- rule files --------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = '[[rule]]\nid = "quad"\nname = "Quad"\nquery = "Quad India"\n'

FILE_ERRORS = [
    ("toml-syntax", '[[rule]]\nid = "quad"\nname = "Quad\nquery = "x"\n', 3, None, "invalid TOML"),
    (
        "unknown-key",
        '[[rule]]\nid = "quad"\nname = "Q"\nquery = "Quad"\nchanel = "@x"\n',
        5,
        "quad",
        "unknown key 'chanel'",
    ),
    (
        "missing-id",
        '\n[[rule]]\nname = "Q"\nquery = "Quad"\n',
        2,
        None,
        "missing required key 'id'",
    ),
    (
        "missing-query",
        GOOD + '\n[[rule]]\nid = "two"\nname = "Two"\n',
        6,
        "two",
        "missing required key 'query'",
    ),
    (
        "missing-name",
        '[[rule]]\nid = "quad"\nquery = "Quad"\n',
        1,
        "quad",
        "missing required key 'name'",
    ),
    (
        "empty-name",
        '[[rule]]\nid = "quad"\nname = " "\nquery = "Quad"\n',
        3,
        "quad",
        "'name' must be a non-empty",
    ),
    (
        "query-not-string",
        '[[rule]]\nid = "quad"\nname = "Q"\nquery = 3\n',
        4,
        "quad",
        "'query' must be a non-empty",
    ),
    (
        "bad-query-line",
        "[[rule]]\nid = 'quad'\nname = 'Q'\nquery = '''\nIndia\nAND (Japan OR\nTokyo\n'''\n",
        6,
        "quad",
        "bad query: '(' is never closed",
    ),
    (
        "bad-chat-id",
        '[[rule]]\nid = "quad"\nname = "Q"\nquery = "Quad"\nchat_id = true\n',
        5,
        "quad",
        "'chat_id'",
    ),
    (
        "bad-chat-id-in-list",
        '[[rule]]\nid = "quad"\nname = "Q"\nquery = "Quad"\n\nchat_id = ["ops", " "]\n',
        6,
        "quad",
        "'chat_id' must be a chat",
    ),
    (
        "empty-chat-list",
        '[[rule]]\nid = "quad"\nname = "Q"\nquery = "Quad"\nchat_id = []\n',
        5,
        "quad",
        "'chat_id' must not be an empty list",
    ),
    ("empty-file", "", None, None, "no [[rule]] tables"),
    ("comments-only", "# nothing yet\n", None, None, "no [[rule]] tables"),
    ("top-level-key", "version = 2\n" + GOOD, 1, None, "unknown top-level key 'version'"),
    (
        "single-table",
        '[rule]\nid = "quad"\nname = "Q"\nquery = "Quad"\n',
        1,
        None,
        "'rule' must be [[rule]] tables",
    ),
    ("duplicate-in-file", GOOD + GOOD.replace("Quad India", "x"), 5, "quad", "first defined at"),
]


@pytest.mark.parametrize(("text", "line", "rule_id", "message"), **cases(FILE_ERRORS))
def test_load_rules_file_errors(
    tmp_path: Path, text: str, line: int | None, rule_id: str | None, message: str
) -> None:
    path = write(tmp_path, "rules.toml", text)
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    assert (caught.value.path, caught.value.line, caught.value.rule_id) == (path, line, rule_id)
    assert message in caught.value.message


@pytest.mark.parametrize(
    "rule_id", ["Quad", "quad_watch", "-quad", "quad-", "quad--watch", "quad watch", "q.1"]
)
def test_load_rules_rejects_ids_that_are_not_kebab_case(tmp_path: Path, rule_id: str) -> None:
    path = write(tmp_path, "r.toml", f'# ids\n[[rule]]\nname = "Q"\nid = "{rule_id}"\nquery = "Quad"\n')
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    assert (caught.value.path, caught.value.line) == (path, 4)
    assert "not kebab-case" in caught.value.message


def test_load_rules_bad_query_gives_position_in_query(tmp_path: Path) -> None:
    path = write(tmp_path, "r.toml", '[[rule]]\nid = "quad"\nname = "Q"\nquery = "Quad AND (India"\n')
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    assert str(caught.value) == f"{path}:4, rule 'quad', position 9: bad query: '(' is never closed"


def test_load_rules_duplicate_id_across_files_names_both(tmp_path: Path) -> None:
    first = write(tmp_path, "a.toml", "# first\n" + GOOD)
    second = write(tmp_path, "b.toml", GOOD.replace('"Quad India"', '"Quad Japan"'))
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path])
    assert str(caught.value) == (
        f"{second}:1, rule 'quad': duplicate rule id 'quad', first defined at {first}:2"
    )


def test_load_rules_reads_folders_sorted_and_files(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    write(folder, "b.toml", GOOD.replace("quad", "bravo"))
    write(folder, "a.toml", GOOD.replace("quad", "alpha") + GOOD.replace("quad", "alpha-2"))
    write(folder, "notes.md", "not a rule file")
    extra = write(tmp_path, "extra.toml", GOOD.replace('"quad"', '"extra"') + "chat_id = -1001\n")
    rules = load_rules([folder, extra, folder / "a.toml"])  # a.toml listed twice loads once
    assert [rule.id for rule in rules.rules] == ["alpha", "alpha-2", "bravo", "extra"]
    assert rules.rules[0] == Rule("alpha", "Quad", "Quad India", (), folder / "a.toml", 1)
    assert rules.rules[1].line == 5
    assert rules.get("extra") is not None and rules.get("extra").chats == ("-1001",)  # type: ignore[union-attr]


def test_load_rules_keeps_string_chat_id(tmp_path: Path) -> None:
    path = write(tmp_path, "r.toml", GOOD + 'chat_id = "@india_japan"\n')
    assert load_rules([path]).rules[0].chats == ("@india_japan",)


def test_load_rules_chat_id_list_mixes_ids_channels_and_names(tmp_path: Path) -> None:
    text = GOOD + 'chat_id = [-1001, "@india_japan", " desk ", "desk", -1001]\n'
    path = write(tmp_path, "r.toml", text)
    assert load_rules([path]).rules[0].chats == ("-1001", "@india_japan", "desk")  # in order, once each


PATH_ERRORS = [
    ("missing-path", lambda tmp: [tmp / "nope.toml"], "no such rule file or folder"),
    ("folder-without-toml", lambda tmp: [tmp], "folder has no *.toml rule files"),
    ("no-paths", lambda tmp: [], "no rule files given"),
]


@pytest.mark.parametrize(("paths", "message"), **cases(PATH_ERRORS))
def test_load_rules_path_errors(tmp_path: Path, paths, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("*", r"\*")):
        load_rules(paths(tmp_path))


def test_load_rules_rejects_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_bytes(GOOD.encode().replace(b"Quad India", b"Jap\xf3n"))
    with pytest.raises(RuleError, match="cannot read rule file") as caught:
        load_rules([path])
    assert caught.value.path == path


# --- the shipped rules -------------------------------------------------------

TOPICS = [
    "economic-security",
    "critical-minerals",
    "semiconductors",
    "ai-digital",
    "defence",
    "high-speed-rail",
    "indo-pacific",
    "diplomacy",
]


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules([SHIPPED])


def topics(rules: RuleSet, title: str, summary: str) -> set[str]:
    return {match.rule_id for match in rules.match(title, summary)}


def test_shipped_rules_are_the_eight_topics(shipped: RuleSet) -> None:
    assert [rule.id for rule in shipped.rules] == TOPICS


SEED_TOPICS = {
    "000": {
        "economic-security",
        "critical-minerals",
        "semiconductors",
        "ai-digital",
        "defence",
        "diplomacy",
    },
    # one sentence on the bullet train among a Foreign Secretary's meetings: an aside (issue 19)
    "001": {"economic-security", "defence", "diplomacy"},
    # agreements named after their topic ("Semiconductor Supply Chain Partnership") count
    "002": set(TOPICS) - {"high-speed-rail"},
    # the Indo-Pacific once, in a quotation about the partnership: an aside
    "003": {"economic-security", "defence", "diplomacy", "high-speed-rail"},
    # semiconductors once, as an example of a strategic sector
    "004": set(TOPICS) - {"semiconductors"},
}


@pytest.mark.parametrize("seed", sorted(SEED_TOPICS))
def test_seed_articles_match_their_topics(shipped, seed: str) -> None:
    (path,) = SEEDS.glob(f"{seed}_*.txt")
    title, _, body = path.read_text(encoding="utf-8").partition("\n")
    assert topics(shipped, title, body) == SEED_TOPICS[seed]


SHIPPED_CASES = [
    # (id, title, summary, expected topics)
    (
        "us-australia-minerals",
        "US and Australia sign critical minerals deal",
        "Washington and Canberra signed a framework on Monday to expand mining and processing"
        " of critical minerals and rare earths, as both seek to cut their reliance on China.",
        set(),
    ),
    (
        "hockey",
        "India beat Japan at hockey",
        "Harmanpreet Singh scored twice as India beat Japan 3-2 in their Asia Cup pool match"
        " in Rajgir on Sunday. Japan's defence held firm until the final quarter, when the"
        " visiting side conceded two penalty corners.",
        set(),
    ),
    (
        "hockey-draw",
        "India and Japan play out 2-2 draw",
        "The visiting Japanese side equalised late; the teams meet again in the final on Sunday.",
        set(),
    ),
    (
        "shinkansen-snow",
        "Shinkansen delayed by snow in Niigata",
        "Services on the Joetsu Shinkansen between Tokyo and Niigata were suspended for several"
        " hours on Sunday after heavy snowfall, East Japan Railway said.",
        set(),
    ),
    (
        "reliance-is-a-word",
        "Japan seeks to cut reliance on Chinese rare earths",
        "Tokyo will stockpile magnets and fund new refineries.",
        set(),
    ),
    (
        "blue-chips",
        "Blue-chip stocks rally in Mumbai and Tokyo",
        "The Sensex and the Nikkei both rose more than 1% as investors bought blue-chip banks.",
        set(),
    ),
    (
        "capitals-only",
        "New Delhi and Tokyo agree to deepen cooperation on rare earths",
        "The two capitals will set up a joint working group on rare earth processing and stockpiling.",
        {"critical-minerals"},
    ),
    (
        "companies-only",
        "Tata Electronics and Renesas to build chip packaging unit in Gujarat",
        "The facility at Sanand will assemble and test chips for automotive and industrial customers.",
        {"semiconductors"},
    ),
    (
        "companies-in-talks",
        "Tata in talks with Renesas over chip venture",
        "The two firms are discussing a joint design centre.",
        {"semiconductors"},
    ),
    (
        "shinkansen-makers",
        "Kawasaki, Hitachi in race for Mumbai–Ahmedabad bullet train coaches",
        "NHSRCL is expected to pick a supplier for the E10 trainsets later this year.",
        {"high-speed-rail"},
    ),
    (
        "battery-plant",
        "Suzuki, Toshiba and Denso expand battery plant in Gujarat",
        "The lithium-ion cells will go into electric cars made in India.",
        {"economic-security"},
    ),
    (
        "ai-lab",
        "Sony to open AI research centre in Bengaluru",
        "The Japanese electronics group will hire 300 engineers.",
        {"ai-digital"},
    ),
    (
        "naval-exercise",
        "Indian Navy and JMSDF begin JIMEX off Visakhapatnam",
        "Warships from both navies will practise anti-submarine warfare.",
        {"defence"},
    ),
    (
        "ministers-meet",
        "Jaishankar meets Japanese foreign minister Motegi in Tokyo",
        "The two ministers reviewed the Special Strategic and Global Partnership.",
        {"diplomacy"},
    ),
    (
        "summit",
        "Modi and Takaichi hold summit, pledge deeper defence cooperation",
        "The leaders also discussed the Quad and maritime security.",
        {"diplomacy", "defence", "indo-pacific"},
    ),
    (
        "unicorn-startup",
        "SoftBank backs Indian unicorn",
        "The Bengaluru startup raised $200 million from the Japanese investor.",
        {"ai-digital"},
    ),
    (
        "ethanol-e10",
        "India rolls out E10 petrol as Toyota pushes hybrids",
        "The ethanol blend is now sold at most pumps.",
        set(),
    ),
]


@pytest.mark.parametrize(("title", "summary", "expected"), **cases(SHIPPED_CASES))
def test_shipped_rules_on_reports(shipped: RuleSet, title: str, summary: str, expected: set[str]) -> None:
    assert topics(shipped, title, summary) == expected


TOPIC_SENTENCES = {
    "economic-security": "{} and {} deepen economic security cooperation.",
    "critical-minerals": "{} and {} sign a rare earths pact.",
    "semiconductors": "{} and {} to build a semiconductor fab.",
    "ai-digital": "{} and {} launch an artificial intelligence dialogue.",
    "defence": "{} and {} expand defence equipment and technology cooperation.",
    "high-speed-rail": "{} and {} review bullet train progress.",
    "indo-pacific": "{} and {} back a free and open Indo-Pacific.",
    "diplomacy": "{} and {} hold a summit.",
}
SIDES = [("India", "Japan", True), ("India", "Australia", False), ("Australia", "Japan", False)]


@pytest.mark.parametrize(("first", "second", "fires"), SIDES, ids=["both", "india-only", "japan-only"])
@pytest.mark.parametrize("topic", TOPICS)
def test_each_shipped_rule_needs_both_india_and_japan(
    shipped: RuleSet, topic: str, first: str, second: str, fires: bool
) -> None:
    title = TOPIC_SENTENCES[topic].format(first, second)
    assert (topic in topics(shipped, title, "")) is fires
