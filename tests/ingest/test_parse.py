"""parse.py on golden feed files: what a user sees of each entry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.ingest.parse import parse_feed
from monitor.types import FeedData

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
RSS = {"content-type": "application/rss+xml"}


def parse(name: str, headers: dict[str, str] | None = None) -> FeedData:
    result = parse_feed("https://feed.example/" + name, (DATA / name).read_bytes(), headers or RSS)
    assert isinstance(result, FeedData), result
    return result


def test_rss2_plain_text_dates_and_links() -> None:
    feed = parse("rss2.xml")
    assert feed.title == "Example Wire & Co"
    first, second = feed.entries
    assert first.title == "India, Japan agree on rare earths"
    assert first.summary == "New Delhi and Tokyo signed & sealed a pact."
    assert "alert(1)" not in first.summary
    assert first.link == "https://example.org/news/1?utm_source=rss&utm_medium=feed"
    assert first.guid == "ex-1"
    assert first.published == datetime(2026, 3, 6, 5, 0, tzinfo=UTC)
    assert second.link is None and second.published is None and second.guid == "ex-2"


def test_atom_prefers_full_content_and_alternate_link() -> None:
    (entry,) = parse("atom.xml", {"content-type": "application/atom+xml"}).entries
    assert entry.title == "Semiconductor deal: Tata & Renesas"
    assert entry.summary == "The long full text of the article about chips in Gujarat."
    assert entry.link == "https://atom.example/a/1"
    assert entry.published == datetime(2026, 3, 6, 12, 0, tzinfo=UTC)


def test_rdf_rss10() -> None:
    (entry,) = parse("rdf.xml").entries
    assert entry.title == "Shinkansen talks in Tokyo"
    assert entry.published == datetime(2026, 3, 4, 23, 0, tzinfo=UTC)


def test_google_news_title_suffix_becomes_outlet() -> None:
    (entry,) = parse("google_news.xml").entries
    assert entry.title == "India, Japan hold economic security dialogue"
    assert entry.outlet == "The Hindu"
    assert entry.link.startswith("https://news.google.com/rss/articles/")


@pytest.mark.parametrize(
    ("name", "headers", "title"),
    [
        ("latin1.xml", RSS, "Japon et Inde: débat à Tokyo"),
        (
            "cp1252_no_decl.xml",
            {"content-type": "application/rss+xml; charset=windows-1252"},
            "“Quoted” news – Tokyo",
        ),
    ],
    ids=["iso-8859-1-declared", "windows-1252-from-http-header"],
)
def test_charsets(name: str, headers: dict[str, str], title: str) -> None:
    (entry,) = parse(name, headers).entries
    assert entry.title == title


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (
            b"<!doctype html><html><head><title>Home</title></head><body><p>Hello</p></body></html>",
            "text/html",
        ),
        (b"\x00\x01\x02 garbage \xff\xfe", "application/octet-stream"),
        (b'{"items": []}', "application/json"),
        (b"", "application/rss+xml"),
    ],
    ids=["html-page", "garbage", "json", "empty"],
)
def test_not_a_feed_is_a_parse_error(body: bytes, ctype: str) -> None:
    result = parse_feed("https://feed.example/x", body, {"content-type": ctype})
    assert isinstance(result, ParseError)
    assert result.url == "https://feed.example/x"
    assert "not a feed" in result.message and "\n" not in result.message


def test_body_that_looks_like_a_path_is_not_opened(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes((DATA / "rss2.xml").read_bytes())
    result = parse_feed("https://feed.example/x", str(secret).encode(), RSS)
    assert isinstance(result, ParseError)


def test_truncated_feed_still_yields_entries() -> None:
    body = (DATA / "rss2.xml").read_bytes()
    cut = body[: body.index(b"</item>") + len(b"</item>")]
    result = parse_feed("https://feed.example/x", cut, RSS)
    assert isinstance(result, FeedData)
    assert [e.title for e in result.entries] == ["India, Japan agree on rare earths"]
    assert result.warning


def rss_with_ttl(ttl: str | None) -> bytes:
    element = f"<ttl>{ttl}</ttl>" if ttl is not None else ""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"{element}<item><title>A</title><guid>a</guid></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("ttl", "seconds"),
    [
        ("60", 3600.0),
        (" 30 ", 1800.0),
        ("1.5", 90.0),
        ("10080", 7 * 86400.0),  # a week: the longest we follow
        ("10081", None),  # over a week: absurd
        ("0", None),
        ("-5", None),
        ("soon", None),
        ("1e3", None),
        ("", None),
        (None, None),
    ],
    ids=[
        "hour",
        "spaces",
        "fraction",
        "week",
        "over-a-week",
        "zero",
        "negative",
        "word",
        "exponent",
        "empty",
        "absent",
    ],
)
def test_rss_ttl_minutes_become_seconds(ttl: str | None, seconds: float | None) -> None:
    result = parse_feed("https://feed.example/x", rss_with_ttl(ttl), RSS)
    assert isinstance(result, FeedData), result
    assert result.ttl == seconds
    assert [e.title for e in result.entries] == ["A"]


def test_golden_feeds_without_ttl_have_none() -> None:
    assert parse("rss2.xml").ttl is None
    assert parse("atom.xml", {"content-type": "application/atom+xml"}).ttl is None


def test_a_character_reference_feedparser_cannot_take_costs_one_character_not_the_feed() -> None:
    """&#xD800; (a surrogate), &#x110000; (beyond Unicode), a 9-digit one: feedparser raises on
    each and the feed would be lost (kurtmckee/feedparser#591). They become U+FFFD."""
    items = "".join(
        f"<item><title>a {ref} b</title><link>https://news.test/{i}</link></item>"
        for i, ref in enumerate(["&#xD800;", "&#55296;", "&#x110000;", "&#xFFFFFFFF;", "&#233;"])
    )
    body = f"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>{items}</channel></rss>"
    parsed = parse_feed("http://feeds.test/f.xml", body.encode(), {"content-type": "application/rss+xml"})
    assert not isinstance(parsed, ParseError)
    assert [e.title for e in parsed.entries] == ["a \ufffd b"] * 4 + ["a é b"]
