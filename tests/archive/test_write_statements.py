"""How save_update writes an update: the same rows, in fewer statements (issue 18, h-cold2).

An article's story keys (up to 8) and identity keys were a statement each (executemany steps one
per row); each is now one multi-row INSERT. The index rows (full text, fingerprints, story keys,
rarity counts) are multi-row INSERTs for the whole update (archive/behind.py: written behind the
placement, in a thread that needs the GIL between statements). These tests read the rows back
and count statements. Handed over as one JSON object per language (json_each), the rarity counts
cost more, not less (0.028 -> 0.051 ms per article in the replay); their test, awkward terms
included, stays as a guard for whoever tries that again.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive import stories as storystore
from monitor.archive import storymemory
from monitor.archive.articles import key_digest
from monitor.archive.sqltime import epoch, iso
from monitor.archive.store import Archive
from monitor.archive.stories import memory_of
from monitor.archive.storymemory import StoryMemory
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


def test_rarity_counts_are_written_in_the_table_s_order(archive: Archive) -> None:
    """term_df's upserts go in its key's order, (lang, term) as SQLite compares them (bytes of
    UTF-8: code points), not in the order the articles brought the terms: each page once (h-save)."""
    statements: list[str] = []
    archive.conn.set_trace_callback(statements.append)
    save(archive, [new_article(1, ("zeta", "alpha", "日本", "Zulu")), new_article(2, ("mid",), "cjk/stems")])
    archive.conn.set_trace_callback(None)
    written = [s for s in statements if "into term_df" in s]
    expected = [("cjk/stems", "mid")]
    expected += [("latin/stems", t) for t in ("Zulu", "alpha", "zeta", "日本")]
    assert len(written) == 1  # the update's, in one statement
    assert re.findall(r"\('([^']*)', '([^']*)', \d+\)", written[0]) == expected
    rows = archive.conn.execute("select lang, term from term_df order by lang, term").fetchall()
    assert rows == expected


def test_keys_are_one_statement_an_article_or_an_update_and_their_rows_the_same(archive: Archive) -> None:
    statements: list[str] = []
    archive.conn.set_trace_callback(statements.append)
    assert save(archive, [new_article(1, ("india",)), new_article(2, ("japan",))]) == 2
    archive.conn.set_trace_callback(None)
    story_keys = [s for s in statements if "into story_keys" in s]
    article_keys = [s for s in statements if "into article_keys" in s]
    assert len(article_keys) == 2  # one per article
    assert len(story_keys) == 1  # index rows: one for the update (behind.py)
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


def memory_after(archive: Archive, updates: list[list[NewArticle]]) -> StoryMemory:
    """The writer's StoryMemory loaded (as a pass's first placement loads it), then told of
    `updates` as save_update writes them; still loaded after (nothing rolled back)."""
    memory = memory_of(archive)
    memory.refresh()
    for articles in updates:
        save(archive, articles)
    memory.refresh()
    assert memory.loaded
    return memory


def tables(archive: Archive) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    df: dict[str, dict[str, int]] = {}
    for lang, term, n in archive.conn.execute("select lang, term, df from term_df"):
        df.setdefault(lang, {})[term] = n
    return df, dict(archive.conn.execute("select lang, documents from term_docs").fetchall())


def test_the_writer_s_memory_counts_an_update_s_terms_as_the_tables_do(archive: Archive) -> None:
    """StoryMemory is told an update's rarity counts once (write_counts), not per article: with
    every term held, its counts are the tables', terms repeated and languages mixed included."""
    save(archive, [new_article(9, ("india", "older"))])  # in the tables before the memory loads
    updates = [
        [new_article(1, ("india", "japan", *AWKWARD)), new_article(2, ("india", "日本"), "cjk/stems")],
        [new_article(3, ("india", "india", "new")), new_article(4, ("日本",), "cjk/stems")],
        [],
    ]
    memory = memory_after(archive, updates)
    df, documents = tables(archive)
    assert memory.df == df and memory.documents == documents
    assert df["latin/stems"]["india"] == 4 and documents == {"latin/stems": 3, "cjk/stems": 2}
    assert memory.document_frequencies("latin/stems", ["india", "none"], lambda t: {}) == ({"india": 4}, 3)


def test_the_writer_s_memory_holds_the_commonest_terms_first(archive: Archive) -> None:
    """Loaded, each language's terms are in the order of their document frequencies, most first:
    the terms a placement looks up most sit together in memory (h-rarity)."""
    save(archive, [new_article(1, ("alpha", "mid", "zeta")), new_article(2, ("mid", "rare", "zeta"))])
    save(archive, [new_article(3, ("solo", "zeta")), new_article(4, ("日本",), "cjk/stems")])
    memory = memory_of(archive)
    memory.refresh()
    assert list(memory.df["latin/stems"])[:2] == ["zeta", "mid"]  # by name (term_df's key), "alpha" first
    assert list(memory.df["latin/stems"].values()) == [3, 2, 1, 1, 1]
    assert memory.df == tables(archive)[0] and memory.df["cjk/stems"] == {"日本": 1}


def test_a_memory_holding_some_terms_counts_only_those(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over MAX_TERMS the memory is a cache of the terms asked for: an update adds to those it
    holds (the others are read from the tables when asked); an update that takes a complete
    memory over MAX_TERMS leaves it a cache, empty."""
    monkeypatch.setattr(storymemory, "MAX_TERMS", 6)
    save(archive, [new_article(9, ("india", "japan", "china", "korea", "nepal", "peru", "chile"))])
    memory = memory_of(archive)
    memory.refresh()  # 7 terms: not all held
    read = functools.partial(storystore.document_frequencies, archive.conn, "latin/stems")
    assert memory.document_frequencies("latin/stems", ["india", "peru"], lambda t: read(t)[0])[0] == {
        "india": 1,
        "peru": 1,
    }
    memory_after(archive, [[new_article(1, ("india", "japan", "fiji")), new_article(2, ("india",))]])
    assert memory.df == {"latin/stems": {"india": 3, "peru": 1}}
    assert memory.documents == tables(archive)[1] == {"latin/stems": 3}

    monkeypatch.setattr(storymemory, "MAX_TERMS", 20)
    memory.reset()
    memory.refresh()  # 9 terms: all held
    assert memory.df == tables(archive)[0]
    memory_after(archive, [[new_article(n, tuple(f"t{n}-{i}" for i in range(5))) for n in (3, 4, 5)]])
    assert memory.df == {} and memory.documents == tables(archive)[1]  # 24 terms: a cache again
    answer = memory.document_frequencies("latin/stems", ["india", "t3-1"], lambda t: read(t)[0])
    assert answer == ({"india": 3, "t3-1": 1}, 6)


def test_an_article_s_times_are_its_own_or_the_update_s(archive: Archive) -> None:
    """Its first-seen text is the update's when it was first seen then (made once per update),
    its own else; its story keys' seconds and its publication text agree, with and without a
    published time of its own (then its first-seen), fractions of a second dropped."""
    late = replace(new_article(1, ("india",)), first_seen=NOW - timedelta(days=1, microseconds=1))
    undated = new_article(2, ("india",))
    undated = replace(undated, entry=replace(undated.entry, published=None))
    fraction = new_article(3, ("india",))
    fraction = replace(
        fraction, entry=replace(fraction.entry, published=datetime(1969, 7, 20, 20, 17, 40, 900_000, UTC))
    )
    save(archive, [late, undated, fraction])
    rows = archive.conn.execute(
        "select a.guid, a.published, a.first_seen, min(k.published), max(k.published)"
        " from articles a join story_keys k on k.article_id = a.id group by a.id order by a.guid"
    ).fetchall()
    assert rows == [
        (
            "g1",
            iso(late.entry.published),
            iso(late.first_seen),
            epoch(iso(late.entry.published)),
            epoch(iso(late.entry.published)),
        ),
        ("g2", iso(NOW), iso(NOW), epoch(iso(NOW)), epoch(iso(NOW))),
        ("g3", "1969-07-20T20:17:40Z", iso(NOW), -14182940, -14182940),
    ]
    assert rows[0][2] == "2026-03-05T11:59:59Z"
