"""A report's words as a story profile counts them (profile.terms, re-exported there). Pure.

    terms(title, summary) → Terms     (stem → count: the title's twice, a capitalised word's 1.5 times)

A word is what WORD finds: lower-cased, stop words and weekdays out, cut to its stem (Snowball's
English stemmer). Words never hold a space, so a text is read as its chunks between spaces
(str.split, in C, three times as fast as the regex), and what a chunk counts (the stem of its one
word, or none; capitalised or not) is looked up in a cache of chunks: the regex, folding and
stemming run only for a chunk not seen before (h-words2, issue 17).
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import repeat

import snowballstemmer

LEAD_CHARS = 600  # of a summary, what is read
TITLE_WEIGHT = 2.0  # a word of the title counts as two of the summary
NAME_WEIGHT = 1.5  # a capitalised word (most often a name) counts as one and a half

Terms = dict[str, float]  # word → count (title words count TITLE_WEIGHT)

WORD = r"\d+(?:[.,]\d+)+|[^\W_]+(?:[-'’.][^\W_]+)*"  # "1,000" is one figure
# WORD starting with one character class (a regex skips to it in C): the same words (h-words)
_WORD = re.compile(r"[^\W_](?:(?<=\d)\d*(?:[.,]\d+)+|[^\W_]*(?:[-'’.][^\W_]+)*)")
_STOP = frozenset(
    """a an the and or but nor of in on at to for with by from as into onto upon over under about
    after before during since until while than then there here this that these those it its is are
    was were be been being has have had do does did will would shall should can could may might must
    not no also only just more most less least very so such same other another any each every both
    all some many much few he she they we i you his her their our your him them us me who whom which
    what when where why how said says say told according added if whether up out off new
    one two three four five six seven eight nine ten
    monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow""".split()
)


_STEMMER = snowballstemmer.stemmer("english")
_STEMMER.maxCacheSize = 0  # _WORDS is the cache (its own held 10,000 words again, 1.9 MB: issue 18)


def _stem(word: str) -> str:
    """A word's stem, so "vaccine" meets "vaccination" and "policing" "police" (Snowball's English
    stemmer). Words with digits ("covid-19", "g7") are names and stay whole."""
    return word if not word.isascii() or _ASCII_DIGIT(word) else _STEMMER.stemWord(word)


_ASCII_DIGIT = re.compile(r"[0-9]").search  # of an ASCII word, as any(c.isdigit() for c in it)


def _word(raw: str) -> str | None:
    """What terms() counts for a word as written: its stem, or None for a stop word."""
    word = raw.lower().replace("’", "'").rstrip(".")
    word = word.removesuffix("'s")
    if word in _STOP or (word.isdigit() and len(word) < 2):
        return None
    return _stem(word)


# Marks a chunk starts or ends with that are never part of a word (nor a letter or a digit), taken
# off before a chunk is looked up: "vaccine," and "(vaccine)" are "vaccine" (its words the same).
EDGES = ".,;:!?\"'()[]“”‘’«»—–-…"

# A chunk of text between spaces, its EDGES off, holding at most one word → that word's _word
# (None: a stop word, or no word); _NAMES: those of them whose word is capitalised (the two are
# filled together). News repeats its words, and a look-up costs less than the regex, folding and
# stemming again. The only cache of words, bounded: the first WORDS_KEPT seen stay (a chunk of
# several words, "U.S.-based", is read by the regex each time). 12,288, not 16,384 as for words
# before: the set of names costs room, and a worker after 1,000 farm feeds holds 39.3 MB as it did
# (39.8 at 16,384; bench/worker_memory.py).
_WORDS: dict[str, str | None] = {}
_NAMES: set[str] = set()
WORDS_KEPT = 12_288
_UNSEEN = "\0"  # not a word: no _WORDS value is it


def forget() -> None:
    """Empty the cache of chunks (_WORDS and _NAMES together: a name is one of _WORDS' chunks)."""
    _WORDS.clear()
    _NAMES.clear()


def terms(title: str, summary: str) -> Terms:
    counts: dict[str, float] = {}
    if len(summary) > LEAD_CHARS:  # the lead tells the event; the rest costs more than it says
        summary = summary[: summary.rfind(" ", 0, LEAD_CHARS) + 1 or LEAD_CHARS]
    seen, names = _WORDS, _NAMES
    for text, weight in ((title, TITLE_WEIGHT), (summary, 1.0)):
        named = weight * NAME_WEIGHT
        # Each distinct chunk once, with how often (in the order first written): the weights are
        # multiples of 0.5, so the sums are exact in any order.
        for chunk, n in Counter(map(str.strip, text.split(), repeat(EDGES))).items():
            word = seen.get(chunk, _UNSEEN)
            if word is _UNSEEN:
                _read(chunk, n, weight, counts)
            elif word is not None:
                counts[word] = counts.get(word, 0.0) + n * (named if chunk in names else weight)
    return counts


def _read(chunk: str, n: int, weight: float, counts: Terms) -> None:
    """terms()'s count of a chunk not in _WORDS (`n` times, each `weight`) added to `counts`;
    the chunk kept if it holds at most one word and there is room."""
    if chunk.isalnum():  # one word (most chunks): no regex
        word, capitalised = _word(chunk), chunk[0].isupper()
    else:
        raws = _WORD.findall(chunk)
        if len(raws) > 1:  # several words: counted, not kept
            for raw in raws:
                _read(raw, n, weight, counts)
            return
        word, capitalised = (_word(raws[0]), raws[0][0].isupper()) if raws else (None, False)
    if word is not None:
        counts[word] = counts.get(word, 0.0) + n * weight * (NAME_WEIGHT if capitalised else 1.0)
    if len(_WORDS) < WORDS_KEPT:
        _WORDS[chunk] = word
        if capitalised and word is not None:
            _NAMES.add(chunk)
