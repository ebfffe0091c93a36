"""OPML feed lists: read another reader's export into feeds, write ours for another reader.

    bytes ─encoding check (opmlbytes.py)→ defusedxml SAX (no entity declarations, no outside references)
          → each <outline> inside <body>, with its line:
               has xmlUrl       → a feed: valid → feeds, seen before → duplicates, bad URL → invalid
               no xmlUrl        → a folder: its title joins the category of the feeds inside it
    → OpmlImport(feeds, duplicates, invalid)

    feeds ─group by category, nested by " / "→ OPML 2.0 text

Pure: bytes in, records out; records in, text out. No file, network or clock access. The parser
refuses every DTD entity declaration (billion laughs, XXE) and resolves no external reference;
a file that is not OPML at all raises ConfigError with a one-line message and, where known, a line.

Real-world exports differ (Feedly, Inoreader, NetNewsWire, Miniflux, The Old Reader, hand-made):
element and attribute names are matched without case (`xmlurl`), `type` is not required, the title
is `title` or else `text`, `feed://` URLs become `http://`, a `category="/Asia/Japan"` attribute
stands in for folders, and a declared legacy encoding (Shift_JIS, windows-1252) is decoded.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.sax import SAXException, SAXParseException
from xml.sax.handler import ContentHandler, feature_external_ges, feature_external_pes
from xml.sax.xmlreader import AttributesImpl, InputSource, Locator

from defusedxml import DefusedXmlException
from defusedxml.expatreader import create_parser

from monitor.config.values import redact_urls
from monitor.errors import ConfigError
from monitor.ingest.netguard import AddressPolicy, literal_address
from monitor.ingest.opmlbytes import NOT_OPML as _NOT_OPML
from monitor.ingest.opmlbytes import broken_xml_message, decoded

__all__ = ["MAX_URL_LENGTH", "OpmlFeed", "OpmlImport", "OpmlProblem", "read_opml", "write_opml"]

MAX_URL_LENGTH = 2048
CATEGORY_SEPARATOR = " / "
# A feed's category names its outermost folders, this many at most: 6,000 nested folders each
# holding a feed made every feed's category the whole path, 1 GB for an 855 KB file (issue 20).
MAX_CATEGORY_DEPTH = 8

_OTHER_ROOTS = {
    "html": "this is an HTML page, not an OPML feed list",
    "rss": "this is an RSS feed itself, not an OPML feed list",
    "rdf": "this is an RSS 1.0 (RDF) feed itself, not an OPML feed list",
    "feed": "this is an Atom feed itself, not an OPML feed list",
}
# Characters XML 1.0 cannot carry at all, not even as &#...; references.
_NOT_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
# In attributes a literal tab or newline would be read back as a space: write them as references.
_ATTR_ESCAPES = {**_TEXT_ESCAPES, '"': "&quot;", "\t": "&#9;", "\n": "&#10;"}


@dataclass(frozen=True)
class OpmlFeed:
    """One subscription: the feed URL, and what the list says about it."""

    url: str  # xmlUrl, stripped (feed:// → http://)
    title: str | None  # title, else text, stripped; None when both are empty or just repeat the URL
    html_url: str | None  # htmlUrl, when it is an http(s) URL
    category: str | None  # enclosing folders joined with " / " ("Asia / Japan"), else the category attribute


@dataclass(frozen=True)
class OpmlProblem:
    """An outline that was not imported, and why, in one line."""

    line: int | None  # line of the <outline> in the file
    message: str


@dataclass(frozen=True)
class OpmlImport:
    feeds: tuple[OpmlFeed, ...]  # valid, first occurrence of each URL, in file order
    duplicates: tuple[OpmlProblem, ...]  # later outlines with a URL already in feeds
    invalid: tuple[OpmlProblem, ...]  # outlines whose xmlUrl is missing, empty, not http(s), too long,
    #                                   or at a private address the policy refuses
    warnings: tuple[OpmlProblem, ...] = ()  # feeds imported at a private address (policy off)


# ---------------------------------------------------------------------------------------------- reading


def read_opml(data: bytes, policy: AddressPolicy | None = None, refuse_private: bool = True) -> OpmlImport:
    """Read an OPML file. Raises ConfigError (with a line when known) for a file that is not OPML.

    With `policy`, a feed whose host is a private, loopback or link-local address (however
    spelt: 2130706433, [::1], 0.0.0.0) and not in its allow_private is not imported (a problem
    line), or, with `refuse_private` off, imported with a warning: a shared feed list must not point the
    monitor at 169.254.169.254 or an admin page on 127.0.0.1 (issue 20). A name is checked when
    it is resolved (netguard), not here."""
    content = decoded(data)
    handler = _OutlineHandler(policy, refuse_private)
    parser = create_parser(forbid_dtd=False, forbid_entities=True, forbid_external=True)
    parser.setFeature(feature_external_ges, False)
    parser.setFeature(feature_external_pes, False)
    parser.setContentHandler(handler)
    source = InputSource()
    if isinstance(content, str):
        source.setCharacterStream(io.StringIO(content))
    else:
        source.setByteStream(io.BytesIO(content))
    try:
        parser.parse(source)
    except ConfigError:
        raise
    except SAXParseException as exc:
        raise ConfigError(broken_xml_message(exc.getMessage(), data), line=exc.getLineNumber()) from None
    except DefusedXmlException:
        raise ConfigError(
            "refused: the file declares XML entities or refers to outside files (<!ENTITY>, SYSTEM); "
            "OPML needs neither",
            line=handler.line(),
        ) from None
    except (SAXException, ValueError, LookupError) as exc:  # e.g. an encoding expat cannot use
        raise ConfigError(f"{_NOT_OPML}: {_one_line(str(exc))}", line=handler.line()) from None
    if not handler.saw_body:
        raise ConfigError(f"{_NOT_OPML}: <opml> has no <body>", line=handler.root_line)
    return OpmlImport(
        tuple(handler.feeds), tuple(handler.duplicates), tuple(handler.invalid), tuple(handler.warnings)
    )


@dataclass
class _Outline:
    """An open element while the parser is inside it."""

    kind: str  # "root", "body", "folder", "feed", "other"
    name: str | None = None
    line: int | None = None
    attrs: Mapping[str, str] = field(default_factory=dict)
    children: int = 0


class _OutlineHandler(ContentHandler):
    """SAX events → feeds and problems, with the line of each <outline>."""

    def __init__(self, policy: AddressPolicy | None = None, refuse_private: bool = True) -> None:
        super().__init__()
        self.policy, self.refuse_private = policy, refuse_private
        self.warnings: list[OpmlProblem] = []
        self._locator: Locator | None = None
        self._open: list[_Outline] = []
        self._body_depth = 0  # how many <body> elements are open (inside <opml>)
        self._folders: list[str] = []  # names of the open folders, outermost first (named ones only)
        self._first_line: dict[tuple[str, ...], int | None] = {}
        self.root_line: int | None = None
        self.saw_body = False
        self.feeds: list[OpmlFeed] = []
        self.duplicates: list[OpmlProblem] = []
        self.invalid: list[OpmlProblem] = []

    def setDocumentLocator(self, locator: Locator) -> None:  # camelCase: the SAX interface
        self._locator = locator

    def line(self) -> int | None:
        if self._locator is None:
            return None
        line = self._locator.getLineNumber()
        return line if isinstance(line, int) and line > 0 else None

    def startElement(self, name: str, attrs: AttributesImpl) -> None:
        line = self.line()
        local = name.rpartition(":")[2].lower()
        if not self._open:
            if local != "opml":
                message = _OTHER_ROOTS.get(local, f"{_NOT_OPML}: the root element is <{name}>, not <opml>")
                raise ConfigError(message, line=line)
            self.root_line = line
            self._open.append(_Outline("root", line=line))
            return
        parent = self._open[-1]
        if local == "body" and parent.kind == "root":
            self.saw_body = True
            self._body_depth += 1
            self._open.append(_Outline("body", line=line))
        elif local == "outline" and self._body_depth:
            parent.children += 1
            outline = self._outline(_lowered(attrs), line)
            if outline.kind == "folder" and outline.name:
                self._folders.append(outline.name)
            self._open.append(outline)
        else:
            self._open.append(_Outline("other", line=line))

    def endElement(self, name: str) -> None:
        closed = self._open.pop()
        if closed.kind == "folder" and closed.name:
            self._folders.pop()
        if closed.kind == "body":
            self._body_depth -= 1
        elif closed.kind == "folder" and not closed.children and _looks_like_feed(closed.attrs):
            self.invalid.append(OpmlProblem(closed.line, f"outline {_label(closed.name)} has no xmlUrl"))

    def _outline(self, attrs: dict[str, str], line: int | None) -> _Outline:
        name = _name(attrs)
        if "xmlurl" not in attrs:
            return _Outline("folder", name=name, line=line, attrs=attrs)
        url, error = _checked_url(attrs["xmlurl"], name)
        if error is None and self.policy is not None:
            error = self._private(url, line)
        if error is not None:
            self.invalid.append(OpmlProblem(line, error))
        else:
            key = _url_key(url)
            if key in self._first_line:
                first = self._first_line[key]
                where = f"line {first}" if first is not None else "an earlier outline"
                self.duplicates.append(OpmlProblem(line, f"duplicate of {where}: {_show(url, quote='')}"))
            else:
                self._first_line[key] = line
                title = None if name in (url, attrs["xmlurl"].strip()) else name
                html_url = _html_url(attrs.get("htmlurl"))
                self.feeds.append(OpmlFeed(url, title, html_url, self._category(attrs)))
        return _Outline("feed", name=name, line=line, attrs=attrs)

    def _private(self, url: str, line: int | None) -> str | None:
        """A refusal when `url`'s host is a private address the policy does not allow; else None
        (after a warning when it is private all the same)."""
        assert self.policy is not None
        host = urlsplit(url).hostname or ""
        address = literal_address(host)
        if address is None or self.policy.allows(host, address):
            return None  # public, or a private address the operator listed in allow_private
        what = f"xmlUrl {_show(url)} is at a private address ({address})"
        if not self.refuse_private:
            self.warnings.append(
                OpmlProblem(line, f"{what}; imported ([fetch] block_private_redirects is off)")
            )
            return None
        return f"{what}: not imported (allow it with [fetch] allow_private)"

    def _category(self, attrs: Mapping[str, str]) -> str | None:
        if self._folders:
            return CATEGORY_SEPARATOR.join(self._folders[:MAX_CATEGORY_DEPTH])
        return _category_attribute(attrs.get("category", ""))


_KNOWN_ATTRS = {"xmlurl": "xmlUrl", "htmlurl": "htmlUrl", "title": "title", "text": "text", "type": "type"}


def _lowered(attrs: AttributesImpl) -> dict[str, str]:
    """Attribute names in lower case; the standard spelling wins over another case of the same name."""
    lowered: dict[str, str] = {}
    for key in attrs.getNames():
        low = key.lower()
        if low not in lowered or _KNOWN_ATTRS.get(low) == key:
            lowered[low] = attrs.getValue(key)
    return lowered


def _name(attrs: Mapping[str, str]) -> str | None:
    return attrs.get("title", "").strip() or attrs.get("text", "").strip() or None


def _looks_like_feed(attrs: Mapping[str, str]) -> bool:
    """A leaf outline without xmlUrl that was meant as a feed (not an empty folder)."""
    kind = attrs.get("type", "").strip().lower()
    return kind in ("rss", "atom", "feed") or bool(attrs.get("htmlurl", "").strip() or attrs.get("url"))


def _checked_url(raw: str, name: str | None) -> tuple[str, str | None]:
    """(url, None) for a usable feed URL, else (url, one-line reason)."""
    url = raw.strip()
    if not url:
        return url, f"outline {_label(name)} has an empty xmlUrl"
    lower = url.lower()
    if lower.startswith("feed://"):
        url = "http://" + url[len("feed://") :]
    elif lower.startswith(("feed:http://", "feed:https://")):
        url = url[len("feed:") :]
    if len(url) > MAX_URL_LENGTH:
        return url, f"xmlUrl {_show(url)} is too long ({len(url)} characters, at most {MAX_URL_LENGTH})"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return url, f"xmlUrl {_show(url)} contains a space or control character"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return url, f"xmlUrl {_show(url)} is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return url, f"xmlUrl {_show(url)} is not an http(s) URL"
    if not host:
        return url, f"xmlUrl {_show(url)} has no host"
    return url, None


def _url_key(url: str) -> tuple[str, ...]:
    """What makes two feed URLs the same: exact, except the case of scheme and host."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    return (parts.scheme.lower(), userinfo + at + host.lower(), parts.path, parts.query, parts.fragment)


def _html_url(value: str | None) -> str | None:
    """The site's address, kept only when it is a plain http(s) URL (never javascript: and the like)."""
    url = (value or "").strip()
    if not url or _checked_url(url, None)[1] is not None:
        return None
    return url


def _category_attribute(value: str) -> str | None:
    """OPML 2.0 `category`: comma-separated, each a slash path ("/Asia/Japan"); the first one counts."""
    first = value.split(",", 1)[0].strip()
    if first.startswith("/"):
        first = CATEGORY_SEPARATOR.join(p.strip() for p in first.split("/") if p.strip())
    return first or None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _show(text: str, limit: int = 100, quote: str = '"') -> str:
    """A value (quoted) for a one-line message: control characters escaped, long ones shortened."""
    text = redact_urls(text)  # a URL's user:password@ and ?apikey= are never printed
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return f"{quote}{shown}{quote}"


def _label(name: str | None) -> str:
    return _show(name, 60) if name else "(untitled)"


# ---------------------------------------------------------------------------------------------- writing


@dataclass
class _Folder:
    items: list[_Folder | OpmlFeed] = field(default_factory=list)
    folders: dict[str, _Folder] = field(default_factory=dict)
    name: str = ""

    def folder(self, name: str) -> _Folder:
        if name not in self.folders:
            self.folders[name] = _Folder(name=name)
            self.items.append(self.folders[name])
        return self.folders[name]


def write_opml(feeds: Sequence[OpmlFeed], *, title: str = "monitor feeds", now: datetime) -> str:
    """OPML 2.0 text (UTF-8, indented), feeds grouped into folders by category ("Asia / Japan" nests
    Japan in Asia), folders and feeds in first-seen order. read_opml gives the same feeds back."""
    root = _Folder()
    for feed in feeds:
        node = root
        for part in _category_parts(feed.category):
            node = node.folder(part)
        node.items.append(feed)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{format_datetime(now.astimezone(UTC), usegmt=True)}</dateCreated>",
        "  </head>",
        "  <body>",
    ]
    stack = [iter(root.items)]  # a stack, not recursion: categories may nest deeply
    while stack:
        item = next(stack[-1], None)
        pad = "  " * (len(stack) + 1)
        if item is None:
            stack.pop()
            if stack:
                lines.append(f"{'  ' * (len(stack) + 1)}</outline>")
        elif isinstance(item, _Folder):
            lines.append(f"{pad}<outline text={_attr(item.name)} title={_attr(item.name)}>")
            stack.append(iter(item.items))
        else:
            lines.append(pad + _feed_outline(item))
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _category_parts(category: str | None) -> list[str]:
    return [part.strip() for part in (category or "").split(CATEGORY_SEPARATOR) if part.strip()]


def _feed_outline(feed: OpmlFeed) -> str:
    title = feed.title if feed.title and feed.title.strip() else None
    attrs = f'type="rss" text={_attr(title or feed.url)}'
    if title is not None:
        attrs += f" title={_attr(title)}"
    attrs += f" xmlUrl={_attr(feed.url)}"
    if feed.html_url:
        attrs += f" htmlUrl={_attr(feed.html_url)}"
    return f"<outline {attrs}/>"


def _attr(value: str) -> str:
    clean = _NOT_XML_CHARS.sub("", value)
    return '"' + "".join(_ATTR_ESCAPES.get(ch, ch) for ch in clean) + '"'


def _text(value: str) -> str:
    return "".join(_TEXT_ESCAPES.get(ch, ch) for ch in _NOT_XML_CHARS.sub("", value))
