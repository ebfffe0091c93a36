"""Plans: a rule's query tree compiled to set tests on an article's present terms. Pure.

    compile_plan(root) → _Clauses (the usual shape: AND of (NOT) OR-lists, one set test each)
                     or a tree of _AnyOf / _AllOf / _NoneOf / _Close (NEAR) / _Times (counts)
    plan.passes(article)   whether the rule holds (NEAR and counts look at occurrences)
    plan.reasons(article)  the terms and occurrences that made it hold (RuleMatch, explain.py)

Article is one article during matching: its folded fields, the terms present in each scope,
and the occurrences found so far. matcher.py (RuleSet) makes both.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from monitor.errors import RuleError
from monitor.rules.query import And, Count, Field, ListRef, Near, Node, Not, Or, Term
from monitor.rules.termindex import TermIndex
from monitor.rules.termlists import Listed
from monitor.rules.textfold import FoldedField

TITLE, SUMMARY, ANY, LEAD = 0, 1, 2, 3  # scopes; TITLE and SUMMARY are also field numbers
OPENING = 4  # the summary's first sentence: a part of SUMMARY, searched as a field for LEAD
_FIELDS_OF = {TITLE: (TITLE,), SUMMARY: (SUMMARY,), ANY: (TITLE, SUMMARY), LEAD: (TITLE, OPENING)}
_SCOPES = {"title": TITLE, "summary": SUMMARY, "lead": LEAD}
Hit = tuple[int, int, int]  # (field, start, end) of an occurrence: offsets in the field's layout
Reason = tuple[str, list[Hit]]  # a term key that made a rule match, and the occurrences that did


class Article:
    """One article during matching: its folded fields, present terms, occurrences found so far."""

    __slots__ = ("fields", "present", "index", "opening", "_hits", "chains")

    def __init__(
        self,
        fields: tuple[FoldedField, FoldedField],
        present: tuple[set[str], ...],
        index: TermIndex,
        opening: int = 0,
    ) -> None:
        self.fields = fields
        self.present = present  # indexed by scope: title, summary, either, lead, opening
        self.index = index
        self.opening = opening  # where the summary's first sentence ends in its layout
        self._hits: dict[tuple[str, int], list[Hit]] = {}
        # a NEAR chain's occurrences reached forwards in a field, by (plan, field): explaining a
        # match, and an OR's branches tried again when explaining, reuse them (issue 18)
        self.chains: dict[tuple[object, int], list[list[tuple[str, Hit]]]] = {}

    def hits(self, key: str, field: int) -> list[Hit]:
        """Every occurrence of a term in one field (or the opening), in text order (overlapping ones too)."""
        if field != OPENING and key not in self.present[field]:
            return []  # the usual case for one of the fields: nothing to look up or remember
        found = self._hits.get((key, field))
        if found is None:
            if field == OPENING:
                found = [hit for hit in self.hits(key, SUMMARY) if hit[2] <= self.opening]
            else:
                found = self.index.hits(key, self.fields[field], field)
            self._hits[key, field] = found
        return found

    def scoped_hits(self, key: str, scope: int) -> list[Hit]:
        if scope == ANY:
            return self.hits(key, TITLE) + self.hits(key, SUMMARY)
        if scope == LEAD:
            return self.hits(key, TITLE) + self.hits(key, OPENING)
        return self.hits(key, scope)

    def span(self, hit: Hit) -> tuple[int, int]:
        """An occurrence as word numbers: its first word, and the word after its last."""
        field = self.fields[hit[0]]
        return field.word_number(hit[1]), field.word_number(hit[2])


def _close_to_any(
    article: Article, hits: list[tuple[str, Hit]], others: list[tuple[str, Hit]], distance: int
) -> list[tuple[str, Hit]]:
    """The hits with an occurrence among `others` not overlapping them and at most `distance`
    words away, either side: word numbers sorted and bisected, not every pair compared (a
    20,000-character text repeating one word took seconds that way, issue 20)."""
    spans = [article.span(hit) for _, hit in others]
    ends, starts = sorted(end for _, end in spans), sorted(start for start, _ in spans)

    def near(first: int, after: int) -> bool:
        # an other ending at word [first - distance, first], or starting at [after, after + distance]
        before = bisect_right(ends, first) > bisect_left(ends, first - distance)
        return before or bisect_right(starts, after + distance) > bisect_left(starts, after)

    return [entry for entry in hits if near(*article.span(entry[1]))]


# --- plans: a query tree compiled to set tests ----------------------------------


class _Clauses:
    """The usual shape, AND of (NOT) OR-lists of terms, each in a scope: one set test per clause."""

    __slots__ = ("clauses",)

    def __init__(self, clauses: tuple[tuple[int, frozenset[str], bool], ...]) -> None:
        self.clauses = clauses  # (scope, term keys, negated)

    def passes(self, article: Article) -> bool:
        present = article.present
        for scope, keys, negated in self.clauses:
            if keys.isdisjoint(present[scope]) != negated:
                return False
        return True

    def reasons(self, article: Article) -> Iterator[Reason]:
        for scope, keys, negated in self.clauses:
            if not negated:
                for key in keys & article.present[scope]:
                    yield key, article.scoped_hits(key, scope)


class _AnyOf:
    """OR: one of its plain terms is present (one C set test), or one of its other parts holds."""

    __slots__ = ("keys", "parts", "scope")

    def __init__(self, keys: frozenset[str], parts: tuple[_Plan, ...], scope: int) -> None:
        self.keys, self.parts, self.scope = keys, parts, scope

    def passes(self, article: Article) -> bool:
        if not self.keys.isdisjoint(article.present[self.scope]):
            return True
        return any(part.passes(article) for part in self.parts)

    def reasons(self, article: Article) -> Iterator[Reason]:
        for key in self.keys & article.present[self.scope]:
            yield key, article.scoped_hits(key, self.scope)
        for part in self.parts:
            if part.passes(article):  # a failed branch explains nothing
                yield from part.reasons(article)


class _AnyOfSets:
    """OR, as compile_plan merges it: one of its sets of terms has one present (a C set test
    each, no call), or one of its other parts holds."""

    __slots__ = ("sets", "parts", "scope")

    def __init__(self, sets: tuple[frozenset[str], ...], parts: tuple[_Plan, ...], scope: int) -> None:
        self.sets, self.parts, self.scope = sets, parts, scope

    def passes(self, article: Article) -> bool:
        present = article.present[self.scope]
        for keys in self.sets:
            if not keys.isdisjoint(present):
                return True
        return any(part.passes(article) for part in self.parts)

    def reasons(self, article: Article) -> Iterator[Reason]:
        present = article.present[self.scope]
        for keys in self.sets:  # a key in two sets comes twice: RuleSet._explain gathers them in sets
            for key in keys & present:
                yield key, article.scoped_hits(key, self.scope)
        for part in self.parts:
            if part.passes(article):
                yield from part.reasons(article)


class _AllOf:
    """AND: all its plain terms are present, and all its other parts hold."""

    __slots__ = ("keys", "parts", "scope")

    def __init__(self, keys: frozenset[str], parts: tuple[_Plan, ...], scope: int) -> None:
        self.keys, self.parts, self.scope = keys, parts, scope

    def passes(self, article: Article) -> bool:
        return self.keys <= article.present[self.scope] and all(part.passes(article) for part in self.parts)

    def reasons(self, article: Article) -> Iterator[Reason]:
        for key in self.keys:
            yield key, article.scoped_hits(key, self.scope)
        for part in self.parts:
            yield from part.reasons(article)


class _NoneOf:
    """NOT: its part does not hold. It never explains a match."""

    __slots__ = ("part",)

    def __init__(self, part: _Plan) -> None:
        self.part = part

    def passes(self, article: Article) -> bool:
        return not self.part.passes(article)

    def reasons(self, article: Article) -> Iterator[Reason]:
        return iter(())


class _Close:
    """NEAR chain: within one field, neighbouring operands have occurrences close enough."""

    __slots__ = ("operands", "distances", "scope")

    def __init__(self, operands: tuple[frozenset[str], ...], distances: tuple[int, ...], scope: int) -> None:
        self.operands, self.distances, self.scope = operands, distances, scope

    def passes(self, article: Article) -> bool:
        return any(self._chain(article, field, full=False) for field in _FIELDS_OF[self.scope])

    def reasons(self, article: Article) -> Iterator[Reason]:
        for field in _FIELDS_OF[self.scope]:
            for chosen in self._chain(article, field, full=True):
                for key in dict.fromkeys(key for key, _ in chosen):
                    yield key, [hit for k, hit in chosen if k == key]

    def _chain(self, article: Article, field: int, full: bool) -> list[list[tuple[str, Hit]]]:
        """The occurrences of each operand that take part in a chain (all of them if full)."""
        present = article.present[field]
        if any(operand.isdisjoint(present) for operand in self.operands):
            return []  # the usual case, decided without looking for occurrences
        reached = article.chains.get((self, field))
        if reached is None:
            reached = article.chains[self, field] = self._forwards(article, field, present)
        if not (full and reached):
            return reached
        # backwards: keep only the occurrences that also reach the end of the chain
        kept = [reached[-1]]
        for operand, distance in zip(reversed(reached[:-1]), reversed(self.distances), strict=True):
            kept.insert(0, _close_to_any(article, operand, kept[0], distance))
        return kept

    def _forwards(self, article: Article, field: int, present: set[str]) -> list[list[tuple[str, Hit]]]:
        """The occurrences of each operand close enough to one of the operand before (none if
        the chain breaks)."""
        hits = [
            [(key, hit) for key in operand & present for hit in article.hits(key, field)]
            for operand in self.operands
        ]
        reached = [hits[0]]
        for operand, distance in zip(hits[1:], self.distances, strict=True):
            reached.append(_close_to_any(article, operand, reached[-1], distance))
            if not reached[-1]:
                return []
        return reached


class _Times:
    """Count: its terms occur at least n times in the scope (overlapping occurrences once)."""

    __slots__ = ("keys", "times", "scope")

    def __init__(self, keys: frozenset[str], times: int, scope: int) -> None:
        self.keys, self.times, self.scope = keys, times, scope

    def passes(self, article: Article) -> bool:
        present = self.keys & article.present[self.scope]
        if not present:
            return False
        hits = sorted(hit for key in present for hit in article.scoped_hits(key, self.scope))
        count, last = 0, (-1, 0)
        for field, start, end in hits:
            if (field, start) >= last:
                count, last = count + 1, (field, end)
        return count >= self.times

    def reasons(self, article: Article) -> Iterator[Reason]:
        for key in self.keys & article.present[self.scope]:
            yield key, article.scoped_hits(key, self.scope)


_Plan = _Clauses | _AnyOf | _AnyOfSets | _AllOf | _NoneOf | _Close | _Times


_Keys = frozenset[str]
KeySets = dict[_Keys, _Keys]  # equal key sets as one object (issue 18: 2 MB of rules in every process)


def compile_plan(root: Node, sets: KeySets) -> _Plan:
    clauses = _conjuncts(root, ANY, negated=False, sets=sets)
    return _Clauses(tuple(clauses)) if clauses is not None else plan_node(root, ANY, sets, merge=True)


def _conjuncts(node: Node, scope: int, negated: bool, sets: KeySets) -> list[tuple[int, _Keys, bool]] | None:
    """The query as (NOT) OR-lists that must all hold, if it has that shape; else None."""
    if isinstance(node, Field):
        return _conjuncts(node.child, _SCOPES[node.name], negated, sets)
    if isinstance(node, And) and not negated:
        parts = [_conjuncts(child, scope, negated, sets) for child in node.children]
        return None if any(part is None for part in parts) else [c for part in parts if part for c in part]
    if isinstance(node, Not) and not negated:
        return _conjuncts(node.child, scope, negated=True, sets=sets)
    keys = _or_list(node, sets)
    return None if keys is None else [(scope, keys, negated)]


def _or_list(node: Node, sets: KeySets) -> frozenset[str] | None:
    """The keys of a term, a resolved @list or an OR of those; None for anything else."""
    if isinstance(node, Term):
        keys = frozenset({node.key})
    elif isinstance(node, Listed):
        keys = node.keys
    elif isinstance(node, Or) and None not in (parts := [_or_list(child, sets) for child in node.children]):
        keys = frozenset().union(*parts)  # type: ignore[arg-type]
    else:
        return None
    return sets.setdefault(keys, keys)


def plan_node(node: Node, scope: int, sets: KeySets, merge: bool = False) -> _Plan:
    """A node's plan. `merge` (compile_plan): an OR tests its @lists' terms itself, a set test
    each (_AnyOfSets), not a call each (issue 18); explain.py, unmerged, reports them apart."""
    if isinstance(node, Term | Listed):
        return _AnyOf(_or_list(node, sets) or frozenset(), (), scope)
    if isinstance(node, Not):
        return _NoneOf(plan_node(node.child, scope, sets, merge))
    if isinstance(node, Field):
        return plan_node(node.child, _SCOPES[node.name], sets, merge)
    if isinstance(node, Near):
        operands = tuple(_or_list(c, sets) or frozenset() for c in node.children)  # parse checks they are
        return _Close(operands, node.distances, scope)
    if isinstance(node, Count):
        return _Times(_or_list(node.child, sets) or frozenset(), node.times, scope)
    if isinstance(node, ListRef):
        raise RuleError(f"@{node.name} was not resolved", position=node.position)
    keys = frozenset(child.key for child in node.children if isinstance(child, Term))
    keys = sets.setdefault(keys, keys)
    if merge and isinstance(node, Or) and any(isinstance(child, Listed) for child in node.children):
        lists = tuple(child.keys for child in node.children if isinstance(child, Listed))
        others = (c for c in node.children if not isinstance(c, Term | Listed))
        parts = tuple(plan_node(child, scope, sets, merge) for child in others)
        return _AnyOfSets((keys, *lists) if keys else lists, parts, scope)
    parts = tuple(
        plan_node(child, scope, sets, merge) for child in node.children if not isinstance(child, Term)
    )
    return (_AllOf if isinstance(node, And) else _AnyOf)(keys, parts, scope)
