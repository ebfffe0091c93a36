"""A report's sentences and script, for stories.profile (which re-exports these). Pure.

boilerplate(summaries) → the sentences one feed repeats    without(summary, them)
language(text) → the key its rarity counts are kept under ("latin", "cjk", ...)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from operator import add

# Where a summary splits into sentences: r"(?<=[.!?…])\s+|\n+" (SENTENCE_GAP), written to start
# with one character class (the regex engine skips to it in C instead of trying both branches at
# every character), and that class the character before a gap, a mark ending a sentence or a line
# break, kept by a split as its group: a sentence's end is rarer than a space, so the engine tries
# a tenth as many places (19 -> 11 µs a farm summary, h-words2; h-words started it at the space).
SENTENCE_GAP = r"(?<=[.!?…])\s+|\n+"
_GAP_AFTER = re.compile(r"([.!?…\n])(?:(?<=[.!?…])\s+|(?<=\n)\n*)")
_MARKED = {"\n": ""}  # a line break is the gap's, a mark its sentence's


def sentences_of(summary: str) -> list[str]:
    """re.split(SENTENCE_GAP, summary): its sentences, each with the mark that ends it."""
    parts = _GAP_AFTER.split(summary)
    marks = parts[1::2]
    made = list(map(add, parts[0:-1:2], map(_MARKED.get, marks, marks)))
    made.append(parts[-1])
    return made


def boilerplate(summaries: Sequence[str], at_least: int = 3) -> frozenset[str]:
    """Sentences one feed repeats in `at_least` of its items (its boilerplate)."""
    return repeated([list(map(str.strip, sentences_of(summary))) for summary in summaries], at_least)


def repeated(stripped: Sequence[Sequence[str]], at_least: int = 3) -> frozenset[str]:
    """boilerplate() of summaries already split into sentences (sentences_of) and stripped."""
    seen: Counter[str] = Counter()
    for sentences in stripped:
        seen.update({s for s in sentences if len(s) > 12})
    return frozenset(s for s, n in seen.items() if n >= at_least)


def without(summary: str, sentences: frozenset[str]) -> str:
    """The summary with the boilerplate `sentences` taken out."""
    if not sentences:
        return summary
    return " ".join(s for s in sentences_of(summary) if s.strip() not in sentences)


# A character neither latin (below U+0250) nor General Punctuation (’ — …: no letters in it).
_NOT_LATIN = re.compile("[^\u0000-\u024f\u2000-\u206f]").search


def language(text: str) -> str:
    """The report's script, as a language key for the rarity counts ("latin", "cjk", ...)."""
    if text.isascii() or not _NOT_LATIN(text, 0, 400):  # all latin (punctuation aside)
        return "latin"
    letters = [c for c in text[:400] if c.isalpha()]
    if not letters:
        return "latin"
    latin = sum(1 for c in letters if c < "\u0250")
    if latin * 2 >= len(letters):
        return "latin"
    first = next(c for c in letters if c >= "\u0250")
    return (
        "cjk" if "\u2e80" <= first <= "\u9fff" or "\uac00" <= first <= "\ud7af" else f"u{ord(first) >> 8:x}"
    )
