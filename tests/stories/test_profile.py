"""stories.profile, the pure part of story grouping: words, rarity, keys, profiles, placement."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.stories import profile, words
from monitor.stories.fingerprint import copy_signature, fingerprint
from monitor.stories.profile import LEAD_CHARS, Profile, Rarity, StorySettingsView, terms, without

T0 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
SETTINGS = StorySettingsView(min_similarity=0.26, quiet_hours=18.0)


@pytest.mark.parametrize(
    ("title", "summary", "present", "absent"),
    [
        # numbers that are part of a name are one word, not a figure and a name
        ("COVID-19 cases rise", "", {"covid-19", "case", "rise"}, {"covid", "19"}),
        ("G7 leaders meet", "", {"g7", "leader", "meet"}, {"7"}),
        ("F-35 order cut", "", {"f-35", "order", "cut"}, {"f", "35"}),
        # stop words and one-digit numbers say nothing; a possessive is its name
        ("The mayor's plan is out", "", {"mayor", "plan"}, {"the", "is", "out", "mayor's"}),
        ("Vote on 3 bills", "", {"vote", "bill"}, {"3", "on"}),
        # plurals meet singulars; "ss" words keep their s
        ("Ports and a port", "Glass", {"port", "glass"}, {"ports", "glas"}),
        # a figure is one word, commas and all; weekdays say only what the time already says
        ("Firm to hire 1,000 engineers on Tuesday", "", {"1,000", "engin"}, {"000", "tuesday"}),
    ],
)
def test_terms(title: str, summary: str, present: set[str], absent: set[str]) -> None:
    words = profile.terms(title, summary)
    assert present <= words.keys()
    assert not absent & words.keys()


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Vaccination drive widens", "More vaccines for the city"),
        ("Election results are in", "Mayor elected again"),
        ("Police arrest two", "A debate on policing"),
    ],
)
def test_a_words_forms_meet(one: str, other: str) -> None:
    """Two outlets word one event differently: the stem of a word is what counts."""
    shared = profile.terms(one, "").keys() & profile.terms(other, "").keys()
    assert shared, (profile.terms(one, ""), profile.terms(other, ""))


@pytest.mark.parametrize(
    ("title", "summary", "word", "count"),
    [
        ("flood", "", "flood", profile.TITLE_WEIGHT),  # a title word counts twice
        ("", "flood", "flood", 1.0),
        ("", "Flood", "flood", profile.NAME_WEIGHT),  # capitalised: most often a name
        ("Kelmira", "Kelmira", "kelmira", profile.TITLE_WEIGHT * profile.NAME_WEIGHT + profile.NAME_WEIGHT),
    ],
)
def test_term_counts(title: str, summary: str, word: str, count: float) -> None:
    assert profile.terms(title, summary)[word] == pytest.approx(count)


def test_a_word_common_in_the_archive_weighs_less_than_a_rare_one() -> None:
    rarity = Rarity({"varnock": 900, "zorvath": 1}, 1000)
    assert rarity.weight("varnock") < 1.2 < rarity.weight("zorvath")
    assert rarity.weight("never-seen") > rarity.weight("zorvath")


def test_a_name_common_in_the_archive_stops_counting_as_evidence() -> None:
    """Two reports of different events sharing a name: while the name is rare they look like
    one story; once most of the archive names it, they do not."""
    one = profile.terms("Varnock council opens harbour festival", "The Varnock city council opened it.")
    other = profile.terms("Varnock council rejects bus fare rise", "The Varnock city council kept fares.")
    story = Profile(1)
    story.add(one, T0)
    usual = {"council": 600, "citi": 700}  # words of any city's news
    rare = Rarity({**usual, "varnock": 1}, 1000)
    common = Rarity({**usual, "varnock": 700}, 1000)
    assert profile.place(other, T0, [story], rare, SETTINGS).story == 1
    assert profile.place(other, T0, [story], common, SETTINGS).story is None


def test_one_shared_name_and_a_figure_are_not_one_event() -> None:
    """However rare, a name and a figure are all two reports of a company's two announcements
    share: fewer than MIN_SHARED words shared is no closeness; a third shared word makes one."""
    hire = profile.terms(
        "Zorvath to hire 1,000 engineers",
        "Zorvath will add 1,000 engineers at its Kelmira centre by 2028, writing rail signalling software.",
    )
    order = profile.terms(
        "Zorvath wins power line order",
        "Zorvath will supply converter stations for a 1,000 MW link to Varnock, a utility said.",
    )
    assert min(len(hire), len(order)) >= profile.HEADLINE_TERMS  # reports with a lead
    story = Profile(1)
    story.add(hire, T0)
    rarity = Rarity({}, 1000)  # every word as rare as can be
    assert profile.similarity(order, story, rarity) == (0.0, ["zorvath", "1,000"])
    assert profile.place(order, T0, [story], rarity, SETTINGS).story is None
    hiring = profile.terms(
        "Zorvath: 1,000 jobs coming to Kelmira",
        "Zorvath plans 1,000 posts at a Kelmira campus, the company told reporters on a video call.",
    )
    assert len(hiring) >= profile.HEADLINE_TERMS and len(hiring.keys() & hire.keys()) == 3
    assert profile.similarity(hiring, story, rarity)[0] > 0.0


def test_headlines_alone_may_share_one_word() -> None:
    """A feed without summaries gives a report a handful of words: two headlines of one event
    sharing a rare name join, as they did before MIN_SHARED."""
    first = profile.terms("Zorvath dam breaks above Kelmira", "")
    second = profile.terms("Thousands flee as Zorvath floods", "")
    assert len(first) < profile.HEADLINE_TERMS and len(second) < profile.HEADLINE_TERMS
    story = Profile(1)
    story.add(first, T0)
    assert profile.place(second, T0, [story], Rarity({}, 1000), SETTINGS).story == 1


def test_keys_are_the_rarest_terms_and_at_most_eight() -> None:
    words = profile.terms(
        "Zorvath dam breaks above Kelmira",
        "The dam broke after rain; the regional governor and the mayor spoke of water in the town.",
    )
    rarity = Rarity({"dam": 50, "rain": 400, "water": 500, "town": 600, "governor": 300}, 1000)
    keys = profile.keys(words, rarity)
    assert len(keys) == profile.MAX_KEYS
    assert keys[:2] == ("wkelmira", "wzorvath")  # rarest and in the title
    assert "wtown" not in keys


@pytest.mark.parametrize(
    ("summaries", "boilerplate"),
    [
        (["A. Read more on our site today.", "B. Read more on our site today.", "C."], set()),  # twice
        (
            [f"Item {i} happened. Read more on our site today." for i in range(3)],
            {"Read more on our site today."},
        ),
        (["Same words here, once each."] * 1, set()),
    ],
)
def test_boilerplate_is_what_one_feed_repeats(summaries: list[str], boilerplate: set[str]) -> None:
    assert profile.boilerplate(summaries) == boilerplate


def test_without_boilerplate() -> None:
    found = frozenset({"Read more on our site today."})
    assert profile.without("Dam breaks. Read more on our site today.", found) == "Dam breaks."


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Dam breaks above town", "latin"),
        ("Überschwemmung in Köln", "latin"),
        ("東京で地震", "cjk"),
        ("", "latin"),
    ],
)
def test_language(text: str, language: str) -> None:
    assert profile.language(text) == language


def _story(story: int, *reports: tuple[str, str, float]) -> Profile:
    found = Profile(story)
    for title, summary, hours in reports:
        found.add(profile.terms(title, summary), T0 + timedelta(hours=hours))
    return found


DAM = ("Zorvath dam breaks above Kelmira", "The Zorvath dam broke above Kelmira after heavy rain.")
RARE = Rarity({}, 1000)


@pytest.mark.parametrize(
    ("hours", "joins"),
    [(1, True), (17, True), (-17, True), (19, False), (48, False)],
)
def test_a_story_stops_taking_reports_after_its_quiet_hours(hours: float, joins: bool) -> None:
    story = _story(7, (*DAM, 0))
    decision = profile.place(profile.terms(*DAM), T0 + timedelta(hours=hours), [story], RARE, SETTINGS)
    assert (decision.story == 7) is joins


def test_the_closest_story_wins_and_the_reason_names_shared_terms() -> None:
    dam = _story(1, (*DAM, 0))
    pact = _story(2, ("Oslavia signs Quintar trade pact", "Ministers signed the Quintar pact.", 0))
    report = profile.terms(
        "Kelmira flooded as Zorvath dam fails", "Water from the Zorvath dam reached Kelmira."
    )
    decision = profile.place(report, T0, [pact, dam], RARE, SETTINGS)
    assert decision.story == 1 and 0.26 <= decision.score <= 1.0
    assert "zorvath" in decision.reason and "kelmira" in decision.reason


def test_a_copy_joins_whatever_its_words() -> None:
    dam = _story(1, (*DAM, 0))
    decision = profile.place({"unrelated": 1.0}, T0, [dam], RARE, SETTINGS, copies={1: 0.8})
    assert decision.story == 1 and decision.reason == "copy 0.80"
    late = profile.place({"unrelated": 1.0}, T0 + timedelta(days=3), [dam], RARE, SETTINGS, copies={1: 0.8})
    assert late.story is None  # a closed story takes no copy either


def test_a_bridging_report_lends_its_second_event_little() -> None:
    """A story of two dam reports and one that also speaks of the pact: a pact report is
    closer to it than to nothing, but not close enough."""
    story = _story(
        1,
        (*DAM, 0),
        ("Kelmira flooded as Zorvath dam fails", "Residents of Kelmira fled the Zorvath dam flood.", 1),
        (
            "Zorvath dam disaster overshadows Quintar pact talks in Oslavia",
            "The Zorvath dam failure in Kelmira overshadowed Quintar trade pact talks in Oslavia.",
            2,
        ),
    )
    pact = profile.terms(
        "Oslavia signs Quintar trade pact", "Ministers in Oslavia signed the Quintar trade pact."
    )
    assert profile.place(pact, T0 + timedelta(hours=3), [story], RARE, SETTINGS).story is None
    alone = _story(
        2, story_bridge := ("Quintar pact talks in Oslavia", "Quintar trade pact talks in Oslavia.", 2)
    )
    assert story_bridge and profile.place(pact, T0 + timedelta(hours=3), [alone], RARE, SETTINGS).story == 2


def test_a_profile_counts_reports_only_for_terms_of_more_than_one() -> None:
    """`reported` holds a term only when more than one report has it (issue 18: most terms of
    most stories are one report's); agreement, the text and the JSON read it as before."""
    one = _story(5, (*DAM, 0))
    assert one.reported == {} and one.agreement("dam") == 1.0
    two = _story(6, (*DAM, 0), ("Kelmira dam", "Zorvath.", 2))
    assert two.reported == {"kelmira": 2, "dam": 2, "zorvath": 2}
    assert two.agreement("dam") == 1.0 and two.agreement("rain") == profile.ALONE
    for again in (Profile.parse(6, two.to_text()), Profile.from_json(6, two.to_json())):
        assert again.reported == two.reported  # the counts as written: rounded to 3 decimals
        assert again.squares() == pytest.approx(two.squares(), rel=1e-3)


def test_a_profile_survives_json() -> None:
    story = _story(3, (*DAM, 0), ("Kelmira dam", "Zorvath.", 2))
    again = Profile.from_json(3, story.to_json())
    assert again.first == story.first and again.last == story.last and again.reports == 2
    assert again.counts == pytest.approx(story.counts, abs=1e-3)
    assert again.reported == story.reported


def test_a_storys_closeness_fades_with_its_age() -> None:
    """A report a day after a story began says the same words less often of the same event."""
    story = _story(4, (*DAM, 0))
    assert profile.closeness(story, T0) == 1.0
    later = profile.closeness(story, T0 + timedelta(hours=profile.AGE_HOURS))
    assert later == pytest.approx(math.exp(-1))
    before, after = T0 - timedelta(hours=6), T0 + timedelta(hours=6)
    assert profile.closeness(story, before) == profile.closeness(story, after)
    words = profile.terms(*DAM)
    soon = profile.place(words, T0 + timedelta(hours=1), [story], RARE, SETTINGS)
    late = profile.place(words, T0 + timedelta(hours=17), [story], RARE, SETTINGS)
    assert soon.story == late.story == 4 and late.score < soon.score


def test_a_broad_story_needs_a_closer_report() -> None:
    """Every report adds words to a story's profile, so any report finds more of its own there:
    a story of several reports asks more closeness of a new one than a story of one."""
    one = _story(1, (*DAM, 0))
    many = _story(2, *[(*DAM, h) for h in (0, 0, 0, 0)])
    words = profile.terms(*DAM)
    assert profile.similarity(words, one, RARE)[0] == pytest.approx(profile.similarity(words, many, RARE)[0])
    assert profile.breadth(one) == 1.0
    assert profile.breadth(many) == pytest.approx(1.0 + profile.SIZE * math.log(4))
    assert profile.place(words, T0, [many], RARE, SETTINGS).score == pytest.approx(
        profile.place(words, T0, [one], RARE, SETTINGS).score / profile.breadth(many)
    )
    # the closer of two stories wins, whatever their sizes
    assert profile.place(words, T0, [many, one], RARE, SETTINGS).story == 1


def test_rarity_counts_are_kept_apart_from_counts_of_other_words() -> None:
    """An archive counted before stems: its counts of unstemmed words are under another key, so
    a stem it never counted is not taken for a rare name (which would join unrelated reports)."""
    assert profile.rarity_key("Dam breaks above town") == "latin/stems"
    assert profile.rarity_key("東京で地震") == "cjk/stems"
    assert profile.rarity_key("Dam breaks") != profile.language("Dam breaks")


def _random_reports(seed: int, count: int) -> list[tuple[str, str]]:
    """Invented reports: made-up words, capitalised names, figures, hyphenated names, repeats."""
    rng = random.Random(seed)
    vocabulary = [
        "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(300)
    ]
    extra = ["COVID-19", "G7", "1,000", "2026", "the", "of", "Tuesday", "mayor's", "ports", "port"]

    def text(words: int) -> str:
        chosen = [rng.choice(vocabulary + extra) for _ in range(words)]
        return " ".join(w.capitalize() if rng.random() < 0.2 else w for w in chosen)

    return [
        (text(rng.randint(3, 12)), f"{text(rng.randint(0, 60))}. {text(rng.randint(0, 60))}.")
        for _ in range(count)
    ]


def test_a_report_made_apart_weighs_keys_and_adds_as_its_terms_do() -> None:
    """words.report (made in a parser worker) with weigh and strongest, and Profile.add_scaled,
    give exactly what terms() with vector, keys and Profile.add give."""
    reports = _random_reports(5, 200)
    df: dict[str, int] = {}
    for title, summary in reports[:100]:
        for term in profile.terms(title, summary):
            df[term] = df.get(term, 0) + 1
    rarity = Rarity(df, 100)
    one, other = Profile(1), Profile(2)
    for n, (title, summary) in enumerate(reports[100:]):
        counts = profile.terms(title, summary)
        made = words.report(title, summary)
        assert made.language == profile.rarity_key(f"{title} {summary}")
        assert made.counts == counts and list(made.counts) == list(counts)
        weighted = words.weigh(made.counts, rarity)
        assert weighted == profile.vector(counts, rarity)
        assert words.strongest(weighted) == profile.keys(counts, rarity)
        one.add(counts, T0 + timedelta(minutes=n))
        other.add_scaled(
            {t: 1.0 + math.log(c) if c >= 1 else c for t, c in counts.items()}, T0 + timedelta(minutes=n)
        )
        assert (one.counts, one.reported, one.reports) == (other.counts, other.reported, other.reports)
        assert list(one.counts) == list(other.counts)
        text, rounded = one.written()
        parsed = Profile.parse(1, text)
        assert text == one.to_text() and rounded == parsed.counts and rounded.keys() == one.counts.keys()


def test_the_language_key_is_the_scripts_of_its_first_400_characters() -> None:
    """language() finds a letter outside latin and General Punctuation by regex: the same key as
    taking the max of the first 400 characters with that punctuation removed, on random text."""
    rng = random.Random(3)
    alphabet = "abc AZ09’—…\u00e9\u0250\u024f\u2070\u1e00\u4e00\u3042\uac00\u0410\u05d0\u0627 .,\n"
    punctuation = dict.fromkeys(range(0x2000, 0x2070))
    for _ in range(3000):
        text = "".join(
            rng.choice(alphabet[: rng.randint(1, len(alphabet))]) for _ in range(rng.randint(0, 500))
        )
        latin = text.isascii() or max(text[:400].translate(punctuation), default="") < "\u0250"
        assert (text.isascii() or not profile._NOT_LATIN(text, 0, 400)) == latin
        assert profile.language(text) == profile.language(text[:400])
        if latin:
            assert profile.language(text) == "latin"


def test_a_copy_signature_is_the_whole_fingerprints_signature() -> None:
    """copy_signature reads the folded words without making the tokens (evidence.folded_words):
    the same signature as the whole fingerprint's, on invented text with every kind of token."""
    tricky = (
        'U.S. and U.K. talks: "Ministers" (AP) — 1,000 troops; 2026-01-02, the 3rd round',
        "She said it. He's here! U.S.-led - and U.K.’s 45% of $3.5bn... \n A new line? Yes: 7th",
    )
    for title, summary in [*_random_reports(9, 150), tricky, ("", ""), ("a", "the of")]:
        assert copy_signature(title, summary, T0).signature == fingerprint(title, summary, T0).signature


def test_a_summary_without_its_boilerplate_is_made_again_from_the_sentences_dropped() -> None:
    """words.dropping says which sentences profile.without took out; words.kept makes the same
    text again from them (a story of one report's profile is rebuilt so: stories.lookup.rebuild),
    and its first LEAD_CHARS + 1 characters give the same terms as all of it."""
    rng = random.Random(1)
    sentences = [
        "The ministry did not respond to a request for comment.",
        "Shares rose 3.5% on Monday!",
        "Why now?",
        "A long sentence " + "word " * 30 + "ends here.",
        "Line\nbreak here.",
        "Continue reading…",
    ]
    for _ in range(2000):
        parts = [rng.choice(sentences) for _ in range(rng.randint(0, 40))]
        gaps = [rng.choice([" ", "  ", "\n", " \n ", "\n\n"]) for _ in parts]
        summary = "".join(p + g for p, g in zip(parts, gaps, strict=True))[: rng.randint(0, 3000)]
        boilerplate = frozenset(rng.sample(sentences, rng.randint(0, 3)))
        text, dropped = words.dropping(summary, boilerplate)
        assert text == without(summary, boilerplate)
        assert words.kept(summary, dropped) == text
        lead = words.kept(summary, dropped, LEAD_CHARS + 1)
        assert text.startswith(lead) and (lead == text or len(lead) > LEAD_CHARS)
        assert terms("Title", lead) == terms("Title", text)
        assert words.report("Title", summary, boilerplate).counts == terms("Title", text)
