"""Article identity: canonical URLs and keys."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.ingest.dedupe import _PLAIN_WEB, _canonical, canonical_url, entry_keys
from monitor.types import EntryData


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.ORG/News/1#comments", "https://example.org/News/1"),
        ("https://example.org/a?utm_source=x&utm_medium=y&id=7", "https://example.org/a?id=7"),
        ("https://example.org/a?fbclid=abc&gclid=def", "https://example.org/a"),
        ("http://example.org:80/a", "http://example.org/a"),
        ("https://example.org:8443/a", "https://example.org:8443/a"),
        ("https://example.org", "https://example.org/"),
        (
            "https://news.google.com/rss/articles/CBMiabc?oc=5&hl=en-IN&gl=IN&ceid=IN:en",
            "https://news.google.com/rss/articles/CBMiabc",
        ),
        ("https://example.org/search?q=a+b&page=2", "https://example.org/search?q=a+b&page=2"),
        ("  https://example.org/a  ", "https://example.org/a"),
        ("not a url", "not a url"),
        ("https://[::1]:8080/x", "https://[::1]:8080/x"),
    ],
    ids=[
        "case-fragment",
        "utm",
        "click-ids",
        "default-port",
        "other-port",
        "empty-path",
        "google-news",
        "real-query-kept",
        "whitespace",
        "not-a-url",
        "ipv6",
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert canonical_url(expected) == expected  # idempotent


# pieces of links that the quick path takes, and ones it must leave to urllib: case, ports,
# trailing dots, empty labels, escapes, queries, fragments, white space, non-ASCII, userinfo
LINK_PIECES = st.sampled_from(
    ["http", "https", "HTTP", "://", "/", "a", "b-c", "0", ".", "..", "~", "_", ":", ":80", ":443",
     "?", "=", "&", "#", "%41", "%2f", "%", " ", "\t", "é", "@", "[", "]", "utm_source", "Z", "//"]
)  # fmt: skip


HOST_PIECES = st.sampled_from(["a", "b-c", "0", ".", "Z", ":80", ":8", "@", "é", "-", "_"])
LINKS = st.tuples(
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "", " https://"]),
    st.lists(HOST_PIECES, max_size=5).map("".join),
    st.lists(LINK_PIECES, max_size=8).map("".join),
).map("".join)


@settings(max_examples=3000, deadline=None)
@given(LINKS)
def test_the_quick_path_gives_what_urllib_gives(url: str) -> None:
    assert canonical_url(url) == _canonical(url)


def test_the_quick_path_takes_the_usual_link() -> None:
    usual = [
        "https://outlet7.example/2026/12/05/india-japan-sign-pact-7-12",
        "http://news.example.com",
        "https://a.b.example/x_y/z~1/",
        "https://127.0.0.1/feed",
    ]
    for url in usual:
        assert _PLAIN_WEB.fullmatch(url)
        assert canonical_url(url) == _canonical(url)
    for url in [
        "https://Example.org/a",
        "https://example.org./a",
        "https://example.org/a?b",
        "https://x/%41",
    ]:
        assert not _PLAIN_WEB.fullmatch(url)


def entry(link: str | None, guid: str | None, feed: str = "https://feed.example/rss") -> EntryData:
    return EntryData(feed_url=feed, title="Title", summary="", link=link, guid=guid, published=None)


def test_same_link_in_two_feeds_shares_a_key() -> None:
    _, a = entry_keys(entry("https://example.org/1?utm_source=a", "g1", "https://one.example/rss"))
    _, b = entry_keys(entry("https://EXAMPLE.org/1", "other-guid", "https://two.example/rss"))
    assert set(a) & set(b) == {"url:https://example.org/1"}


def test_guid_scoped_by_feed_when_no_link() -> None:
    url, a = entry_keys(entry(None, "42", "https://one.example/rss"))
    _, b = entry_keys(entry(None, "42", "https://two.example/rss"))
    assert url is None
    assert not set(a) & set(b)


def test_permalink_guid_is_a_url_key() -> None:
    url, keys = entry_keys(entry(None, "https://example.org/p/9"))
    assert keys == ("url:https://example.org/p/9",)


def test_no_link_no_guid_falls_back_to_title() -> None:
    _, keys = entry_keys(entry(None, None))
    assert keys == ("title:https://feed.example/rss#title",)
