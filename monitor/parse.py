"""Fetched bytes → FeedData. Pure: no network, no clock, no database.

feedparser reads RSS 0.9x, RSS 1.0 (RDF), RSS 2.0 and Atom. It is always
handed a stream, never ``bytes`` or ``str``: given a string it treats a body
that looks like a path or URL as one to open (a feed whose body is
``/dev/zero`` would exhaust memory). The response headers go with it so a
charset given only by HTTP (ISO-8859-1, windows-1252) decodes right.
"""

from __future__ import annotations

import calendar
import html
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.errors import ParseError
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
_TTL = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*$")


def parse_feed(url: str, body: bytes, headers: Mapping[str, str]) -> FeedData | ParseError:
    """Entries of one feed, or a ParseError when the body is not a feed."""
    if b"&#" in body:
        body = _CHARREF.sub(_charref, body)
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers=dict(headers),
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
    feed = parsed.get("feed", {})
    feed_title = _plain(feed.get("title", "")) or None
    entries = tuple(_entry(url, raw, parsed.get("href") or url) for raw in parsed.entries)
    warning = None
    if parsed.get("bozo") and parsed.get("bozo_exception") is not None:
        warning = f"recovered from: {_one_line(parsed['bozo_exception'])}"
    return FeedData(url=url, title=feed_title, entries=entries, warning=warning, ttl=_ttl(feed.get("ttl")))


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


def _entry(feed_url: str, raw: Any, base: str) -> EntryData:
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
        published=_date(raw),
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
        text = _SPACE.sub(" ", "".join(ch if ch.isprintable() else " " for ch in text))
    return text.strip()


def _date(raw: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(key)
        if value:
            try:
                # feedparser's *_parsed are struct_time in UTC.
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None
