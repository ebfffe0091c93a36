"""Fetched bytes → FeedData. Pure: no network, no clock, no database.

feedparser reads RSS 0.9x, RSS 1.0 (RDF), RSS 2.0 and Atom. It is always
handed a stream, never ``bytes`` or ``str``: given a string it treats a body
that looks like a path or URL as one to open (a feed whose body is
``/dev/zero`` would exhaust memory). The response headers go with it so a
charset given only by HTTP (ISO-8859-1, windows-1252) decodes right.

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
import codecs
import email.utils
import html
import io
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from feedparser import CharacterEncodingOverride
from feedparser.encodings import convert_to_utf8

from monitor.errors import ParseError
from monitor.ingest.itemcap import MAX_ITEMS, cap_items
from monitor.types import EntryData, FeedData

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_BLOCK = re.compile(r"</?(p|br|div|li|h[1-6]|tr|blockquote)\b[^>]*>", re.IGNORECASE)
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# Google News titles end in " - Outlet"; its <source> names the outlet too.
_GOOGLE_NEWS = re.compile(r"^https?://news\.google\.com/", re.IGNORECASE)
# Unchecked, a 1 MB title would travel through every stage; keep what a reader could use.
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
# A publication time later than this past the server's own clock (its Date header) is a typo
# or a placeholder; so is one at or before the Unix epoch (a CMS's zero). Either would sort
# above or below every real article for good: the article counts as published when first seen.
FUTURE_SLACK = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TTL = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*$")
# UTF-32-LE's byte order mark starts as UTF-16-LE's does.
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF32_BE)


def parse_feed(
    url: str, body: bytes, headers: Mapping[str, str], max_items: int = MAX_ITEMS
) -> FeedData | ParseError:
    """Entries of one feed (at most `max_items`, the newest), or a ParseError when the body is not a feed."""
    try:
        data, utf8_headers, encoding_problem = _as_utf8(body, headers)
        data, skipped = cap_items(data, max_items)
        parsed = feedparser.parse(
            io.BytesIO(_defused(data)),
            response_headers=utf8_headers,
            # We strip every tag to plain text ourselves; sanitizing and URI
            # resolution of HTML we then throw away costs half the parse time.
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser's boundary: anything it raises is this feed's problem
        return ParseError(url, f"unreadable feed: {type(exc).__name__}: {exc}")
    version = parsed.get("version") or ""
    if not version and not parsed.entries:
        return ParseError(url, _not_a_feed_reason(parsed, headers))
    problem = (parsed.get("bozo_exception") if parsed.get("bozo") else None) or encoding_problem
    raw_entries = parsed.entries
    if problem is not None and _ends_inside_an_entry(data):
        # The body stops inside its last entry: what came of it is a fragment (no title, half a
        # summary) that would be archived as it is for good. It comes whole next time.
        raw_entries = raw_entries[:-1]
    feed = parsed.get("feed", {})
    feed_title = _plain(feed.get("title", "")) or None
    latest = _latest_date(headers)
    entries = tuple(_entry(url, raw, latest) for raw in raw_entries)
    if len(entries) > max_items:  # items the byte scan did not see: the newest kept, in feed order
        skipped += len(entries) - max_items
        newest = sorted(range(len(entries)), key=lambda n: entries[n].published or _EPOCH, reverse=True)
        entries = tuple(entries[n] for n in sorted(newest[:max_items]))
    warning = f"recovered from: {_one_line(problem)}" if problem is not None else None
    return FeedData(
        url=url,
        title=feed_title,
        entries=entries,
        warning=warning,
        ttl=_ttl(feed.get("ttl")),
        skipped=skipped,
    )


def _as_utf8(body: bytes, headers: Mapping[str, str]) -> tuple[bytes, dict[str, str], Exception | None]:
    """The body in UTF-8 as feedparser decodes it (HTTP charset, BOM, XML declaration, then
    guesses), the headers that now say UTF-8, and what feedparser thought of the encoding."""
    given = dict(headers)
    if body.startswith(_BOMS) and "content-type" in given:
        # A byte order mark is the document's own word on its encoding; a charset beside it
        # is a server default (an ASCII-only UTF-16 feed labelled UTF-8 read as no feed at all).
        given["content-type"] = given["content-type"].split(";")[0]
    found: dict[str, Any] = {}
    data = convert_to_utf8(given, body, found)
    if found.get("encoding") == "windows-1252" and isinstance(
        found.get("bozo_exception"), CharacterEncodingOverride
    ):
        # Not what it declares, so feedparser read all of it as windows-1252: right for a
        # Latin-1 feed, but a UTF-8 feed with one Latin-1 item pasted in lost every ’, é and
        # Devanagari letter of the others. Each stray byte is windows-1252, the rest UTF-8.
        found = {}
        data = convert_to_utf8(given, body.decode("utf-8", _STRAY_BYTES).encode("utf-8"), found)
    media = headers.get("content-type", "").split(";")[0].strip() or "application/xml"
    problem = found.get("bozo_exception") if found.get("bozo") else None
    return data, {**headers, "content-type": f"{media}; charset=utf-8"}, problem


def _stray_bytes_as_windows_1252(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)  # registered for decoding only
    return error.object[error.start : error.end].decode("cp1252", "replace"), error.end


_STRAY_BYTES = "monitor.ingest.parse.stray-bytes-as-windows-1252"
codecs.register_error(_STRAY_BYTES, _stray_bytes_as_windows_1252)


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
    title = _plain(raw.get("title", ""))[:MAX_TITLE]
    link = _link(raw)
    outlet = None
    source = raw.get("source") or {}
    if source.get("title"):
        outlet = _plain(source["title"])
    if link and _GOOGLE_NEWS.match(link):
        title, suffix_outlet = _split_google_title(title, outlet)
        outlet = outlet or suffix_outlet
    guid = raw.get("id") or None
    return EntryData(
        feed_url=feed_url,
        title=title or "(untitled)",
        summary=_summary(raw)[:MAX_SUMMARY],
        link=link,
        guid=str(guid).strip() if guid else None,
        published=_date(raw, latest),
        outlet=outlet,
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


def _split_google_title(title: str, outlet: str | None) -> tuple[str, str | None]:
    """'Headline - The Hindu' → ('Headline', 'The Hindu')."""
    if outlet and title.endswith(" - " + outlet):
        return title[: -len(outlet) - 3].rstrip(), outlet
    head, sep, tail = title.rpartition(" - ")
    if sep and head and 0 < len(tail) <= 60:
        return head.rstrip(), tail.strip()
    return title, None


def _summary(raw: Any) -> str:
    # Atom <content> is often the full text, <summary> a teaser; RSS puts the
    # text in <description>. Prefer the longer of summary and content.
    texts = [raw.get("summary", "")]
    texts += [c.get("value", "") for c in raw.get("content", []) or []]
    return max((_plain(t) for t in texts), key=len, default="")


def _plain(text: str) -> str:
    """Tags stripped, entities decoded, whitespace folded."""
    if not text:
        return ""
    text = _SCRIPT.sub(" ", text)
    text = _BLOCK.sub(" ", text)
    text = _TAG.sub("", text)
    text = _SPACE.sub(" ", html.unescape(text).replace("\x00", ""))
    if not text.isprintable():  # rare: control and format characters, one by one
        text = _SPACE.sub(" ", "".join(ch if _shown(ch) else " " for ch in text))
    return text.strip()


def _shown(char: str) -> bool:
    """Printable, or a joiner (Persian and Devanagari words, emoji sequences hold them), or a
    character newer than this Python's Unicode (this year's emoji): none of them is a control."""
    return char.isprintable() or char in "\u200c\u200d" or unicodedata.category(char) == "Cn"


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
