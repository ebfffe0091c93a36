"""Text folding and tokenising, shared by rule queries and article text.

Query terms and article text go through the same `tokenize`, so they agree on
what a word is:

    "Japan’s"  "JAPAN'S"  "Japan"   → japan          (case, possessive 's / ’s)
    "Japón"                          → japon          (NFKD, combining marks dropped)
    "India–Japan"  "India-Japan"     → india, japan   (dashes, spaces, punctuation split)

A token is a run of Unicode letters and digits. `TextIndex` keeps each token's
position (for phrases, and later NEAR) and its span in the original text (so a
match can report the words as the article wrote them).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache


def _combining_marks() -> str:
    """A regex character class body for every combining mark in the BMP.

    Built once at import (a few ms): Python's \\w has no letter+mark class, and text
    in decomposed form ("o" + U+0301) must stay one word.
    """
    ranges: list[list[int]] = []
    for code in range(min(sys.maxunicode, 0xFFFF) + 1):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


# A word, plus a possessive 's or ’s that belongs to it ("Japan's" → japan).
_WORD = re.compile(rf"(?P<word>[^\W_](?:[^\W_]|[{_combining_marks()}])*)(?:['’ʼ][sS](?![^\W_]))?")
_ALNUM = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # folded: lower-case, no diacritics
    start: int  # where the word starts in the original string
    end: int  # where it ends, possessive 's included


@lru_cache(maxsize=1 << 16)
def fold_word(word: str) -> tuple[str, ...]:
    """Fold one word; compatibility decomposition may split it ("ﬁ½" → fi, 1, 2)."""
    if word.isascii():
        return (word.lower(),)
    # casefold before NFKD so that marks casefold introduces ("İ" → i + U+0307) are dropped too
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    return tuple(_ALNUM.findall(bare))


def tokenize(text: str) -> list[Token]:
    """Folded tokens of `text`, in order, with their original spans."""
    return [Token(folded, start, end) for folded, start, end in _scan(text)]


def _scan(text: str) -> Iterator[tuple[str, int, int]]:
    # tuples, not Tokens: an article has hundreds of words and this is the hot loop
    for match in _WORD.finditer(text):
        start, end = match.span()
        for folded in fold_word(match.group("word")):
            yield folded, start, end


@dataclass
class TextIndex:
    """The folded tokens of one article's fields, by position.

    Fields are separated by an empty position, so no phrase spans two fields.
    """

    fields: tuple[str, ...]  # the original field texts
    words: list[str | None] = field(default_factory=list)  # folded token per position
    spans: list[tuple[int, int, int]] = field(default_factory=list)  # (field, start, end)
    positions: dict[str, list[int]] = field(default_factory=dict)  # token → its positions

    def original(self, first: int, last: int) -> str:
        """The text that positions first..last (one field) came from, as written."""
        number, start, _ = self.spans[first]
        return self.fields[number][start : self.spans[last][2]]

    def phrase_at(self, position: int, tokens: Sequence[str], prefix: bool) -> bool:
        """Whether `tokens` occur consecutively from `position`; the last may be a prefix."""
        if position + len(tokens) > len(self.words):
            return False
        last = len(tokens) - 1
        for offset, wanted in enumerate(tokens):
            word = self.words[position + offset]
            if word is None:
                return False
            if word != wanted and not (prefix and offset == last and word.startswith(wanted)):
                return False
        return True

    def prefixed(self, prefixes: Container[str], lengths: Sequence[int]) -> dict[str, list[str]]:
        """For each of `prefixes` (whose sorted lengths are given), the distinct tokens it starts.

        Slicing each distinct token costs a few dict lookups per token, however many
        prefixes the rule set has; `startswith` per prefix would cost one per pair.
        """
        found: dict[str, list[str]] = {}
        for word in self.positions:
            for length in lengths:
                if length > len(word):
                    break
                if word[:length] in prefixes:
                    found.setdefault(word[:length], []).append(word)
        return found


def index_fields(*fields: str) -> TextIndex:
    """Tokenise each field once and index the tokens by position."""
    index = TextIndex(tuple(fields))
    for number, text in enumerate(fields):
        if number:
            index.words.append(None)
            index.spans.append((number, 0, 0))
        for folded, start, end in _scan(text):
            index.positions.setdefault(folded, []).append(len(index.words))
            index.words.append(folded)
            index.spans.append((number, start, end))
    return index
