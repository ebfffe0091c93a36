"""The matcher: every rule against one article, in one pass over its words. Pure.

    RuleSet([(Rule, resolved Query), ...])   compile each query to a plan; index all terms once
    RuleSet.match(title, summary):
        fold each field                                  (textfold.FoldedField: its layout)
        present terms per field                          (termindex: one regex pass per field)
        candidates = rules whose anchor clause has a present term   (most rules never wake)
        each candidate whose other clauses have a present term too  (needs.py; most stop here)
            its plan, set tests on the present terms
                        (NEAR alone looks at where the terms occur)
        each rule that fired → RuleMatch(terms as written, words as the article spelt them)

A rule's clauses (needs.py) are sets of terms one of each must be present for the rule to
match; its anchor is the smallest. Skipping the rules whose anchor has no present term, and
then those with any other clause without one, skips only rules that cannot match.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence

from monitor.errors import RuleError
from monitor.rules.needs import needs
from monitor.rules.query import And, Count, Field, ListRef, Near, Node, Not, Or, Query, Term, parse_query
from monitor.rules.termindex import TermIndex
from monitor.rules.termlists import Listed, TermList, resolve_lists
from monitor.rules.textfold import FoldedField, lead_end
from monitor.types import Rule, RuleMatch

TITLE, SUMMARY, ANY, LEAD = 0, 1, 2, 3  # scopes; TITLE and SUMMARY are also field numbers
OPENING = 4  # the summary's first sentence: a part of SUMMARY, searched as a field for LEAD
_FIELDS_OF = {TITLE: (TITLE,), SUMMARY: (SUMMARY,), ANY: (TITLE, SUMMARY), LEAD: (TITLE, OPENING)}
_SCOPES = {"title": TITLE, "summary": SUMMARY, "lead": LEAD}
_LAYOUT_WORD = re.compile(r"[^ ]+")

EXPLAINED_HITS = 200  # occurrences whose words a RuleMatch lists, in text order
Hit = tuple[int, int, int]  # (field, start, end) of an occurrence: offsets in the field's layout
Reason = tuple[str, list[Hit]]  # a term key that made a rule match, and the occurrences that did


class _Article:
    """One article during matching: its folded fields, present terms, occurrences found so far."""

    __slots__ = ("fields", "present", "index", "opening", "_hits")

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
    article: _Article, hits: list[tuple[str, Hit]], others: list[tuple[str, Hit]], distance: int
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

    def passes(self, article: _Article) -> bool:
        present = article.present
        for scope, keys, negated in self.clauses:
            if keys.isdisjoint(present[scope]) != negated:
                return False
        return True

    def reasons(self, article: _Article) -> Iterator[Reason]:
        for scope, keys, negated in self.clauses:
            if not negated:
                for key in keys & article.present[scope]:
                    yield key, article.scoped_hits(key, scope)


class _AnyOf:
    """OR: one of its plain terms is present (one C set test), or one of its other parts holds."""

    __slots__ = ("keys", "parts", "scope")

    def __init__(self, keys: frozenset[str], parts: tuple[_Plan, ...], scope: int) -> None:
        self.keys, self.parts, self.scope = keys, parts, scope

    def passes(self, article: _Article) -> bool:
        if not self.keys.isdisjoint(article.present[self.scope]):
            return True
        return any(part.passes(article) for part in self.parts)

    def reasons(self, article: _Article) -> Iterator[Reason]:
        for key in self.keys & article.present[self.scope]:
            yield key, article.scoped_hits(key, self.scope)
        for part in self.parts:
            if part.passes(article):  # a failed branch explains nothing
                yield from part.reasons(article)


class _AllOf:
    """AND: all its plain terms are present, and all its other parts hold."""

    __slots__ = ("keys", "parts", "scope")

    def __init__(self, keys: frozenset[str], parts: tuple[_Plan, ...], scope: int) -> None:
        self.keys, self.parts, self.scope = keys, parts, scope

    def passes(self, article: _Article) -> bool:
        return self.keys <= article.present[self.scope] and all(part.passes(article) for part in self.parts)

    def reasons(self, article: _Article) -> Iterator[Reason]:
        for key in self.keys:
            yield key, article.scoped_hits(key, self.scope)
        for part in self.parts:
            yield from part.reasons(article)


class _NoneOf:
    """NOT: its part does not hold. It never explains a match."""

    __slots__ = ("part",)

    def __init__(self, part: _Plan) -> None:
        self.part = part

    def passes(self, article: _Article) -> bool:
        return not self.part.passes(article)

    def reasons(self, article: _Article) -> Iterator[Reason]:
        return iter(())


class _Close:
    """NEAR chain: within one field, neighbouring operands have occurrences close enough."""

    __slots__ = ("operands", "distances", "scope")

    def __init__(self, operands: tuple[frozenset[str], ...], distances: tuple[int, ...], scope: int) -> None:
        self.operands, self.distances, self.scope = operands, distances, scope

    def passes(self, article: _Article) -> bool:
        return any(self._chain(article, field, full=False) for field in _FIELDS_OF[self.scope])

    def reasons(self, article: _Article) -> Iterator[Reason]:
        for field in _FIELDS_OF[self.scope]:
            for chosen in self._chain(article, field, full=True):
                for key in dict.fromkeys(key for key, _ in chosen):
                    yield key, [hit for k, hit in chosen if k == key]

    def _chain(self, article: _Article, field: int, full: bool) -> list[list[tuple[str, Hit]]]:
        """The occurrences of each operand that take part in a chain (all of them if full)."""
        present = article.present[field]
        if any(operand.isdisjoint(present) for operand in self.operands):
            return []  # the usual case, decided without looking for occurrences
        hits = [
            [(key, hit) for key in operand & present for hit in article.hits(key, field)]
            for operand in self.operands
        ]
        reached = [hits[0]]
        for operand, distance in zip(hits[1:], self.distances, strict=True):
            reached.append(_close_to_any(article, operand, reached[-1], distance))
            if not reached[-1]:
                return []
        if not full:
            return reached
        # backwards: keep only the occurrences that also reach the end of the chain
        kept = [reached[-1]]
        for operand, distance in zip(reversed(reached[:-1]), reversed(self.distances), strict=True):
            kept.insert(0, _close_to_any(article, operand, kept[0], distance))
        return kept


class _Times:
    """Count: its terms occur at least n times in the scope (overlapping occurrences once)."""

    __slots__ = ("keys", "times", "scope")

    def __init__(self, keys: frozenset[str], times: int, scope: int) -> None:
        self.keys, self.times, self.scope = keys, times, scope

    def passes(self, article: _Article) -> bool:
        present = self.keys & article.present[self.scope]
        if not present:
            return False
        hits = sorted(hit for key in present for hit in article.scoped_hits(key, self.scope))
        count, last = 0, (-1, 0)
        for field, start, end in hits:
            if (field, start) >= last:
                count, last = count + 1, (field, end)
        return count >= self.times

    def reasons(self, article: _Article) -> Iterator[Reason]:
        for key in self.keys & article.present[self.scope]:
            yield key, article.scoped_hits(key, self.scope)


_Plan = _Clauses | _AnyOf | _AllOf | _NoneOf | _Close | _Times


_Keys = frozenset[str]
_Sets = dict[_Keys, _Keys]  # equal key sets as one object (issue 18: 2 MB of rules in every process)


def _compile(root: Node, sets: _Sets) -> _Plan:
    clauses = _conjuncts(root, ANY, negated=False, sets=sets)
    return _Clauses(tuple(clauses)) if clauses is not None else _plan(root, ANY, sets)


def _conjuncts(node: Node, scope: int, negated: bool, sets: _Sets) -> list[tuple[int, _Keys, bool]] | None:
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


def _or_list(node: Node, sets: _Sets) -> frozenset[str] | None:
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


def _plan(node: Node, scope: int, sets: _Sets) -> _Plan:
    if isinstance(node, Term | Listed):
        return _AnyOf(_or_list(node, sets) or frozenset(), (), scope)
    if isinstance(node, Not):
        return _NoneOf(_plan(node.child, scope, sets))
    if isinstance(node, Field):
        return _plan(node.child, _SCOPES[node.name], sets)
    if isinstance(node, Near):
        operands = tuple(_or_list(c, sets) or frozenset() for c in node.children)  # parse checks they are
        return _Close(operands, node.distances, scope)
    if isinstance(node, Count):
        return _Times(_or_list(node.child, sets) or frozenset(), node.times, scope)
    if isinstance(node, ListRef):
        raise RuleError(f"@{node.name} was not resolved", position=node.position)
    keys = frozenset(child.key for child in node.children if isinstance(child, Term))
    parts = tuple(_plan(child, scope, sets) for child in node.children if not isinstance(child, Term))
    return (_AllOf if isinstance(node, And) else _AnyOf)(sets.setdefault(keys, keys), parts, scope)


# --- the rule set ----------------------------------------------------------------


class RuleSet:
    """Compiled rules, indexed by the terms that can make each one fire."""

    def __init__(
        self, compiled: Sequence[tuple[Rule, Query]], lists: Mapping[str, TermList] | None = None
    ) -> None:
        self._compiled = tuple(compiled)
        self._lists = dict(lists or {})  # kept for with_query
        self.rules: tuple[Rule, ...] = tuple(rule for rule, _ in compiled)
        self._by_id = {rule.id: rule for rule in self.rules}
        self._numbers = {rule.id: number for number, rule in enumerate(self.rules)}
        queries = [query for _, query in compiled]
        sets: _Sets = {}
        self._plans = tuple(_compile(query.root, sets) for query in queries)
        # each rule's terms in query order, as that rule (or its list) spelt them: made at its first match
        self._written: list[dict[str, tuple[int, str]] | None] = [None] * len(queries)
        self._index = TermIndex(term for query in queries for term in query.terms)
        anchored: dict[str, set[int]] = {}  # term key → rules it can wake
        always = set()  # rules no clause covers (e.g. NOT NOT a): tried on every article
        others = []  # each rule's other clauses: a woken rule is skipped when one has no term present
        for number, query in enumerate(queries):
            clauses = needs(query.root)  # smallest first
            if not clauses:
                always.add(number)
            for key in clauses[0] if clauses else ():
                anchored.setdefault(key, set()).add(number)
            others.append(tuple(sets.setdefault(c, c) for c in clauses[1:]))  # shared, as the plans
        self._others = tuple(others)
        woken: dict[frozenset[int], frozenset[int]] = {}  # most words wake one rule: one set each
        self._anchored = {key: woken.setdefault(frozenset(n), frozenset(n)) for key, n in anchored.items()}
        self._anchors = frozenset(anchored)
        self._always = frozenset(always)
        self._leads = tuple(_uses_lead(query.root) for query in queries)  # find the opening sentence
        self._lead = any(self._leads)

    def get(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def with_query(self, rule_id: str, query: str) -> RuleSet:
        """These rules plus an ad-hoc one (replacing a rule with that id), which may use their @lists.

        RuleError(position=...) when the query is wrong.
        """
        try:
            parsed = resolve_lists(parse_query(query), self._lists)
        except RuleError as exc:
            raise RuleError(f"bad query: {exc.message}", rule_id=rule_id, position=exc.position) from exc
        kept = [(rule, q) for rule, q in self._compiled if rule.id != rule_id]
        return RuleSet([*kept, (Rule(rule_id, rule_id, query), parsed)], self._lists)

    def match(self, title: str, summary: str) -> tuple[RuleMatch, ...]:
        """The rules that fire on an article, in rule order."""
        article, candidates = self._article(title, summary)
        if article is None:
            return ()
        return tuple(
            self._explain(number, article)
            for number in sorted(candidates)
            if self._possible(number, article) and self._plans[number].passes(article)
        )

    def _possible(self, number: int, article: _Article) -> bool:
        """Every clause the rule needs (needs.py) has a term in the article: worth evaluating."""
        either = article.present[ANY]
        return not any(clause.isdisjoint(either) for clause in self._others[number])

    def spelt(self, number: int) -> dict[str, tuple[int, str]]:
        """The rule's term keys → (place in its query, the term as written)."""
        written = self._written[number]
        if written is None:
            terms = self._compiled[number][1].terms
            written = self._written[number] = {term.key: (n, term.text) for n, term in enumerate(terms)}
        return written

    def fires(self, rule_id: str, title: str, summary: str) -> bool:
        """Whether one rule fires on an article: match() for that rule alone, unexplained."""
        number = self._numbers[rule_id]
        article, candidates = self._article(title, summary, lead=self._leads[number])
        if article is None or number not in candidates or not self._possible(number, article):
            return False
        return self._plans[number].passes(article)

    def _article(
        self, title: str, summary: str, whole: bool = False, lead: bool = True
    ) -> tuple[_Article | None, frozenset[int]]:
        """The article folded and indexed, and the rules that may match it (no article if none may).

        `whole`: the article even if no rule may match it (to explain every clause); `lead`: False
        when the rules asked about say no lead: (its opening sentence is not looked for).
        """
        fields = (FoldedField(title), FoldedField(summary))
        in_title, in_summary = self._index.present(fields[0]), self._index.present(fields[1])
        either = in_title | in_summary
        candidates = self._always.union(*map(self._anchored.__getitem__, either & self._anchors))
        if not (candidates or whole):
            return None, candidates
        if not (lead and self._lead):  # no rule says lead:
            return _Article(fields, (in_title, in_summary, either), self._index), candidates
        opening, in_opening = self._opening(fields[1], lead_end(summary))
        present = (in_title, in_summary, either, in_title | in_opening, in_opening)
        return _Article(fields, present, self._index, opening), candidates

    def _opening(self, summary: FoldedField, end: int) -> tuple[int, set[str]]:
        """Where the summary's first sentence (text[:end]) ends in its layout, and the terms in it."""
        if summary.exact:  # layout offset n is text offset n - 1: the opening is a prefix of the layout
            return end + 1, self._index.present_in(summary.layout[: end + 1] + " ")
        first = FoldedField(summary.text[:end])
        # its words are the summary's first words: where the last of them ends in the layout
        return _word_end(summary.layout, len(first.layout.split())), self._index.present(first)

    def _explain(self, number: int, article: _Article) -> RuleMatch:
        """The terms that made a rule fire (in its query order) and the words they matched (in text order)."""
        keys: set[str] = set()
        hits: set[Hit] = set()
        for key, found in self._plans[number].reasons(article):
            keys.add(key)
            hits.update(found)
        fields = article.fields
        # the words of the first occurrences: a long text repeating a term has thousands, and
        # the alert shows a few (each costs a walk of the field's non-ASCII stretches)
        words = [fields[field].original(start, end) for field, start, end in sorted(hits)[:EXPLAINED_HITS]]
        return RuleMatch(
            self.rules[number].id,
            tuple(text for _, text in sorted(map(self.spelt(number).__getitem__, keys))),
            tuple(dict.fromkeys(words)),
        )


def _uses_lead(node: Node) -> bool:
    if isinstance(node, Field) and node.name == "lead":
        return True
    children = node.children if isinstance(node, And | Near) or type(node) is Or else ()  # a Listed: terms
    if isinstance(node, Not | Field | Count):
        children = (node.child,)
    return any(_uses_lead(child) for child in children)


def _word_end(layout: str, words: int) -> int:
    """The layout offset just after its `words`-th word (0 for none)."""
    end = 0
    for found, _ in zip(_LAYOUT_WORD.finditer(layout), range(words), strict=False):
        end = found.end()
    return end
