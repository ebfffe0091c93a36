"""Why a rule fired, or did not: per rule, each clause, whether it held and on which terms. Pure.

    explain(rules, title, summary) → RuleExplanation per rule, in rule order
        the rule's query, split at its top-level ANDs into clauses ─→ ClauseReport each:
        held or not, the terms that made it hold (as written in the rule or its list),
        and for an OR clause the alternatives that held
    format_explanation(explanations) → the lines `monitor match --explain` prints

The matcher's companion: it evaluates each clause with the matcher's own plans (the
`plan_node` and `Article` of plans.py), so what it says is what the matcher does. Not on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitor.rules.matcher import RuleSet
from monitor.rules.plans import ANY, Article, plan_node
from monitor.rules.query import And, Count, Field, ListRef, Near, Node, Not, Or, Term, parse_query

_WIDTH = 100  # a clause longer than this is shown cut, with "…"


@dataclass(frozen=True)
class ClauseReport:
    text: str  # the clause as written (@lists by name), cut to _WIDTH characters
    holds: bool  # whether it held on the article
    terms: tuple[str, ...]  # the terms that made it hold, as written in the rule or its list
    branches: tuple[ClauseReport, ...] = ()  # for an OR clause: the alternatives that held (not single words)


@dataclass(frozen=True)
class RuleExplanation:
    rule_id: str
    fired: bool
    clauses: tuple[ClauseReport, ...]  # the query's top-level AND parts (one if it has no AND)


def explain(
    rules: RuleSet, title: str, summary: str, only: Iterable[str] | None = None
) -> list[RuleExplanation]:
    """Each rule's clauses on one article (only the rules whose ids are in `only`, if given)."""
    wanted = None if only is None else set(only)
    article, _ = rules._article(title, summary, whole=True)  # every clause, not only candidates
    assert article is not None  # whole: always made
    explained = []
    for number, (rule, query) in enumerate(rules._compiled):
        if wanted is not None and rule.id not in wanted:
            continue
        written = {key: text for key, (_, text) in rules.spelt(number).items()}
        raw = parse_query(rule.query).root  # the tree as written: @lists still by name
        pairs = _conjuncts(raw, query.root)
        clauses = tuple(_report(one, resolved, article, written) for one, resolved in pairs)
        explained.append(RuleExplanation(rule.id, rules._plans[number].passes(article), clauses))
    return explained


def _conjuncts(raw: Node, resolved: Node) -> list[tuple[Node, Node]]:
    if isinstance(raw, And) and isinstance(resolved, And):
        return list(zip(raw.children, resolved.children, strict=True))
    return [(raw, resolved)]


def _report(raw: Node, resolved: Node, article: Article, written: Mapping[str, str]) -> ClauseReport:
    plan = plan_node(resolved, ANY, {})
    holds = plan.passes(article)
    terms = _terms(plan.reasons(article), written) if holds else ()
    branches: tuple[ClauseReport, ...] = ()
    if holds and isinstance(raw, Or) and isinstance(resolved, Or):
        pairs = zip(raw.children, resolved.children, strict=True)  # a word alone is no branch: see terms
        reports = (_report(a, b, article, written) for a, b in pairs if not isinstance(a, Term))
        branches = tuple(report for report in reports if report.holds)
    return ClauseReport(_cut(render(raw)), holds, terms, branches)


def _terms(reasons: Iterable[tuple[str, object]], written: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(written[key] for key, _ in reasons if key in written))


def _cut(text: str) -> str:
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


def render(node: Node, nested: bool = False) -> str:
    """A query tree as text, on one line; groups in parentheses where they are nested."""
    if isinstance(node, Term):
        return node.text
    if isinstance(node, ListRef):
        return f"@{node.name}"
    if isinstance(node, Not):
        return f"NOT {render(node.child, True)}"
    if isinstance(node, Field):
        return f"{node.name}:{render(node.child, True)}"
    if isinstance(node, Count):
        return f"{render(node.child, True)}{{{node.times}}}"
    if isinstance(node, Near):
        parts = [render(node.children[0], True)]
        for child, distance in zip(node.children[1:], node.distances, strict=True):
            parts += [f"NEAR/{distance}", render(child, True)]
        text = " ".join(parts)
    else:
        text = (" AND " if isinstance(node, And) else " OR ").join(render(c, True) for c in node.children)
    return f"({text})" if nested else text


def format_explanation(explanations: Iterable[RuleExplanation], fired_only: bool = False) -> list[str]:
    """Lines for people: each rule, then its clauses; an OR clause's alternatives that held below it."""
    lines = []
    for rule in explanations:
        if fired_only and not rule.fired:
            continue
        lines.append(f"  {rule.rule_id}: {'fired' if rule.fired else 'no match'}")
        for clause in rule.clauses:
            if not rule.fired and clause.holds:
                continue  # a rule that did not fire: only the clauses that failed say why
            lines.append(f"    {'holds' if clause.holds else 'fails'}  {clause.text}")
            lines += [f"           by {branch.text}: {', '.join(branch.terms)}" for branch in clause.branches]
            if clause.terms and not clause.branches:
                lines.append(f"           terms: {', '.join(clause.terms)}")
    return lines
