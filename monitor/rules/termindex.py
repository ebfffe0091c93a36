"""Where a rule set's terms occur in a folded field. Pure.

    TermIndex(terms)                index the word terms, the phrases by their words, and the
                                    prefix terms by length
    TermIndex.present(field)        the field's words, probed against those sets in C → the
                                    keys of the terms there
    TermIndex.hits(key, field, n)   str.find for a one-word term, and for a phrase's first
                                    word (its next words checked after it) → its occurrences
                                    as (n, start, end): layout offsets
                                    (a slice of the original text when field.exact), tagged
                                    with the caller's field number n

Prefix terms would cost a slice per word and prefix length; a memo of what each word seen
so far starts with makes them two set probes per word instead. News vocabulary is Zipfian:
after a few hundred articles almost every word has been seen. (A trie regex of all the
terms, scanning the layout in one C pass, was measured too: slower, since `re` tries each
branch of the trie's root at every word.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from monitor.rules.query import Term
from monitor.rules.textfold import FoldedField

# distinct words remembered before the memo starts afresh: 50,000 (about 5 MB; 200,000 was about
# 18 MB in each process that matches, reached after some days of news, issue 18); a word learnt
# again costs a few microseconds
_MEMO_LIMIT = 50_000
Hit = tuple[int, int, int]  # (field number, start, end) of an occurrence in a field's layout


class TermIndex:
    """The terms of a rule set, compiled for finding them in folded fields."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self.terms: dict[str, Term] = {term.key: term for term in terms}
        singles = [t for t in self.terms.values() if len(t.tokens) == 1]
        self._words = frozenset(t.tokens[0] for t in singles if not t.prefix)
        self._heads: dict[int, frozenset[str]] = {}  # length → prefix terms' words of that length
        for term in singles:
            if term.prefix:
                length = len(term.tokens[0])
                self._heads[length] = self._heads.get(length, frozenset()) | {term.tokens[0]}
        # the shortest head's length, and what every head starts with to that length: a word
        # starting with none of them is learnt with one probe, not one per length (issue 18)
        shortest = min(self._heads, default=0)
        self._openings = (shortest, frozenset(h[:shortest] for group in self._heads.values() for h in group))
        # first word → (key, the phrase's other whole words) of the phrases it starts
        self._phrases: dict[str, list[tuple[str, frozenset[str]]]] = {}
        rests: dict[frozenset[str], frozenset[str]] = {}  # equal ones as one object (issue 18)
        for key, term in self.terms.items():
            if len(term.tokens) > 1:
                rest = frozenset(term.tokens[1:-1] if term.prefix else term.tokens[1:])
                self._phrases.setdefault(term.tokens[0], []).append((key, rests.setdefault(rest, rest)))
        # the words a field is probed for: word terms, and all the words of phrases (the words
        # that start a prefix term are added as they are met)
        self._probed = self._words.union(*(rest for ps in self._phrases.values() for _, rest in ps))
        self._probed |= self._phrases.keys()
        self._starts = frozenset(self._phrases)
        self._needles = {key: _needle(self.terms[key]) for ps in self._phrases.values() for key, _ in ps}
        self._memo = _PrefixMemo(self._probed)

    def present(self, field: FoldedField) -> set[str]:
        """The keys of the terms that occur in a field."""
        return self.present_in(field.layout)

    def present_in(self, layout: str) -> set[str]:
        """The keys of the terms that occur in a folded layout (a field's, or a prefix of one).

        Probing the field's word list straight into two sets beats building a set of its
        distinct words first: each probe of a large set is a likely cache miss, and building
        the set costs a probe per word too.
        """
        memo = self._memo
        if len(memo.seen) > _MEMO_LIMIT:
            memo = self._memo = _PrefixMemo(self._probed)  # replaced whole: safe for a concurrent reader
        words = layout.split()
        if self._heads and not memo.seen.issuperset(words):
            memo.learn(set(words).difference(memo.seen), self._heads, self._openings)
        found = memo.probed.intersection(words)
        present = found & self._words  # a word term's key is the word itself
        for word in found & memo.prefixing:
            present.update(memo.prefixes[word])
        spaced = ""  # the layout's words one space apart, made when first needed
        for word in found & self._starts:
            # a phrase is looked for only when all its whole words are there
            for key, rest in self._phrases[word]:
                if rest <= found:
                    # a layout's words hold no white space (textfold), so split() gives its runs
                    # of non-spaces: `words` joined, with no second split of the layout
                    spaced = spaced or f" {' '.join(words)} "
                    if _occurs(self._needles[key], spaced):
                        present.add(key)
        return present

    def hits(self, key: str, field: FoldedField, number: int) -> list[Hit]:
        """Every occurrence of a term in a field, in text order, overlapping ones too; each
        tagged with the field's `number`.

        A one-word term (most of them) is found by `str.find` of the word between spaces
        (of the word's start after a space, for a prefix): no regex, no match objects.
        """
        if " " not in key:
            return _word_hits(key, field.layout, number)
        return _phrase_hits(self.terms[key], field.layout, number)


def _needle(phrase: Term) -> tuple[str, bool]:
    """What a phrase is in a field's words one space apart, and whether a word must follow it:
    " rare earth " (whole words); " rare earth" for "rare earth*" (the last word's start);
    " indo " and another word for "Indo-*" (its last token is "")."""
    if phrase.tokens[-1] == "":
        return f" {' '.join(phrase.tokens[:-1])} ", True
    return f" {' '.join(phrase.tokens)}" + ("" if phrase.prefix else " "), False


def _occurs(needle: tuple[str, bool], spaced: str) -> bool:
    """Whether a phrase occurs in a field (its words one space apart, with one before and after):
    what _occurrence_regex finds, with no regex to compile (rules check tries 132 examples)."""
    text, followed = needle
    at = spaced.find(text)
    return at != -1 and (not followed or at + len(text) < len(spaced))


def _phrase_hits(phrase: Term, layout: str, number: int) -> list[Hit]:
    """The occurrences of a phrase in a layout: its first word by `str.find` between spaces,
    then each next word checked after the spaces that follow (what _occurrence_regex finds,
    with no regex to compile at the phrase's first occurrence)."""
    spans = []
    first, rest = f" {phrase.tokens[0]} ", phrase.tokens[1:]
    at = layout.find(first)
    while at != -1:
        end = _phrase_end(layout, at + len(first), rest, phrase.prefix)
        if end != -1:
            spans.append((number, at + 1, end))
        at = layout.find(first, at + 1)
    return spans


def _phrase_end(layout: str, at: int, rest: tuple[str, ...], prefix: bool) -> int:
    """Where the rest of a phrase ends if its words follow from `at` (after a word's space); -1 if not."""
    for number, token in enumerate(rest, 1):
        while layout.startswith(" ", at):  # the words are one space or more apart
            at += 1
        if number == len(rest) and prefix:  # the last word's start ("" for "Indo-*": any word)
            return layout.find(" ", at) if at < len(layout) and layout.startswith(token, at) else -1
        if not layout.startswith(token + " ", at):
            return -1
        at += len(token) + 1
    return at - 1


def _word_hits(key: str, layout: str, number: int) -> list[Hit]:
    """The occurrences of a one-word term's key ("word", or "head*" for a prefix) in a layout."""
    spans = []
    if key[-1] == "*":  # a word starting with the head; it ends at the next space
        needle = " " + key[:-1]
        at = layout.find(needle)
        while at != -1:
            end = layout.find(" ", at + len(needle))
            spans.append((number, at + 1, end))
            at = layout.find(needle, end)
        return spans
    needle, size = f" {key} ", len(key)
    at = layout.find(needle)
    while at != -1:
        spans.append((number, at + 1, at + 1 + size))
        at = layout.find(needle, at + 1 + size)
    return spans


class _PrefixMemo:
    """The prefix terms that each word seen so far starts with."""

    __slots__ = ("seen", "prefixing", "probed", "prefixes")

    def __init__(self, probed: frozenset[str]) -> None:
        self.seen: set[str] = set()  # words already examined
        self.prefixing: set[str] = set()  # those that start at least one prefix term
        self.probed: set[str] = set(probed)  # the words a field is probed for, those included
        self.prefixes: dict[str, tuple[str, ...]] = {}  # such a word → the keys of its prefix terms

    def learn(
        self, words: set[str], heads: Mapping[int, frozenset[str]], openings: tuple[int, frozenset[str]]
    ) -> None:
        shortest, starts = openings
        for word in words:
            if word[:shortest] not in starts:  # starts no prefix term (most words)
                continue
            keys = tuple(word[:n] + "*" for n, group in heads.items() if word[:n] in group)
            if keys:
                self.prefixes[word] = keys
                self.prefixing.add(word)
                self.probed.add(word)
        self.seen.update(words)  # last, so that a reader never finds a seen word unlearnt


def _occurrence_regex(term: Term) -> re.Pattern[str]:
    """The words of a term, separated by spaces in the layout; the last one open if a prefix:
    what a phrase's hits are, matched where a space is before (the tests' reference)."""
    words = " +".join(map(re.escape, term.tokens))
    if term.tokens[-1] == "":
        return re.compile(words + "[^ ]+")  # "Indo-*": some word must follow
    return re.compile(words + ("[^ ]*" if term.prefix else "(?= )"))
