"""Grouping from memory places every report exactly as grouping from SQL does.

Two real archives take the same generated reports, feed update by feed update, through
grouping.Grouper and Archive.save_update: one answers grouping's look-ups from its
StoryMemory (archive/storymemory.py, as monitor does), the other from SQL statements only
(archive.stories.StoryIndex, as before the memory), with each report's words made as a parser
worker makes them (the memory's grouper makes its own). Every placement (story, score, reason,
index keys, the story's new profile, the terms counted) must be the same. The memory's limits
are set small here, so that its horizon moves, its caches fill and empty, and old reports
(a feed's back catalogue) fall back to SQL; a split by hand, a write by another connection
and a rolled-back save happen on the way. (A new story's profile is the one look-up answered
in other words: the memory holds its text, SQL its shorter form, stories.lookup.alone; both
must give the same profile.)

The texts are invented: events of a few reports each (reworded, some copied word for word
under another address), in a vocabulary of made-up words."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.archive import storyindex, storymemory
from monitor.archive.store import Archive
from monitor.archive.stories import StoryIndex, memory_of
from monitor.ingest.schedule import Decision
from monitor.service.grouping import Grouper
from monitor.service.storyfix import rebuild
from monitor.stories import profile, words
from monitor.stories.fingerprint import copy_signature
from monitor.stories.lookup import ProfileCache
from monitor.types import EntryData, FeedConfig, FetchedFeed, NewArticle, StorySettings

START = datetime(2026, 3, 1, tzinfo=UTC)
FEED = "https://feed.example/news"
FETCHED = FetchedFeed(url=FEED, final_url=FEED, status=200, body=b"", headers={})
NEXT = Decision(START, 900.0, "interval")
SETTINGS = StorySettings()


class SqlArchive(Archive):
    """The archive as grouping used it before StoryMemory: every look-up a statement."""

    def story_index(self) -> StoryIndex:
        return StoryIndex(self.db.conn)


class Compared(StoryIndex):
    """Each look-up answered from memory and asked of SQL too: `differences` gets any that differ."""

    def __init__(
        self, memory: StoryIndex, sql: StoryIndex, differences: list[tuple[str, object, object]]
    ) -> None:
        super().__init__(sql.conn)
        self.memory, self.sql, self.differences = memory, sql, differences

    def _both(self, name: str, *args: object) -> Any:
        ours, theirs = getattr(self.memory, name)(*args), getattr(self.sql, name)(*args)
        if ours != theirs:
            self.differences.append((name, ours, theirs))
        return ours

    def selective(self, keys: Sequence[str], published: datetime, window_hours: float) -> tuple[str, ...]:
        return self._both("selective", keys, published, window_hours)  # type: ignore[no-any-return]

    def sharing(self, keys: Sequence[str], published: datetime, window_hours: float, after: int = 0) -> Any:
        return self._both("sharing", keys, published, window_hours, after)

    def candidates(self, keys: Sequence[str], published: datetime, window_hours: float, limit: int) -> Any:
        return self._both("candidates", keys, published, window_hours, limit)

    def fingerprints(self, article_ids: Sequence[int]) -> Any:
        return self._both("fingerprints", article_ids)

    def profiles(self, story_ids: Sequence[int]) -> Any:
        """The same profiles: the memory holds the text of a new story's profile where SQL has
        its shorter form (stories.lookup.alone), made again from its article."""
        ours, theirs = self.memory.profiles(story_ids), self.sql.profiles(story_ids)
        if ours != theirs and ProfileCache().many(ours, self.sql) != ProfileCache().many(theirs, self.sql):
            self.differences.append(("profiles", ours, theirs))
        return ours

    def made(self, story_id: int, stored: str, text: str) -> None:
        self.memory.made(story_id, stored, text)  # the memory's answer changes; SQL keeps no text

    def last_reports(self, story_ids: Sequence[int]) -> Any:  # times: equal when their texts say one
        return self._both("last_reports", story_ids)

    def closed(self, story_ids: Sequence[int], published: datetime, quiet_hours: float) -> Any:
        return self._both("closed", story_ids, published, quiet_hours)

    def document_frequencies(self, lang: str, terms: Sequence[str], extra: Any = None) -> Any:
        return self._both("document_frequencies", lang, terms, extra)


class CheckedArchive(Archive):
    """The archive as monitor uses it (look-ups from StoryMemory), each look-up checked against SQL."""

    differences: list[tuple[str, object, object]]

    def story_index(self) -> StoryIndex:
        return Compared(super().story_index(), StoryIndex(self.db.conn), self.differences)


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))


def reports(seed: int, events: int) -> list[tuple[str, str, datetime]]:
    """(title, summary, published) of `events` events, 1-4 reports each, in publication order,
    with a few reports of days before (a back catalogue) mixed in."""
    rng = random.Random(seed)
    common = [_word(rng) for _ in range(150)]
    people = [_word(rng).capitalize() for _ in range(120)]  # who recur from event to event
    out = []
    for e in range(events):
        names = [_word(rng).capitalize() for _ in range(2)] + rng.sample(people, 3)
        when = START + timedelta(hours=e * 1.5)
        first = None
        for r in range(rng.choice((1, 1, 2, 3, 4))):
            if first is not None and rng.random() < 0.2:
                out.append((first[0], first[1], when + timedelta(hours=r)))  # a copy, word for word
                continue
            words = rng.sample(names, 3) + rng.sample(common, 5)
            rng.shuffle(words)
            body = [rng.choice(names) if rng.random() < 0.3 else rng.choice(common) for _ in range(40)]
            text = (
                " ".join(words).capitalize(),
                ". ".join(" ".join(body[i : i + 8]) for i in range(0, 40, 8)),
            )
            first = first or text
            out.append((*text, when + timedelta(hours=r * rng.uniform(0.5, 6))))
    out.sort(key=lambda report: report[2])
    for i in range(40, len(out), 37):  # an old report turning up late: its window is before the horizon
        title, summary, published = out[i]
        out[i] = (title, summary, published - timedelta(days=rng.uniform(2, 5)))
    return out


def place_and_save(
    archive: Archive, batch: list[tuple[int, str, str, datetime]], caches: ProfileCache, worker: bool = False
) -> list:
    """`worker`: each report's words made as a parser worker makes them (workers.describe_fresh),
    else by the grouper (learn_feed, then place without them)."""
    grouper = Grouper(archive, SETTINGS, lambda *args: [], parsed=caches)
    grouper.learn_feed([summary for _, _, summary, _ in batch])
    boilerplate = profile.boilerplate([summary for _, _, summary, _ in batch])
    placed, saved = [], []
    for i, title, summary, published in batch:
        link = f"https://news.example/{i}"
        entry = EntryData(FEED, title, summary, link, None, published, "Wire")
        fp = copy_signature(title, summary, published)  # as a parser worker hands it over
        made = words.report(title, summary, boilerplate) if worker else None
        place = grouper.place(entry, "Wire", (), fp, (), made)
        placed.append((i, place.story, place.keys, place.joined))
        new = NewArticle(
            entry,
            link,
            (f"url:{link}",),
            published,
            (),
            place.story,
            place.fingerprint,
            place.keys,
            place.joined,
        )
        saved.append((new, []))
    archive.save_update(FEED, FETCHED, None, saved, START, NEXT)
    return placed


@pytest.fixture
def small_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Limits small enough for a few hundred reports to reach them."""
    monkeypatch.setattr(storymemory, "KEEP", timedelta(days=4))
    monkeypatch.setattr(storymemory, "MOVE_EVERY", timedelta(hours=2))
    monkeypatch.setattr(storymemory, "MAX_ARTICLES", 150)
    monkeypatch.setattr(storymemory, "MAX_TERMS", 900)  # all of them at first, then a cache
    monkeypatch.setattr(storymemory, "MAX_LOOKED_UP", 400)
    monkeypatch.setattr(storymemory, "MAX_LASTS", 60)
    monkeypatch.setattr(storymemory, "MAX_PROFILES", 60)
    monkeypatch.setattr(storymemory, "MAX_FINGERPRINTS", 50)
    monkeypatch.setattr(storyindex, "MAX_POSTINGS", 3)  # keys common in a window: left out
    monkeypatch.setattr(storyindex, "MAX_CANDIDATES", 6)


def open_both(tmp_path: Path) -> tuple[CheckedArchive, Archive]:
    memory = CheckedArchive.open(tmp_path / "memory.db")
    memory.differences = []
    archives = (memory, SqlArchive.open(tmp_path / "sql.db"))
    for archive in archives:
        archive.sync_feeds([FeedConfig(FEED)], START)
    return archives


def test_placements_from_memory_are_those_from_sql(tmp_path: Path, small_memory: None) -> None:
    memory, sql = open_both(tmp_path)
    corpus = reports(11, 260)
    caches = ProfileCache(size=40), ProfileCache(size=40)
    differences, joined, batches = [], 0, 0
    i = 0
    while i < len(corpus):
        size = random.Random(i).randint(1, 12)
        batch = [(i + k, *corpus[i + k]) for k in range(min(size, len(corpus) - i))]
        i += len(batch)
        a = place_and_save(memory, batch, caches[0])
        b = place_and_save(sql, batch, caches[1], worker=True)  # the same words, made elsewhere
        differences += [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        joined += sum(1 for _, story, _, j in a if j.score > 0)
        batches += 1
        if batches == 20:  # a report taken out of its story by hand, in both
            moved = memory.db.execute(
                "select id from articles where story_id in"
                " (select story_id from articles group by story_id having count(*) > 1)"
                " order by id desc limit 1"
            ).fetchone()[0]
            for archive in (memory, sql):
                archive.split_article(moved, START, rebuild)
    assert differences == []
    assert memory.differences == []  # CheckedArchive: every look-up the same from memory as from SQL
    assert joined > 60  # the reports did join stories: the comparison covered joins, copies and new stories
    assert memory.db.execute("select count(*) from story_joins where reason like 'copy%'").fetchone()[0] > 5
    held = storymemory.MAX_ARTICLES
    assert len(memory.__dict__["_story_memory"].story_of) <= held


def test_memory_starts_again_after_another_process_writes_and_after_a_rollback(
    tmp_path: Path, small_memory: None
) -> None:
    memory, sql = open_both(tmp_path)
    corpus = reports(5, 80)
    caches = ProfileCache(), ProfileCache()

    def same(first: int, last: int) -> None:
        batch = [(i, *report) for i, report in enumerate(corpus[first:last], start=first)]
        assert place_and_save(memory, batch, caches[0]) == place_and_save(sql, batch, caches[1])
        assert memory.differences == []

    same(0, 30)
    # A save that rolls back after its rows were written: the memory heard of articles that are gone.
    rolled = [(i, *report) for i, report in enumerate(corpus[30:40], start=30)]
    with pytest.raises(sqlite3.OperationalError), memory.write():
        place_and_save(memory, rolled, caches[0])
        raise sqlite3.OperationalError("disk I/O error (made up: the save fails after its writes)")
    same(30, 55)

    # Another process (`monitor stories split`, say) rewrites the profiles: data_version tells.
    for path in (tmp_path / "memory.db", tmp_path / "sql.db"):
        other = sqlite3.connect(path)
        with other:
            other.execute(
                "update story_profiles set data = (select data from story_profiles where story_id = 1)"
            )
        other.close()
    same(55, 80)


def test_a_preloaded_memory_is_adopted_only_when_nothing_was_written_since(
    tmp_path: Path, small_memory: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big pass reads the memory in a thread (StoryMemory.preload) while it fetches: adopted when
    the story tables are as it read them, else read again on the writer's connection."""
    memory, sql = open_both(tmp_path)
    corpus = reports(7, 90)
    caches = ProfileCache(), ProfileCache()
    writer = memory_of(memory)
    loads: list[bool] = []  # one per load, True when on the writer's connection (not a preload)
    load = storymemory.StoryMemory._load

    def counted(self: storymemory.StoryMemory) -> None:
        loads.append(self is writer)
        load(self)

    monkeypatch.setattr(storymemory.StoryMemory, "_load", counted)

    def same(first: int, last: int) -> None:
        batch = [(i, *report) for i, report in enumerate(corpus[first:last], start=first)]
        assert place_and_save(memory, batch, caches[0]) == place_and_save(sql, batch, caches[1])
        assert memory.differences == []

    same(0, 30)
    assert loads == [True]

    writer.reset()
    memory.preload_stories()
    same(30, 45)  # adopted: what the thread read answers exactly as SQL does
    assert loads == [True, False]

    writer.reset()
    memory.preload_stories()
    other = sqlite3.connect(tmp_path / "memory.db")  # another process writes meanwhile
    with other:
        other.execute("update story_profiles set data = (select data from story_profiles where story_id = 1)")
    other.close()
    other = sqlite3.connect(tmp_path / "sql.db")
    with other:
        other.execute("update story_profiles set data = (select data from story_profiles where story_id = 1)")
    other.close()
    same(45, 60)
    assert loads == [True, False, False, True]  # read in the thread, not adopted, read again

    writer.reset()
    memory.preload_stories()
    moved = memory.db.execute(
        "select id from articles where story_id in"
        " (select story_id from articles group by story_id having count(*) > 1) order by id desc limit 1"
    ).fetchone()[0]
    for archive in (memory, sql):  # this connection writes the story tables meanwhile
        archive.split_article(moved, START, rebuild)
    same(60, 90)
    assert loads[-1] is True and loads.count(True) == 3


def test_a_story_of_one_report_forgotten_by_the_profile_cache_is_not_made_again(
    tmp_path: Path, small_memory: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its text stays in the memory's ring (archive/lonetexts.py): read back, not rebuilt from
    its article (stories.lookup.rebuild); without the ring, the same reports rebuild many."""
    from monitor.archive import lonetexts
    from monitor.stories import lookup

    rebuilt: list[int] = []
    made = lookup.rebuild

    def counted(story: int, *rest: Any) -> Any:
        rebuilt.append(story)
        return made(story, *rest)

    monkeypatch.setattr(lookup, "rebuild", counted)
    monkeypatch.setattr(storymemory, "MAX_PROFILES", 8)  # far fewer than the open stories
    monkeypatch.setattr(lonetexts, "RECENT", 4)  # ... and those kept as they are
    for ring, name in ((1 << 20, "ring"), (64, "none")):
        monkeypatch.setattr(storymemory, "MAX_LONE_BYTES", ring)
        archive = Archive.open(tmp_path / f"{name}.db")
        archive.sync_feeds([FeedConfig(FEED)], START)
        corpus = reports(13, 120)
        caches = ProfileCache(size=4)  # its own aliases of short forms forget them too
        for first in range(0, len(corpus), 6):
            batch = [(i, *r) for i, r in enumerate(corpus[first : first + 6], start=first)]
            place_and_save(archive, batch, caches)
        if name == "ring":
            assert rebuilt == []
            assert len(memory_of(archive).lone) > 50
        else:
            assert len(rebuilt) > 20
