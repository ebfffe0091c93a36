"""stories.screen: a candidate story's score read from its stored text is profile.place's score
(or more, where the MIN_SHARED rule would make it 0): a story it leaves out is never chosen."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from monitor.stories import profile, screen, words
from tests.stories.test_words import _document_counts, _feed

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _score(report: dict[str, float], story: profile.Profile, rarity: profile.Rarity, when: datetime) -> float:
    """profile.place's score of one story (cosine × closeness ÷ breadth)."""
    norm = math.sqrt(sum(x * x for x in report.values()))
    unweighed = [t for t in report if t not in rarity.df]
    cosine, _ = profile._similarity(report, story, rarity, norm, unweighed)
    return cosine * profile.closeness(story, when) / profile.breadth(story)


def test_a_storys_score_read_from_its_text_is_the_score_of_its_parsed_profile() -> None:
    rng = random.Random(4)
    feed = _feed(11, 120)
    df = _document_counts(feed[:60])
    made = [words.report(title, summary) for title, summary in feed[60:]]
    compared = raised = 0
    for i in range(len(made)):
        story = profile.Profile(i + 1)
        for other in rng.sample(made, rng.randint(1, 4)):  # stories of one to four reports
            story.add(other.counts, T0 + timedelta(hours=rng.uniform(0, 30)))
        text = story.to_text()
        parsed = profile.Profile.parse(i + 1, text)
        for report in rng.sample(made, 8):
            # some terms without a count (rarity's top weight), some with one; documents grow
            known = {t: n for t, n in df.items() if rng.random() < 0.8}
            rarity, weighted = words.weighed(words.scaled(report.counts), known, 60 + i)
            when = T0 + timedelta(hours=rng.uniform(0, 40))
            exact = _score(weighted, parsed, rarity, when)
            read = screen.reach(text, screen.Report(weighted, rarity, when))
            assert read >= exact * (1 - 1e-12)
            if exact:
                assert math.isclose(read, exact, rel_tol=1e-12)
                compared += 1
            else:
                raised += read > 0  # the MIN_SHARED rule's zeros: read as the cosine they hide
    assert compared > 50 and raised > 0


def test_a_text_it_does_not_read_is_never_left_out() -> None:
    """A profile kept as JSON (archives before TEXT_FORMAT) reads as reaching any threshold."""
    story = profile.Profile(1)
    story.add({"dam": 2.0, "kelmira": 1.0}, T0)
    rarity, weighted = words.weighed({"dam": 1.0}, {"dam": 3}, 10)
    assert screen.reach(story.to_json(), screen.Report(weighted, rarity, T0)) == math.inf
    assert screen.reach(story.to_text(), screen.Report(weighted, rarity, T0)) > 0


def test_a_term_rarity_counts_that_the_report_does_not_weigh_still_narrows_the_storys_norm() -> None:
    """reach looks a text's words up in the report's weighted terms; a term rarity counts but the
    weights lack (words.weighed makes none) still takes its part of the story's norm, as in
    profile._similarity: left out, the score read would fall below the parsed profile's."""
    story = profile.Profile(1)
    story.add({"dam": 2.0, "flood": 1.0, "rain": 3.0, "kelmira": 1.0}, T0)
    rarity = profile.Rarity({"dam": 3, "flood": 5, "rain": 1}, 40)
    weighted = {"dam": 2.5, "flood": 1.7, "kelmira": 4.0}  # "rain": counted by rarity, not weighed
    exact = _score(weighted, profile.Profile.parse(1, story.to_text()), rarity, T0)
    read = screen.reach(story.to_text(), screen.Report(weighted, rarity, T0))
    assert exact > 0 and math.isclose(read, exact, rel_tol=1e-12)


def test_a_story_left_unparsed_is_screened_again_when_found_again_and_parsed_only_within_reach() -> None:
    """lookup.ProfileCache.many: a story the screen left out is kept as its text; found again it
    is screened again (not parsed: most stories a cold pass finds stay far from its reports), and
    parsed when a report comes within reach. The cache keeps it where get() would have moved it."""
    from monitor.stories.lookup import ProfileCache

    near = profile.Profile(1)
    near.add({"dam": 2.0, "flood": 1.0, "kelmira": 1.0}, T0)
    other = profile.Profile(2)
    other.add({"tariff": 2.0, "wage": 1.0}, T0)
    texts = {1: near.to_text(), 2: other.to_text()}
    cache = ProfileCache()
    asked: list[tuple[int, bool]] = []

    def worth(reach: bool) -> Callable[[int, str], bool]:
        def ask(story: int, text: str) -> bool:
            asked.append((story, reach))
            return reach

        return ask

    left: dict[int, str] = {}
    assert cache.many(texts, None, worth(False), left) == {} and left == texts  # type: ignore[arg-type]
    assert list(cache._parsed) == [1, 2]
    left.clear()
    assert cache.many({1: texts[1]}, None, worth(False), left) == {} and left == {1: texts[1]}  # type: ignore[arg-type]
    assert list(cache._parsed) == [2, 1]  # moved last, as get() would have moved it
    found = cache.many({1: texts[1]}, None, worth(True))  # type: ignore[arg-type]
    assert found == {1: profile.Profile.parse(1, texts[1])}
    assert asked == [(1, False), (2, False), (1, False), (1, True)]
    assert cache.many({1: texts[1]}, None, worth(False)) == found  # type: ignore[arg-type]
    assert len(asked) == 4  # parsed now: compared, not screened
