"""Late news is placed in publication order, whatever order its feeds answer (service/backlog.py)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import poll_once
from monitor.archive.store import Archive
from monitor.config.load import load_config
from monitor.errors import FetchError
from monitor.service import backlog
from monitor.service.backlog import Backlog
from monitor.service.parsing import held
from monitor.service.workers import Analysed, AnalysedFeed, HeldFeed
from monitor.stories.fingerprint import ArticleFingerprint
from monitor.types import EntryData, FeedData, FeedForUpdate, FetchedFeed
from tests.conftest import rss

NOW = datetime(2026, 3, 7, 23, 0, tzinfo=UTC)


def _poll(path: Path, at: datetime) -> None:
    asyncio.run(poll_once(load_config(path, environ={}), lambda: at))


def _alerted(path: Path) -> list[str]:
    """The links of the articles that sent an alert of their own, and each article's story."""
    archive = Archive.open(load_config(path, environ={}).storage_path, create=False)
    with contextlib.closing(archive):
        rows = archive.db.execute(
            "select a.link from alerts l join articles a on a.id = l.article_id where l.kind = 'send'"
        ).fetchall()
        stories = {story for (story,) in archive.db.execute("select story_id from articles")}
    assert len(stories) == 1  # the two reports are one story
    return sorted({link for (link,) in rows})


def _two_feeds(feed_server, write_config, seeds, early: datetime, late: datetime) -> tuple[Path, str, str]:
    """The Wire (answers at once) carries a later copy of a report the Gazette (answers half a
    second later) published first. Both feeds were read once before, empty (a first fetch is
    never held). Returns the config and the early and late reports' links."""
    wire = feed_server.add("/wire.xml", rss("Wire", []))
    gazette = feed_server.add("/gazette.xml", rss("Gazette", []), delay=0.5)
    path = write_config([wire, gazette])
    _poll(path, NOW)
    first = replace(seeds[0], published=early, link="https://gazette.example/first")
    copy = replace(
        seeds[0], title=f"{seeds[0].title} (wire)", published=late, link="https://wire.example/copy"
    )
    feed_server.add("/wire.xml", rss("Wire", [copy]))
    feed_server.add("/gazette.xml", rss("Gazette", [first]), delay=0.5)
    return path, first.link, copy.link


def test_late_news_is_placed_in_publication_order(feed_server, write_config, seeds) -> None:
    """The report published first starts the story and sends its alert, though its feed
    answered last (before: the copy, answering first, alerted and the first report joined it)."""
    early, late = NOW - timedelta(hours=10), NOW - timedelta(hours=3)
    path, first, _copy = _two_feeds(feed_server, write_config, seeds, early, late)
    _poll(path, NOW)
    assert _alerted(path) == [first]


def test_fresh_news_is_placed_as_its_feed_answers(feed_server, write_config, seeds) -> None:
    """News published within LATE is not held: the feed that answers first is placed first."""
    early, late = NOW - timedelta(minutes=40), NOW - timedelta(minutes=10)
    path, _first, copy = _two_feeds(feed_server, write_config, seeds, early, late)
    _poll(path, NOW)
    assert _alerted(path) == [copy]


def _feed(
    name: str, *published: datetime | None, new: bool = False, pickled: bool = False
) -> tuple[FeedForUpdate, FetchedFeed, AnalysedFeed | HeldFeed]:
    """`pickled`: as a parser worker hands it over (parsing.HeldFeed)."""
    feed = FeedForUpdate(url=f"https://{name}.example/feed", new=new)
    fetched = FetchedFeed(url=feed.url, final_url=feed.url, status=200, body=None, headers={})
    fresh = tuple(
        Analysed(
            EntryData(feed.url, name, "", f"https://{name}.example/{i}", None, when),
            None,
            (),
            (),
            ArticleFingerprint(when or NOW, (), ()),
        )
        for i, when in enumerate(published)
    )
    analysed = AnalysedFeed(FeedData(feed.url, name, ()), fresh, len(fresh))
    return feed, fetched, held(analysed) if pickled else analysed


@pytest.mark.parametrize("pickled", [False, True])
def test_held_feeds_go_by_their_earliest_article_and_a_bug_stays_that_feeds(pickled: bool) -> None:
    """The same whether the feeds come analysed or pickled (a worker's, held so until saved)."""
    saved: list[str] = []
    failed: list[str] = []

    async def save(feed, result, analysed, written=None) -> None:
        if feed.url.startswith("https://buggy."):
            raise ValueError("a bug this feed brings out")
        saved.append(feed.url.split("//")[1].split(".")[0])

    async def run() -> int:
        queue = Backlog(NOW, save, lambda key, exc: failed.append(key))
        three_hours, ten_hours = NOW - timedelta(hours=3), NOW - timedelta(hours=10)
        for name, *published in [
            ("reaction", three_hours),
            ("buggy", ten_hours),
            ("news", ten_hours + timedelta(minutes=1), three_hours),
            ("fresh", three_hours, NOW - timedelta(minutes=5)),  # one fresh article: not held
            ("undated", None),  # no date: not known to be late, not held
        ]:
            await queue.save(*_feed(name, *published, pickled=pickled))
        await queue.save(*_feed("newfeed", ten_hours, new=True, pickled=pickled))  # a first fetch: not held
        assert saved == ["fresh", "undated", "newfeed"]
        await queue.flush()
        return queue.held

    assert asyncio.run(run()) == 3
    assert saved == ["fresh", "undated", "newfeed", "news", "reaction"]
    assert failed == ["https://buggy.example/feed"]


def test_too_many_late_articles_are_handled_at_once(monkeypatch) -> None:
    """Memory: at HOLD_ARTICLES late articles, the held feeds are handled, in order, before
    the pass ends; an error answer is never held."""
    monkeypatch.setattr(backlog, "HOLD_ARTICLES", 3)
    saved: list[str] = []

    async def save(feed, result, analysed, written=None) -> None:
        saved.append(feed.url.split("//")[1].split(".")[0])

    async def run() -> None:
        queue = Backlog(NOW, save, lambda key, exc: None)
        await queue.save(*_feed("b", NOW - timedelta(hours=2), NOW - timedelta(hours=2)))
        feed, _, _ = _feed("error")
        await queue.save(feed, FetchError(feed.url, "503"), None)
        assert saved == ["error"]
        await queue.save(*_feed("a", NOW - timedelta(hours=5)))
        assert saved == ["error", "a", "b"]

    asyncio.run(run())


@pytest.mark.parametrize("pickled", [False, True])
@pytest.mark.parametrize("hours", [0.5, 2])
def test_late_means_published_over_an_hour_before_the_pass(hours: float, pickled: bool) -> None:
    feed, _, analysed = _feed("x", NOW - timedelta(hours=hours), NOW - timedelta(hours=5), pickled=pickled)
    late = Backlog(NOW, None, None).late(feed, analysed)  # type: ignore[arg-type]
    assert late == (NOW - timedelta(hours=5) if hours > 1 else None)


def test_a_held_feed_loads_as_the_feed_it_holds() -> None:
    _, _, analysed = _feed("x", NOW - timedelta(hours=3), None, NOW - timedelta(hours=2))
    assert isinstance(analysed, AnalysedFeed)
    pickled = held(analysed)
    assert pickled.load() == analysed
    assert (pickled.articles, pickled.span) == (3, None)  # one undated: not known to be late
