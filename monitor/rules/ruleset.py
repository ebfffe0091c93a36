"""Rules: the matching stage. Pure.

    rules/*.toml ─rulefile.load_rules→ (Rule, Query) pairs and [terms] lists ─→ RuleSet
    Rule objects (+ TermLists) ─compile_rule_set→ RuleSet          (ad-hoc queries, tests)
    RuleSet.match(title, summary) → RuleMatch per rule that fired, in rule order

The query language (grammar, parser, @lists) is in query.py, the one-pass matcher in
matcher.py, folding in textfold.py; rules/README.md is the user's documentation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from monitor.errors import RuleError
from monitor.rules.matcher import RuleSet
from monitor.rules.query import (
    And,
    Field,
    ListRef,
    Near,
    Node,
    Not,
    Or,
    Query,
    Term,
    parse_query,
)
from monitor.rules.termlists import TermList, index_term_lists, make_term_list, resolve_lists
from monitor.types import Rule

__all__ = [
    "And",
    "Field",
    "ListRef",
    "Near",
    "Node",
    "Not",
    "Or",
    "PRIORITIES",
    "Query",
    "Term",
    "TermList",
    "assemble_rule_set",
    "check_rule_id",
    "compile_rule_set",
    "make_term_list",
    "parse_query",
]

PRIORITIES = ("high", "normal", "low")


def compile_rule_set(rules: Sequence[Rule], term_lists: Sequence[TermList] = ()) -> RuleSet:
    """Build a RuleSet from Rule objects; the errors carry each rule's path and line."""
    lists = index_term_lists(term_lists)
    compiled = []
    for rule in rules:
        check_rule_id(rule.id, rule.path, rule.line)
        check_priority(rule.priority, rule)
        try:
            query = resolve_lists(parse_query(rule.query), lists)
        except RuleError as exc:
            raise RuleError(f"bad query: {exc.message}", rule.path, rule.id, exc.position, rule.line) from exc
        compiled.append((rule, query))
    return assemble_rule_set(compiled, lists)


def assemble_rule_set(
    compiled: Sequence[tuple[Rule, Query]], lists: Mapping[str, TermList] | None = None
) -> RuleSet:
    """A RuleSet from rules whose queries are parsed and resolved; rule ids must be unique."""
    first: dict[str, Rule] = {}
    for rule, _ in compiled:
        other = first.setdefault(rule.id, rule)
        if other is not rule:
            raise RuleError(
                f"duplicate rule id {rule.id!r}, first defined at {_where(other)}",
                rule.path,
                rule.id,
                line=rule.line,
            )
    return RuleSet(compiled, lists)


def _where(rule: Rule) -> str:
    if rule.path is None:
        return "an earlier rule"
    return f"{rule.path}:{rule.line}" if rule.line is not None else str(rule.path)


_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def check_rule_id(rule_id: object, path: Path | None, line: int | None) -> None:
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise RuleError(
            f"id {rule_id!r} is not kebab-case (lower-case letters and digits,"
            " joined by single hyphens, e.g. 'critical-minerals')",
            path,
            line=line,
        )


def check_priority(priority: object, rule: Rule) -> None:
    if priority not in PRIORITIES:
        raise RuleError(
            f'\'priority\' must be "high", "normal" or "low", not {priority!r}',
            rule.path,
            rule.id,
            line=rule.line,
        )
