"""alerts.redraw on a real archive: a story's alerts drawn again when a report joins it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts.compose import compose_alert
from monitor.alerts.redraw import story_edits
from monitor.archive.store import Archive
from monitor.ingest.schedule import Decision
from monitor.types import (
    AlertIntent,
    EntryData,
    FetchedFeed,
    NewArticle,
    RuleMatch,
    StoryEdit,
    StoryJoined,
)
from tests.conftest import archive_with_feed

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
FEED = "https://feed.example/rss"
DECISION = Decision(NOW + timedelta(minutes=15), 900, "interval", None)
FETCHED = FetchedFeed(url=FEED, final_url=FEED, status=200, body=b"", headers={}, etag='"v1"')
MATCH = RuleMatch("chips", ("chip*",))


def report(n: int, story: int, outlet: str) -> NewArticle:
    entry = EntryData(
        feed_url=FEED,
        title=f"Chip export rules {n}",
        summary="Controls tightened.",
        link=f"https://example.org/{n}",
        guid=None,
        published=NOW - timedelta(hours=n),
        outlet=outlet,
    )
    return NewArticle(entry, entry.link, (f"url:{entry.link}",), NOW, (MATCH,), story=story)


@pytest.fixture
def archive(tmp_path: Path):
    with archive_with_feed(tmp_path / "monitor.db", FEED, NOW) as archive:
        yield archive


def story_of(archive: Archive, link: str) -> int:
    return int(archive.conn.execute("select story_id from articles where link = ?", [link]).fetchone()[0])


def test_a_story_that_alerted_nothing_is_not_read(archive: Archive) -> None:
    archive.save_update(FEED, FETCHED, None, [(report(1, -1, "Wire"), [])], NOW, DECISION)
    story = story_of(archive, "https://example.org/1")
    statements: list[str] = []
    archive.conn.set_trace_callback(statements.append)
    assert story_edits(archive, StoryJoined(story, (("Daily", "https://example.org/2"),)), {}) == []
    archive.conn.set_trace_callback(None)
    assert [s for s in statements if "from articles" in s] == []  # its reports: not read


def test_a_story_s_alert_is_drawn_again_with_every_other_report(archive: Archive) -> None:
    first = report(1, -1, "Wire")
    intent = AlertIntent("123", ("chips",), compose_alert(first.entry, "Wire", [MATCH], {"chips": "Chips"}))
    archive.save_update(FEED, FETCHED, None, [(first, [intent])], NOW, DECISION)
    story = story_of(archive, "https://example.org/1")
    archive.save_update(FEED, FETCHED, None, [(report(2, story, "Post"), [])], NOW, DECISION)
    alert_id = int(archive.conn.execute("select id from alerts").fetchone()[0])
    joined = StoryJoined(story, (("Daily", "https://example.org/3"),))
    also = [("Post", "https://example.org/2"), ("Daily", "https://example.org/3")]
    redrawn = compose_alert(first.entry, "Wire", [MATCH], {"chips": "Chips"}, also)
    assert story_edits(archive, joined, {"chips": "Chips"}) == [StoryEdit(alert_id, redrawn)]
