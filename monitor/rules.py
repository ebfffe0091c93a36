"""Rules: a boolean keyword query language and its matcher. Pure.

    rules/*.toml ─rulefile.load_rules→ (Rule, Query) pairs ─→ RuleSet
    Rule objects ─compile_rule_set→ RuleSet                 (ad-hoc queries)
    RuleSet.match(title, summary) → RuleMatch per rule that fired, in rule order

The grammar (rules/README.md is the user's version), loosest binding first:

    query    := or_expr
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (["AND"] unary)*          adjacency means AND; "A NOT B" = A AND NOT B
    unary    := "NOT" unary | primary
    primary  := word | word* | "phrase" | "phrase*" | "(" or_expr ")"

An article is tokenised once (textfold); a rule is evaluated only when one of its
positive terms occurs, which is sound because a query that could hold with none
of its positive terms present (`NOT x`, `a OR NOT b`) is rejected at parse time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from monitor.errors import RuleError
from monitor.textfold import TextIndex, Token, index_fields, tokenize
from monitor.types import Rule, RuleMatch

# --- the query tree ----------------------------------------------------------


@dataclass(frozen=True)
class Term:
    text: str  # as written in the query, quotes included for a phrase
    tokens: tuple[str, ...]  # folded tokens; several for a phrase or a dashed word
    prefix: bool  # the last token matches any word that starts with it
    position: int  # offset of the term in the query

    @property
    def key(self) -> tuple[tuple[str, ...], bool]:
        """Identity for dedupe and caching: `Japan` and `japan` are one term."""
        return self.tokens, self.prefix


@dataclass(frozen=True)
class Not:
    child: Node
    position: int  # offset of the NOT keyword


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node = Term | Not | And | Or


@dataclass(frozen=True)
class Query:
    text: str  # the query as written
    root: Node  # the parsed tree
    terms: tuple[Term, ...]  # distinct terms, in query order
    positive: tuple[Term, ...]  # distinct terms not under a NOT: one must occur for a match


# --- parsing -----------------------------------------------------------------

_QUOTES = '"“”„'
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_MAX_DEPTH = 100  # parentheses and NOTs; deeper is a mistake, and recursion has limits
_MIN_PREFIX = 2  # "a*" would match a large share of all words


@dataclass(frozen=True)
class _Lexeme:
    kind: str  # "(", ")", "AND", "OR", "NOT", "term" or "end"
    position: int  # offset in the query
    term: Term | None = None  # for kind "term"

    def describe(self) -> str:
        if self.kind == "end":
            return "end of query"
        return repr(self.term.text) if self.term else repr(self.kind)


_LEXEME = re.compile(
    r"\s+"
    r"|(?P<paren>[()])"
    r'|(?P<phrase>["“”„][^"“”„]*(?P<closed>["“”„])?)'  # straight or curly quotes, pasted ones too
    r'|(?P<word>[^\s()"“”„]+)'
)


def _lex(query: str) -> list[_Lexeme]:
    lexemes = []
    for found in _LEXEME.finditer(query):
        at = found.start()
        if found["paren"]:
            lexemes.append(_Lexeme(found["paren"], at))
        elif found["phrase"]:
            if not found["closed"]:
                raise RuleError("unclosed quote", position=at)
            phrase = found["phrase"]
            lexemes.append(_Lexeme("term", at, _term(phrase, phrase[1:-1], at, at + 1)))
        elif found["word"]:
            lexemes.append(_word(found["word"], at))
    lexemes.append(_Lexeme("end", len(query)))
    return lexemes


def _word(word: str, position: int) -> _Lexeme:
    if word in _KEYWORDS:
        return _Lexeme(word, position)
    # Reserved now so that adding them later changes no existing rule's meaning.
    if word == "NEAR" or word.startswith("NEAR/"):
        raise RuleError("NEAR is not supported yet", position=position)
    if word.startswith("@"):
        raise RuleError("named term lists (@name) are not supported yet", position=position)
    if re.match(r"(?i)(title|summary):", word):
        raise RuleError("field scoping (title:, summary:) is not supported yet", position=position)
    return _Lexeme("term", position, _term(word, word, position, position))


def _term(text: str, body: str, position: int, offset: int) -> Term:
    """A term from `body` (a word, or a phrase's inside starting at `offset`)."""
    prefix = body.endswith("*")
    core = body[:-1] if prefix else body
    if "*" in core:
        at = offset + core.index("*")
        raise RuleError("'*' is only allowed at the end of a term", position=at)
    tokens = _tokenize_term(core)
    if not tokens:
        if text[0] in _QUOTES:
            raise RuleError("empty phrase", position=position)
        raise RuleError(
            f"{text!r} has no letters or digits (the operators are AND, OR, NOT)", position=position
        )
    if prefix and tokens[-1].end != len(core):
        raise RuleError("'*' must follow a letter or digit", position=offset + len(core))
    if prefix and len(tokens[-1].text) < _MIN_PREFIX:
        raise RuleError(
            f"a prefix needs at least {_MIN_PREFIX} letters or digits before '*'",
            position=offset + tokens[-1].start,
        )
    return Term(text, tuple(token.text for token in tokens), prefix, position)


@lru_cache(maxsize=1 << 14)
def _tokenize_term(core: str) -> tuple[Token, ...]:
    # rule files repeat the same terms (the India and Japan lists) in every rule
    return tuple(tokenize(core))


class _Parser:
    """Recursive descent over the lexemes, one method per grammar line."""

    def __init__(self, query: str) -> None:
        self.lexemes = _lex(query)
        self.next = 0
        self.depth = 0

    def parse(self) -> Node:
        if self._peek().kind == "end":
            raise RuleError("empty query", position=0)
        node = self._or()
        extra = self._peek()
        if extra.kind != "end":  # only a ")" can be left over
            raise RuleError("')' without a matching '('", position=extra.position)
        return node

    def _peek(self) -> _Lexeme:
        return self.lexemes[self.next]

    def _take(self) -> _Lexeme:
        self.next += 1
        return self.lexemes[self.next - 1]

    def _or(self) -> Node:
        children = [self._and()]
        while self._peek().kind == "OR":
            self._take()
            children.append(self._and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def _and(self) -> Node:
        children = [self._unary()]
        while self._peek().kind in ("AND", "NOT", "term", "("):
            if self._peek().kind == "AND":
                self._take()
            children.append(self._unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def _unary(self) -> Node:
        lexeme = self._take()
        if lexeme.kind == "term" and lexeme.term:
            return lexeme.term
        if lexeme.kind == "NOT":
            return Not(self._nested(self._unary, lexeme), lexeme.position)
        if lexeme.kind == "(":
            node = self._nested(self._or, lexeme)
            if self._take().kind != ")":
                raise RuleError("'(' is never closed", position=lexeme.position)
            return node
        raise RuleError(f"expected a term, found {lexeme.describe()}", position=lexeme.position)

    def _nested(self, parse: Callable[[], Node], opener: _Lexeme) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            message = f"query is nested more than {_MAX_DEPTH} deep"
            raise RuleError(message, position=opener.position)
        node = parse()
        self.depth -= 1
        return node


def parse_query(query: str) -> Query:
    """Parse a query; RuleError(position=offset) says where it is wrong."""
    if not isinstance(query, str):
        raise RuleError(f"a query must be a string, not {type(query).__name__}")
    root = _Parser(query).parse()
    if _holds(root, lambda term: False):
        raise RuleError(
            "a query must require at least one word: this one matches articles that contain"
            " none of its terms (NOT only narrows a match)",
            position=_first_not(root),
        )
    terms = list(_polarities(root))
    return Query(
        query,
        root,
        _distinct(term for term, _ in terms),
        _distinct(term for term, negated in terms if not negated),
    )


def _polarities(node: Node, negated: bool = False) -> Iterator[tuple[Term, bool]]:
    """Every term in query order, with whether an odd number of NOTs applies to it."""
    if isinstance(node, Term):
        yield node, negated
    elif isinstance(node, Not):
        yield from _polarities(node.child, not negated)
    else:
        for child in node.children:
            yield from _polarities(child, negated)


def _distinct(terms: Iterable[Term]) -> tuple[Term, ...]:
    first: dict[tuple[tuple[str, ...], bool], Term] = {}
    for term in terms:
        first.setdefault(term.key, term)
    return tuple(first.values())


def _first_not(node: Node) -> int | None:
    """Offset of the first NOT: where a query that is only negative goes wrong."""
    if isinstance(node, Not):
        return node.position
    if isinstance(node, Term):
        return None
    return next((p for child in node.children if (p := _first_not(child)) is not None), None)


def _holds(node: Node, present: Callable[[Term], bool]) -> bool:
    if isinstance(node, Term):
        return present(node)
    if isinstance(node, Not):
        return not _holds(node.child, present)
    if isinstance(node, And):
        return all(_holds(child, present) for child in node.children)
    return any(_holds(child, present) for child in node.children)


# --- matching ----------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """A query tree compiled for speed: an AND/OR tests its plain terms in one set operation.

    Term ids number the distinct terms of the whole RuleSet, so an article's present
    terms are found once, whatever the number of rules.
    """

    kind: type[Node]  # And, Or or Not (a lone term is an Or of one)
    ids: frozenset[int]  # the ids of the children that are plain terms
    parts: tuple[_Plan, ...] = ()  # the other children

    def passes(self, present: set[int]) -> bool:
        if self.kind is Or:
            return not self.ids.isdisjoint(present) or any(p.passes(present) for p in self.parts)
        if self.kind is And:
            return self.ids <= present and all(p.passes(present) for p in self.parts)
        return not self.parts[0].passes(present)

    def reasons(self, present: set[int]) -> Iterator[int]:
        """The present terms that make this (passing) plan pass; a failed OR branch gives none."""
        if self.kind is Not:
            return
        yield from self.ids & present
        for part in self.parts:
            if self.kind is And or part.passes(present):
                yield from part.reasons(present)


def _plan(node: Node, term_id: Callable[[Term], int]) -> _Plan:
    if isinstance(node, Term):
        return _Plan(Or, frozenset({term_id(node)}))
    if isinstance(node, Not):
        return _Plan(Not, frozenset(), (_plan(node.child, term_id),))
    ids = frozenset(term_id(child) for child in node.children if isinstance(child, Term))
    parts = tuple(_plan(child, term_id) for child in node.children if not isinstance(child, Term))
    return _Plan(type(node), ids, parts)


class RuleSet:
    """Compiled rules, indexed by the terms that can make each one fire."""

    def __init__(self, compiled: Sequence[tuple[Rule, Query]]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rule for rule, _ in compiled)
        self._queries = tuple(query for _, query in compiled)
        self._by_id = {rule.id: rule for rule in self.rules}
        self._ids: dict[tuple[tuple[str, ...], bool], int] = {}  # term key → term id
        self._terms: list[Term] = []  # term id → the term
        self._plans = tuple(_plan(query.root, self._term_id) for query in self._queries)
        # each rule's terms in query order, spelt as that rule spelt them, for RuleMatch.terms
        self._written = tuple(
            {self._ids[term.key]: (n, term.text) for n, term in enumerate(query.terms)}
            for query in self._queries
        )
        self._fires: dict[int, list[int]] = {}  # positive term id → rules it can make fire
        for number, query in enumerate(self._queries):
            for term in query.positive:
                self._fires.setdefault(self._ids[term.key], []).append(number)
        self._starting: dict[str, list[int]] = {}  # first word → terms (not one-word prefixes)
        self._prefixed: dict[str, list[int]] = {}  # one-word prefix → its terms
        for term_id, term in enumerate(self._terms):
            index = self._prefixed if _is_prefix_word(term) else self._starting
            index.setdefault(term.tokens[0], []).append(term_id)
        self._prefix_lengths = sorted({len(prefix) for prefix in self._prefixed})

    def _term_id(self, term: Term) -> int:
        if term.key not in self._ids:
            self._ids[term.key] = len(self._terms)
            self._terms.append(term)
        return self._ids[term.key]

    def get(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def match(self, title: str, summary: str) -> tuple[RuleMatch, ...]:
        """The rules that fire on an article, in rule order."""
        text = index_fields(title, summary)
        prefixed = text.prefixed(self._prefixed, self._prefix_lengths)
        present = self._present(text, prefixed)
        candidates = sorted({number for i in present for number in self._fires.get(i, ())})
        occurrences = _Occurrences(text, prefixed)
        return tuple(
            self._explain(number, present, occurrences)
            for number in candidates
            if self._plans[number].passes(present)
        )

    def _present(self, text: TextIndex, prefixed: Mapping[str, list[str]]) -> set[int]:
        """The ids of the terms that occur in the article."""
        present: set[int] = set()
        for word, positions in text.positions.items():
            for term_id in self._starting.get(word, ()):
                tokens, is_prefix = self._terms[term_id].key
                if len(tokens) == 1 or any(text.phrase_at(p, tokens, is_prefix) for p in positions):
                    present.add(term_id)
        for prefix in prefixed:
            present.update(self._prefixed[prefix])
        return present

    def _explain(self, number: int, present: set[int], occurrences: _Occurrences) -> RuleMatch:
        reasons = set(self._plans[number].reasons(present))
        found = sorted(hit for i in reasons for hit in occurrences.words(i, self._terms[i]))
        written = sorted(self._written[number][i] for i in reasons)
        return RuleMatch(
            self.rules[number].id,
            tuple(text for _, text in written),
            tuple(dict.fromkeys(word for _, word in found)),
        )


class _Occurrences:
    """Where each term occurs in one article, found once and shared by every rule that fired."""

    def __init__(self, text: TextIndex, prefixed: Mapping[str, list[str]]) -> None:
        self.text = text
        self.prefixed = prefixed  # one-word prefix → the article's words starting with it
        self.cache: dict[int, list[tuple[int, str]]] = {}  # term id → its words

    def words(self, term_id: int, term: Term) -> list[tuple[int, str]]:
        """(position, text as written in the article) of each occurrence of a term."""
        found = self.cache.get(term_id)
        if found is None:
            original = self.text.original
            found = [(first, original(first, last)) for first, last in self._spans(term)]
            self.cache[term_id] = found
        return found

    def _spans(self, term: Term) -> Iterator[tuple[int, int]]:
        positions = self.text.positions
        if len(term.tokens) > 1:
            last = len(term.tokens) - 1
            for p in positions.get(term.tokens[0], ()):
                if self.text.phrase_at(p, term.tokens, term.prefix):
                    yield p, p + last
            return
        for word in self.prefixed.get(term.tokens[0], ()) if term.prefix else term.tokens:
            yield from ((p, p) for p in positions.get(word, ()))


def _is_prefix_word(term: Term) -> bool:
    return term.prefix and len(term.tokens) == 1


def compile_rule_set(rules: Sequence[Rule]) -> RuleSet:
    """Build a RuleSet from Rule objects; the errors carry each rule's path and line."""
    compiled = []
    for rule in rules:
        check_rule_id(rule.id, rule.path, rule.line)
        try:
            query = parse_query(rule.query)
        except RuleError as exc:
            raise RuleError(f"bad query: {exc.message}", rule.path, rule.id, exc.position, rule.line) from exc
        compiled.append((rule, query))
    return assemble_rule_set(compiled)


def assemble_rule_set(compiled: Sequence[tuple[Rule, Query]]) -> RuleSet:
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
    return RuleSet(compiled)


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
