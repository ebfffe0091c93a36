"""The rule query language: text → a checked tree. Pure.

The grammar (rules/README.md is the user's version), loosest binding first:

    query    := or_expr
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (["AND"] unary)*        adjacency means AND; "A NOT B" = A AND NOT B
    unary    := "NOT" unary | near
    near     := scoped ("NEAR/n" scoped)*     operands: terms, @lists, OR-groups of those
    scoped   := ("title:" | "summary:" | "body:" | "lead:") counted | counted
    counted  := primary ["{n}"]               a count's operand is a NEAR operand too
    primary  := word | word* | "phrase" | "phrase*" | @name | "(" or_expr ")"

`parse_query` leaves `@name` as a `ListRef`; termlists.resolve_lists replaces each with
the OR of the list's terms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from monitor.errors import RuleError
from monitor.rules.textfold import token_spans

# --- the query tree ----------------------------------------------------------


@dataclass(frozen=True)
class Term:
    text: str  # as written in the query (quotes included for a phrase) or in the term list
    tokens: tuple[str, ...]  # folded tokens; several for a phrase or a dashed word
    prefix: bool  # the last token matches any word that starts with it ("" after a "-*": any word)
    position: int  # offset of the term in the query (in its list, for a list's term)

    @cached_property
    def key(self) -> str:
        """Identity for dedupe and matching: `Japan` and `japan` are one term.

        Tokens are letters and digits only, so spaces and "*" cannot be ambiguous.
        """
        return " ".join(self.tokens) + ("*" if self.prefix else "")


@dataclass(frozen=True)
class ListRef:
    name: str  # the list's name, without "@"
    position: int  # offset of the "@"


@dataclass(frozen=True)
class Not:
    child: Node
    position: int  # offset of the NOT keyword


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    position: int = 0  # offset of the first AND, or of the second operand when implied


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Near:
    children: tuple[Node, ...]  # the chain's operands: Term, ListRef or Or of those
    distances: tuple[int, ...]  # max words between neighbouring operands; one fewer than children
    position: int  # offset of the first NEAR


@dataclass(frozen=True)
class Field:
    name: str  # "title", "summary" or "lead" (the title and the summary's first sentence)
    child: Node
    position: int  # offset of the field prefix


@dataclass(frozen=True)
class Count:
    child: Node  # a Term, ListRef or Or of those
    times: int  # how many occurrences (of its terms together, overlapping ones once) it needs
    position: int  # offset of the "{n}"


Node = Term | ListRef | Not | And | Or | Near | Field | Count


@dataclass(frozen=True)
class Query:
    text: str  # the query as written
    root: Node  # the parsed tree
    terms: tuple[Term, ...]  # distinct terms (by key), in query order
    positive: tuple[Term, ...]  # distinct terms not under a NOT: one must occur for a match
    lists: tuple[ListRef, ...] = ()  # @name references not yet resolved, in query order


# --- lexing ------------------------------------------------------------------

QUOTES = '"“”„'
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_FIELDS = {"title": "title", "summary": "summary", "body": "summary", "lead": "lead"}
_MAX_DEPTH = 100  # parentheses and NOTs; deeper is a mistake, and recursion has limits
_MIN_PREFIX = 2  # "a*" would match a large share of all words
MAX_DISTANCE = 100  # NEAR/n; farther is "AND" in practice
MAX_COUNT = 20  # {n}; an article that names a side 20 times is about it
LIST_NAME = re.compile(r"[a-z][a-z0-9_-]*")


@dataclass(slots=True)  # not frozen: a query has thousands, and a frozen __init__ costs 3x
class _Lexeme:
    kind: str  # "(", ")", "AND", "OR", "NOT", "NEAR", "field", "list", "term", "count" or "end"
    position: int  # offset in the query
    text: str = ""  # as written
    term: Term | None = None  # for kind "term"
    value: int | str = 0  # NEAR's distance, a count's n, a field's name, a list's name

    @property
    def end(self) -> int:
        return self.position + len(self.text)

    def describe(self) -> str:
        return "end of query" if self.kind == "end" else repr(self.text)


_LEXEME = re.compile(  # the white space between lexemes is what finditer skips
    r"(?P<paren>[()])"
    r'|(?P<phrase>["“”„][^"“”„]*(?P<closed>["“”„])?)'  # straight or curly quotes, pasted ones too
    r'|(?P<word>[^\s()"“”„]+)'
)
_NEAR = re.compile(r"NEAR/(\d{1,3})")
_LOWER_NEAR = re.compile(r"(?i)near/\d+")  # "near/3" is a mistake, not the phrase "near 3"
_FIELD = re.compile(r"(?i)(title|summary|body|lead):")
_COUNT = re.compile(r"\{(\d{1,3})\}$")  # "{2}" at the end of a word: India{2}, @japan{2}, (a OR b){2}


def _lex(query: str) -> list[_Lexeme]:
    lexemes = []
    for found in _LEXEME.finditer(query):
        at, kind, text = found.start(), found.lastgroup, found.group()
        if kind == "word":
            lexemes.extend(_word(text, at))
        elif kind == "paren":
            lexemes.append(_Lexeme(text, at, text))
        elif found["closed"] is None:  # a phrase (the group that ends last) without its end
            raise RuleError("unclosed quote", position=at)
        else:
            lexemes.append(_Lexeme("term", at, text, _term(text, text[1:-1], at, at + 1)))
    lexemes.append(_Lexeme("end", len(query)))
    return lexemes


def _word(word: str, position: int) -> list[_Lexeme]:
    if "{" in word or "}" in word:
        return _counted_word(word, position)
    if word.startswith("@"):  # the usual word of a shipped rule (885 of them): no pattern tried
        return [_list_ref(word, position)]
    if word in _KEYWORDS:
        return [_Lexeme(word, position, word)]
    if word == "NEAR" or ("/" in word and (word.startswith("NEAR/") or _LOWER_NEAR.fullmatch(word))):
        return [_near(word, position)]
    field = _FIELD.match(word) if ":" in word else None
    if field:
        name = _FIELDS[field.group(1).lower()]
        rest = word[field.end() :]
        head = _Lexeme("field", position, field.group(), value=name)
        return [head, *(_word(rest, position + field.end()) if rest else [])]
    return [_Lexeme("term", position, word, _term(word, word, position, position))]


def _counted_word(word: str, position: int) -> list[_Lexeme]:
    found = _COUNT.search(word)
    core = word[: found.start()] if found else word
    if not found or "{" in core or "}" in core or not 1 <= int(found.group(1)) <= MAX_COUNT:
        at = position + (found.start() if found and "{" not in core and "}" not in core else 0)
        message = f"a count is {{n}}, n from 1 to {MAX_COUNT}, right after a term, an @list or ')'"
        raise RuleError(message, position=at)
    count = _Lexeme("count", position + found.start(), found.group(), value=int(found.group(1)))
    return [*(_word(core, position) if core else []), count]


def _near(word: str, position: int) -> _Lexeme:
    if word == "NEAR":
        raise RuleError("NEAR needs a distance, e.g. NEAR/5", position=position)
    if not word.startswith("NEAR"):
        raise RuleError(f"write {word.upper()!r} in upper case", position=position)
    found = _NEAR.fullmatch(word)
    if not found or int(found.group(1)) > MAX_DISTANCE:
        message = f"NEAR/ needs a whole number of words from 0 to {MAX_DISTANCE}, e.g. NEAR/5"
        raise RuleError(message, position=position)
    return _Lexeme("NEAR", position, word, value=int(found.group(1)))


def _list_ref(word: str, position: int) -> _Lexeme:
    name = word[1:]
    if not LIST_NAME.fullmatch(name):
        raise RuleError(
            f"bad list name {word!r}: after '@', lower-case letters, digits, '_' and '-',"
            " starting with a letter",
            position=position,
        )
    return _Lexeme("list", position, word, value=name)


def parse_term(text: str) -> Term:
    """One term on its own, as in a term list: a word, words (a phrase), either ending in "*"."""
    return _term(text, text, 0, 0)


def _term(text: str, body: str, position: int, offset: int) -> Term:
    """A term from `body` (a word, or a phrase's inside starting at `offset`)."""
    prefix = body.endswith("*")
    core = body[:-1] if prefix else body
    if "*" in core:
        at = offset + core.index("*")
        raise RuleError("'*' is only allowed at the end of a term", position=at)
    words, last_start, last_end = _tokenize_term(core)
    if not words:
        if text[0] in QUOTES:
            raise RuleError("empty phrase", position=position)
        raise RuleError(
            f"{text!r} has no letters or digits (the operators are AND, OR, NOT, NEAR/n)",
            position=position,
        )
    if prefix and last_end != len(core):
        return Term(text, (*words, ""), True, position)  # "Indo-*": indo, then any word
    if prefix and len(words[-1]) < _MIN_PREFIX:
        raise RuleError(
            f"a prefix needs at least {_MIN_PREFIX} letters or digits before '*'",
            position=offset + last_start,
        )
    return Term(text, words, prefix, position)


@lru_cache(maxsize=1 << 14)  # rule files repeat the same terms in every rule
def _tokenize_term(core: str) -> tuple[tuple[str, ...], int, int]:
    """A term's folded words, and where the last one starts and ends in `core` (0, 0 for none)."""
    spans = token_spans(core)
    return tuple(word for word, _, _ in spans), *(spans[-1][1:] if spans else (0, 0))


# --- parsing -----------------------------------------------------------------


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
        joint = self._peek().position
        while self._peek().kind in ("AND", "NOT", "term", "list", "field", "("):
            if self._peek().kind == "AND":
                self._take()
            children.append(self._unary())
        return children[0] if len(children) == 1 else And(tuple(children), joint)

    def _unary(self) -> Node:
        if self._peek().kind == "NOT":
            keyword = self._take()
            return Not(self._nested(self._unary, keyword), keyword.position)
        return self._near()

    def _near(self) -> Node:
        children = [self._scoped()]
        distances: list[int] = []
        first = self._peek()
        while self._peek().kind == "NEAR":
            distances.append(int(self._take().value))
            children.append(self._scoped())
        if not distances:
            return children[0]
        for child in children:
            _check_operand(child, "a NEAR operand")
        return Near(tuple(children), tuple(distances), first.position)

    def _scoped(self) -> Node:
        if self._peek().kind != "field":
            return self._counted()
        field = self._take()
        after = self._peek()
        if after.position != field.end or after.kind not in ("term", "list", "("):
            raise RuleError(
                f"{field.text!r} must be followed directly (no space) by a term, a phrase, an @list or '('",
                position=field.position,
            )
        child = self._counted()
        _check_no_field(child)
        return Field(str(field.value), child, field.position)

    def _counted(self) -> Node:
        node = self._primary()
        if self._peek().kind != "count":
            return node
        count = self._take()
        _check_operand(node, "a count's operand")
        return Count(node, int(count.value), count.position)

    def _primary(self) -> Node:
        lexeme = self._take()
        if lexeme.kind == "term" and lexeme.term:
            return lexeme.term
        if lexeme.kind == "list":
            return ListRef(str(lexeme.value), lexeme.position)
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


def _check_operand(node: Node, where: str) -> None:
    """A NEAR or count operand is a term, an @list or an OR group of those: something with positions."""
    if isinstance(node, Or):
        for child in node.children:
            _check_operand(child, where)
        return
    if isinstance(node, Term | ListRef):
        return
    operand = "an operand is a term, a phrase, an @list or an OR group of those"
    what, hint = {
        And: ("AND", f"{operand}; put AND outside: (a NEAR/3 b) AND c, a{{2}} AND c"),
        Not: ("NOT", f"{operand}; put NOT outside: (a NEAR/3 b) NOT c, a{{2}} NOT c"),
        Near: ("another NEAR" if "NEAR" in where else "a NEAR", "chain them: a NEAR/3 b NEAR/3 c"),
        Field: ("a field", "put the field around the whole: title:(a NEAR/3 b), title:@india{2}"),
        Count: ("a count", "put the count beside it: (a NEAR/3 b) AND a{2}"),
    }[type(node)]
    raise RuleError(f"{what} inside {where}: {hint}", position=node.position)


def _check_no_field(node: Node) -> None:
    for child in _children(node):
        if isinstance(child, Field):
            raise RuleError("a field inside another field's group", position=child.position)
        _check_no_field(child)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, And | Or | Near):
        return node.children
    if isinstance(node, Not | Field | Count):
        return (node.child,)
    return ()


def parse_query(query: str) -> Query:
    """Parse a query; RuleError(position=offset) says where it is wrong. @names stay unresolved."""
    if not isinstance(query, str):
        raise RuleError(f"a query must be a string, not {type(query).__name__}")
    root = _Parser(query).parse()
    if _holds_on_nothing(root):
        raise RuleError(
            "a query must require at least one word: this one matches articles that contain"
            " none of its terms (NOT only narrows a match)",
            position=_first_not(root),
        )
    return make_query(query, root)


def make_query(text: str, root: Node) -> Query:
    """A Query from its text and tree: terms, positive terms and @names collected, in one walk
    (a resolved shipped rule has 10,000 terms); each term's first occurrence, by (tokens,
    prefix): its key without a join. A resolved @list (termlists.Listed) brings its list's
    terms by that key, merged whole, once per list (once under a NOT, once not)."""
    terms: dict[tuple[tuple[str, ...], bool], Term] = {}
    positive: dict[tuple[tuple[str, ...], bool], Term] = {}
    lists: list[ListRef] = []
    stack: list[tuple[Node, bool]] = [(root, False)]
    merged: set[tuple[int, bool]] = set()  # (id of a list's terms by key, negated)
    while stack:
        node, negated = stack.pop()
        if isinstance(node, Term):
            key = (node.tokens, node.prefix)
            terms.setdefault(key, node)
            if not negated:
                positive.setdefault(key, node)
        elif isinstance(node, ListRef):
            lists.append(node)
        elif (listed := getattr(node, "by_key", None)) is not None and (id(listed), negated) not in merged:
            merged.add((id(listed), negated))
            for into in (terms,) if negated else (terms, positive):  # setdefault of each, in order
                fresh = into.keys().isdisjoint(listed)  # the usual case: one update, in C
                into.update(listed if fresh else {k: t for k, t in listed.items() if k not in into})
        elif listed is None:
            below = negated != isinstance(node, Not)
            stack.extend((child, below) for child in reversed(_children(node)))
    return Query(text, root, tuple(terms.values()), tuple(positive.values()), tuple(lists))


def _first_not(node: Node) -> int | None:
    """Offset of the first NOT: where a query that is only negative goes wrong."""
    if isinstance(node, Not):
        return node.position
    return next((p for child in _children(node) if (p := _first_not(child)) is not None), None)


def _holds_on_nothing(node: Node) -> bool:
    """Whether the query holds on an article that contains none of its terms."""
    if isinstance(node, Term | ListRef):
        return False  # a list has at least one element
    if isinstance(node, Not):
        return not _holds_on_nothing(node.child)
    if isinstance(node, Or):
        return any(_holds_on_nothing(child) for child in node.children)
    return all(_holds_on_nothing(child) for child in _children(node))
