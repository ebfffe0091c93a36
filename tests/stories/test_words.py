"""stories.words: a report's words made apart (in a parser worker), exactly as placing reads them."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from monitor.stories import lookup, profile, words

T0 = datetime(2026, 3, 1, tzinfo=UTC)


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


def _document_counts(items: list[tuple[str, str]]) -> dict[str, int]:
    """In how many of `items` each term is, as an archive of them would count it."""
    df: dict[str, int] = {}
    for title, summary in items:
        for term in profile.terms(title, summary):
            df[term] = df.get(term, 0) + 1
    return df


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


def test_weights_made_once_are_the_weights_made_apart() -> None:
    """words.weighed (each rarity weight computed once, the counts scaled once) gives the Rarity,
    its weights and the weighted terms that Rarity, weigh and Profile.add give, to the last bit."""
    rng = random.Random(8)
    feed = _feed(3, 60)
    df = _document_counts(feed[:30])
    for title, summary in feed[30:]:
        counts = profile.terms(title, summary)
        asked = {t: df.get(t, 0) for t in counts if rng.random() < 0.9}  # absent terms too, and zeros
        scaled = words.scaled(counts)
        rarity, weighted = words.weighed(scaled, asked, 30)
        plain = profile.Rarity(asked, 30)
        assert (rarity.df, rarity.documents) == (plain.df, plain.documents)
        assert rarity.weights == plain.weights and list(rarity.weights) == list(plain.weights)
        expected = words.weigh(counts, plain)
        assert weighted == expected and list(weighted) == list(expected)
        one, other = profile.Profile(1), profile.Profile(1)
        one.add(counts, T0)
        other.add_scaled(scaled, T0)
        assert one.counts == other.counts and list(one.counts) == list(other.counts)


def test_the_strongest_terms_are_the_first_of_all_sorted_ties_by_term() -> None:
    """words.strongest sorts only the terms weighing at least the limit-th weight: the same keys
    as sorting all of them, many ties at the cut included."""
    rng = random.Random(4)
    for _ in range(500):
        weighted = {
            f"t{rng.randrange(500)}": rng.choice([1.5, 2.0, 3.25, rng.uniform(0.1, 9)])
            for _ in range(rng.randint(0, 40))
        }
        for limit in (0, 1, 8, 50):
            everything = sorted(weighted, key=lambda t: (-weighted[t], t))[:limit]
            assert words.strongest(weighted, limit) == tuple(f"w{t}" for t in everything)


def test_a_reports_scaled_counts_and_lone_text_are_what_the_writer_would_make() -> None:
    """Report.scaled and Report.lone (made beside the words, in a parser worker) are the counts
    log-scaled and the text of a new story of that report alone (Profile.to_text, its first line
    made with the time: words.lone_text), byte for byte, headlines, long and empty texts too."""
    feed = [*_feed(5, 40), ("Headline only", ""), ("", ""), (" ".join(f"w{i}x" for i in range(400)), "")]
    for made in [*words.reports(feed), *(words.report(title, summary) for title, summary in feed)]:
        assert made.scaled == words.scaled(made.counts)
        assert list(made.scaled) == list(made.counts)
        story = profile.Profile(-1)
        story.add(made.counts, T0)
        assert words.lone_text(made, T0) == story.to_text()
    assert words.lone_text(words.Report("latin/stems", {"a": 1.0}), T0) is None  # made without them


def test_a_new_storys_profile_read_back_is_the_profile_its_text_parses_to() -> None:
    """lookup.ProfileCache.stored of a new story whose text the worker made (Report.lone): the
    same stored form and text as when made in place, and read back (get) the same profile, term
    order and squares included, without making the text again; its counts are its text's."""
    for i, (title, summary) in enumerate(_feed(9, 30)):
        made = words.report(title, summary)
        story = profile.Profile(-1)
        story.add_scaled(made.scaled or {}, T0)
        bare = words.Report(made.language, made.counts, made.dropped)  # without scaled and lone
        before, after = lookup.ProfileCache(), lookup.ProfileCache()
        stored, text = before.stored(story, bare)
        assert after.stored(story, made) == (stored, text)
        old, new = before.get(i + 1, text), after.get(i + 1, text)
        assert (new.counts, list(new.counts), new.reported) == (old.counts, list(old.counts), old.reported)
        assert (new.story, new.first, new.last, new.reports, new.squares()) == (
            old.story,
            T0,
            T0,
            1,
            old.squares(),
        )
        assert new.counts == profile.Profile.parse(i + 1, text).counts
