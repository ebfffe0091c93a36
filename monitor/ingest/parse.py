"""Fetched bytes → FeedData. Pure: no network, no clock, no database.

feedparser reads RSS 0.9x, RSS 1.0 (RDF), RSS 2.0 and Atom. It is always
handed a stream, never ``bytes`` or ``str``: given a string it treats a body
that looks like a path or URL as one to open (a feed whose body is
``/dev/zero`` would exhaust memory). The response headers go with it so a
charset given only by HTTP (ISO-8859-1, windows-1252) decodes right, and a
Content-Location (``located``: the address the body came from) that relative links
resolve against; an undeclared encoding is detected (encoding.py).

Each text field is read as its declared type says (feedparser's ``*_detail``): plain text
as written, HTML through htmltext.py's linear reader, both cut before they are read.
A Google News item's related-coverage list is taken apart (googlenews.py); an item
without its own <source> gets its outlet later (outlet.py, the pipeline).

What feedparser would choke on is cleaned first, on the body in UTF-8 as feedparser
itself decodes it (a UTF-16 or UTF-7 body hides ``<!ENTITY`` from a byte search): a
character reference it raises on, and entity declarations. feedparser keeps each
``<!ENTITY name "text">`` it finds at a line start and, once expat gives up on the
document (its billion-laughs guard does), its loose parser expands them without limit: a
100 KB entity used 2,000 times was a 200 MB title. Only an entity that stands for one
character (XHTML's ``&nbsp;`` = ``&#160;``) is left declared; any other reference stays as
written. No external entity or DTD is ever read (expat's are off, and their declarations
go the same way).
"""

from __future__ import annotations

import calendar
import email.utils
import io
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import feedparser

from monitor.errors import ParseError
from monitor.ingest import googlenews, shortcuts
from monitor.ingest.dedupe import without_shared_guids
from monitor.ingest.encoding import as_utf8
from monitor.ingest.htmltext import html_text, plain_text
from monitor.ingest.itemcap import MAX_ITEMS, cap_items
from monitor.ingest.outlet import feed_outlet
from monitor.types import EntryData, FeedData, RelatedLink

_SPACE = re.compile(r"\s+")
# Unchecked, a 1 MB title would travel through every stage; keep what a reader could use.
# Each field is cut before it is read too (htmltext.RAW_FACTOR).
MAX_TITLE = 1_000
MAX_SUMMARY = 20_000
# RSS 2.0 <ttl>: "number of minutes that indicates how long a channel can be cached".
# More than a week is a typo or a joke; either way not a schedule we follow.
MAX_TTL = 7 * 86400
_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
# An entity declaration, unless it declares one character reference; possessive, so linear.
_ENTITY = re.compile(rb"""<!ENTITY(?!\s++[^\s%"'>]++\s++(["'])&#\w++;\1\s*+>)""")
# Where a truncated body stopped: inside its last entry, or after it.
_ENTRY_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s/>]")
_ENTRY_OR_FEED_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry|channel|feed|rss|RDF)\s*>")
# A publication time later than this past the server's own clock (its Date header) or the
# time monitor first saw it is a typo or a placeholder; so is one at or before the Unix epoch
# (a CMS's zero). Either would sort above or below every real article for good: the article
# counts as published when first seen.
FUTURE_SLACK = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TTL = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*$")
_PLAIN = frozenset({"text/plain", "text"})
shortcuts.install()  # feedparser's per-tag URL joins, remembered (shortcuts.py)


def parse_feed(
    url: str, body: bytes, headers: Mapping[str, str], max_items: int = MAX_ITEMS
) -> FeedData | ParseError:
    """Entries of one feed (at most `max_items`, the newest), or a ParseError when the body is
    not a feed.

    Relative links resolve against the document's location: its Content-Location header
    (`located` sets it to the address the body came from), else `url`."""
    try:
        decoded = as_utf8(body, headers)
        data, skipped = cap_items(decoded.data, max_items)
        parsed = feedparser.parse(
            io.BytesIO(_defused(data)),
            response_headers={**decoded.headers, "content-location": _location(url, headers)},
            # We reduce HTML to its text ourselves (htmltext.py); sanitizing and URI
            # resolution of HTML we then throw away costs half the parse time.
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser's boundary: anything it raises is this feed's problem
        return ParseError(url, f"unreadable feed: {type(exc).__name__}: {exc}")
    version = parsed.get("version") or ""
    if not version and not parsed.entries:
        return ParseError(url, _not_a_feed_reason(parsed, headers))
    problem = (parsed.get("bozo_exception") if parsed.get("bozo") else None) or decoded.problem
    raw_entries = parsed.entries
    if problem is not None and _ends_inside_an_entry(decoded.data):
        # The body stops inside its last entry: what came of it is a fragment (no title, half a
        # summary) that would be archived as it is for good. It comes whole next time.
        raw_entries = raw_entries[:-1]
    feed = parsed.get("feed", {})
    feed_title = _text(feed, "title", MAX_TITLE) or None
    latest = _latest_date(headers)
    entries, shared = without_shared_guids([_entry(url, raw, latest) for raw in raw_entries])
    if len(entries) > max_items:  # items the byte scan did not see: the newest kept, in feed order
        skipped += len(entries) - max_items
        newest = sorted(range(len(entries)), key=lambda n: entries[n].published or _EPOCH, reverse=True)
        entries = [entries[n] for n in sorted(newest[:max_items])]
    warnings = [f"recovered from: {_one_line(problem)}"] if problem is not None else []
    if decoded.guess:
        warnings.append(f"no encoding declared; read as {decoded.guess} (detected)")
    if shared:
        warnings.append(f"{shared} entries share a GUID with other links: identified by their links")
    return FeedData(
        url=url,
        title=feed_title,
        entries=tuple(entries),
        warning="; ".join(warnings) or None,
        ttl=_ttl(feed.get("ttl")),
        outlet=feed_outlet(feed_title, url),
        skipped=skipped,
    )


def located(headers: Mapping[str, str], document_url: str) -> dict[str, str]:
    """The response headers with Content-Location made absolute against the address the body
    came from (after redirects): what relative links in the feed resolve against."""
    return {**headers, "content-location": urljoin(document_url, headers.get("content-location", ""))}


def _location(url: str, headers: Mapping[str, str]) -> str:
    given = headers.get("content-location", "").strip()
    if not url.lower().startswith(("http://", "https://")):
        return given
    try:
        return urljoin(url, given)
    except ValueError:
        return url


def settled(entry: EntryData, first_seen: datetime) -> EntryData:
    """The entry without a publication time later than FUTURE_SLACK past `first_seen`: the
    server's Date header is not always there to tell (issue 15)."""
    if entry.published is not None and entry.published > first_seen + FUTURE_SLACK:
        return replace(entry, published=None)
    return entry


def _defused(data: bytes) -> bytes:
    if b"&#" in data:
        data = _CHARREF.sub(_charref, data)
    if b"<!ENTITY" in data:
        # "<! ENTITY" declares nothing: expat stops at it and the loose parser skips it.
        data = _ENTITY.sub(b"<! ENTITY", data)
    return data


def _ends_inside_an_entry(data: bytes) -> bool:
    """The last <item> or <entry> is neither closed nor followed by the end of the feed."""
    last = None
    for last in _ENTRY_START.finditer(data):  # noqa: B007 (the last one is wanted)
        pass
    return last is not None and _ENTRY_OR_FEED_END.search(data, last.end()) is None


def _latest_date(headers: Mapping[str, str]) -> datetime | None:
    try:
        sent = email.utils.parsedate_to_datetime(headers.get("date", "").strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # an HTTP-date is always GMT; parsedate gives a naive datetime for "-0000"
    return (sent.replace(tzinfo=UTC) if sent.tzinfo is None else sent) + FUTURE_SLACK


def _charref(m: re.Match[bytes]) -> bytes:
    """A character reference feedparser would die on (a surrogate, beyond U+10FFFF, or
    absurdly long: kurtmckee/feedparser#591, one in the whole feed loses every entry)
    becomes U+FFFD; any other stays as written."""
    hexa, decimal = m.groups()
    digits = (hexa or decimal).lstrip(b"0")
    code = int(digits or b"0", 16 if hexa else 10) if len(digits) <= 7 else -1
    return m.group() if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else b"&#xFFFD;"


def _not_a_feed_reason(parsed: Any, headers: Mapping[str, str]) -> str:
    ctype = headers.get("content-type", "").split(";")[0].strip() or "unknown type"
    exc = parsed.get("bozo_exception")
    detail = f": {_one_line(exc)}" if exc is not None else ""
    return f"not a feed (content type {ctype}){detail}"


def _ttl(value: object) -> float | None:
    """<ttl> minutes → seconds; None when absent, not a number, zero, or over MAX_TTL."""
    m = _TTL.match(value) if isinstance(value, str) else None
    seconds = float(m.group(1)) * 60 if m else 0.0
    return seconds if 0 < seconds <= MAX_TTL else None


def _one_line(exc: object) -> str:
    return _SPACE.sub(" ", str(exc)).strip()[:200]


def _entry(feed_url: str, raw: Any, latest: datetime | None) -> EntryData:
    title = _text(raw, "title", MAX_TITLE)
    link = _link(raw)
    source = raw.get("source") or {}
    outlet = _text(source, "title", MAX_TITLE) or _text(raw, "publisher", MAX_TITLE) or None
    summary = _summary(raw)
    related: tuple[RelatedLink, ...] = ()
    if googlenews.is_google_news(link):
        title, suffix_outlet = googlenews.split_title(title, outlet)
        outlet = outlet or suffix_outlet
        if raw.get("summary"):
            summary, related = googlenews.split_description(raw["summary"], link, title, MAX_SUMMARY)
    guid = raw.get("id") or None
    return EntryData(
        feed_url=feed_url,
        title=title or "(untitled)",
        summary=summary,
        link=link,
        guid=str(guid).strip() if guid else None,
        published=_date(raw, latest),
        outlet=outlet,
        related=related,
    )


def _link(raw: Any) -> str | None:
    link = raw.get("link")
    if not link:
        # Atom may give only rel="alternate" links, or none with a type we know.
        for candidate in raw.get("links", []):
            if candidate.get("href") and candidate.get("rel", "alternate") == "alternate":
                return str(candidate["href"]).strip()
        return None
    return str(link).strip()


def _summary(raw: Any) -> str:
    # Atom <content> is often the full text, <summary> a teaser; RSS puts the
    # text in <description>. Prefer the longer of summary and content.
    texts = [_text(raw, "summary", MAX_SUMMARY)]
    texts += [_field(c.get("value", ""), c.get("type"), MAX_SUMMARY) for c in raw.get("content", []) or []]
    return max(texts, key=len, default="")


def _text(raw: Any, key: str, limit: int) -> str:
    """A text field as its declared type says: feedparser's `<key>_detail` (RSS fields count
    as plain text unless they look like HTML: feedparser's own rule)."""
    detail = raw.get(f"{key}_detail") or {}
    return _field(raw.get(key) or "", detail.get("type"), limit)


def _field(value: object, kind: object, limit: int) -> str:
    text = value if isinstance(value, str) else ""
    return plain_text(text, limit) if kind in _PLAIN else html_text(text, limit)


def _date(raw: Any, latest: datetime | None) -> datetime | None:
    """The first plausible of the entry's times (see FUTURE_SLACK), or None."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict answers updated_parsed with published_parsed, and a warning.
        value = dict.get(raw, key)
        if value:
            try:
                # feedparser's *_parsed are struct_time in UTC.
                moment = datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
            if _EPOCH < moment and (latest is None or moment <= latest):
                return moment
    return None
