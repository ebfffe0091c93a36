"""Named term lists: `[terms]` in rule files, `@name` in queries. Pure.

    [terms] india = ["India", "New Delhi", "Indo-*"] ─make_term_list→ TermList
    all files' TermLists ─index_term_lists→ {name: TermList}   (a name twice is an error)
    Query with @india ─resolve_lists→ Query with (India OR "New Delhi" OR "Indo-*")

The resolved terms keep the list's spelling, so an alert names the element that matched
("New Delhi", not "@india"). A list cannot name another list: each reads in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from monitor.errors import RuleError
from monitor.rules.query import (
    LIST_NAME,
    QUOTES,
    Count,
    Field,
    ListRef,
    Node,
    Not,
    Or,
    Query,
    Term,
    make_query,
    parse_term,
)


@dataclass(frozen=True)
class TermList:
    name: str  # referenced as @name
    terms: tuple[Term, ...]  # the elements, each spelt as in the list
    path: Path | None = None  # the rule file that defines it
    line: int | None = None  # line of its key in that file


def make_term_list(
    name: object, elements: object, path: Path | None = None, line: int | None = None
) -> TermList:
    """A TermList from a `[terms]` entry; RuleError(path, line) when it is malformed."""
    if not isinstance(name, str) or not LIST_NAME.fullmatch(name):
        raise RuleError(
            f"bad term list name {name!r}: lower-case letters, digits, '_' and '-', starting with a letter",
            path,
            line=line,
        )
    if not isinstance(elements, list) or not elements:
        raise RuleError(f"term list {name!r} must be a non-empty list of strings", path, line=line)
    terms = []
    for number, element in enumerate(elements, 1):
        try:
            terms.append(_element(element))
        except RuleError as exc:
            message = f"term list {name!r}, element {number} ({element!r}): {exc.message}"
            raise RuleError(message, path, line=line) from exc
    return TermList(name, tuple(terms), path, line)


def _element(element: object) -> Term:
    if not isinstance(element, str) or not element.strip():
        raise RuleError("must be a non-empty string")
    if any(char in element for char in QUOTES + "()@"):
        raise RuleError("quotes, parentheses and '@' are not allowed in a list element")
    term = parse_term(element.strip())
    term.key  # noqa: B018 (cached now, once for every @name that brings it: resolve_lists)
    return term


def resolve_lists(query: Query, lists: Mapping[str, TermList]) -> Query:
    """Replace each @name by the OR of its list's terms; RuleError(position) for an unknown name."""
    if not query.lists:
        return query
    for ref in query.lists:
        if ref.name not in lists:
            known = ", ".join(f"@{name}" for name in sorted(lists)) or "none are defined"
            raise RuleError(f"unknown term list @{ref.name} (known: {known})", position=ref.position)
    return make_query(query.text, _resolve(query.root, lists))


def _resolve(node: Node, lists: Mapping[str, TermList]) -> Node:
    if isinstance(node, ListRef):
        # The list's own terms, shared by every @name that brings them: the shipped rules
        # bring some 90,000, and a copy each (for its position, which nothing reads once the
        # query has parsed) cost 15 MB in the service and again in each parser worker.
        terms = lists[node.name].terms
        return terms[0] if len(terms) == 1 else Or(terms)
    if isinstance(node, Term):
        return node
    if isinstance(node, Not | Field | Count):
        return replace(node, child=_resolve(node.child, lists))
    return replace(node, children=tuple(_resolve(child, lists) for child in node.children))


def index_term_lists(lists: Sequence[TermList]) -> dict[str, TermList]:
    """Lists by name; a name defined twice is an error naming both places."""
    by_name: dict[str, TermList] = {}
    for term_list in lists:
        first = by_name.setdefault(term_list.name, term_list)
        if first is not term_list:
            raise RuleError(
                f"duplicate term list {term_list.name!r}, first defined at {_where(first)}",
                term_list.path,
                line=term_list.line,
            )
    return by_name


def _where(term_list: TermList) -> str:
    if term_list.path is None:
        return "an earlier list"
    return f"{term_list.path}:{term_list.line}" if term_list.line is not None else str(term_list.path)
