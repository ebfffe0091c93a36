"""stories.profile's cheaper paths (issue 17's cost) give the answers of the plain ones."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from monitor.stories import profile


def _language_letter_by_letter(text: str) -> str:
    """profile.language as it was written first: every letter of the first 400 characters."""
    letters = [c for c in text[:400] if c.isalpha()]
    if not letters or sum(1 for c in letters if c < "\u0250") * 2 >= len(letters):
        return "latin"
    first = next(c for c in letters if c >= "\u0250")
    cjk = "\u2e80" <= first <= "\u9fff" or "\uac00" <= first <= "\ud7af"
    return "cjk" if cjk else f"u{ord(first) >> 8:x}"


def test_language_skips_punctuation_but_not_letters() -> None:
    rng = random.Random(5)
    pool = "abcé’—…“” 漢字かなабвгдαβ١٢ñØ\u2070\u00bd"
    texts = ["", "’—…", "Zorvath’s dam — opened…", "Плотина открыта", "ダムが開いた", "a" * 500 + "ダム"]
    texts += ["".join(rng.choice(pool) for _ in range(rng.randint(0, 40))) for _ in range(5000)]
    for text in texts:
        assert profile.language(text) == _language_letter_by_letter(text), text


def test_a_story_of_one_report_has_the_squares_every_term_gives() -> None:
    rng = random.Random(6)
    for reports in (1, 2, 3):
        for _ in range(200):
            story = profile.Profile(1)
            for _ in range(reports):
                words = {f"w{rng.randrange(60)}": rng.uniform(0.5, 4.0) for _ in range(rng.randint(1, 50))}
                story.add(words, datetime(2026, 3, 1, tzinfo=UTC))
            expected = sum((c * story.agreement(t)) ** 2 for t, c in story.counts.items())
            assert story.squares() == expected  # to the last bit
