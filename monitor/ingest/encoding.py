"""A feed body in whatever encoding → the same body in UTF-8. Pure.

Who decides, in order: a byte order mark, the HTTP charset, the XML declaration (feedparser's
``convert_to_utf8`` reads all three). When none of them says anything and the body is not
UTF-8, a detector guesses (charset-normalizer): an undeclared EUC-JP, Shift_JIS, GB2312,
EUC-KR or TIS-620 feed is read in its own encoding instead of as windows-1252 mojibake, and
the guess is the feed's warning. A declared or UTF-8-looking body whose odd bytes are not
UTF-8 (a UTF-8 feed with one Latin-1 item pasted in) keeps each stray byte as windows-1252.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from typing import Any

from feedparser import CharacterEncodingOverride
from feedparser.encodings import convert_to_utf8

# UTF-32-LE's byte order mark starts as UTF-16-LE's does.
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF32_BE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)""")
_CHARSET = re.compile(r";\s*charset\s*=", re.IGNORECASE)
# Encodings a detector may name that read any byte: as good as no guess for a feed.
_WHATEVER = frozenset({"utf_8", "ascii", "cp1252", "latin_1", "windows-1252", "iso-8859-1"})


class Decoded:
    """A body in UTF-8, with what was noticed on the way."""

    __slots__ = ("data", "headers", "problem", "guess")

    def __init__(self, data: bytes, headers: dict[str, str], problem: Exception | None, guess: str | None):
        self.data = data  # the body in UTF-8
        self.headers = headers  # the response headers, now saying UTF-8
        self.problem = problem  # what feedparser thought of the declared encoding
        self.guess = guess  # the detected encoding of an undeclared body, or None


def as_utf8(body: bytes, headers: Mapping[str, str]) -> Decoded:
    """The body in UTF-8 as feedparser would decode it, or in the encoding a detector finds
    when nothing declares one."""
    given = dict(headers)
    if body.startswith(_BOMS) and "content-type" in given:
        # A byte order mark is the document's own word on its encoding; a charset beside it
        # is a server default (an ASCII-only UTF-16 feed labelled UTF-8 read as no feed at all).
        given["content-type"] = given["content-type"].split(";")[0]
    media = headers.get("content-type", "").split(";")[0].strip() or "application/xml"
    utf8_headers = {**headers, "content-type": f"{media}; charset=utf-8"}
    guess = _undeclared_encoding(body, given)
    if guess is not None:
        found: dict[str, Any] = {}
        data = convert_to_utf8(utf8_headers, body.decode(guess, "replace").encode("utf-8"), found)
        return Decoded(data, utf8_headers, None, guess)
    found = {}
    data = convert_to_utf8(given, body, found)
    if found.get("encoding") == "windows-1252" and isinstance(
        found.get("bozo_exception"), CharacterEncodingOverride
    ):
        # Not what it declares, so feedparser read all of it as windows-1252: right for a
        # Latin-1 feed, but a UTF-8 feed with one Latin-1 item pasted in lost every ’, é and
        # Devanagari letter of the others. Each stray byte is windows-1252, the rest UTF-8.
        found = {}
        data = convert_to_utf8(given, body.decode("utf-8", _STRAY_BYTES).encode("utf-8"), found)
    problem = found.get("bozo_exception") if found.get("bozo") else None
    return Decoded(data, utf8_headers, problem, None)


def _undeclared_encoding(body: bytes, headers: Mapping[str, str]) -> str | None:
    """The detected encoding of a body that declares none and is not UTF-8; None otherwise."""
    if body.startswith(_BOMS) or _CHARSET.search(headers.get("content-type", "")):
        return None
    if _XML_ENCODING.match(body[:512]):
        return None
    try:
        body.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    # Imported here, for the rare body that needs it: 2.6 MB in every process otherwise (issue 18).
    import charset_normalizer

    best = charset_normalizer.from_bytes(body).best()
    if best is None or best.encoding in _WHATEVER:
        return None
    return str(best.encoding)


def _stray_bytes_as_windows_1252(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)  # registered for decoding only
    return error.object[error.start : error.end].decode("cp1252", "replace"), error.end


_STRAY_BYTES = "monitor.ingest.encoding.stray-bytes-as-windows-1252"
codecs.register_error(_STRAY_BYTES, _stray_bytes_as_windows_1252)
