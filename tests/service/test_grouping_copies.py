"""A copy joins its story whatever the other candidates score (profile.place), so its placement
reads only its copies' stories: the others are neither parsed nor made again from their article
(lookup.rebuild), and the decision is the one reading them all would make.

The texts are invented; the archive is reopened before the copy comes, as a restarted service
finds it: every story of one report is kept in its short form (lookup.alone), to be made again."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive.store import Archive
from monitor.ingest.schedule import Decision
from monitor.service import grouping
from monitor.service.grouping import COLD_START, Grouper
from monitor.stories import lookup, words
from monitor.stories.fingerprint import copy_signature
from monitor.stories.lookup import ProfileCache
from monitor.types import EntryData, FeedConfig, FetchedFeed, NewArticle, StorySettings

START = datetime(2026, 3, 1, tzinfo=UTC)
FEED = "https://feed.example/news"
FETCHED = FetchedFeed(url=FEED, final_url=FEED, status=200, body=b"", headers={})
NEXT = Decision(START, 900.0, "interval")
SETTINGS = StorySettings()

DAM = (
    "Zorvath dam breaks above Kelmira after days of rain",
    "The Zorvath dam above Kelmira broke after days of heavy rain, flooding the lower town and "
    "its mills, the regional governor Oskel Brand said; rescuers reached the mills by boat.",
)
# Another event, sharing two of the dam's rarest words (its index keys): a candidate, not joined
FESTIVAL = (
    "Kelmira choir wins Zorvath festival prize",
    "A choir of Kelmira won the first prize of the Zorvath festival with a programme of old "
    "songs, its conductor Ilse Marten said at the ceremony.",
)

RETOLD = (
    "Rain breaks the Zorvath dam: Kelmira's lower town flooded",
    "After days of rain the Zorvath dam gave way above Kelmira. Water flooded the lower town and "
    "its mills; governor Oskel Brand said rescuers used boats.",
)


def _filler(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """Unrelated reports, so that rarity weighs words (grouping.COLD_START)."""

    def word() -> str:
        return "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3))

    return [(" ".join(word() for _ in range(6)), " ".join(word() for _ in range(30))) for _ in range(n)]


def _place(archive: Archive, texts: list[tuple[str, str]], at: datetime, caches: ProfileCache) -> list[int]:
    """Each report placed, the batch archived: their archived stories' ids."""
    grouper = Grouper(archive, SETTINGS, lambda *args: [], parsed=caches)
    saved = []
    for i, (title, summary) in enumerate(texts):
        published = at + timedelta(minutes=i)
        link = f"https://news.example/{at.timestamp():.0f}/{i}"
        entry = EntryData(FEED, title, summary, link, None, published, "Wire")
        fp = copy_signature(title, summary, published)
        place = grouper.place(entry, "Wire", (), fp, (), words.report(title, summary))
        new = NewArticle(entry, link, (f"url:{link}",), published, (), place.story, place.fingerprint,
                         place.keys, place.joined)  # fmt: skip
        saved.append((new, []))
    archive.save_update(FEED, FETCHED, None, saved, START, NEXT)
    sql = "select story_id from articles where link = ?"
    return [archive.db.execute(sql, [new.entry.link]).fetchone()[0] for new, _ in saved]


@pytest.mark.parametrize("copy", [True, False])
def test_a_copy_reads_only_its_copies_stories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copy: bool
) -> None:
    path = tmp_path / "archive.db"
    archive = Archive.open(path)
    archive.sync_feeds([FeedConfig(FEED)], START)
    _place(archive, _filler(random.Random(1), COLD_START + 5), START, ProfileCache())
    (dam,) = _place(archive, [DAM], START + timedelta(hours=2), ProfileCache())
    (festival,) = _place(archive, [FESTIVAL], START + timedelta(hours=3), ProfileCache())
    assert dam != festival
    archive.close()

    made: list[int] = []
    rebuild = lookup.rebuild

    def counted(story: int, data: str, title: str, summary: str) -> tuple[lookup.Profile, str]:
        made.append(story)
        return rebuild(story, data, title, summary)

    monkeypatch.setattr(lookup, "rebuild", counted)
    archive = Archive.open(path)  # a restarted service: the stories of one report in short form
    # the dam's report word for word (a copy), or told again in other words (not a copy)
    title, summary = DAM if copy else RETOLD
    decided: list[grouping.profile.Decision] = []
    place = grouping.profile.place

    def kept(*args: object, **named: object) -> grouping.profile.Decision:
        decided.append(place(*args, **named))  # type: ignore[arg-type]
        return decided[-1]

    monkeypatch.setattr(grouping.profile, "place", kept)
    (story,) = _place(archive, [(title, summary)], START + timedelta(hours=5), ProfileCache())
    archive.close()
    if copy:
        assert story == dam
        assert decided[0].reason.startswith("copy")
        assert made == [dam]  # the festival, a candidate too, was not made again
    else:
        assert not decided[0].reason.startswith("copy")
        assert sorted(made) == sorted([dam, festival])  # every candidate read: the test can tell


FESTIVAL_AGAIN = (
    "Zorvath festival prize goes to Kelmira choir",
    "Kelmira's choir took the first prize at the Zorvath festival, singing old songs; conductor "
    "Ilse Marten thanked the jury at the ceremony.",
)


def test_a_story_out_of_reach_found_twice_in_one_batch_is_screened_again_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two reports of one feed update find the same far story through its keys: the first leaves
    it unparsed (stories.screen: it cannot reach min_similarity), and the second screens it again
    instead of parsing it (grouping._decide), as a report of a later update does (lookup.
    ProfileCache._held). Both reports are placed as when every candidate was read."""
    path = tmp_path / "archive.db"
    archive = Archive.open(path)
    archive.sync_feeds([FeedConfig(FEED)], START)
    _place(archive, _filler(random.Random(1), COLD_START + 5), START, ProfileCache())
    # a story of two reports: its profile is kept as text (one of one report is made again)
    festival, again = _place(archive, [FESTIVAL, FESTIVAL_AGAIN], START + timedelta(hours=2), ProfileCache())
    assert festival == again
    archive.close()

    parsed: list[int] = []
    screened: list[int] = []
    parsed_now, reach = ProfileCache.parsed_now, grouping.screen.reach

    def counted_parse(self: ProfileCache, story: int, text: str) -> lookup.Profile:
        parsed.append(story)
        return parsed_now(self, story, text)

    def counted_reach(text: str, report: grouping.screen.Report) -> float:
        screened.append(hash(text))
        return reach(text, report)

    monkeypatch.setattr(ProfileCache, "parsed_now", counted_parse)
    monkeypatch.setattr(grouping.screen, "reach", counted_reach)
    archive = Archive.open(path)  # a restarted service: nothing parsed yet
    dam, retold = _place(archive, [DAM, RETOLD], START + timedelta(hours=4), ProfileCache())
    archive.close()
    assert dam == retold != festival  # the dam's two reports one story; the festival's untouched
    assert len(screened) == 2  # the festival's story screened for each report
    assert parsed == []  # and never parsed (before: parsed for the second report)
