"""Properties that hold for any input, checked with hypothesis on hostile data.

* canonical_url is idempotent and never raises, whatever text it is given;
* the rule parser returns a query or raises RuleError pointing into the query, nothing else;
* feed text rendered into an alert, a digest or a notice is HTML the fake Bot API accepts
  (it models Telegram's parser), within 4096 UTF-16 units, and encodable as UTF-8;
* an article's identity does not depend on where its entry stands in the feed.

Each bug these found is kept as an @example, so it stays covered whatever hypothesis draws.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fakes.telegram_api import check_text, utf16_len
from monitor.alerts.compose import compose_alert
from monitor.alerts.digest import DigestItem, render_digest, render_digest_plain
from monitor.alerts.render import MAX_MESSAGE, render_alert, suspension_notice, to_plain_text
from monitor.errors import ParseError, RuleError
from monitor.ingest.dedupe import canonical_url, distinct_entries, entry_keys
from monitor.ingest.parse import parse_feed
from monitor.rules.query import parse_query
from monitor.rules.rulefile import load_rules
from monitor.rules.ruleset import compile_rule_set, make_term_list
from monitor.rules.textfold import fold_tokens, tokenize
from monitor.types import EntryData, Rule, RuleMatch

pytestmark = pytest.mark.slow  # seconds per test: `pytest -m "not slow"` leaves it out

# No example database: runs leave nothing in the checkout, and every run explores afresh.
# A failure prints the example and a reproduce blob.
PROPERTY = settings(max_examples=150, deadline=None, database=None, print_blob=True)
HEAVY = settings(PROPERTY, max_examples=60, suppress_health_check=[HealthCheck.too_slow])

FEED = "https://feed.example/rss"

# --- hostile text ------------------------------------------------------------

# Every code point, lone surrogates included: argv brings them (surrogateescape), and so may
# any code that builds the records itself.
ANY_CHAR = st.characters(exclude_categories=())
NASTY = st.sampled_from(
    [
        "<b>", "</b>", "<a href=\"javascript:alert(1)\">x</a>", "&amp;", "&", "&lt;", "&#0;",
        "&#xD800;", "<", ">", '"', "'", "\x00", "\x1b", "\r\n", "\u2028", "\u200f", "\u202e",
        "\ufeff", "\ud83d", "\ude00", "😀", "𝐀", "…", "\u0301", " ", "\t", "\u00a0", "\u3000",
        "<tg-spoiler>", "<pre><code>", "]]>", "<![CDATA[", "https://example.org/a?b=1&c=2",
    ]
)  # fmt: skip
HOSTILE_TEXT = st.lists(st.one_of(st.text(ANY_CHAR, max_size=30), NASTY), max_size=12).map("".join)
HUGE_TEXT = st.builds(
    lambda piece, n: piece * n,
    st.one_of(NASTY, st.text(ANY_CHAR, min_size=1, max_size=5)),
    st.integers(500, 4000),
)
FEED_TEXT = st.one_of(HOSTILE_TEXT, HUGE_TEXT)

# --- URLs from pieces --------------------------------------------------------

SCHEMES = st.sampled_from(
    ["http", "https", "HTTP", "HtTpS", "ftp", "javascript", "mailto", "tg", "", "ht tp"]
)
SEPARATORS = st.sampled_from(["://", "://", "://", ":", "//", ":///", ""])
USERINFO = st.sampled_from(["", "", "user@", "user:pass@", "a%40b:p%3Ass@", "@", "u@v@", ":@"])
HOSTS = st.one_of(
    st.sampled_from(
        [
            "example.org", "EXAMPLE.ORG", "example.org.", "news.google.com", "bücher.example",
            "例え.テスト", "xn--bcher-kva.example", "127.0.0.1", "0x7f.1", "[::1]", "[2001:db8::1]",
            "[::ffff:127.0.0.1]", "[fe80::1%25eth0]", "[::1", "::1", "", "ex ample.org", "localhost",
        ]
    ),
    st.from_regex(r"[a-zA-Z0-9-]{1,12}(\.[a-zA-Z0-9-]{1,12}){0,3}\.?", fullmatch=True),
)  # fmt: skip
PORTS = st.sampled_from(["", "", ":80", ":443", ":8080", ":0", ":65535", ":65536", ":99999", ":abc", ":"])
ESCAPES = st.builds(
    lambda byte, upper: f"%{byte:02X}" if upper else f"%{byte:02x}", st.integers(0, 255), st.booleans()
)
SEGMENT = st.lists(
    st.one_of(
        st.sampled_from(["a", "A", "%25", "%", "%zz", "€", " ", "..", ".", ";p=1", "~x", "/"]),
        ESCAPES,
        st.text(ANY_CHAR, max_size=4),
    ),
    max_size=4,
).map("".join)
PATHS = st.lists(SEGMENT, max_size=4).map(lambda parts: "".join("/" + p for p in parts))
QUERY_KEYS = st.one_of(
    st.sampled_from(
        ["utm_source", "UTM_Medium", "utm_", "fbclid", "gclid", "id", "page", "q", "oc", "hl", "ceid", "", "a b"]  # noqa: E501
    ),
    st.text(ANY_CHAR, max_size=5),
)  # fmt: skip
QUERY_VALUES = st.one_of(
    st.sampled_from(["", "1", "a+b", "a%20b", "%", "%26", "=", "x=y"]), st.text(ANY_CHAR, max_size=5)
)
PAIRS = st.lists(st.tuples(QUERY_KEYS, st.sampled_from(["=", "=", ""]), QUERY_VALUES), max_size=5)
QUERIES = st.tuples(PAIRS, st.sampled_from(["&", "&", ";", "&&"])).map(
    lambda both: both[1].join(k + eq + v for k, eq, v in both[0])
)
FRAGMENTS = st.one_of(st.just(""), st.text(ANY_CHAR, max_size=6).map(lambda f: "#" + f))


@st.composite
def urls(draw: st.DrawFn) -> str:
    query = draw(QUERIES)
    url = (
        draw(SCHEMES)
        + draw(SEPARATORS)
        + draw(USERINFO)
        + draw(HOSTS)
        + draw(PORTS)
        + draw(PATHS)
        + (f"?{query}" if query or draw(st.booleans()) else "")
        + draw(FRAGMENTS)
    )
    return draw(st.sampled_from(["", " ", "\t", "\n"])) + url + draw(st.sampled_from(["", " ", "\r\n"]))


ANY_URL = st.one_of(urls(), st.text(ANY_CHAR, max_size=60))


# --- canonical URLs ----------------------------------------------------------


# Found by this property: "%2541" became "%41", then "A" (every escape was decoded), and
# a lone surrogate made quote() raise UnicodeEncodeError.
@example("https://example.org/%2541")
@example("http://example.org/\ud800?utm_medium=x")
@PROPERTY
@given(ANY_URL)
def test_canonical_url_is_idempotent_and_never_raises(url: str) -> None:
    once = canonical_url(url)
    assert isinstance(once, str)
    assert canonical_url(once) == once
    once.encode("utf-8")  # it goes into SQLite as part of a key


@PROPERTY
@given(urls())
def test_canonical_url_drops_tracking_parameters(url: str) -> None:
    canonical = canonical_url(url)
    if not canonical.lower().startswith(("http://", "https://")):
        return
    try:
        parts = urlsplit(canonical)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        return  # left as it was (only stripped): not a URL urllib can take apart
    if not parts.hostname:
        return  # "http:///x" has no host: left as it was too
    keys = [key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)]
    assert not [key for key in keys if key.startswith("utm_") or key in ("fbclid", "gclid")]
    assert not parts.fragment


# --- the rule parser ---------------------------------------------------------

QUERY_PIECES = st.one_of(
    st.sampled_from(
        [
            "AND", "OR", "NOT", "and", "(", ")", "((", "))", '"', "“", "”", "„", '"rare earth*"', '""',
            "NEAR/3", "NEAR/0", "NEAR", "near/2", "NEAR/101", "NEAR/x", "title:", "summary:", "body:",
            "TITLE:", "title:(", "@countries", "@", "@Bad", "@a-b_c", "*", "a*", "ab*", "x-*", "Indo-*",
            "Japan", "japan's", "Japan’s", "India–Japan", "日本", "Japón", "ﬁ", "_", "-", "'", "’s",
            "1", "\u0301", "\ud800", "\x00",
        ]
    ),
    st.text(ANY_CHAR, max_size=8),
)  # fmt: skip
GLUE = st.sampled_from([" ", " ", " ", "", "\n", "\t", "\u3000"])
RULE_QUERIES = st.one_of(
    st.lists(st.tuples(QUERY_PIECES, GLUE), max_size=12).map(lambda parts: "".join(a + b for a, b in parts)),
    st.text(ANY_CHAR, max_size=40),
    st.integers(95, 105).map(lambda depth: "(" * depth + "a" + ")" * depth),
    st.integers(95, 105).map(lambda depth: "NOT " * depth + "a"),
)
LIST = make_term_list("countries", ["Japan", "India", "New Delhi", "Indo-*"])


def assert_points_into(error: RuleError, query: str) -> None:
    assert isinstance(error.position, int), f"no position: {error}"
    assert 0 <= error.position <= len(query), f"position {error.position} outside {len(query)}: {error}"
    assert error.message.strip() and "\n" not in error.message


@PROPERTY
@given(RULE_QUERIES)
def test_rule_parser_returns_a_query_or_a_rule_error_with_a_position(query: str) -> None:
    try:
        parsed = parse_query(query)
    except RuleError as error:
        assert_points_into(error, query)
    else:
        assert parsed.text == query and (parsed.positive or parsed.lists)


@HEAVY
@given(RULE_QUERIES, HOSTILE_TEXT, HOSTILE_TEXT)
def test_a_rule_that_compiles_matches_any_text_without_raising(query: str, title: str, summary: str) -> None:
    try:
        rules = compile_rule_set([Rule("r", "R", query)], [LIST])
    except RuleError as error:
        assert error.rule_id == "r"
        assert_points_into(error, query)
        return
    assert [match.rule_id for match in rules.match(title, summary)] in ([], ["r"])


def _toml_basic(text: str) -> str:
    """`text` as a TOML basic string: every character TOML does not allow raw is escaped."""
    escaped = "".join(
        c if c.isprintable() and c not in '"\\' or c == " " else f"\\U{ord(c):08x}" for c in text
    )
    return f'"{escaped}"'


def _toml_literal_block(text: str) -> str | None:
    """`text` as a multi-line literal string that starts on the next line, when TOML can hold it so."""
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]", text) or "'''" in text or text.endswith("'"):
        return None
    return "'''\n" + text + "'''"


RULE_FILE_HEAD = '# rules\n\n[terms]\ncountries = ["Japan"]\n\n[[rule]]\nid = "r"\nname = "R"\n'
QUERY_LINE = RULE_FILE_HEAD.count("\n") + 1


# Found by this property: in a one-line string a newline is the escape "\n", yet the error's
# line counted it as a line of the file, pointing past the query.
@example(query="NOT\n", block=False)
@HEAVY
@given(RULE_QUERIES.filter(lambda q: not re.search(r"[\ud800-\udfff]", q)), st.booleans())
def test_a_rule_file_error_names_file_line_and_rule(query: str, block: bool) -> None:
    written = (_toml_literal_block(query) if block else None) or _toml_basic(query)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.toml"
        path.write_text(f"{RULE_FILE_HEAD}query = {written}\n", encoding="utf-8")
        try:
            load_rules([path])
        except RuleError as error:
            assert error.path == path and error.rule_id == "r"
            if not query.strip():
                assert error.message == "'query' must be a non-empty string" and error.line == QUERY_LINE
                return
            assert_points_into(error, query)
            assert error.position is not None
            if written.startswith("'''"):  # the query's own lines start on the next one
                assert error.line == QUERY_LINE + 1 + query.count("\n", 0, error.position), str(error)
            else:
                assert error.line == QUERY_LINE, str(error)


# --- tokens ------------------------------------------------------------------


@PROPERTY
@given(st.one_of(HOSTILE_TEXT, st.text(ANY_CHAR)))
def test_fast_folding_gives_the_reference_tokens(text: str) -> None:
    assert fold_tokens(text) == [token.text for token in tokenize(text)]


# --- rendering ---------------------------------------------------------------


def wall(year: int, month: int, day: int) -> datetime:
    """A naive datetime: st.datetimes takes naive bounds."""
    return datetime(year, month, day, tzinfo=UTC).replace(tzinfo=None)


DATES = st.one_of(
    st.none(),
    st.datetimes(wall(1, 1, 2), wall(9999, 12, 30), timezones=st.just(UTC)),
    st.datetimes(wall(1970, 1, 1), wall(2100, 1, 1)),  # naive: render takes it as UTC
)
LINKS = st.one_of(st.none(), ANY_URL, HUGE_TEXT.map(lambda t: "https://example.org/" + t))
ENTRIES = st.builds(
    EntryData,
    feed_url=st.just("https://feed.example/rss"),
    title=FEED_TEXT,
    summary=FEED_TEXT,
    link=LINKS,
    guid=st.none(),
    published=DATES,
    outlet=st.one_of(st.none(), FEED_TEXT),
)
RULE_IDS = st.one_of(st.from_regex(r"[a-z0-9]+(-[a-z0-9]+){0,3}", fullmatch=True), HOSTILE_TEXT)
MATCHES = st.lists(
    st.builds(
        RuleMatch,
        rule_id=RULE_IDS,
        terms=st.lists(FEED_TEXT, max_size=6).map(tuple),
        found=st.lists(st.one_of(FEED_TEXT, st.sampled_from(["a", "the", "&", "<b>", " "])), max_size=6).map(
            tuple
        ),
    ),
    max_size=30,
)
ALSO = st.lists(st.tuples(st.one_of(st.none(), FEED_TEXT), st.one_of(st.none(), ANY_URL)), max_size=40)
_LINK_TAG = re.compile(r"<a\s")


def assert_telegram_accepts(message: str, limit: int = MAX_MESSAGE) -> None:
    """What the fake Bot API checks on sendMessage with parse_mode HTML, plus what we promise."""
    message.encode("utf-8")  # no lone surrogate: python-telegram-bot could not send it
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", message)
    _, entities = check_text(message, "HTML")  # raises ApiError as Telegram would refuse it
    assert utf16_len(message) <= limit  # our promise: the raw HTML too
    links = [entity for entity in entities if entity["type"] == "text_link"]
    assert all(urlsplit(entity["url"]).scheme.lower() in ("http", "https") for entity in links)
    assert len(links) == len(_LINK_TAG.findall(message))  # no link Telegram would drop
    plain = to_plain_text(message)  # the fallback when Telegram refuses the HTML after all
    check_text(plain, None)
    assert utf16_len(plain) <= MAX_MESSAGE


PLAIN = EntryData(FEED, "Title", "Summary", None, None, None)


# Found by this property: a rule id went into the "Rules:" line uncleaned (control
# characters, lone surrogates). Rule files only let kebab-case ids through, but the
# renderer cleans every piece it is given.
@example(entry=PLAIN, outlet=None, matches=[RuleMatch("\x1f", ())], names={}, also=[])
@example(entry=PLAIN, outlet=None, matches=[RuleMatch("\ud800", ())], names={}, also=[])
@HEAVY
@given(
    ENTRIES, st.one_of(st.none(), FEED_TEXT), MATCHES, st.dictionaries(RULE_IDS, FEED_TEXT, max_size=5), ALSO
)
def test_any_feed_text_renders_into_an_alert_telegram_accepts(
    entry: EntryData,
    outlet: str | None,
    matches: list[RuleMatch],
    names: dict[str, str],
    also: list[tuple[str | None, str | None]],
) -> None:
    assert_telegram_accepts(render_alert(compose_alert(entry, outlet, matches, names, also)))


DIGEST_ITEMS = st.builds(
    DigestItem,
    title=FEED_TEXT,
    outlet=st.one_of(st.none(), FEED_TEXT),
    link=LINKS,
    published=DATES,
    topic=st.one_of(st.sampled_from(["Defence", "Chips"]), FEED_TEXT),
    more=st.integers(0, 10**6),
)


@HEAVY
@given(FEED_TEXT, st.lists(DIGEST_ITEMS, min_size=1, max_size=25), st.sampled_from([MAX_MESSAGE, 1024, 400]))
def test_any_feed_text_renders_into_digests_telegram_accepts(
    heading: str, items: list[DigestItem], limit: int
) -> None:
    messages = render_digest(heading, items, limit=limit)
    for message in messages:
        assert_telegram_accepts(message, limit)
    # every article, once: an item line starts with the bullet (headings and topics with "<b>")
    lines = [line for message in messages for line in message.split("\n")]
    assert sum(line.startswith("• ") for line in lines) == len(items)
    assert render_digest_plain(heading, items, limit=limit) == [to_plain_text(m) for m in messages]


# Found by this property (when the notice was built in pipeline.py): the error text went
# out uncleaned (NUL, control characters, lone surrogates: Telegram refuses the message
# or python-telegram-bot cannot encode it), and nothing bounded the escaped length.
@example(feed="https://feed.example/rss", error="\x00" * 500, why="failed 7 times")
@example(feed="\ud800", error="", why="")
@example(feed="<b>" * 500, error="&" * 500, why="\x1f")
@HEAVY
@given(st.one_of(ANY_URL, FEED_TEXT), FEED_TEXT, FEED_TEXT)
def test_any_feed_error_renders_into_a_notice_telegram_accepts(feed: str, error: str, why: str) -> None:
    assert_telegram_accepts(suspension_notice(feed, error, why))


# --- identity under re-ordering ----------------------------------------------

# Small pools, so that entries share links and GUIDs the way real feeds' duplicates do.
POOL_LINKS = st.sampled_from(
    [
        None, "https://example.org/a", "https://EXAMPLE.org/a?utm_source=rss", "https://example.org/a#top",
        "https://example.org/b", "http://example.org:80/b", "https://example.org/c", "ftp://example.org/a",
    ]
)  # fmt: skip
POOL_GUIDS = st.sampled_from([None, "1", "2", " 2 ", "https://example.org/c", "https://example.org/d"])
POOL_ENTRIES = st.builds(
    EntryData,
    feed_url=st.just(FEED),
    title=st.sampled_from(["One", "one ", "Two"]),
    summary=st.just(""),
    link=POOL_LINKS,
    guid=POOL_GUIDS,
    published=st.none(),
)


def identities(keyed: list[tuple[EntryData, str | None, tuple[str, ...]]]) -> set[frozenset[str]]:
    return {frozenset(keys) for _, _, keys in keyed}


@st.composite
def reordered(draw: st.DrawFn, items: st.SearchStrategy[list[Any]]) -> tuple[list[Any], list[Any]]:
    """A list and the same list in another order."""
    first = draw(items)
    return first, draw(st.permutations(first))


A_LINK = EntryData(FEED, "One", "", "https://example.org/a", None, None)
A_LINK_2 = EntryData(FEED, "One", "", "https://example.org/a", "2", None)
B_LINK_2 = EntryData(FEED, "One", "", "https://example.org/b", "2", None)


# Found by this property: the a-link entry and the b-link entry are one article through
# the entry between them, but dropping that entry as a duplicate of the first dropped its
# GUID too, so [a, a+2, b+2] kept two articles and [a+2, a, b+2] one.
@example(([A_LINK, A_LINK_2, B_LINK_2], [A_LINK_2, A_LINK, B_LINK_2]))
@PROPERTY
@given(reordered(st.lists(POOL_ENTRIES, max_size=12)))
def test_entry_identity_does_not_depend_on_feed_order(feeds: tuple[list[EntryData], list[EntryData]]) -> None:
    entries, shuffled = feeds
    assert Counter(map(entry_keys, entries)) == Counter(map(entry_keys, shuffled))
    distinct = distinct_entries(entries)
    assert identities(distinct) == identities(distinct_entries(shuffled))
    # every entry's keys belong to exactly one article; articles keep feed order
    keys = [key for _, _, article_keys in distinct for key in article_keys]
    assert len(keys) == len(set(keys))
    assert all(set(entry_keys(entry)[1]) <= set(keys) for entry in entries)
    firsts = [next(i for i, e in enumerate(entries) if e is entry) for entry, _, _ in distinct]
    assert firsts == sorted(firsts)


HOSTILE_ENTRIES = st.builds(
    EntryData,
    feed_url=st.one_of(st.just(FEED), ANY_URL),
    title=HOSTILE_TEXT,
    summary=st.just(""),
    link=st.one_of(st.none(), ANY_URL),
    guid=st.one_of(st.none(), HOSTILE_TEXT, ANY_URL, st.sampled_from(["", " ", "\t\n"])),
    published=st.none(),
)


# Found by this property: a lone surrogate in a GUID or title went into a key SQLite cannot
# store, and a blank GUID ("  ") was a key shared by every such entry of the feed.
@example(EntryData(FEED, "\ud800", "", None, None, None))
@example(EntryData(FEED, "One", "", None, "  ", None))
@PROPERTY
@given(HOSTILE_ENTRIES)
def test_entry_keys_are_storable_and_a_blank_guid_is_no_guid(entry: EntryData) -> None:
    url, keys = entry_keys(entry)
    assert keys and len(set(keys)) == len(keys)
    assert url is None or "url:" + url in keys
    for key in keys:
        key.encode("utf-8")
    if not (entry.guid or "").strip():
        assert entry_keys(replace(entry, guid=None)) == (url, keys)


Item = tuple[str, str | None, str | None, datetime]  # title, link, guid, date


def rss(items: list[Item]) -> bytes:
    parts = []
    for title, link, guid, published in items:
        parts.append(
            "<item>"
            f"<title>{escape(title)}</title>"
            + (f"<link>{escape(link)}</link>" if link else "")
            + (f'<guid isPermaLink="false">{escape(guid)}</guid>' if guid else "")
            + f"<pubDate>{published:%a, %d %b %Y %H:%M:%S} +0000</pubDate>"
            "</item>"
        )
    channel = "<channel><title>Feed</title><link>https://feed.example/</link>" + "".join(parts) + "</channel>"
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0">{channel}</rss>'.encode()


FEED_ITEMS = st.lists(
    st.tuples(
        st.sampled_from(["One", "Two & <three>", "Quatre é", "(untitled)"]),
        POOL_LINKS,
        POOL_GUIDS.map(lambda g: g.strip() if g else g),
        st.integers(0, 3).map(lambda days: datetime(2026, 3, 6, tzinfo=UTC) - timedelta(days=days)),
    ),
    max_size=10,
)


@PROPERTY
@given(reordered(FEED_ITEMS))
def test_a_shuffled_feed_parses_into_the_same_articles(feeds: tuple[list[Item], list[Item]]) -> None:
    items, shuffled = feeds
    parsed, reparsed = (
        parse_feed(FEED, rss(feed), {"content-type": "application/rss+xml"}) for feed in (items, shuffled)
    )
    assert not isinstance(parsed, ParseError) and not isinstance(reparsed, ParseError)
    assert len(parsed.entries) == len(items)
    assert Counter(map(entry_keys, parsed.entries)) == Counter(map(entry_keys, reparsed.entries))
    assert identities(distinct_entries(parsed.entries)) == identities(distinct_entries(reparsed.entries))
