"""stories.words: a report's words made apart (in a parser worker), exactly as placing reads them."""

from __future__ import annotations

import random

from monitor.stories import profile, words


def _feed(seed: int, items: int) -> list[tuple[str, str]]:
    """Invented items of one feed: sentences of made-up words, some of them the feed's repeated
    tail (boilerplate), in some items only, with odd spacing and line breaks around them."""
    rng = random.Random(seed)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    vocabulary = ["".join(rng.choice(syllables) for _ in range(3)) for _ in range(200)]
    tails = ["Continue reading the full report.", "Read more: Related coverage of the region."]

    def sentence() -> str:
        chosen = [rng.choice(vocabulary) for _ in range(rng.randint(2, 14))]
        return " ".join(w.capitalize() if rng.random() < 0.2 else w for w in chosen) + rng.choice(".!?…")

    feed = []
    for _ in range(items):
        parts = [sentence() for _ in range(rng.randint(0, 12))]
        if rng.random() < 0.5:
            parts.insert(rng.randint(0, len(parts)), rng.choice(tails))
        gaps = [rng.choice([" ", "  ", "\n", " \n "]) for _ in parts]
        feed.append((sentence(), "".join(p + g for p, g in zip(parts, gaps, strict=True))))
    return feed


def test_a_feeds_reports_are_each_report_without_the_feeds_boilerplate() -> None:
    """words.reports (the sentences split once for the boilerplate and its removal) gives what
    profile.boilerplate of the summaries and words.report with it give, term order included."""
    for seed in range(12):
        feed = _feed(seed, random.Random(seed).randint(1, 40))
        boilerplate = profile.boilerplate([summary for _, summary in feed])
        expected = [words.report(title, summary, boilerplate) for title, summary in feed]
        made = words.reports(feed)
        assert made == expected
        assert [list(r.counts) for r in made] == [list(r.counts) for r in expected]
    feed = _feed(1, 30)
    assert profile.boilerplate([summary for _, summary in feed])  # the tails are found and dropped
    assert not any("continu" in r.counts for r in words.reports(feed))
    assert words.reports([]) == []
