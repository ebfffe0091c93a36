"""Rule examples: the articles a rule must match, and those it must not. Pure but for reading files.

Rule.must_match / must_not_match     article text, or the path of a .txt file
  ─read_example→ (title, summary)    first line the title, the rest the summary
  ─RuleSet.match→ fired or not       ─→ one ExampleFailure per example that disagrees
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.errors import RuleError
from monitor.rules.matcher import RuleSet
from monitor.types import Rule


@dataclass(frozen=True)
class ExampleFailure:
    rule_id: str  # the rule whose example failed
    path: Path | None  # the rule file
    line: int | None  # the rule's [[rule]] line in that file
    example: str  # as written in the rule: article text or a .txt path
    expected: bool  # True for must_match, False for must_not_match
    got: bool  # whether the rule matched the example
    terms: tuple[str, ...] = ()  # the terms it matched on, when it did

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.path is not None and self.line else str(self.path or "")
        key = "must_match" if self.expected else "must_not_match"
        outcome = f"matched (terms: {', '.join(self.terms)})" if self.got else "did not match"
        shown = self.example if len(self.example) <= 60 else self.example[:59] + "…"
        prefix = f"{where}, " if where else ""
        return f"{prefix}rule {self.rule_id!r}: {key} example {shown!r} {outcome}"


def is_example_file(example: str) -> bool:
    return example.endswith(".txt")


def find_example_file(example: str, rule_path: Path | None) -> Path | None:
    """The file an example names: beside the rule file, else in its folder's parent.

    The parent too, so that rules in rules/ can name "seeds/…" at the repository root.
    """
    path = Path(example)
    if path.is_absolute() or rule_path is None:
        return path if path.is_file() else None
    folder = rule_path.parent
    return next((c for c in (folder / path, folder.parent / path) if c.is_file()), None)


def read_example(example: str, rule: Rule) -> tuple[str, str]:
    """(title, summary) of an example; RuleError when its file cannot be read."""
    text = example
    if is_example_file(example):
        path = find_example_file(example, rule.path)
        try:
            if path is None:
                raise OSError("not found")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            message = f"cannot read example file {example!r}: {exc}"
            raise RuleError(message, rule.path, rule.id, line=rule.line) from exc
    title, _, summary = text.partition("\n")
    return title, summary


def check_examples(rule_set: RuleSet) -> list[ExampleFailure]:
    """Every example of every rule that does not give the result its rule expects."""
    cases = [
        (rule, example, expected, read_example(example, rule))
        for rule in rule_set.rules
        for examples, expected in ((rule.must_match, True), (rule.must_not_match, False))
        for example in examples
    ]
    # each text folded and indexed once, for all the rules it is an example of
    rules_of: dict[tuple[str, str], list[str]] = {}
    for rule, _, _, text in cases:
        rules_of.setdefault(text, []).append(rule.id)
    fired = {text: rule_set.firing(rule_ids, *text) for text, rule_ids in rules_of.items()}
    failures = []
    for rule, example, expected, (title, summary) in cases:
        if (rule.id in fired[title, summary]) != expected:  # the rule alone, unexplained
            terms = () if expected else _terms(rule_set, rule.id, title, summary)
            failure = ExampleFailure(rule.id, rule.path, rule.line, example, expected, not expected, terms)
            failures.append(failure)
    return failures


def _terms(rule_set: RuleSet, rule_id: str, title: str, summary: str) -> tuple[str, ...]:
    """The terms a rule matched an example on (it fired where it should not have)."""
    return next((m.terms for m in rule_set.match(title, summary) if m.rule_id == rule_id), ())
