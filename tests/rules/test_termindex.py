"""termindex: phrases found without regexes, exactly where their occurrence regex finds them."""

from __future__ import annotations

import random

from monitor.rules.query import Term
from monitor.rules.termindex import TermIndex, _occurrence_regex, _phrase_hits
from monitor.rules.textfold import FoldedField

WORDS = ["rare", "earth", "earths", "indo", "pacific", "ra", "e"]


def reference_hits(term: Term, layout: str) -> list[tuple[int, int, int]]:
    """What TermIndex.hits did with the regex: each match that starts after a space, overlapping too."""
    pattern, spans = _occurrence_regex(term), []
    found = pattern.search(layout)
    while found is not None:
        if layout[found.start() - 1] == " ":
            spans.append((1, found.start(), found.end()))
        found = pattern.search(layout, found.start() + 1)
    return spans


def phrases() -> list[Term]:
    found = []
    for first in WORDS:
        for second in [*WORDS, ""]:
            for prefix in (False, True) if second else (True,):  # "" only ends "Indo-*"
                found.append(Term("t", (first, second), prefix, 0))
                found.append(Term("t", (first, "rare", second), prefix, 0))
    return found


def test_phrase_hits_are_the_regex_hits() -> None:
    rng = random.Random(16)
    layouts = [" " + "".join(w + " " * rng.randint(1, 3) for w in rng.choices(WORDS, k=n)) for n in range(12)]
    layouts += [" " + " ".join(rng.choices(WORDS, k=rng.randint(0, 30))) + " " for _ in range(300)]
    terms = phrases()
    for layout in layouts:
        for term in terms:
            assert _phrase_hits(term, layout, 1) == reference_hits(term, layout), (term.tokens, layout)


def test_phrases_in_real_fields() -> None:
    rare, indo = Term('"rare earth*"', ("rare", "earth"), True, 0), Term("Indo-*", ("indo", ""), True, 0)
    index = TermIndex([rare, indo])
    field = FoldedField("Rare  earths, rare-earth magnets: Indo-Pacific and Indo- (Indo)")
    found = {key: index.hits(key, field, 1) for key in ("rare earth*", "indo *")}
    assert found == {
        "rare earth*": reference_hits(rare, field.layout),
        "indo *": reference_hits(indo, field.layout),
    }
    words = [field.original(start, end) for _, start, end in found["rare earth*"] + found["indo *"]]
    assert words == ["Rare  earths", "rare-earth", "Indo-Pacific", "Indo- (Indo"]


def test_prefix_terms_of_several_lengths() -> None:
    """Every prefix term a word starts is found, whatever its head's length; words that start the
    shortest heads' openings only, or are shorter than a head, start none (the memo's filter)."""
    heads = ["semi", "semicon", "japan", "quadril", "q"]
    index = TermIndex(Term(h + "*", (h,), True, 0) for h in heads)
    words = ["sem", "semi", "semiconductors", "semico", "japa", "japanese", "quad", "quadrilateral", "x"]
    rng = random.Random(7)
    for _ in range(50):  # words in any order, each layout learning some and meeting learnt ones
        chosen = rng.sample(words, rng.randint(1, len(words)))
        expected = {h + "*" for h in heads for w in chosen if w.startswith(h)}
        assert index.present(FoldedField(" ".join(chosen))) == expected
