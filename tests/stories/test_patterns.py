"""The stories' regexes written for speed (each starting with one character class) find what their
readable forms find: the same words, tokens and sentence gaps, on news text and on strings made of
the characters each pattern treats specially."""

from __future__ import annotations

import random
import re
import tomllib
from pathlib import Path

from pytest import MonkeyPatch

from monitor.stories import evidence, sentences, stems

EVAL = Path(__file__).resolve().parents[1] / "data" / "stories_eval"

# Letters (ASCII, accented, non-Latin, a title-case digraph), digits (ASCII and others), a
# superscript, underscore, apostrophes, the marks the patterns split on or join by, currency
# signs, spaces and line breaks: every class the patterns test, and their edges.
ALPHABET = list("aAsStThHnNdDrRé日Ǆ0123456789٣²_'’-.,%+!?…₹$¥€£ \t\n\u00a0\u2028")
WORDS = ["1st", "2nd", "3rd", "4th", "2026-03-06", "1,000", "$5.2", "U.S.", "Modi's", "o’neill", "G7"]


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        parts = [
            rng.choice(WORDS) if rng.random() < 0.2 else rng.choice(ALPHABET)
            for _ in range(rng.randint(0, 40))
        ]
        made.append("".join(parts))
    return made


def _news() -> list[str]:
    """The stories eval set's titles and summaries."""
    texts = []
    for path in sorted(EVAL.rglob("*.toml")):
        for pair in tomllib.loads(path.read_text(encoding="utf-8")).get("pair", []):
            texts += [pair.get(key, "") for key in ("a_title", "a_body", "b_title", "b_body")]
    return [t for t in texts if t]


def test_the_fast_patterns_find_what_their_readable_forms_find() -> None:
    texts = _news() + _texts(1, 20_000)
    assert len(texts) > 20_200  # the eval set was read
    pairs = [
        (re.compile(stems.WORD).findall, stems._WORD.findall),
        (re.compile(evidence.WORD_TOKENS).findall, evidence._WORD_TOKENS.findall),
        (re.compile(sentences.SENTENCE_GAP).split, sentences.sentences_of),
    ]
    for readable, fast in pairs:
        for text in texts:
            assert fast(text) == readable(text), text


def test_words_joined_by_marks_and_figures_are_read_whole() -> None:
    """A few cases spelt out: what the patterns are for."""
    assert stems._WORD.findall("F-35 jets, 1,000 troops; COVID-19 in the U.S.") == [
        "F-35",
        "jets",
        "1,000",
        "troops",
        "COVID-19",
        "in",
        "the",
        "U.S",
    ]
    assert evidence._WORD_TOKENS.findall("On 2026-03-06, the 9th round: ₹1,200.5 crore (12%), Modi’s") == [
        "On",
        "2026-03-06",
        "the",
        "9th",
        "round",
        "₹1,200.5",
        "crore",
        "12%",
        "Modi’s",
    ]
    assert sentences.sentences_of("One.  Two!\nThree\n\n four… five") == [
        "One.",
        "Two!",
        "Three",
        " four…",
        "five",
    ]


def test_folded_words_are_the_folds_of_the_tokens_that_are_not_stop_words(monkeypatch: MonkeyPatch) -> None:
    """folded_words (its tokens' folds looked up in its own cache, the rest folded and kept while
    there is room) gives _fold of every token but the stop words, as the cache fills, once full,
    and for tokens it never kept."""
    texts = _news() + _texts(2, 2_000)
    titles, summaries = texts[::2], texts[1::2]

    def expected(title: str, summary: str) -> list[str]:
        words = []
        for text in (title, summary):
            text = text.replace("U.S.", "US").replace("U.K.", "UK")
            words += [
                w
                for w in map(evidence._fold, re.findall(evidence.WORD_TOKENS, text))
                if w not in evidence._STOP
            ]
        return words

    for kept in (evidence.FOLDS_KEPT, 50):
        monkeypatch.setattr(evidence, "FOLDS_KEPT", kept)
        evidence._FOLDED.clear()
        for _ in range(2):  # the cache filling, then read
            for title, summary in zip(titles, summaries, strict=False):
                assert evidence.folded_words(title, summary) == expected(title, summary)
        assert len(evidence._FOLDED) == kept
    evidence._FOLDED.clear()
    assert evidence.folded_words("The U.K. and Japan's chiefs", "met. The") == [
        "uk",
        "japan",
        "chiefs",
        "met",
    ]


def test_terms_read_by_chunks_are_the_terms_of_the_words_found(monkeypatch: MonkeyPatch) -> None:
    """stems.terms (chunks between spaces, their edge marks off, looked up in a bounded cache, the
    regex only for a chunk not kept) gives what counting each word WORD finds gives: the same
    counts in the same order, as the cache fills, once full, and for chunks it never kept."""
    texts = _news() + _texts(3, 2_000)
    titles, summaries = texts[::2], texts[1::2]

    def expected(title: str, summary: str) -> dict[str, float]:
        counts: dict[str, float] = {}
        if len(summary) > stems.LEAD_CHARS:
            summary = summary[: summary.rfind(" ", 0, stems.LEAD_CHARS) + 1 or stems.LEAD_CHARS]
        for text, weight in ((title, stems.TITLE_WEIGHT), (summary, 1.0)):
            for raw in re.findall(stems.WORD, text):
                if (word := stems._word(raw)) is not None:
                    named = stems.NAME_WEIGHT if raw[0].isupper() else 1.0
                    counts[word] = counts.get(word, 0.0) + weight * named
        return counts

    for kept in (stems.WORDS_KEPT, 50):
        monkeypatch.setattr(stems, "WORDS_KEPT", kept)
        stems.forget()
        for _ in range(2):  # the cache filling, then read
            for title, summary in zip(titles, summaries, strict=False):
                made = stems.terms(title, summary)
                assert made == expected(title, summary) and list(made) == list(expected(title, summary))
        assert len(stems._WORDS) <= kept
    assert len(stems._WORDS) == 50  # the small bound reached: the chunks past it read, not kept
    stems.forget()
