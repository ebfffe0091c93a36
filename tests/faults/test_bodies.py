"""Hostile feed bodies: whatever a 200 response carries, the pass completes, the feed's good
entries are archived once, a body that is no feed is one line on that feed, and no alert
carries what Telegram or a reader could not take.

Feeds are written by hand as bytes where the fault is in the XML itself. What feedparser 6
(expat through xml.sax, then its loose parser when expat gives up) does with each is in
the test's docstring; monitor/parse.py says what we do about it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from fakes.telegram_api import check_text, utf16_len
from monitor.alerts.notify import telegram_html
from monitor.alerts.render import MAX_MESSAGE
from monitor.archive.payload import decode
from monitor.archive.sqltime import iso
from monitor.archive.store import Archive
from monitor.config.load import load_config
from monitor.ingest.parse import MAX_TITLE
from tests.conftest import rss
from tests.faults.conftest import Outcome

pytestmark = pytest.mark.slow  # end to end: `pytest -m "not slow"` leaves it out

DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
# Matches the shipped rules (economic-security, semiconductors, diplomacy): it is alerted.
ON_TOPIC = "India and Japan sign semiconductor supply chain pact"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _bytes(text: str | bytes) -> bytes:
    return text.encode("utf-8") if isinstance(text, str) else text


def item(n: int, title: str | bytes, summary: str | bytes = b"", extra: str | bytes = b"") -> bytes:
    """An RSS <item> linking to https://bodies.test/<n>; everything goes in as given."""
    return (
        b"<item><title>%s</title><link>https://bodies.test/%d</link>%s<description>%s</description></item>"
        % (
            _bytes(title),
            n,
            _bytes(extra),
            _bytes(summary),
        )
    )


def feed(*items: bytes, prolog: bytes = DECLARATION) -> bytes:
    return (
        prolog + b'<rss version="2.0"><channel><title>Bodies</title>' + b"".join(items) + b"</channel></rss>"
    )


@contextmanager
def archive_of(outcome: Outcome) -> Iterator[Archive]:
    archive = Archive.open(load_config(outcome.config, environ={}).storage_path, create=False)
    try:
        yield archive
    finally:
        archive.close()


def stored(outcome: Outcome, url: str) -> list[dict[str, Any]]:
    """The feed's archived articles, in the order they were archived."""
    with archive_of(outcome) as archive:
        sql = "select * from articles where feed = ? order by id"
        return list(archive.db.query(sql, [url]))


def alerts_of(outcome: Outcome, url: str) -> list[str]:
    """Every alert queued for the feed's articles, as the Telegram notifier renders it to send."""
    with archive_of(outcome) as archive:
        sql = (
            "select al.payload, al.text from alerts al join articles ar on ar.id = al.article_id"
            " where ar.feed = ?"
        )
        rows = archive.db.query(sql, [url])
        return [html for row in rows for html in telegram_html(decode(row["payload"], row["text"]))]


def every_text(outcome: Outcome) -> str:
    """Every text value in every table of the archive."""
    with archive_of(outcome) as archive:
        values = []
        for table in archive.db.table_names():
            for row in archive.db.execute(f'select * from "{table}"'):
                values += [str(v) for v in row if isinstance(v, str | bytes)]
        return "\n".join(values)


# --- the XML itself ------------------------------------------------------------------

TITLES = ["Monsoon reaches Kerala", "Snowfall closes Hokkaido passes", "Tea auction prices steady in Kolkata"]
SUMMARIES = [
    f"{title}: the full report, paragraph after paragraph, as the desk filed it." for title in TITLES
]


def whole(first: int) -> bytes:
    """Three items, linked from `first` on: each feed of a test links to its own articles."""
    pairs = zip(TITLES, SUMMARIES, strict=True)
    return feed(*(item(first + n, title, summary) for n, (title, summary) in enumerate(pairs)))


def cuts(body: bytes) -> dict[str, bytes]:
    return {
        "between-items": body[: body.index(b"<item><title>Tea")],
        "inside-a-title": body[: body.index(b"Tea auction") + len(b"Tea auc")],
        "inside-a-summary": body[: body.index(SUMMARIES[2].encode()) + 30],
        "inside-a-closing-tag": body[: body.rindex(b"</item>") + len(b"</ite")],
    }


def test_a_truncated_body_keeps_the_entries_before_the_cut_and_the_cut_one_comes_whole_later(
    faults, feed_server
):
    """expat stops at the cut ("no element found", "unclosed token") and feedparser's loose parser
    reads what there is, so the entries before the cut are kept: the feed is not reported. The
    entry the cut went through is a fragment (no title: "(untitled)"; half a summary), and
    archived it would stay so for good, its link being known next time; it is left out, and the
    next fetch, whole, archives it with all its text."""
    cases = list(cuts(whole(0)))
    urls = {cut: feed_server.add(f"/cut/{cut}.xml", cuts(whole(10 * n))[cut]) for n, cut in enumerate(cases)}
    outcome = faults.run(list(urls.values()))
    assert {cut: outcome.ok(url) for cut, url in urls.items()} == {cut: TITLES[:2] for cut in cases}

    for n, cut in enumerate(cases):
        feed_server.add(f"/cut/{cut}.xml", whole(10 * n))
    report = faults.poll(outcome.config)
    assert report.errors == []
    for cut, url in urls.items():
        archived = [(a["title"], a["summary"]) for a in stored(outcome, url)]
        assert archived == list(zip(TITLES, SUMMARIES, strict=True)), cut


def test_undefined_entities_cost_the_entity_not_the_feed(faults, feed_server):
    """No DTD declares &nbsp; or &foo;: expat stops ("undefined entity") and the loose parser
    reads the whole feed again; an HTML entity is decoded (a no-break space folds to a space),
    an unknown one stays as written."""
    url = feed_server.add(
        "/entities.xml",
        feed(
            item(1, "Monsoon&nbsp;reaches Kerala", "Rain&nbsp;at last &amp; relief"),
            item(2, "Rates &foo; and &bar; rise", "Markets &unknown; steady"),
            item(3, "After the entities"),
        ),
    )
    outcome = faults.run([url])
    assert outcome.ok(url) == ["Monsoon reaches Kerala", "Rates &foo; and &bar; rise", "After the entities"]
    assert [a["summary"] for a in stored(outcome, url)] == [
        "Rain at last & relief",
        "Markets &unknown; steady",
        "",
    ]


def billion_laughs(first: int) -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    dtd = "<!DOCTYPE rss [\n" + "\n".join(levels) + "\n]>\n"
    return feed(
        item(first, "Laughs &lol9;", "&lol9;"),
        item(first + 1, "After the laughs"),
        prolog=DECLARATION + dtd.encode(),
    )


def quadratic(first: int, one_line: bool = False, encoding: str = "utf-8") -> bytes:
    """A 50 KB entity used 2,000 times: 100 MB once expanded, from a 56 KB body."""
    dtd = f'<!DOCTYPE rss [\n<!ENTITY a "{"a" * 50_000}">\n]>\n'
    if one_line:  # feedparser's line-anchored regexes miss it: expat reads the DTD itself
        dtd = dtd.replace("\n", "")
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>' + ("" if one_line else "\n")
    body = feed(
        item(first, "Blowup " + "&a;" * 1000, "&a;" * 1000), item(first + 1, "After the blowup"), prolog=b""
    )
    return (declaration + dtd).encode(encoding) + body.decode("utf-8").encode(encoding)


def test_entity_expansion_bombs_expand_to_nothing(faults, feed_server):
    """What feedparser does: it strips every <!ENTITY> at a line start and puts back the ones it
    deems safe (a name and a literal without "&"), for expat and for its loose parser. expat
    (2.5 here) stops a billion laughs or a quadratic blowup at 100 times the input ("limit on
    input amplification factor ... breached"), and then the loose parser expanded the "safe"
    50 KB entity without any limit: 50 MB of title and 50 MB of summary from a 56 KB body, all
    of it in memory (under the default 10 MiB max_bytes, far more than the machine has). A
    nested (billion laughs) one never was "safe": it stayed "&lol9;".

    Now only an entity that stands for one character reference stays declared, whatever the
    body's encoding, so nothing expands: each reference stays as written and the feed is kept."""
    bodies = {
        "billion-laughs": billion_laughs(10),
        "quadratic-blowup": quadratic(20),
        "quadratic-blowup-dtd-on-one-line": quadratic(30, one_line=True),
        "quadratic-blowup-in-utf-16": quadratic(40, encoding="utf-16"),
    }
    urls = {
        case: feed_server.add(f"/bomb/{case}.xml", body, content_type="application/rss+xml")
        for case, body in bodies.items()
    }
    outcome = faults.run(list(urls.values()))
    laughs = stored(outcome, urls["billion-laughs"])
    assert [(a["title"], a["summary"]) for a in laughs] == [
        ("Laughs &lol9;", "&lol9;"),
        ("After the laughs", ""),
    ]
    for case in ("quadratic-blowup", "quadratic-blowup-dtd-on-one-line", "quadratic-blowup-in-utf-16"):
        first, second = stored(outcome, urls[case])
        assert first["title"] == ("Blowup " + "&a;" * 1000)[:MAX_TITLE], case
        assert first["summary"] == "&a;" * 1000, case
        assert second["title"] == "After the blowup", case
    assert "lollol" not in every_text(outcome) and "aaaaaaaa" not in every_text(outcome)


def test_external_entities_are_never_read(faults, feed_server, tmp_path: Path):
    """XXE: an entity (or a parameter entity, or the DTD itself) naming a file or a URL. feedparser
    turns off expat's external general entities (feature_external_ges) and external parameter
    entities are off by default, so neither a file nor a URL was ever read; a declaration on its
    own line is dropped before expat sees it, and the reference then stays as written. Now every
    such declaration is disarmed first, wherever it stands. The feed is kept, its alert is
    queued, and the secret is nowhere: not in the archive, not in an alert, not requested."""
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("FILE-SECRET-8c1d", encoding="utf-8")
    feed_server.add("/xxe/secret.txt", "HTTP-SECRET-41f7", content_type="text/plain")
    feed_server.add("/xxe/evil.dtd", '<!ENTITY xxe "DTD-SECRET-03be">', content_type="application/xml-dtd")
    base = feed_server.base_url
    doctypes = {
        "file-entity": f'<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">\n]>\n',
        "http-entity": f'<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{base}/xxe/secret.txt">\n]>\n',
        "parameter-entity": f'<!DOCTYPE rss [\n<!ENTITY % evil SYSTEM "{base}/xxe/evil.dtd">\n%evil;\n]>\n',
        "external-dtd": f'<!DOCTYPE rss SYSTEM "{base}/xxe/evil.dtd">\n',
    }
    doctypes |= {f"{case}-on-one-line": dtd.replace("\n", "") for case, dtd in list(doctypes.items())}
    urls = {
        case: feed_server.add(
            f"/xxe/{case}.xml",
            feed(item(n, ON_TOPIC + " &xxe;", "Signed in Tokyo &xxe;"), prolog=DECLARATION + dtd.encode()),
        )
        for n, (case, dtd) in enumerate(doctypes.items())
    }
    outcome = faults.run(list(urls.values()))
    for case, url in urls.items():
        (title,) = outcome.ok(url)
        assert title.startswith(ON_TOPIC), (case, title)
    assert any(alerts_of(outcome, url) for url in urls.values())
    archive = every_text(outcome)  # titles, summaries, alert texts, errors, everything
    for secret in ("FILE-SECRET", "HTTP-SECRET", "DTD-SECRET"):
        assert secret not in archive
    assert feed_server.count("/xxe/secret.txt") == 0 and feed_server.count("/xxe/evil.dtd") == 0


# --- encodings -----------------------------------------------------------------------


def test_encodings_that_lie_or_mix_still_read_right(faults, feed_server):
    """feedparser decodes in the order RFC 3023 gives (the HTTP charset, else the XML
    declaration), then tries utf-8 and windows-1252. A body not valid in what it declares was
    read whole as windows-1252: right for Latin-1 bytes, but in a UTF-8 feed with one Latin-1
    item every ’, é and Devanagari letter of the others became mojibake ("Itâ€™s",
    "à¤­à¤¾à¤°à¤¤"); now stray bytes are windows-1252 and the rest stays UTF-8. Where a
    Latin-1 charset wraps UTF-8, feedparser mends each element itself. A UTF-16 body with its
    byte order mark, labelled charset=utf-8, had no entries at all when its text was ASCII (the
    header won, and UTF-16 ASCII is valid UTF-8 with NULs); the byte order mark now wins."""
    latin1 = DECLARATION.replace(b"utf-8", b"iso-8859-1")
    cases = {
        "declared-utf-8-bytes-latin-1": (
            feed(item(1, "Café à Tokyo".encode("latin-1"))),
            "application/rss+xml",
            ["Café à Tokyo"],
        ),
        "header-latin-1-bytes-utf-8": (
            feed(item(2, "Café, “Tokyo” — it’s on")),
            "application/rss+xml; charset=iso-8859-1",
            ["Café, “Tokyo” — it’s on"],
        ),
        "header-utf-8-declared-and-bytes-latin-1": (
            feed(item(3, "Crème brûlée".encode("latin-1")), prolog=latin1),
            "application/rss+xml; charset=utf-8",
            ["Crème brûlée"],
        ),
        "utf-16-with-byte-order-mark-labelled-utf-8": (
            feed(item(4, "Tokyo talks"), prolog=b'<?xml version="1.0" encoding="utf-16"?>')
            .decode("utf-8")
            .encode("utf-16"),
            "application/rss+xml; charset=utf-8",
            ["Tokyo talks"],
        ),
        "utf-8-with-one-latin-1-item": (
            feed(item(5, "It’s Café"), item(6, "भारत और जापान"), item(7, "Crème".encode("latin-1"))),
            "application/rss+xml; charset=utf-8",
            ["It’s Café", "भारत और जापान", "Crème"],
        ),
    }
    urls = {
        case: feed_server.add(f"/charset/{case}.xml", body, content_type=ctype)
        for case, (body, ctype, _) in cases.items()
    }
    outcome = faults.run(list(urls.values()))
    assert {case: outcome.ok(url) for case, url in urls.items()} == {
        case: titles for case, (_, _, titles) in cases.items()
    }


# --- text no chat can take ------------------------------------------------------------


def test_control_characters_reach_neither_archive_nor_alert(faults, feed_server):
    """A raw NUL or ESC makes the XML ill-formed (expat: "not well-formed (invalid token)") and
    feedparser's loose parser keeps them; references to controls (&#1;, &#x1b;) pass too, and a
    C1 control (U+0085) comes out as the windows-1252 character of its byte ("…": feedparser maps
    them). In the archive, and so in the alert, a NUL and the bidirectional overrides (format
    characters) are dropped, every other control becomes a space, and &#0;, a reference to no
    character, is U+FFFD.
    The alert is Telegram HTML the fake Bot API accepts. Joiners are letters' glue, not controls:
    Persian "می‌خواهم" and the emoji "👩‍🔬" keep theirs."""
    title = ON_TOPIC.replace(" ", "\x00 ", 2).encode() + b"\x01\x1b\x7f \xc2\x85&#0;&#x1b;&#x7f;"
    summary = b"Delhi\x00 and Tokyo\x0b signed\x08 a pact &#1;today \xe2\x80\xaereversed\xe2\x80\xac; "
    summary += "می‌خواهم 👩‍🔬".encode()
    url = feed_server.add("/controls.xml", feed(item(1, title, summary), item(2, "After\x00 the controls")))
    outcome = faults.run([url])
    first, second = stored(outcome, url)
    assert first["title"] == ON_TOPIC + " …\ufffd"
    assert first["summary"] == "Delhi and Tokyo signed a pact today reversed; می\u200cخواهم 👩\u200d🔬"
    assert second["title"] == "After the controls"
    (alert,) = alerts_of(outcome, url)
    visible, _ = check_text(alert, "HTML")  # raises as sendMessage would refuse it
    assert ON_TOPIC in visible and not CONTROL.search(alert)


def test_a_huge_title_is_archived_cut_and_alerted_within_telegrams_limit(faults, feed_server):
    """A 1 MB title (the body stays under write_config's 1 MiB cap) is archived cut at MAX_TITLE
    characters, as a reader could use it; the alert shows its first few hundred characters and
    an ellipsis, under 4,096 UTF-16 units, as valid Telegram HTML."""
    title = ON_TOPIC + " & more:" + " word" * 200_000
    url = feed_server.add("/huge-title.xml", feed(item(1, title.replace("&", "&amp;"))))
    outcome = faults.run([url])
    (archived,) = outcome.ok(url)
    assert archived == title[:MAX_TITLE].rstrip()
    (alert,) = alerts_of(outcome, url)
    visible, _ = check_text(alert, "HTML")
    assert utf16_len(alert) < MAX_MESSAGE
    assert visible.startswith(ON_TOPIC + " & more: word word") and "…" in visible


# --- not a feed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "ctype"),
    [
        (
            "/page.html",
            b"<!doctype html><html><head><title>Home</title>"
            b'<link rel="alternate" type="application/rss+xml" href="/rss"></head>'
            b"<body><h1>News</h1><p>Our feed moved.</p></body></html>",
            "text/html; charset=utf-8",
        ),
        (
            "/feed.json",
            b'{"version": "https://jsonfeed.org/version/1.1", "title": "JSON news",'
            b' "items": [{"id": "1", "title": "India and Japan sign a pact", "url": "https://j.test/1"}]}',
            "application/feed+json",
        ),
    ],
    ids=["html-page", "json-feed"],
)
def test_a_body_that_is_no_feed_is_one_line_on_that_feed(
    faults, feed_server, path: str, body: bytes, ctype: str
):
    """feedparser finds no feed version and no entry (expat: "syntax error" on the HTML, "not
    well-formed" on the JSON; feedparser 6 does not read JSON Feed): "not a feed (content type
    ...)" on that feed, nothing archived from it, the others go on."""
    url = feed_server.add(path, body, content_type=ctype)
    outcome = faults.run([url])
    outcome.failed_once(url, "not a feed", f"content type {ctype.split(';')[0]}")
    assert url not in outcome.titles


# --- sizes ----------------------------------------------------------------------------

WORDS = (
    "amber basil cedar delta ember fjord grove harbor inlet jasper knoll lagoon meadow nectar orchard"
    " prairie quarry ridge summit thicket upland valley willow yarrow zephyr birch coral dune fern"
    " glade heron iris juniper kelp lotus maple"
).split()


def test_ten_thousand_items_are_all_archived_in_one_pass(faults, feed_server):
    """10,000 items of distinct titles in one body (just under the 1 MiB cap), with [fetch]
    max_items raised to take them all: all archived, each once, and the others in the pass are
    not disturbed (the harness checks). (The default reads 1,000: faults/test_hostile.py.)"""
    rng = random.Random(8)
    titles = [" ".join(rng.sample(WORDS, 5)) + f" {n}" for n in range(10_000)]
    body = feed(
        *(
            b"<item><title>%s</title><link>https://bulk.test/%d</link></item>" % (t.encode(), n)
            for n, t in enumerate(titles)
        )
    )
    assert len(body) < 1024 * 1024
    url = feed_server.add("/bulk.xml", body)
    # A neighbour whose answer comes while the 10,000 are parsed: the event loop must go on
    # reading it (the analysis runs in a thread), or its 3 s deadline runs out on a feed that
    # did nothing wrong.
    late = feed_server.add("/late.xml", rss("Late", faults.seeds[4:5]), delay=1.0)
    # the budget raised too: this is about 10,000 items archived, not about a slow machine
    outcome = faults.run([url, late], fetch='max_items = 10000\nanalysis_budget = "300s"')
    assert outcome.ok(url) == titles
    assert outcome.ok(late) == [faults.seeds[4].title]
    assert outcome.report.new_articles == 10_002  # and the bystander's


# --- identity and time ----------------------------------------------------------------


def test_dates_before_1970_after_the_servers_clock_or_none_count_as_first_seen(faults, feed_server):
    """feedparser parses all of them (1 Jan 1970 is struct_time 0; 2100 is 2100). Stored as they
    were, 2100 would head every newest-first list (search, /search) until 2100 and keep the feed
    from ever looking stale, and 1970 would fall out of every "since" filter at once. A time at
    or before the Unix epoch (a CMS's zero), or more than a day after the response's own Date
    header, is no publication time: like an item without one, it is published when first seen.
    A plausible date is kept as given."""
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    dated = {
        "Epoch item": "Thu, 01 Jan 1970 00:00:00 GMT",
        "Before the epoch item": "Wed, 31 Dec 1969 23:59:59 GMT",
        "Year 2100 item": "Fri, 01 Jan 2100 00:00:00 GMT",
        "Undated item": None,
        "Dated item": format_datetime(recent, usegmt=True),
    }
    items = [
        item(n, title, extra=f"<pubDate>{date}</pubDate>" if date else "")
        for n, (title, date) in enumerate(dated.items())
    ]
    url = feed_server.add("/dates.xml", feed(*items))
    outcome = faults.run([url])
    archived = {a["title"]: (a["published"], a["first_seen"]) for a in stored(outcome, url)}
    assert list(archived) == list(dated)
    (first_seen,) = {seen for _, seen in archived.values()}  # one pass, one time
    assert {title: published for title, (published, _) in archived.items()} == {
        "Epoch item": first_seen,
        "Before the epoch item": first_seen,
        "Year 2100 item": first_seen,
        "Undated item": first_seen,
        "Dated item": iso(recent),
    }
