"""alerts.text: fits and cut measure escaped UTF-16 units in runs (a regex finds the dear
characters), giving what measuring character by character gave."""

from __future__ import annotations

import html

from hypothesis import given
from hypothesis import strategies as st

from monitor.alerts.text import ELLIPSIS, cut, fits


def _units(text: str) -> int:
    """UTF-16 units of the escaped text, as Telegram could count them."""
    return len(html.escape(text, quote=True).encode("utf-16-le")) // 2


def _fits_by_char(text: str, budget: int, max_chars: int | None) -> bool:
    return (max_chars is None or len(text) <= max_chars) and _units(text) <= budget


def _cut_by_char(text: str, budget: int, max_chars: int | None, at_word: bool) -> str:
    """cut as it was written before (a character at a time)."""
    if _fits_by_char(text, budget, max_chars):
        return text
    room = budget - len(ELLIPSIS)
    limit = len(text) if max_chars is None else max_chars - len(ELLIPSIS)
    used = end = 0
    while end < min(len(text), limit) and used + _units(text[end]) <= room:
        used += _units(text[end])
        end += 1
    prefix = text[:end]
    space = prefix.rfind(" ")
    if at_word and space > len(prefix) // 2:
        prefix = prefix[:space]
    return prefix.rstrip() + ELLIPSIS


# text rich in what costs more than a unit: markup characters, quotes, astral emoji, accents
TEXT = st.text(alphabet=st.sampled_from(list("ab c&<>\"'é…") + ["\U0001f600", "\U00020000"]), max_size=80)


@given(TEXT, st.integers(-2, 120), st.none() | st.integers(-2, 90), st.booleans())
def test_cut_and_fits_give_what_measuring_each_character_gave(text, budget, max_chars, at_word):
    assert fits(text, budget, max_chars) == _fits_by_char(text, budget, max_chars)
    assert cut(text, budget, max_chars, at_word=at_word) == _cut_by_char(text, budget, max_chars, at_word)


def test_a_long_summary_is_cut_to_its_visible_characters_at_a_word():
    text = "Port strike ends & talks resume " * 40
    cut_text = cut(text, 900, 300, at_word=True)
    assert cut_text.endswith(ELLIPSIS) and len(cut_text) <= 300 and _units(cut_text) <= 900
    assert cut_text == _cut_by_char(text, 900, 300, True)
    assert len(text) <= 1300 < _units(text)  # the markup characters make it too long
    assert not fits(text, 1300, None) and fits(text, _units(text), None)
