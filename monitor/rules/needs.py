"""What a query needs of an article before its plan is worth evaluating. Pure.

    needs(root) → [frozenset of term keys, ...]

Each set is a clause the query cannot match without: some term of it present in the article
(title or summary). Necessary, never sufficient: the matcher (matcher.py) wakes a rule by the
smallest of its clauses (its anchor) and skips it, without walking its plan, when any other
clause has no present term. A query with no clause (NOT NOT a) is tried on every article.

    a AND (b OR c)                  → {a}, {b, c}
    a NEAR/5 b                      → {a}, {b}
    title:a, a{2}                   → {a}        (a scope or a count only narrows it)
    NOT a                           → nothing    (an absent word is no reason to look)
    (a AND b) OR (c AND d)          → {a, c}, {a, d}, {b, c}, {b, d}

An OR needs, for each way of taking one clause from every alternative, their union: whichever
alternative holds brings its own clause, which is in the union. ("India and Japan in the title,
or India near Japan in the lead" needs an India term and a Japan term.) At most
MAX_COMBINATIONS ways are taken; past that the OR needs only the union of each alternative's
smallest clause. Clauses that contain another are dropped: they add nothing.
"""

from __future__ import annotations

import itertools
from math import prod

from monitor.rules.query import And, Count, Field, Near, Node, Or, Term
from monitor.rules.termlists import Listed

MAX_COMBINATIONS = 64  # clause unions an OR may make (its alternatives' clause counts multiplied)


def needs(node: Node) -> list[frozenset[str]]:
    """Sets of term keys of which the query needs one each: smallest first, none inside another."""
    if isinstance(node, Term):
        return [frozenset({node.key})]
    if isinstance(node, Listed):
        return [node.keys]
    if isinstance(node, Field | Count):
        return needs(node.child)
    if isinstance(node, And | Near):
        return _minimal([clause for child in node.children for clause in needs(child)])
    if isinstance(node, Or):
        alternatives = [needs(child) for child in node.children]
        if not all(alternatives):
            return []  # an alternative that needs nothing: neither does the OR
        if prod(map(len, alternatives)) > MAX_COMBINATIONS:
            return [frozenset().union(*(clauses[0] for clauses in alternatives))]
        return _minimal([frozenset().union(*ways) for ways in itertools.product(*alternatives)])
    return []  # NOT


def _minimal(clauses: list[frozenset[str]]) -> list[frozenset[str]]:
    """The clauses without repeats and without any that contains another, smallest first."""
    kept: list[frozenset[str]] = []
    for clause in _by_size(set(clauses)):
        if not any(smaller <= clause for smaller in kept):
            kept.append(clause)
    return kept


def _by_size(clauses: set[frozenset[str]]) -> list[frozenset[str]]:
    """The clauses in (size, sorted keys) order: the keys sorted only where sizes tie (27 of the
    shipped rules' 547 clauses), not for every clause (a resolved @list has hundreds; issue 16)."""
    ordered: list[frozenset[str]] = []
    for _, same in itertools.groupby(sorted(clauses, key=len), key=len):
        group = list(same)
        ordered += sorted(group, key=sorted) if len(group) > 1 else group
    return ordered
