"""htmltext.py: feed fields to the text monitor archives. Table-driven, plus one property."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.ingest.googlenews import split_description
from monitor.ingest.htmltext import (
    _FORMAT,
    _STRAY_JOINER,
    _shown,
    _simple_markup_text,
    _visible,
    html_text,
    plain_text,
    tokens_text,
)
from monitor.ingest.outlet import feed_outlet

HTML = [
    ("tags", "<p>Once <b>bold</b>,</p><p>then gone</p>", "Once bold, then gone"),
    ("inline tags join", "Semi<b>con</b>duc<wbr>tor", "Semiconductor"),
    ("entities", "Tata &amp; Renesas &#8217;s &lt;b&gt;", "Tata & Renesas ’s <b>"),
    ("script and style", "a<script>if (x < 1) {}</script>b<style>p{}</style>c", "abc"),
    ("comment", "a<!-- <b>x</b> -->b", "ab"),
    ("lone <", "Sensex < 80,000 as FII > DII", "Sensex < 80,000 as FII > DII"),
    ("quoted >", '<a title="x>y" href="/1">link</a> text', "link text"),
    ("unclosed tag ends the text", "text <a href='x", "text"),
    ("unclosed comment ends the text", "text <!-- open", "text"),
    ("bogus comment", "a<!DOCTYPE html>b<?php x ?>c</ 3>d", "abcd"),
    ("soft hyphen", "Semi&shy;conductor", "Semiconductor"),
    ("zero-width space", "Semi\u200bconductor", "Semiconductor"),
    ("joiner next to ASCII", "Semi\u200dconductor", "Semiconductor"),
    ("joiners that glue letters", "می\u200cخواهم 👩\u200d🔬", "می\u200cخواهم 👩\u200d🔬"),
    ("bidi override", "a \u202ereversed\u202c; b", "a reversed; b"),
    ("controls", "a\x00b\x01c\x1bd", "ab c d"),
]


@pytest.mark.parametrize(("value", "expected"), [r[1:] for r in HTML], ids=[r[0] for r in HTML])
def test_html_text(value: str, expected: str) -> None:
    assert html_text(value, 1000) == expected


PLAIN = [
    ("blink", "History of the <blink> tag", "History of the <blink> tag"),
    ("entity as written", "AT&amp;T", "AT&amp;T"),
    ("whitespace folded", "  a \n\t b  ", "a b"),
    ("soft hyphen", "Semi\u00adconductor", "Semiconductor"),
]


@pytest.mark.parametrize(("value", "expected"), [r[1:] for r in PLAIN], ids=[r[0] for r in PLAIN])
def test_plain_text(value: str, expected: str) -> None:
    assert plain_text(value, 1000) == expected


def _reference_visible(text: str, limit: int) -> str:
    """_visible as it was written first, with a regex for white space: what it must still give."""
    text = re.sub(r"\s+", " ", text.replace("\x00", ""))
    if not text.isprintable():
        text = _STRAY_JOINER.sub("", _FORMAT.sub("", text))
        if not text.isprintable():
            text = re.sub(r"\s+", " ", "".join(ch if _shown(ch) else " " for ch in text))
    return text.strip()[:limit].rstrip()


# every character \s matches (Unicode white space, the ASCII separators \x1c-\x1f among them), and
# neighbours that are not white space: format characters, controls, a no-break space
SPACES = [chr(c) for c in range(sys.maxunicode + 1) if re.match(r"\s", chr(c))]
NEAR_SPACES = ["\u200b", "\u200d", "\u00ad", "\x00", "\x01", "\u2028", "\ufeff", "a", "\u00a0"]


def test_white_space_is_what_the_regex_took_for_it() -> None:
    assert len(SPACES) > 20  # the table is not empty
    for space in SPACES:
        for text in (f"a{space}b", f"{space}a{space}{space}b{space}", f"a \u200b{space}b", f"\x01{space}x"):
            assert _visible(text, 1000) == _reference_visible(text, 1000), repr(text)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from([*SPACES, *NEAR_SPACES, "b", "cd"]), max_size=20).map("".join),
    st.integers(1, 12),
)
def test_visible_agrees_with_the_regex_reference(text: str, limit: int) -> None:
    assert _visible(text, limit) == _reference_visible(text, limit)


def test_a_field_is_cut_before_it_is_read_and_after() -> None:
    assert html_text("<b>" + "x" * 10_000 + "</b>", 100) == "x" * 100
    assert html_text("<" * 1_000_000, 100) == "<" * 100
    assert plain_text("y" * 1_000_000, 50) == "y" * 50


MARKUP = st.lists(
    st.sampled_from(
        ["<", ">", "/", '"', "'", "=", "!", "-", "a", "p", "b", " ", "&", "amp;", "x", "div", "\n", "?"]
    ),
    max_size=30,
).map("".join)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(st.lists(MARKUP, min_size=1, max_size=3).map("".join))
def test_the_quick_path_reads_as_the_tokenizer_does(value: str) -> None:
    quick = _simple_markup_text(value)
    if quick is not None:
        assert _visible(quick, 1000) == _visible(tokens_text(value), 1000)


def test_google_news_description_splits_into_own_text_and_related_links() -> None:
    description = (
        '<ol><li><a href="https://news.google.com/rss/articles/A?oc=5">Own headline</a>&nbsp;&nbsp;'
        '<font color="#6f6f6f">The Hindu</font></li><li><a href="https://news.google.com/rss/articles/B?oc=5">'
        'Other &amp; more</a>&nbsp;&nbsp;<font color="#6f6f6f">The Japan Times</font></li></ol>'
    )
    own, related = split_description(
        description, "https://news.google.com/rss/articles/A?oc=5", "Own headline", 1000
    )
    assert own == ""
    assert [(r.title, r.url, r.outlet) for r in related] == [
        ("Other & more", "https://news.google.com/rss/articles/B?oc=5", "The Japan Times")
    ]


OUTLETS = [
    (
        "section | outlet",
        "Economy news, Latest Economic News, GDP | The Hindu",
        "https://www.thehindu.com/x",
        "The Hindu",
    ),
    ("outlet - section", "BBC News - Asia", "https://feeds.bbci.co.uk/news/asia/rss.xml", "BBC News"),
    ("abbreviation", "NYT > World News", "https://rss.nytimes.com/services/xml/rss/nyt/World.xml", "NYT"),
    (
        "host label",
        "Business News: Latest India Business - Times of India",
        "https://timesofindia.indiatimes.com/r",
        "Times of India",
    ),
    ("one part", "The Japan Times", "https://www.japantimes.co.jp/feed/", "The Japan Times"),
    ("feed words", "Mainichi RSS", "https://mainichi.jp/rss/etc/mainichi-flash.rss", "Mainichi"),
    ("no title", "", "https://www.example.org/feed", "example.org"),
]


@pytest.mark.parametrize(("title", "url", "expected"), [r[1:] for r in OUTLETS], ids=[r[0] for r in OUTLETS])
def test_feed_outlet(title: str, url: str, expected: str) -> None:
    assert feed_outlet(title, url) == expected
