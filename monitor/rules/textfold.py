"""Text folding and tokenising, shared by rule queries and article text.

Query terms and article text are folded the same way, so they agree on what a word is:

    "Japan’s"  "JAPAN'S"  "Japan"   → japan          (case, possessive 's / ’s / ʼs)
    "Japón"                          → japon          (NFKD, combining marks dropped)
    "India–Japan"  "India-Japan"     → india, japan   (dashes, spaces, punctuation split)
    "親インドか"                     → 親, イ, ン, ド, か (each CJK character a word of its own)

Chinese and Japanese put no spaces between words, so each Han, kana or Hangul character is a
word of its own (NFKC-folded: half-width katakana is the full-width letter, and a kana keeps
its voicing mark). A CJK rule term is then a phrase of its characters, which is matched as a
substring: `インド` finds "親インドか親中国か" (issue 15).

A word is a run of Unicode letters and digits (plus combining marks after the first
character). `tokenize` is the reference: it gives each token's span in the original text.
`FoldedField` gives the same words much faster for the usual case, text whose letters
and digits are all ASCII (curly quotes and dashes allowed): one `str.translate` in C
makes its `layout`, the folded words separated by runs of spaces, character for
character where the original has them, so an occurrence found in the layout is a slice
of the original text without any bookkeeping per word.
"""

from __future__ import annotations

import bisect
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache


def _classes() -> tuple[str, str]:
    """Regex character class bodies for the BMP: combining marks; non-ASCII letters, digits and marks.

    Python's \\w has no letter+mark class, and text in decomposed form ("o" + U+0301) must
    stay one word. Building them takes 20 ms, so unicodeclasses.py stores them for the
    Unicode version Python has (unicode_classes_source() writes it); built here otherwise.
    """
    marks: list[list[int]] = []
    wordish: list[list[int]] = []
    for code in range(0x80, min(sys.maxunicode, 0xFFFF) + 1):
        char = chr(code)
        mark = unicodedata.category(char).startswith("M")
        for ranges, member in ((marks, mark), (wordish, mark or char.isalnum())):
            if member and ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            elif member:
                ranges.append([code, code])
    marks_class, wordish_class = ("".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in r) for r in (marks, wordish))
    return marks_class, wordish_class


def unicode_classes_source() -> str:
    """unicodeclasses.py as _classes() makes it under this Python's Unicode version."""
    version = unicodedata.unidata_version
    marks, wordish = (_class_lines(body) for body in _classes())
    return (
        '"""Regex character class bodies for textfold.py, made by textfold._classes() under Unicode\n'
        f"{version} (20 ms at every start otherwise); textfold builds its own under any other version.\n"
        "Generated: do not edit. tests/rules/test_textfold.py says how to write it again.\n"
        '"""\n\n'
        f'UNIDATA_VERSION = "{version}"\n\n'
        f"# combining marks (category M*) above ASCII\nMARKS = (\n{marks})\n\n"
        f"# non-ASCII letters, digits and marks (str.isalnum() or category M*)\nWORDISH = (\n{wordish})\n"
    )


def _class_lines(body: str) -> str:
    lines = [""]
    for pair in re.findall(r"\\u[0-9a-f]{4}-\\u[0-9a-f]{4}", body):
        if len(lines[-1]) + len(pair) > 96:
            lines.append("")
        lines[-1] += pair
    return "".join(f'    r"{line}"\n' for line in lines)


def _stored_classes() -> tuple[str, str]:
    from monitor.rules import unicodeclasses

    if unicodeclasses.UNIDATA_VERSION == unicodedata.unidata_version:
        return unicodeclasses.MARKS, unicodeclasses.WORDISH
    return _classes()


_MARKS, _WORDISH = _stored_classes()
# Han (with extensions and compatibility ideographs), kana without the middle dot, Hangul; the
# same class as archive/fulltext.py's, which indexes such text for search.
_CJK_CHARS = (
    "\u3005\u3007\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff66-\uff9f\u1100-\u11ff\u3130-\u318f\uac00-\ud7af\U00020000-\U0003134f"
)
# A word, plus a possessive 's or ’s that belongs to it ("Japan's" → japan). The text has
# had "_" and "ʼ" replaced first (see _prepare), so \w here means a letter or digit. On ASCII
# text that is _ASCII_TOKEN, so these two are compiled at the first other text (3 ms of a start).
_WORD_SOURCE = rf"(\w[\w{_MARKS}]*)(?:['’][sS](?!\w))?"
_ASCII_TOKEN = re.compile(r"([A-Za-z0-9]+)(?:'[sS](?![A-Za-z0-9]))?")
_ALNUM = re.compile(r"[^\W_]+")
# The same on ASCII text that _ASCII_FOLD has lower-cased and reduced to [a-z0-9' ].
_ASCII_WORD = re.compile(r"([a-z0-9]+)(?:'s(?![a-z0-9]))?")
# ASCII: letters to lower case, digits kept, "'" kept (possessives), everything else a space
_ASCII_FOLD = str.maketrans({chr(c): chr(c).lower() if chr(c).isalnum() else " " for c in range(128)})
_ASCII_FOLD[ord("'")] = "'"
_SPACE = re.compile(r"\s")
_WORD_START = re.compile(r"\S+")  # the words of a layout, as str.split() finds them


# The two patterns only non-ASCII text needs, compiled when first met (9 ms of a start).
@lru_cache(maxsize=1)
def _cjk_pieces() -> re.Pattern[str]:
    """A CJK character with its marks, or a run of other characters."""
    return re.compile(f"[{_CJK_CHARS}][{_MARKS}]*|[^{_CJK_CHARS}]+")


_FOREIGN: re.Pattern[str] | None = None  # set by _foreign(); read as `_FOREIGN or _foreign()`


def _foreign() -> re.Pattern[str]:
    """A non-ASCII letter, digit or mark (any astral character counts, to be safe): the
    whitespace-delimited chunk around it needs `fold_word`. Whitespace is never part of a word.
    (A global, not lru_cache: it is asked for once per field with accents.)"""
    global _FOREIGN
    _FOREIGN = re.compile(rf"[{_WORDISH}\U00010000-\U0010ffff]")
    return _FOREIGN


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
    # casefold before NFKD so that marks casefold introduces ("İ" → i + U+0307) are dropped too,
    # and after it, for letters that decompose to capitals ("𝐀" → A)
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", word.casefold()).casefold())
    bare = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    return tuple(_ALNUM.findall(bare))


def _prepare(text: str) -> str:
    # Same length, so spans stay valid: "_" is not part of a word (\w includes it), and
    # U+02BC is a letter to Unicode but an apostrophe to writers ("Japanʼs").
    return text.replace("_", " ").replace("ʼ", "’")


def tokenize(text: str) -> list[Token]:
    """Folded tokens of `text`, in order, with their original spans. The reference."""
    return [Token(folded, start, end) for folded, start, end in _scan(text)]


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """tokenize's tokens as (folded, start, end): a rule file's thousands of terms, without a Token each."""
    return list(_scan(text))


@lru_cache(maxsize=1)
def _word_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A word (_WORD_SOURCE), and a CJK character."""
    return re.compile(_WORD_SOURCE), re.compile(f"[{_CJK_CHARS}]")


def _scan(text: str) -> Iterator[tuple[str, int, int]]:
    if text.isascii():  # the usual rule term: _scan_words' tokens, found without its patterns
        return ((m.group(1).lower(), m.start(), m.end()) for m in _ASCII_TOKEN.finditer(text))
    return _scan_words(text)


def _scan_words(text: str) -> Iterator[tuple[str, int, int]]:
    word_pattern, cjk = _word_patterns()
    for match in word_pattern.finditer(_prepare(text)):
        start, end = match.span()
        word = match.group(1)
        if cjk.search(word) is None:
            for folded in fold_word(word):
                yield folded, start, end
            continue
        for piece in _cjk_pieces().finditer(word):
            a, b = start + piece.start(), start + piece.end()
            if cjk.match(piece.group()):
                yield unicodedata.normalize("NFKC", piece.group()), a, b
            else:
                for folded in fold_word(piece.group()):
                    yield folded, a, b


@dataclass(frozen=True, slots=True)
class _Chunk:
    """A chunk of text with non-ASCII letters, replaced by its folded words in the ASCII form."""

    start: int  # where its replacement starts in the ASCII form
    end: int  # where the replacement ends
    origin: int  # where the chunk starts in the original text
    spans: tuple[tuple[int, int], ...]  # each word's (start, end) in the chunk
    shift: int  # ASCII-form offset minus original offset, after this chunk


def _as_ascii(text: str) -> tuple[str, tuple[_Chunk, ...]] | None:
    """`text` in ASCII with the same words, and the chunks whose length that changed.

    Non-ASCII separators become ASCII ones, one for one. Chunks holding non-ASCII letters
    ("Nestlé’s") are replaced by their folded words (" nestle "); None when a folded word
    is not ASCII ("日本"): such text takes the reference path.
    """
    chunks: tuple[_Chunk, ...] = ()
    if text.isascii():
        return text, chunks
    plain = _replace_typography(text)
    if plain.isascii():  # the usual case: curly quotes and dashes, and nothing else
        return plain, chunks
    if (_FOREIGN or _foreign()).search(plain):
        folded = _fold_foreign(text)
        if folded is None:
            return None
        text, chunks = folded
        plain = _replace_typography(text)
    # any other separator becomes "?", which separates too
    return plain.encode("ascii", "replace").decode("ascii"), chunks


# What news copy is full of, each replaced by one ASCII character: ’ and ʼ keep their
# possessive role, the others separate. `in` and `replace` are quick C scans.
_TYPOGRAPHY = {"’": "'", "ʼ": "'", "‘": " ", "“": " ", "”": " ", "–": " ", "—": " ", "…": " ", "\u00a0": " "}


def _replace_typography(text: str) -> str:
    for char, ascii_char in _TYPOGRAPHY.items():
        if char in text:
            text = text.replace(char, ascii_char)
    return text


def _fold_foreign(text: str) -> tuple[str, tuple[_Chunk, ...]] | None:
    pieces, chunks = [], []
    done = shift = 0
    for foreign in (_FOREIGN or _foreign()).finditer(text):
        if foreign.start() < done:
            continue  # in the chunk just replaced
        start = foreign.start()
        while start > done and not text[start - 1].isspace():
            start -= 1
        space = _SPACE.search(text, foreign.start())
        end = space.start() if space else len(text)
        tokens = list(_scan(text[start:end]))
        replacement = f" {' '.join(token for token, _, _ in tokens)} "
        if not replacement.isascii():
            return None
        pieces += [text[done:start], replacement]
        new_start = start + shift
        shift += len(replacement) - (end - start)
        spans = tuple((a, b) for _, a, b in tokens)
        chunks.append(_Chunk(new_start, new_start + len(replacement), start, spans, shift))
        done = end
    pieces.append(text[done:])
    return "".join(pieces), tuple(chunks)


def fold_tokens(text: str) -> list[str]:
    """The folded tokens of `text`, exactly as `tokenize` gives them, without spans."""
    return FoldedField(text).layout.split()


def _blank_apostrophes(folded: str) -> str:
    """`folded` with every apostrophe, and each possessive 's, turned into spaces (same length).

    Only the space-separated chunks that hold an apostrophe go through the regex.
    """
    parts = []
    done = 0
    at = folded.find("'")
    while at != -1:
        start = folded.rfind(" ", 0, at) + 1
        end = folded.find(" ", at)
        end = len(folded) if end == -1 else end
        chunk = [" "] * (end - start)
        for word in _ASCII_WORD.finditer(folded, start, end):
            chunk[word.start() - start : word.end(1) - start] = word.group(1)
        parts += [folded[done:start], "".join(chunk)]
        done = end
        at = folded.find("'", end)
    parts.append(folded[done:])
    return "".join(parts)


class FoldedField:
    """One article field, folded once.

    `layout` is the folded words with a space before and after each; between two words
    there is at least one space. When `exact`, layout offset n is text offset n - 1.
    """

    __slots__ = ("text", "layout", "exact", "_lower", "_chunks", "_spans", "_starts")

    def __init__(self, text: str) -> None:
        self.text = text  # as written
        self._starts: list[int] | None = None  # layout offset of each word, made when first needed
        self._spans: list[tuple[str, int, int]] | None = None  # from the reference scan, if needed
        self._chunks: tuple[_Chunk, ...] = ()  # where the ASCII form differs in length from `text`
        ascii_form = _as_ascii(text)
        if ascii_form is None:
            self._spans = list(_scan(text))
            self.layout = f" {' '.join(token for token, _, _ in self._spans)} "
            self.exact, self._lower = False, ""
            return
        # lower-case with separators as spaces; then apostrophes and possessive 's as spaces too
        self._lower = ascii_form[0].translate(_ASCII_FOLD)
        blank = _blank_apostrophes(self._lower) if "'" in self._lower else self._lower
        self.layout = f" {blank} "
        self._chunks = ascii_form[1]
        self.exact = not self._chunks

    def original(self, start: int, end: int) -> str:
        """The text that `layout[start:end]` (whole words) came from, as written."""
        if self._spans is not None:
            first = self.word_number(start)
            last = self.word_number(end) - 1
            return self.text[self._spans[first][1] : self._spans[last][2]]
        if self.exact:  # _origin without chunks, inline: an alert's words are looked up here
            end -= 1
            if self._lower.startswith("'s", end) and self.layout.startswith("  ", end + 1):
                end += 2  # the possessive belongs to the word as written: "Japan’s"
            return self.text[start - 1 : end]
        return self.text[self._origin(start - 1, 0) : self._origin(end - 1, 1)]

    def _origin(self, offset: int, side: int) -> int:
        """Where a word's start (side 0) or end (side 1) at `offset` of the ASCII form is in `text`."""
        shift = 0
        for chunk in self._chunks:
            if offset <= chunk.start:
                break
            if offset < chunk.end:  # a word of the chunk: the reference scan knows where it is
                number = len(self.layout[chunk.start + 1 : offset + 1].split()) - side
                return chunk.origin + chunk.spans[number][side]
            shift = chunk.shift
        if side and self._lower.startswith("'s", offset) and self.layout.startswith("  ", offset + 1):
            offset += 2  # the possessive belongs to the word as written: "Japan’s"
        return offset - shift

    def words_between(self, end: int, start: int) -> int:
        """How many words lie between layout offsets `end` and `start`."""
        return self.word_number(start) - self.word_number(end)

    def word_number(self, offset: int) -> int:
        """How many words start before layout offset `offset` (a word's own number at its start).

        A bisection of the words' offsets, listed once: counting the words of a slice instead
        made every NEAR test as long as the text, and a long text quadratic (issue 20)."""
        if self._starts is None:
            self._starts = [m.start() for m in _WORD_START.finditer(self.layout)]
        return bisect.bisect_left(self._starts, offset)


# --- the lead: what `lead:` searches besides the title ---------------------------

LEAD_WORDS = 50  # a first sentence longer than this is cut: the lead is about one paragraph's opening
# a full stop after these is not the end of a sentence ("Sumitomo Metal Mining Co. said", "Rs. 500")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st co corp inc ltd bhd plc no nos rs jr sr lt col gen capt adm sgt vs"
    " jan feb mar apr jun jul aug sep sept oct nov dec approx est govt dept univ".split()
)
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s+[^\s])")
_NEXT = re.compile(r"\s*(\S)")
_LEAD_LIMIT = re.compile(rf"(?:\W*+\w++){{{LEAD_WORDS}}}")  # whole words: possessive, never split


def lead_end(text: str) -> int:
    """Where the first sentence of `text` ends (an offset into it), at most LEAD_WORDS words in.

    A sentence ends at ".", "!" or "?" (and any closing quote) before white space and a
    word that does not start in lower case; not after an initial ("S. Jaishankar",
    "U.S.") or a common abbreviation ("Co.", "Rs.").
    """
    limit = _word_limit(text)
    for found in _SENTENCE_END.finditer(text, 0, limit):
        at = found.start()
        start = max(text.rfind(" ", 0, at), text.rfind("\n", 0, at)) + 1
        word = text[start:at].strip("\"'“”‘’([").rsplit(".", 1)[-1]  # "U.S" → "S"
        following = _NEXT.match(text, found.end())
        if following and following.group(1).islower():
            continue
        if (len(word) == 1 and word.isalpha()) or word.lower() in _ABBREVIATIONS:
            continue
        return found.end()
    return limit


def _word_limit(text: str) -> int:
    """The end of the LEAD_WORDS-th word, or of the text."""
    found = _LEAD_LIMIT.match(text)
    return found.end() if found else len(text)
