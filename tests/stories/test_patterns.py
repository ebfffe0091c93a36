"""The stories' regexes written for speed (each starting with one character class) find what their
readable forms find: the same words, tokens and sentence gaps, on news text and on strings made of
the characters each pattern treats specially."""

from __future__ import annotations

import random
import re
import tomllib
from pathlib import Path

from monitor.stories import evidence, profile, sentences

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
        (re.compile(profile.WORD).findall, profile._WORD.findall),
        (re.compile(evidence.WORD_TOKENS).findall, evidence._WORD_TOKENS.findall),
        (re.compile(sentences.SENTENCE_GAP).split, sentences._SENTENCE.split),
    ]
    for readable, fast in pairs:
        for text in texts:
            assert fast(text) == readable(text), text


def test_words_joined_by_marks_and_figures_are_read_whole() -> None:
    """A few cases spelt out: what the patterns are for."""
    assert profile._WORD.findall("F-35 jets, 1,000 troops; COVID-19 in the U.S.") == [
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
    assert sentences._SENTENCE.split("One.  Two!\nThree\n\n four… five") == [
        "One.",
        "Two!",
        "Three",
        " four…",
        "five",
    ]
