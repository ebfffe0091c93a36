"""shortcuts.py: feedparser's URL functions, swapped for cheaper ones, answer exactly as feedparser's.

The swap is checked three ways: the two functions against feedparser's originals on URLs built
to take every branch (extra slashes, dot segments, other schemes, bad ports, empty parts), and
feedparser's own test corpus (xml:base, relative links, every format it knows) parsed whole
with feedparser's functions and with ours: the same feed and entries, field by field.
"""

from __future__ import annotations

import copy
import io
import itertools
import re
from collections.abc import Iterator
from typing import Any

import feedparser
import feedparser.mixin
import feedparser.urls
import pytest
from feedparser.util import FeedParserDict

from monitor.ingest import shortcuts
from monitor.ingest.parse import parse_feed
from tests.ingest.test_feedparser_corpus import corpus, corpus_files

BASES = [
    "",
    "http://example.com/feed/rss.xml",
    "https://example.com/a/b/../c/index.xml?x=1#frag",
    "http://example.com",
    "https://münchen.example/feed",
    "ftp://example.com/pub/",
    "javascript:alert(1)",
    "http://[::1]:8080/feed",
    "http://example.com:99999/feed",
    "http://[bad/feed",
]
RELATIVES = [
    None,
    "",
    "item/1",
    "/item/1?a=b",
    "../x",
    "./x/../y",
    "//other.example/x",
    "#top",
    "?q=1",
    "http://x.example/a",
    "http:///x.example/a",
    "https:////x.example//a",
    "HTTP://X.example",
    "feed://x.example/rss",
    "javascript:alert(1)",
    "data:text/html,<b>x</b>",
    "mailto:a@example.com",
    "tag:example.com,2026:1",
    "urn:uuid:1234",
    "http://x.example:99999/",
    "http://[bad/",
    " http://x.example/padded ",
    "x:///y",
    "a+b.c-d:///y",
]


@pytest.fixture
def feedparsers_own() -> Iterator[None]:
    """feedparser with its own functions for the duration of a test, ours again after."""
    mixin, urls = feedparser.mixin, feedparser.urls
    saved = mixin.make_safe_absolute_uri, mixin._urljoin, urls._urljoin, mixin.copy
    mixin.make_safe_absolute_uri = shortcuts._original_safe
    mixin._urljoin = urls._urljoin = shortcuts._original_join
    mixin.copy = copy
    try:
        yield
    finally:
        mixin.make_safe_absolute_uri, mixin._urljoin, urls._urljoin, mixin.copy = saved


def _ours() -> None:
    """Our functions back in feedparser, inside a test that began with feedparser's own."""
    feedparser.mixin.make_safe_absolute_uri = shortcuts.make_safe_absolute_uri
    feedparser.mixin._urljoin = feedparser.urls._urljoin = shortcuts.urljoin
    feedparser.mixin.copy = shortcuts._Copy()


def _answer(function: Any, *args: Any) -> tuple[str, object]:
    try:
        return "value", function(*args)
    except Exception as exc:  # compared: the same exception, or the same value
        return "raised", type(exc)


def test_parse_py_installed_the_swap() -> None:
    assert feedparser.mixin.make_safe_absolute_uri is shortcuts.make_safe_absolute_uri
    assert feedparser.mixin._urljoin is shortcuts.urljoin
    assert feedparser.urls._urljoin is shortcuts.urljoin
    assert isinstance(feedparser.mixin.copy, shortcuts._Copy)
    assert shortcuts.install()  # a second call changes nothing


def test_join_and_safe_uri_answer_as_feedparsers_own() -> None:
    checked = 0
    for base, rel in itertools.product(BASES, RELATIVES):
        if rel is not None:
            assert _answer(shortcuts.urljoin, base, rel) == _answer(shortcuts._original_join, base, rel), (
                base,
                rel,
            )
        for _ in range(2):  # computed, then remembered
            ours = _answer(shortcuts.make_safe_absolute_uri, base, rel)
            assert ours == _answer(shortcuts._original_safe, base, rel), (base, rel)
        checked += 1
    assert checked == len(BASES) * len(RELATIVES)


def test_the_memo_stays_small() -> None:
    for n in range(3 * shortcuts._MEMO_SIZE):
        assert (
            shortcuts.make_safe_absolute_uri("http://example.com/", f"item/{n}")
            == f"http://example.com/item/{n}"
        )
    assert len(shortcuts._memo) <= shortcuts._MEMO_SIZE


def _copies(value: Any) -> list[Any]:
    """What copy.deepcopy and ours make of a value: type, items, and the instance's attributes."""
    out = []
    for function in (copy.deepcopy, shortcuts.deepcopy):
        made = function(value)
        assert made is not value
        out.append(
            (type(made), dict(made) if isinstance(made, dict) else made, getattr(made, "__dict__", None))
        )
    return out


def test_deepcopy_makes_what_copy_makes() -> None:
    plain = FeedParserDict({"type": "text/html", "language": None, "base": "http://a.example/", "value": "x"})
    aliased = FeedParserDict()
    dict.__setitem__(aliased, "url", "http://a.example/")  # stored under a key __setitem__ renames
    dict.__setitem__(aliased, "description", "d")
    nested = FeedParserDict({"type": "text/plain", "inner": FeedParserDict({"a": "b"}), "list": ["x"]})
    with_attribute = FeedParserDict({"type": "text/plain"})
    with_attribute.note = "kept"
    numbers = FeedParserDict({"base64": 1, "ratio": 0.5, "flag": True, "raw": b"x"})
    for value in (
        plain,
        aliased,
        nested,
        with_attribute,
        numbers,
        FeedParserDict(),
        {"a": ["b"]},
        [FeedParserDict()],
    ):
        theirs, ours = _copies(value)
        assert theirs == ours, value
    assert dict(shortcuts.deepcopy(aliased)) == {
        "href": "http://a.example/",
        "summary": "d",
    }  # as deepcopy renames
    inner = nested["inner"]
    assert shortcuts.deepcopy(nested)["inner"] is not inner  # not atomic: copy.deepcopy copies it


def _fields(parsed: Any) -> Any:
    """A parse result as comparable data (an exception by its type and text)."""
    exception = parsed.get("bozo_exception")
    return (
        parsed.get("version"),
        parsed.get("bozo"),
        f"{type(exception).__name__}: {exception}" if exception is not None else None,
        dict(parsed.get("feed", {})),
        [dict(entry) for entry in parsed.entries],
    )


def _parse(data: bytes, path: str) -> Any:
    headers = {"content-location": f"http://127.0.0.1:8097/{path}"}
    for found in re.finditer(rb"^Header:\s+([^:]+):(.+)$", data, re.MULTILINE):
        headers[found.group(1).decode().strip().lower()] = found.group(2).decode("latin-1").strip()
    return feedparser.parse(
        io.BytesIO(data), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )


@pytest.mark.slow
def test_feedparsers_corpus_parses_the_same_with_either(feedparsers_own: None) -> None:
    files = list(corpus_files(corpus()))
    theirs = [_fields(_parse(data, path)) for path, data in files]
    _ours()
    differ = [
        path
        for (path, data), expected in zip(files, theirs, strict=True)
        if _fields(_parse(data, path)) != expected
    ]
    based = sum(b"xml:base" in data for _, data in files)
    assert len(files) > 2_000 and based > 50  # the corpus is there, relative links and all
    assert differ == []


def test_a_feed_with_xml_base_and_relative_links_reads_the_same(feedparsers_own: None) -> None:
    body = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://a.example/x/">'
        b"<title>T</title>"
        b'<entry xml:base="../y/"><title>one</title><link href="one.html"/><id>1</id></entry>'
        b'<entry><title>two</title><link href="http:///b.example//two"/><id>2</id></entry>'
        b'<entry xml:base="javascript:x"><title>three</title><link href="three"/><id>3</id></entry>'
        b"</feed>"
    )
    theirs = parse_feed("http://a.example/feed", body, {})
    _ours()
    ours = parse_feed("http://a.example/feed", body, {})
    assert ours == theirs
    assert [e.link for e in ours.entries] == [
        "http://a.example/y/one.html",
        "http://b.example//two",
        "http://a.example/x/three",
    ]
