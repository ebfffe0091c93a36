"""How save_update writes an update: the same rows, in fewer statements (issue 18, h-cold2).

An article's story keys (up to 8) and identity keys were a statement each (executemany steps one
per row); each is now one multi-row INSERT. These tests read the rows back and count statements.
The rarity counts stay one statement per term: handed over as one JSON object per language
(json_each) they cost more, not less (0.028 -> 0.051 ms per article in the replay); their test,
awkward terms included, stays as a guard for whoever tries that again.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive.articles import key_digest
from monitor.archive.store import Archive
from monitor.ingest.schedule import Decision
from monitor.types import EntryData, FetchedFeed, NewArticle, StoryJoin
from tests.conftest import archive_with_feed

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
FEED = "https://feed.example/rss"
DECISION = Decision(NOW + timedelta(minutes=15), 900, "interval", None)
FETCHED = FetchedFeed(url=FEED, final_url=FEED, status=200, body=b"", headers={}, etag='"v1"')
# what JSON escapes or a careless decoder mangles: quotes, backslashes, control characters,
# characters beyond the BMP (a surrogate pair in \u form), CJK, combining marks, the empty term
AWKWARD = ('say "hi"', "back\\slash", "tab\there", "line\nbreak", "🙂", "日本", "e\u0301", "", "\x00nul")


def new_article(n: int, terms: tuple[str, ...], language: str = "latin/stems") -> NewArticle:
    entry = EntryData(
        feed_url=FEED,
        title=f"Report {n}",
        summary="text",
        link=f"https://example.org/{n}",
        guid=f"g{n}",
        published=NOW - timedelta(minutes=n),
    )
    return NewArticle(
        entry=entry,
        url=entry.link,
        keys=(f"url:https://example.org/{n}", f"guid:{FEED}#g{n}"),
        first_seen=NOW,
        matches=(),
        story=-1 - n,
        fingerprint=b"\x00" * 8,
        story_keys=tuple(f"key{n}-{i}" for i in range(8)) + ("key-shared", "key-shared"),
        joined=StoryJoin(language, terms, "- - 0", 0.0, "new story"),
    )


@pytest.fixture
def archive(tmp_path: Path):
    with archive_with_feed(tmp_path / "monitor.db", FEED, NOW) as archive:
        yield archive


def save(archive: Archive, articles: list[NewArticle]) -> int:
    return archive.save_update(FEED, FETCHED, None, [(a, []) for a in articles], NOW, DECISION)


def test_rarity_counts_add_up_for_every_term_as_written(archive: Archive) -> None:
    first = [new_article(1, ("india", "japan", *AWKWARD)), new_article(2, ("india", "日本"), "cjk/stems")]
    second = [new_article(3, ("india", *AWKWARD[:3])), new_article(4, ("日本",), "cjk/stems")]
    save(archive, first)
    save(archive, second)
    expected: Counter[tuple[str, str]] = Counter()
    for a in first + second:
        assert a.joined is not None
        expected.update((a.joined.language, t) for t in a.joined.terms)
    rows = archive.conn.execute("select lang, term, df, typeof(df) from term_df").fetchall()
    assert {(lang, term): df for lang, term, df, _ in rows} == dict(expected)
    assert {kind for *_, kind in rows} == {"integer"}
    assert dict(archive.conn.execute("select lang, documents from term_docs")) == {
        "latin/stems": 2,
        "cjk/stems": 2,
    }


def test_an_article_s_keys_are_one_statement_each_table_and_its_rows_the_same(archive: Archive) -> None:
    statements: list[str] = []
    archive.conn.set_trace_callback(statements.append)
    assert save(archive, [new_article(1, ("india",)), new_article(2, ("japan",))]) == 2
    archive.conn.set_trace_callback(None)
    story_keys = [s for s in statements if "into story_keys" in s]
    article_keys = [s for s in statements if "into article_keys" in s]
    assert len(story_keys) == len(article_keys) == 2  # one each per article
    rows = archive.conn.execute("select key, article_id from story_keys order by article_id, key").fetchall()
    ids = [r[0] for r in archive.conn.execute("select id from articles order by id")]
    for article_id, n in zip(ids, (1, 2), strict=True):  # the repeated key written once
        keys = sorted({*(f"key{n}-{i}" for i in range(8)), "key-shared"})
        assert [k for k, a in rows if a == article_id] == keys
    found = archive.conn.execute("select key, article_id from article_keys").fetchall()
    assert sorted(found) == sorted(
        (key_digest(k), article_id)
        for article_id, n in zip(ids, (1, 2), strict=True)
        for k in (f"url:https://example.org/{n}", f"guid:{FEED}#g{n}")
    )


def test_keys_the_caller_read_in_the_transaction_are_not_read_again(archive: Archive) -> None:
    """The pipeline reads an update's identity keys once for placing and saving (one transaction)."""
    save(archive, [new_article(1, ("india",))])
    statements: list[str] = []
    archive.conn.set_trace_callback(statements.append)
    with archive.transaction("save"):
        known = archive.known_keys(["url:https://example.org/1", "url:https://example.org/2"])
        articles = [(new_article(n, ("india",)), []) for n in (1, 2)]
        saved = archive.save_update(FEED, FETCHED, None, articles, NOW, DECISION, known=known)
    archive.conn.set_trace_callback(None)
    assert saved == 1  # the first was archived already
    assert len([s for s in statements if "from article_keys" in s]) == 1
