"""A report's sentences and script, for stories.profile (which re-exports these). Pure.

boilerplate(summaries) → the sentences one feed repeats    without(summary, them)
language(text) → the key its rarity counts are kept under ("latin", "cjk", ...)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

# Where a summary splits into sentences: r"(?<=[.!?…])\s+|\n+" (SENTENCE_GAP), written to start
# with one character class, the first space, so that the regex engine skips to the next space in
# C instead of trying both branches at every character: the same gaps, in half the time (h-words).
SENTENCE_GAP = r"(?<=[.!?…])\s+|\n+"
_SENTENCE = re.compile(r"\s(?:(?<=[.!?…]\s)\s*|(?<=\n)\n*)")


def boilerplate(summaries: Sequence[str], at_least: int = 3) -> frozenset[str]:
    """Sentences one feed repeats in `at_least` of its items (its boilerplate)."""
    return repeated([[s.strip() for s in _SENTENCE.split(summary)] for summary in summaries], at_least)


def repeated(stripped: Sequence[Sequence[str]], at_least: int = 3) -> frozenset[str]:
    """boilerplate() of summaries already split into sentences (_SENTENCE) and stripped."""
    seen: Counter[str] = Counter()
    for sentences in stripped:
        seen.update({s for s in sentences if len(s) > 12})
    return frozenset(s for s, n in seen.items() if n >= at_least)


def without(summary: str, sentences: frozenset[str]) -> str:
    """The summary with the boilerplate `sentences` taken out."""
    if not sentences:
        return summary
    return " ".join(s for s in _SENTENCE.split(summary) if s.strip() not in sentences)


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
