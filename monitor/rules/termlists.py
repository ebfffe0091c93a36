"""Named term lists: `[terms]` in rule files, `@name` in queries. Pure.

    [terms] india = ["India", "New Delhi", "Indo-*"] ─make_term_list→ TermList
    all files' TermLists ─index_term_lists→ {name: TermList}   (a name twice is an error)
    Query with @india ─resolve_lists→ Query with Listed(India OR "New Delhi" OR "Indo-*")

The resolved terms keep the list's spelling, so an alert names the element that matched
("New Delhi", not "@india"). A list cannot name another list: each reads in one place.
Every reference to a list shares the list's one tuple of terms and their keys (`Listed`):
the shipped rules refer to their 54 lists 885 times, 94,000 terms in all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
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

_Key = tuple[tuple[str, ...], bool]  # a term's (tokens, prefix): Term.key without the join


@dataclass(frozen=True)
class TermList:
    name: str  # referenced as @name
    terms: tuple[Term, ...]  # the elements, each spelt as in the list
    path: Path | None = None  # the rule file that defines it
    line: int | None = None  # line of its key in that file

    @cached_property
    def keys(self) -> frozenset[str]:
        """Its terms' keys (Term.key), computed once for all its references."""
        return frozenset(term.key for term in self.terms)

    @cached_property
    def by_key(self) -> dict[_Key, Term]:
        """Its terms by (tokens, prefix), each key's first, in list order (query.make_query)."""
        found: dict[_Key, Term] = {}
        for term in self.terms:
            found.setdefault((term.tokens, term.prefix), term)
        return found


@dataclass(frozen=True)
class Listed(Or):
    """An @name resolved: the OR of its list's terms (`children`, the list's own tuple, shared
    by every reference), with the name and where this reference wrote it."""

    name: str  # the list's name, without "@"
    position: int  # offset of the "@" in the query
    keys: frozenset[str] = field(compare=False, repr=False)  # TermList.keys
    by_key: Mapping[_Key, Term] = field(compare=False, repr=False)  # TermList.by_key


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


_NOT_IN_ELEMENTS = frozenset(QUOTES + "()@")


def _element(element: object) -> Term:
    if not isinstance(element, str) or not element.strip():
        raise RuleError("must be a non-empty string")
    if not _NOT_IN_ELEMENTS.isdisjoint(element):
        raise RuleError("quotes, parentheses and '@' are not allowed in a list element")
    return parse_term(element.strip())


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
    """The node with its @names resolved: a new node where one is below it, else the node itself."""
    if isinstance(node, ListRef):
        term_list = lists[node.name]
        return Listed(term_list.terms, node.name, node.position, term_list.keys, term_list.by_key)
    if isinstance(node, Term):
        return node
    if isinstance(node, Not | Field | Count):
        child = _resolve(node.child, lists)
        return node if child is node.child else replace(node, child=child)
    children = tuple(_resolve(child, lists) for child in node.children)
    if all(new is old for new, old in zip(children, node.children, strict=True)):
        return node
    return replace(node, children=children)


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
