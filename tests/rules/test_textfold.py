"""monitor.rules.textfold: the fast folding paths give exactly the reference tokens and spans."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from monitor.rules.textfold import LEAD_WORDS, FoldedField, _word_limit, fold_tokens, tokenize

PIECES = [
    "a", "B", "s", "S", "x", "2", "Japan", "Nestlé", "ΟΔΟΣ", "日本",  # words
    " ", "  ", "\n", "\u00a0", "-", "–", "—", "“", "”", "…", "™", "?", "_",  # separators
    "'", "’", "ʼ", "'s", "'S", " 's", "ʼs",  # apostrophes and possessives
    "é", "e\u0301", "\u0301", "ﬁ", "½", "İ", "ß", "Ⅳ", "ǅ", "Å", "\u212a", "①", "²",  # folding
    "\U0001d400", "\U000101fd",  # astral: a letter, a mark
]  # fmt: skip


def words(field: FoldedField) -> list[tuple[int, int]]:
    return [found.span() for found in re.finditer(r"[^ ]+", field.layout)]


def test_folded_field_agrees_with_the_reference_tokenizer() -> None:
    generator = random.Random(5)
    for _ in range(20_000):
        text = "".join(generator.choice(PIECES) for _ in range(generator.randint(0, 12)))
        reference = tokenize(text)
        field = FoldedField(text)
        spans = words(field)
        assert [field.layout[a:b] for a, b in spans] == [token.text for token in reference], text
        # a layout's words hold no white space: termindex reads them with split()
        assert field.layout.split() == [field.layout[a:b] for a, b in spans], text
        assert [field.original(a, b) for a, b in spans] == [text[t.start : t.end] for t in reference], text
        if len(spans) > 1:
            whole = field.original(spans[0][0], spans[-1][1])
            assert whole == text[reference[0].start : reference[-1].end], text
            assert field.words_between(spans[0][1], spans[-1][0]) == len(spans) - 2, text


FOLDED = [
    ("case", "JAPAN Japan japan", ["japan", "japan", "japan"]),
    ("diacritics", "Japón Ōita Nestlé", ["japon", "oita", "nestle"]),
    ("decomposed", "Japo\u0301n", ["japon"]),
    ("possessive-straight", "Japan's", ["japan"]),
    ("possessive-curly", "Japan’s", ["japan"]),
    ("possessive-modifier-letter", "Japanʼs", ["japan"]),
    ("possessive-upper", "JAPAN'S", ["japan"]),
    ("apostrophe-inside", "rock'n'roll", ["rock", "n", "roll"]),
    ("dashes", "India-Japan India–Japan India—Japan", ["india", "japan"] * 3),
    ("quotes", "“free and open”", ["free", "and", "open"]),
    ("underscore", "snake_case", ["snake", "case"]),
    ("compatibility", "ﬁ½ 𝐀", ["fi1", "2", "a"]),
    ("non-latin", "日本 Ελλάδα", ["日", "本", "ελλαδα"]),
    (
        "cjk-runs",
        "親インドか親中国か ﾃﾞｰﾀ",
        ["親", "イ", "ン", "ド", "か", "親", "中", "国", "か", "テ", "゙", "ー", "タ"],
    ),
    ("numbers", "G20 5G 2+2", ["g20", "5g", "2", "2"]),
]


@pytest.mark.parametrize(("text", "expected"), [row[1:] for row in FOLDED], ids=[row[0] for row in FOLDED])
def test_fold_tokens(text: str, expected: list[str]) -> None:
    assert fold_tokens(text) == expected
    assert [token.text for token in tokenize(text)] == expected


def test_original_keeps_the_article_spelling() -> None:
    field = FoldedField("New Delhi’s “rare-earth” deal, JAPAN's too")
    spans = words(field)
    assert [field.original(a, b) for a, b in spans] == [
        "New",
        "Delhi’s",
        "rare",
        "earth",
        "deal",
        "JAPAN's",
        "too",
    ]
    assert field.original(spans[2][0], spans[3][1]) == "rare-earth"


def test_the_stored_unicode_classes_are_the_ones_textfold_builds():
    """unicodeclasses.py saves each start 20 ms; it must say what _classes() says. When this
    fails after a Python upgrade, write it again (from the checkout):
    python -c "from monitor.rules import textfold as t; print(t.unicode_classes_source(), end='')" \\
        > monitor/rules/unicodeclasses.py
    """
    import unicodedata

    from monitor.rules import textfold, unicodeclasses

    assert (textfold._MARKS, textfold._WORDISH) == textfold._classes()
    if unicodeclasses.UNIDATA_VERSION == unicodedata.unidata_version:
        assert Path(unicodeclasses.__file__).read_text(encoding="utf-8") == textfold.unicode_classes_source()


ASCII_CASES = ["Japan's", "JAPAN'S pact", "it's_x", "a_b", "Indo-Pacific", "rock'n'roll", "''s", "x'S2"]


def test_ascii_text_is_scanned_as_the_unicode_path_scans_it() -> None:
    """_scan's ASCII shortcut (no _WORD or CJK pattern to compile) gives the same tokens and spans."""
    from monitor.rules.textfold import _scan, _scan_words

    rng = random.Random(16)
    texts = ASCII_CASES + ["".join(rng.choices("aZs09_' -.S\t'", k=rng.randint(0, 24))) for _ in range(3000)]
    for text in texts:
        assert list(_scan(text)) == list(_scan_words(text)), text


def test_the_lead_limit_counts_whole_words_as_the_reference_regex_does() -> None:
    # the regex _word_limit used first: \b on both sides, so backtracking never splits a word
    reference = re.compile(rf"(?:\W*\b\w+\b){{{LEAD_WORDS}}}")
    rng = random.Random(50)
    pieces = ["a", "bc", " ", "  ", "-", "é", "_", "1", "\u0301", "日", "’", ".", "\n"]
    texts = ["word " * n for n in (0, 49, 50, 51)] + ["x" * 200, "ab" * 40 + " z"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 300))) for _ in range(3000)]
    for text in texts:
        found = reference.match(text)
        assert _word_limit(text) == (found.end() if found else len(text)), text
