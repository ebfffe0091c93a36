"""Rule files' [terms] lists, priority and examples; check_examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.rules.examples import ExampleFailure, check_examples
from monitor.rules.rulefile import load_rules

ROOT = Path(__file__).resolve().parents[2]
RULE = '[[rule]]\nid = "{id}"\nname = "N"\nquery = "{query}"\n'


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_lists_are_global_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", RULE.format(id="quad", query="@india AND Quad"))
    write(tmp_path, "b.toml", '# lists only\n[terms]\nindia = ["India", "New Delhi"]\n')
    rules = load_rules([tmp_path])
    assert [m.terms for m in rules.match("Quad in New Delhi", "")] == [("New Delhi", "Quad")]


def test_duplicate_list_names_both_places(tmp_path: Path) -> None:
    first = write(tmp_path, "a.toml", '[terms]\nindia = ["India"]\n')
    second = write(tmp_path, "b.toml", '# again\n\n[terms]\njapan = ["Japan"]\nindia = ["Bharat"]\n')
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path])
    assert str(caught.value) == f"{second}:5: duplicate term list 'india', first defined at {first}:2"


def test_unknown_list_names_file_line_rule_and_position(tmp_path: Path) -> None:
    path = write(
        tmp_path, "r.toml", "[[rule]]\nid = 'quad'\nname = 'Q'\nquery = '''\nQuad AND\n  @indai\n'''\n"
    )
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    assert (caught.value.path, caught.value.line, caught.value.rule_id, caught.value.position) == (
        path,
        6,
        "quad",
        11,
    )
    assert "unknown term list @indai" in caught.value.message


FILE_ERRORS = [
    ("list-in-list", '[terms]\nx = ["a"]\ny = ["b", "@x"]\n', 3, "element 2"),
    ("list-not-array", '[terms]\nx = "India"\n', 2, "non-empty list of strings"),
    ("list-bad-name", '[terms]\nIndia = ["India"]\n', 2, "bad term list name 'India'"),
    # the line of each list's key, read once for the whole [terms] table
    ("list-quoted-key", '[terms]\nxy = ["a"]\n"x" = [\n  "b",\n  "@x",\n]\n', 3, "list 'x', element 2"),
    ("list-single-quoted", "[terms]\nx-y = ['a']\n  'x' = ['(b']\n", 3, "list 'x', element 1"),
    ("list-after-rule", RULE.format(id="q", query="Quad") + '[terms]\nq = ["a"]\nx = [""]\n', 7, "list 'x'"),
    ("terms-not-table", 'terms = ["India"]\n', 1, "'terms' must be a [terms] table"),
    ("priority", RULE.format(id="q", query="Quad") + 'priority = "urgent"\n', 5, "'priority' must be"),
    ("priority-type", RULE.format(id="q", query="Quad") + "priority = 1\n", 5, "'priority' must be"),
    (
        "examples-type",
        RULE.format(id="q", query="Quad") + 'must_match = "Quad"\n',
        5,
        "list of non-empty strings",
    ),
    (
        "example-missing-file",
        RULE.format(id="q", query="Quad") + 'must_not_match = ["x/nope.txt"]\n',
        5,
        "is not in",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "message"), [r[1:] for r in FILE_ERRORS], ids=[r[0] for r in FILE_ERRORS]
)
def test_rule_file_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, "r.toml", text)
    with pytest.raises(RuleError) as caught:
        load_rules([path])
    assert (caught.value.path, caught.value.line) == (path, line)
    assert message in caught.value.message


def test_priority_and_examples_are_kept_as_written(tmp_path: Path) -> None:
    write(tmp_path, "seeds/one.txt", "Quad summit\nIn Tokyo.\n")  # beside the rules' folder
    rules = write(
        tmp_path,
        "rules/r.toml",
        RULE.format(id="quad", query="Quad")
        + 'priority = "high"\nmust_match = ["seeds/one.txt", "Quad"]\nmust_not_match = ["Squad\\nQuad"]\n',
    )
    (rule,) = load_rules([rules]).rules
    assert (rule.priority, rule.must_match, rule.must_not_match) == (
        "high",
        ("seeds/one.txt", "Quad"),
        ("Squad\nQuad",),
    )
    assert (
        load_rules([write(tmp_path, "d.toml", RULE.format(id="d", query="x"))]).rules[0].priority == "normal"
    )


def test_check_examples(tmp_path: Path) -> None:
    write(tmp_path, "rules/near.txt", "India and Japan\n")  # beside the rule file wins over its parent
    write(tmp_path, "near.txt", "nothing\n")
    path = write(
        tmp_path,
        "rules/r.toml",
        RULE.format(id="quad", query="Quad NOT cricket")
        + 'must_match = ["Quad\\nin Tokyo", "Tokyo\\nQuad meets", "a cricket Quad"]\n'
        + 'must_not_match = ["Quad talks", "nothing here"]\n\n'
        + RULE.format(id="pair", query="India NEAR/2 Japan")
        + 'must_match = ["near.txt"]\n',
    )
    failures = check_examples(load_rules([path]))
    assert failures == [
        ExampleFailure("quad", path, 1, "a cricket Quad", True, False),
        ExampleFailure("quad", path, 1, "Quad talks", False, True, ("Quad",)),
    ]
    assert str(failures[0]) == f"{path}:1, rule 'quad': must_match example 'a cricket Quad' did not match"
    assert (
        str(failures[1])
        == f"{path}:1, rule 'quad': must_not_match example 'Quad talks' matched (terms: Quad)"
    )


def test_example_file_title_is_the_first_line(tmp_path: Path) -> None:
    write(tmp_path, "t.txt", "Talks\nQuad meets\n")
    path = write(tmp_path, "r.toml", RULE.format(id="q", query="title:Quad") + 'must_not_match = ["t.txt"]\n')
    assert check_examples(load_rules([path])) == []


def test_a_long_example_is_shortened_to_one_line() -> None:
    failure = ExampleFailure("q", None, None, "Title\n" + "word " * 30, True, False)
    assert str(failure).startswith("rule 'q': must_match example 'Title\\nword word") and "\n" not in str(
        failure
    )


def test_shipped_rule_examples_hold() -> None:
    rules = load_rules([ROOT / "rules"])
    assert [str(failure) for failure in check_examples(rules)] == []


def test_examples_of_a_lead_rule_beside_others(tmp_path: Path) -> None:
    """rules check runs each example on its own rule: the opening sentence is found for a lead: rule."""
    text = RULE.format(id="lead-quad", query="lead:Quad") + (
        'must_match = ["Talks\\nQuad meets. Then more."]\n'
        'must_not_match = ["Talks\\nFirst sentence here. Then Quad later."]\n'
    )
    text += RULE.format(id="any-quad", query="Quad") + 'must_match = ["Talks\\nFirst sentence. Then Quad."]\n'
    rules = load_rules([write(tmp_path, "r.toml", text)])
    assert check_examples(rules) == []
    assert rules.fires("lead-quad", "Talks", "First one. Then Quad.") is False
    assert rules.fires("any-quad", "Talks", "First one. Then Quad.") is True


def test_a_text_shared_by_several_rules_is_judged_for_each(tmp_path: Path) -> None:
    """check_examples folds a text once for all the rules it is an example of (the shipped seeds
    are examples of five): each rule still gets its own verdict, a lead: rule its opening
    sentence, and the failures come in file order."""
    shared = "Talks\\nFirst one. Then Quad."
    text = RULE.format(id="lead-quad", query="lead:Quad") + f'must_match = ["{shared}"]\n'
    text += RULE.format(id="any-quad", query="Quad") + f'must_match = ["{shared}"]\n'
    text += f'must_not_match = ["{shared}"]\n'
    text += RULE.format(id="japan", query="Japan") + f'must_not_match = ["{shared}"]\n'
    rules = load_rules([write(tmp_path, "r.toml", text)])
    found = [(f.rule_id, f.expected, f.got, f.terms) for f in check_examples(rules)]
    assert found == [("lead-quad", True, False, ()), ("any-quad", False, True, ("Quad",))]
    assert rules.firing(["lead-quad", "any-quad", "japan"], "Talks", "First one. Then Quad.") == {"any-quad"}
    assert rules.firing(["lead-quad"], "Talks", "Quad first. Then more.") == {"lead-quad"}
