"""Rules: a boolean keyword query language, its matcher, and the rule-file loader.

    rules/*.toml ─load_rules→ (Rule, Query) pairs ─→ RuleSet
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
import tomllib
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
        _check_id(rule.id, rule.path, rule.line)
        try:
            query = parse_query(rule.query)
        except RuleError as exc:
            raise RuleError(f"bad query: {exc.message}", rule.path, rule.id, exc.position, rule.line) from exc
        compiled.append((rule, query))
    return _assemble(compiled)


def _assemble(compiled: Sequence[tuple[Rule, Query]]) -> RuleSet:
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


def _check_id(rule_id: object, path: Path | None, line: int | None) -> None:
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise RuleError(
            f"id {rule_id!r} is not kebab-case (lower-case letters and digits,"
            " joined by single hyphens, e.g. 'critical-minerals')",
            path,
            line=line,
        )


# --- rule files --------------------------------------------------------------

_KEYS = ("id", "name", "query", "chat_id")
_REQUIRED = ("id", "name", "query")


def load_rules(paths: Iterable[Path]) -> RuleSet:
    """Load rule files, and every *.toml (sorted) in rule folders, into one RuleSet."""
    compiled = [pair for path in _rule_files(paths) for pair in _read_rule_file(path)]
    return _assemble(compiled)


def _rule_files(paths: Iterable[Path]) -> list[Path]:
    files: dict[Path, Path] = {}  # resolved → as given, so a file listed twice loads once
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise RuleError("folder has no *.toml rule files", path)
        elif path.is_file():
            found = [path]
        else:
            raise RuleError("no such rule file or folder", path)
        files.update((file.resolve(), file) for file in found)
    if not files:
        raise RuleError("no rule files given")
    return list(files.values())


def _read_rule_file(path: Path) -> list[tuple[Rule, Query]]:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"cannot read rule file: {exc}", path) from exc
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, path, source) from exc
    lines = _SourceLines(source)
    tables = _rule_tables(data, path, lines)
    return [_read_rule(table, path, lines, number) for number, table in enumerate(tables)]


def _toml_error(exc: tomllib.TOMLDecodeError, path: Path, source: str) -> RuleError:
    # tomllib has no line attribute; its message ends "(at line N, column M)"
    message = str(exc)
    found = re.search(r"\s*\(at (?:line (\d+), column \d+|end of document)\)$", message)
    if found is None:
        return RuleError(f"invalid TOML: {message}", path)
    line = int(found.group(1)) if found.group(1) else source.count("\n") + 1
    return RuleError(f"invalid TOML: {message[: found.start()]}", path, line=line)


def _rule_tables(data: dict[str, object], path: Path, lines: _SourceLines) -> list[dict]:
    for key in data:
        if key != "rule":
            raise RuleError(
                f"unknown top-level key {key!r}: a rule file holds only [[rule]] tables",
                path,
                line=lines.top_level_line(key),
            )
    tables = data.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise RuleError("'rule' must be [[rule]] tables", path, line=lines.top_level_line("rule"))
    if not tables:
        raise RuleError("no [[rule]] tables in this file", path)
    return tables


def _read_rule(table: dict, path: Path, lines: _SourceLines, number: int) -> tuple[Rule, Query]:
    line = lines.table_line(number)
    rule_id = table.get("id") if isinstance(table.get("id"), str) else None

    def fail(message: str, key: str | None = None, position: int | None = None) -> RuleError:
        at = lines.key_line(number, key) if key else line
        return RuleError(message, path, rule_id, position, at)

    for key in table:
        if key not in _KEYS:
            raise fail(f"unknown key {key!r} (a rule has {', '.join(_KEYS)})", key)
    for key in _REQUIRED:
        if key not in table:
            raise fail(f"missing required key {key!r}")
        if not isinstance(table[key], str) or not table[key].strip():
            raise fail(f"{key!r} must be a non-empty string", key)
    _check_id(table["id"], path, lines.key_line(number, "id"))
    try:
        query = parse_query(table["query"])
    except RuleError as exc:
        at = lines.query_line(number, table["query"], exc.position)
        raise RuleError(f"bad query: {exc.message}", path, rule_id, exc.position, at) from exc
    rule = Rule(table["id"], table["name"], table["query"], _chat_id(table, fail), path, line)
    return rule, query


def _chat_id(table: dict, fail: Callable[[str, str], RuleError]) -> str | None:
    value = table.get("chat_id")
    if value is None:
        return None
    # bool is an int in Python, but `chat_id = true` is a mistake
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise fail("'chat_id' must be an integer or a non-empty string", "chat_id")


class _SourceLines:
    """Line numbers of [[rule]] headers and keys, found in the raw text (tomllib has none)."""

    _HEADER = re.compile(r"\s*\[\[\s*[\"']?rule[\"']?\s*\]\]")

    def __init__(self, source: str) -> None:
        self.lines = source.split("\n")  # TOML newlines are LF or CRLF, nothing else
        self.headers = [n for n, text in enumerate(self.lines, 1) if self._HEADER.match(text)]

    def table_line(self, number: int) -> int | None:
        return self.headers[number] if number < len(self.headers) else None

    def key_line(self, number: int, key: str) -> int | None:
        """The line of `key =` in the number-th [[rule]] table, else the table's own line."""
        start = self.table_line(number)
        if start is None:
            return None
        end = self.headers[number + 1] if number + 1 < len(self.headers) else len(self.lines)
        return self._find(_key_pattern(key), start, end) or start

    def top_level_line(self, key: str) -> int | None:
        """The line of a top-level `key =` or `[key]`, which comes before the first [[rule]]."""
        end = self.headers[0] if self.headers else len(self.lines)
        pattern = re.compile(rf"{_key_pattern(key).pattern}|\s*\[+\s*[\"']?{re.escape(key)}\b")
        return self._find(pattern, 1, end) or self._find(pattern, 1, len(self.lines))

    def query_line(self, number: int, query: str, position: int | None) -> int | None:
        """The file line of offset `position` in a rule's (possibly multi-line) query."""
        line = self.key_line(number, "query")
        if line is None or position is None:
            return line
        # TOML drops a newline right after an opening """ or '''
        opens_block = re.search(r"=\s*(\"\"\"|''')\s*$", self.lines[line - 1]) is not None
        return line + int(opens_block) + query.count("\n", 0, position)

    def _find(self, pattern: re.Pattern[str], start: int, end: int) -> int | None:
        for number in range(start, end + 1):
            if number <= len(self.lines) and pattern.match(self.lines[number - 1]):
                return number
        return None


def _key_pattern(key: str) -> re.Pattern[str]:
    name = re.escape(key)
    return re.compile(rf"\s*(?:{name}|\"{name}\"|'{name}')\s*[=.]")
