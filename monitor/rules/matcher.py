"""The matcher: every rule against one article, in one pass over its words. Pure.

    RuleSet([(Rule, resolved Query), ...])   compile each query to a plan; index all terms once
    RuleSet.match(title, summary):
        fold each field                                  (textfold.FoldedField: its layout)
        present terms per field                          (termindex: one regex pass per field)
        candidates = rules whose anchor clause has a present term   (most rules never wake)
        each candidate whose other clauses have a present term too  (needs.py; most stop here)
            its plan (plans.py), set tests on the present terms
                        (NEAR alone looks at where the terms occur)
        each rule that fired → RuleMatch(terms as written, words as the article spelt them)

A rule's clauses (needs.py) are sets of terms one of each must be present for the rule to
match; its anchor is the smallest. Skipping the rules whose anchor has no present term, and
then those with any other clause without one, skips only rules that cannot match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

from monitor.errors import RuleError
from monitor.rules.needs import needs
from monitor.rules.plans import ANY, Article, Hit, KeySets, compile_plan
from monitor.rules.query import And, Count, Field, Near, Node, Not, Or, Query, parse_query
from monitor.rules.termindex import TermIndex
from monitor.rules.termlists import TermList, resolve_lists
from monitor.rules.textfold import FoldedField, lead_end
from monitor.types import Rule, RuleMatch

_LAYOUT_WORD = re.compile(r"[^ ]+")
EXPLAINED_HITS = 200  # occurrences whose words a RuleMatch lists, in text order

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
        sets: KeySets = {}
        self._plans = tuple(compile_plan(query.root, sets) for query in queries)
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
        return tuple(self._explain(n, article) for n, article in self._holding(None, title, summary))

    def _possible(self, number: int, article: Article) -> bool:
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
        return rule_id in self.firing((rule_id,), title, summary)

    def firing(self, rule_ids: Iterable[str], title: str, summary: str) -> set[str]:
        """Which of some rules fire on an article, folded and indexed once: match() for them
        alone, unexplained (a rule file's examples: the shipped seeds are examples of 5 rules)."""
        numbers = {self._numbers[rule_id] for rule_id in rule_ids}
        return {self.rules[n].id for n, _ in self._holding(numbers, title, summary)}

    def _holding(self, numbers: set[int] | None, title: str, summary: str) -> Iterator[tuple[int, Article]]:
        """Those of the rules (by number; None for all) that hold on an article, in rule order,
        with the article. The summary's opening sentence is looked for only when a lead: rule is still worth
        evaluating (about 1 article in 6 of the farm's; issue 18)."""
        article, candidates = self._article(title, summary, lead=False)
        if article is None:
            return
        woken = candidates if numbers is None else candidates & numbers
        worth = [n for n in sorted(woken) if self._possible(n, article)]
        if self._lead and any(self._leads[n] for n in worth):
            article = self._opened(article)
        yield from ((n, article) for n in worth if self._plans[n].passes(article))

    def _article(
        self, title: str, summary: str, whole: bool = False, lead: bool = True
    ) -> tuple[Article | None, frozenset[int]]:
        """The article folded and indexed, and the rules that may match it (no article if none may).

        `whole`: the article even if no rule may match it (to explain every clause); `lead`: False
        to leave the opening sentence to _opened.
        """
        fields = (FoldedField(title), FoldedField(summary))
        in_title, in_summary = self._index.present(fields[0]), self._index.present(fields[1])
        either = in_title | in_summary
        candidates = self._always.union(*map(self._anchored.__getitem__, either & self._anchors))
        if not (candidates or whole):
            return None, candidates
        article = Article(fields, (in_title, in_summary, either), self._index)
        return (self._opened(article) if lead and self._lead else article), candidates

    def _opened(self, article: Article) -> Article:
        """The article with its summary's first sentence found, and the terms in it (for lead:)."""
        summary = article.fields[1]
        opening, in_opening = self._opening(summary, lead_end(summary.text))
        in_title, in_summary, either = article.present[:3]
        present = (in_title, in_summary, either, in_title | in_opening, in_opening)
        return Article(article.fields, present, self._index, opening)

    def _opening(self, summary: FoldedField, end: int) -> tuple[int, set[str]]:
        """Where the summary's first sentence (text[:end]) ends in its layout, and the terms in it."""
        if summary.exact:  # layout offset n is text offset n - 1: the opening is a prefix of the layout
            return end + 1, self._index.present_in(summary.layout[: end + 1] + " ")
        first = FoldedField(summary.text[:end])
        # its words are the summary's first words: where the last of them ends in the layout
        return _word_end(summary.layout, len(first.layout.split())), self._index.present(first)

    def _explain(self, number: int, article: Article) -> RuleMatch:
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
