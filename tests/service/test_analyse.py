"""The analysis stage (parse, keys, rules, fingerprints) in-process and in worker processes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app import poll_once
from monitor.archive.store import Archive
from monitor.cli.demo import NOISE, Item
from monitor.config.load import load_config
from monitor.errors import ParseError
from monitor.rules.rulefile import load_rules
from monitor.service.workers import (
    POOL_MIN_FEEDS,
    AnalysedFeed,
    Analyser,
    HeldFeed,
    analyse,
    describe_fresh,
    loaded,
    read_entries,
)
from monitor.stories import profile, words
from monitor.stories.lookup import signature_of
from monitor.types import StorySettings
from tests.conftest import RULES, SEED_TIMES, rss
from tests.service.procs import alive, children, command_line

pytestmark = pytest.mark.slow  # end to end: `pytest -m "not slow"` leaves it out

NOW = datetime(2026, 3, 7, 9, 0, tzinfo=UTC)


def test_analyse_skips_known_and_repeated_entries_and_matches_the_rest(seeds):
    items = [replace(item, published=SEED_TIMES[item.link[-20:-17]]) for item in seeds]
    body = rss("Wire", [*items, items[0]])  # the first report twice
    known_url = "url:" + items[1].link
    result = analyse(
        "http://feeds.test/wire.xml",
        body,
        {"content-type": "application/rss+xml"},
        NOW,
        load_rules([RULES]),
        StorySettings(),
        lambda keys: {k for k in keys if k == known_url},
    )
    assert isinstance(result, AnalysedFeed)
    assert result.feed.title == "Wire" and result.feed.entries == ()
    links = [a.entry.link for a in result.fresh]
    assert links == [items[0].link, *(i.link for i in items[2:])]  # known and repeated ones left out
    assert all(a.matches for a in result.fresh)  # every seed is on the beat
    # what finding copies reads: the text's signature (grouping makes the rest while it needs it)
    assert all(a.fingerprint.signature and a.fingerprint.published == a.entry.published for a in result.fresh)


def test_analyse_makes_each_reports_words_without_the_feeds_boilerplate():
    """Grouping's words of a report (stories.words.report) are made beside its fingerprint,
    in the parser worker: the feed's repeated sentence dropped, as grouping would drop it."""
    tail = " Continue reading the full story with photos and related coverage on our website today."
    texts = [
        ("Harbour festival draws record crowds", "Boats and music filled the harbour."),
        ("Mountain rail line reopens after repairs", "Trains run again on the pass."),
        ("Teenager wins national chess title", "A sixteen-year-old took the crown."),
    ]
    items = [Item(t, b + tail, NOW, f"https://local.example/{i}") for i, (t, b) in enumerate(texts)]
    result = analyse(
        "http://feeds.test/local.xml",
        rss("Local", items),
        {"content-type": "application/rss+xml"},
        NOW,
        load_rules([RULES]),
        StorySettings(),
        lambda keys: set(),
    )
    assert isinstance(result, AnalysedFeed) and len(result.fresh) == 3
    boilerplate = profile.boilerplate([a.entry.summary for a in result.fresh])
    assert boilerplate == {tail.strip()}
    for analysed in result.fresh:
        entry = analysed.entry
        assert analysed.words == words.report(entry.title, entry.summary, boilerplate)
        assert analysed.words is not None and "photo" not in analysed.words.counts  # the tail says nothing
    assert "harbour" in result.fresh[0].words.counts  # type: ignore[union-attr]


def test_analyse_returns_the_parse_error_of_a_body_that_is_no_feed():
    result = analyse(
        "http://feeds.test/page",
        b"<html><body>Not a feed</body></html>",
        {"content-type": "text/html"},
        NOW,
        load_rules([RULES]),
        StorySettings(),
        lambda keys: set(),
    )
    assert isinstance(result, ParseError) and "not a feed" in result.message


def _archive_rows(path: Path) -> tuple[list[tuple[str, str | None]], list[list[str]], list[list[str]]]:
    db = sqlite3.connect(path)
    try:
        matched = db.execute(
            "select a.link, (select group_concat(rule_id, ',') from (select rule_id from matches m"
            " where m.article_id = a.id order by rule_id)) from articles a order by a.link"
        ).fetchall()
        stories = db.execute(
            "select group_concat(link, ' ') from (select link, story_id from articles order by link)"
            " group by story_id"
        ).fetchall()
        # Which report of a story alerts which rule depends on which came first (the order
        # feeds answer in); the rules a story alerted, all told, do not.
        alerted: dict[int, set[str]] = {}
        for story, rules in db.execute("select story_id, rules from alerts where kind = 'send'"):
            alerted.setdefault(story, set()).update(json.loads(rules))
    finally:
        db.close()
    return (
        matched,
        sorted(sorted(r[0].split(" ")) for r in stories),
        sorted(sorted(r) for r in alerted.values()),
    )


def test_a_big_pass_in_worker_processes_archives_what_one_process_does(
    feed_server, write_config, tmp_path, seeds
):
    """Enough feeds for the worker pool: articles, rule matches, stories and alerts are the same
    whether bodies are analysed in a worker process or in the main one."""
    items = [replace(item, published=SEED_TIMES[item.link[-20:-17]]) for item in seeds]
    noise = [
        Item(t, b, datetime(2026, 3, 7, 8, tzinfo=UTC), f"https://noise.example/{i}")
        for i, (t, b) in enumerate(NOISE)
    ]
    urls = []
    for i in range(POOL_MIN_FEEDS + 4):
        mine = [items[i % len(items)], noise[i % len(noise)], items[(i + 2) % len(items)]]
        urls.append(feed_server.add(f"/outlet{i}.xml", rss(f"Outlet {i}", mine)))
    results = []
    base = write_config(urls).read_text()
    for workers in (1, 0):
        folder = tmp_path / f"workers{workers}"
        folder.mkdir()
        text = base.replace(str(tmp_path / "monitor.db"), str(folder / "monitor.db"))
        text = text.replace("[fetch]\n", f"[fetch]\nworkers = {workers}\n", 1)
        (folder / "monitor.toml").write_text(text)
        report, _ = asyncio.run(poll_once(load_config(folder / "monitor.toml", environ={})))
        assert not report.errors and report.feeds == len(urls)
        # With a worker, the main process still takes a feed itself while the worker has one waiting.
        assert (0 < report.in_workers <= len(urls)) if workers else report.in_workers == 0
        results.append(_archive_rows(folder / "monitor.db"))
    pooled, single = results
    assert pooled == single
    matched, stories, alerts = pooled
    assert len(matched) == len(items) + len(noise)  # each article once, however many feeds carry it
    assert [link for link, _ in matched if _ is None] == sorted(n.link for n in noise)
    assert len(stories) == 3 + len(noise)  # the seeds' three events; each noise item alone
    assert len(alerts) == 3  # each story alerted every rule any of its reports matched


def test_the_main_process_analyses_a_feed_itself_while_the_worker_has_one_waiting(tmp_path, seeds):
    """Six feeds at once and one worker: two go to the worker (one running, one waiting), the
    next is analysed in this process, and the rest queue for the worker while it is busy.
    Where a feed was analysed changes nothing in what it gives."""
    Archive.open(tmp_path / "monitor.db").close()
    items = [replace(item, published=SEED_TIMES[item.link[-20:-17]]) for item in seeds]
    bodies = [rss(f"Outlet {i}", [items[i % len(items)], items[(i + 1) % len(items)]]) for i in range(6)]
    rules, settings = load_rules([RULES]), StorySettings()
    analyser = Analyser(rules, settings, tmp_path / "monitor.db", lambda keys: set(), workers=1)

    async def all_at_once() -> list[AnalysedFeed | ParseError]:
        calls = [analyser(f"http://feeds.test/{i}", b, {}, NOW, pooled=True) for i, b in enumerate(bodies)]
        return await asyncio.gather(*calls)

    try:
        results = asyncio.run(all_at_once())
    finally:
        analyser.close()
    assert analyser.in_workers == 5
    # a worker's feed comes pickled (held so until saved), the one read here as it is
    assert sum(isinstance(result, HeldFeed) for result in results) == 5
    for i, (body, given) in enumerate(zip(bodies, results, strict=True)):
        alone = analyse(f"http://feeds.test/{i}", body, {}, NOW, rules, settings, lambda keys: set())
        result = loaded(given)
        assert isinstance(result, AnalysedFeed) and isinstance(alone, AnalysedFeed)
        assert (given.articles, given.span) == (alone.articles, alone.span)
        assert [(a.entry, a.matches, a.fingerprint) for a in result.fresh] == [
            (a.entry, a.matches, a.fingerprint) for a in alone.fresh
        ]


def _rss_with_guids(items: list[tuple[str | None, str | None]]) -> bytes:
    entries = "".join(
        f"<item><title>Item {i}</title>"
        + (f"<link>{link}</link>" if link else "")
        + (f"<guid isPermaLink='false'>{guid}</guid>" if guid else "")
        + "</item>"
        for i, (link, guid) in enumerate(items)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>{entries}</channel></rss>".encode()
    )


def test_the_articles_of_a_feed_do_not_depend_on_its_order():
    """A link in one entry, the same link with a GUID in the next, that GUID in a third without a
    link: one article, whichever order the feed lists them in. A fourth entry with the same GUID
    and another link makes that GUID one that identifies nothing (issue 20, item 7): then the
    two links are two articles, in every order too."""
    a, b = "https://news.test/a", "https://news.test/b"
    _same_articles_in_every_order([(a, None), (a, "g2"), (None, "g2")], 1)
    _same_articles_in_every_order([(a, None), (a, "g2"), (b, "g2")], 2)


def _same_articles_in_every_order(items: list[tuple[str | None, str | None]], articles: int) -> None:
    found = []
    for order in (items, items[::-1], [items[1], items[0], items[2]]):
        result = analyse(
            "http://feeds.test/f.xml",
            _rss_with_guids(order),
            {},
            NOW,
            load_rules([RULES]),
            StorySettings(),
            lambda keys: set(),
        )
        assert isinstance(result, AnalysedFeed)
        found.append({frozenset(item.keys) for item in result.fresh})
    assert found[0] == found[1] == found[2] and len(found[0]) == articles


def test_worker_processes_exit_when_the_monitor_is_killed(feed_server, write_config, seeds):
    """kill -9 of `monitor poll` mid-pass: its parser processes do not live on as orphans."""
    # Big feeds: a worker's answer outgrows the pipe (64 KiB), so a worker whose parent died
    # while it was answering blocks on that pipe, which it holds both ends of.
    many = [replace(seeds[k % 5], link=f"https://news.test/{k}") for k in range(300)]
    urls = [feed_server.add(f"/big{i}.xml", rss(f"Big {i}", many[i * 30 : i * 30 + 300])) for i in range(10)]
    urls += [feed_server.add(f"/slow{i}.xml", rss(f"Slow {i}", seeds[:1]), delay=30) for i in range(10)]
    path = write_config(urls)
    path.write_text(
        path.read_text().replace("[fetch]\n", "[fetch]\nworkers = 1\n", 1).replace('"3s"', '"60s"')
    )
    monitor = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(path), "poll"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 30
        while not workers and time.monotonic() < deadline and monitor.poll() is None:
            workers = [p for p in children(monitor.pid) if "monitor.service.serve" in command_line(p)]
            time.sleep(0.1)
        assert workers, "the fast feeds were analysed in a worker process"
        monitor.kill()
        monitor.wait()
        deadline = time.monotonic() + 15
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(map(alive, workers))
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()


def _rss_with_sources(title: str, items: list[tuple[str, str | None]]) -> bytes:
    entries = "".join(
        f"<item><title>{text}</title><link>https://wire.test/{i}</link>"
        f"<description>{text}, the ministry said on Monday.</description>"
        + (f"<source url='https://{source.lower()}.test/rss'>{source}</source>" if source else "")
        + "</item>"
        for i, (text, source) in enumerate(items)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>{title}</title>{entries}</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("name", "credited"), [("Configured Name", "Configured Name"), (None, "feed")], ids=["named", "unnamed"]
)
def test_an_article_without_an_outlet_is_credited_to_the_feed_where_it_is_analysed(name, credited):
    """The outlet the pipeline credits an article with (its own <source>, else the feed's configured
    name, else the outlet the feed's title names) is set by the analysis (a parser worker), not by
    the archive's thread; and each article comes with its copy signature as the archive stores it."""
    body = _rss_with_sources("Daily Wire News", [("Port strike ends", None), ("Rail fares rise", "Herald")])
    read = read_entries("http://feeds.test/wire.xml", body, {})
    assert not isinstance(read, ParseError)
    parsed, keyed = read
    analysed = describe_fresh(parsed, keyed, set(), NOW, load_rules([RULES]), StorySettings(), name=name)
    own = parsed.outlet if credited == "feed" else credited
    assert own  # the feed's title names one
    assert [a.entry.outlet for a in analysed.fresh] == [own, "Herald"]
    assert [
        a.entry.outlet
        for a in describe_fresh(parsed, keyed, set(), NOW, load_rules([RULES]), StorySettings()).fresh
    ] == [parsed.outlet, "Herald"]
    for a in analysed.fresh:
        assert a.signature == signature_of(a.fingerprint) and a.for_grouping[-1] is a.signature


def test_a_worker_credits_the_feeds_name_as_this_process_does(tmp_path):
    Archive.open(tmp_path / "monitor.db").close()
    body = _rss_with_sources("Daily Wire News", [("Port strike ends", None), ("Rail fares rise", "Herald")])
    rules, settings = load_rules([RULES]), StorySettings()
    analyser = Analyser(rules, settings, tmp_path / "monitor.db", lambda keys: set(), workers=1)

    async def twice() -> list[AnalysedFeed | ParseError | None]:
        url = "http://feeds.test/wire.xml"
        return [loaded(await analyser(url, body, {}, NOW, pooled, "Wire Desk")) for pooled in (True, False)]

    try:
        pooled, local = asyncio.run(twice())
    finally:
        analyser.close()
    assert analyser.in_workers == 1
    assert isinstance(pooled, AnalysedFeed) and isinstance(local, AnalysedFeed)
    assert [a.entry.outlet for a in pooled.fresh] == ["Wire Desk", "Herald"]
    assert pooled.fresh == local.fresh
