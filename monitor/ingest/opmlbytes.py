"""OPML bytes → what expat should read, and its complaints in words a user can act on. Pure.

A byte order mark or a declared encoding expat lacks (Shift_JIS, windows-1252) is decoded
here; an empty file, JSON, or undeclared text that is not UTF-8 is refused with one line.
"""

from __future__ import annotations

import codecs
import re
from xml.parsers.expat import errors as expat_errors

from monitor.errors import ConfigError

NOT_OPML = "not an OPML feed list"
# Encodings expat reads itself; any other declared encoding is decoded here first.
_EXPAT_ENCODINGS = {"utf-8", "utf-16", "utf-16-le", "utf-16-be", "iso8859-1", "ascii"}
_XML_DECLARATION = re.compile(rb"""\s*<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
# Expat errors that only happen when the text stops before the document does.
_CUT_SHORT = {
    expat_errors.XML_ERROR_NO_ELEMENTS,
    expat_errors.XML_ERROR_UNCLOSED_TOKEN,
    expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
    expat_errors.XML_ERROR_PARTIAL_CHAR,
}


def decoded(data: bytes) -> bytes | str:
    """The file as expat should read it: its bytes, or its text when a byte order mark or a declared
    encoding expat lacks says how to decode it (a BOM wins over the declaration). Empty files, JSON
    and undeclared text that is not UTF-8 are refused here, with a clear message."""
    content: bytes | str = data
    if data.startswith(codecs.BOM_UTF8):
        content = _decode(data[len(codecs.BOM_UTF8) :], "utf-8", "UTF-8, as its byte order mark says")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        content = _decode(data, "utf-16", "UTF-16, as its byte order mark says")
    if not content.strip():
        raise ConfigError(f"the file is empty: {NOT_OPML}")
    first = content.lstrip()[:1]
    if first in ("{", "[") if isinstance(first, str) else first in (b"{", b"["):
        raise ConfigError("this is JSON, not an OPML feed list (OPML is XML: <opml><body><outline …>)")
    if isinstance(content, str):
        return content
    declared = _XML_DECLARATION.match(data)
    encoding = "utf-8"
    if declared is not None:
        name = declared.group(1).decode("ascii")
        try:
            encoding = codecs.lookup(name).name
        except LookupError:
            raise ConfigError(f"unknown encoding {_show(name)} in the XML declaration", line=1) from None
        if encoding not in _EXPAT_ENCODINGS:
            return _decode(data, encoding, f"{name}, as its XML declaration says")
    if encoding == "utf-8":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"the text is not UTF-8 (byte 0x{data[exc.start]:02X}): save the file as UTF-8, "
                'or declare its encoding (<?xml version="1.0" encoding="windows-1252"?>)',
                line=_line_at(data, exc.start),
            ) from None
    return data


def _decode(data: bytes, encoding: str, claim: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the text is not valid {claim}", line=_line_at(data, exc.start)) from None
    except (ValueError, LookupError):  # LookupError: a codec of bytes, not of text (rot13, base64)
        raise ConfigError(f"the text is not valid {claim}") from None


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def broken_xml_message(message: str, data: bytes) -> str:
    head = data[:2048].lower()
    if b"<html" in head or b"<!doctype html" in head:
        return f"this looks like an HTML page, not an OPML feed list (not well-formed XML: {message})"
    hint = ""
    if message in _CUT_SHORT:
        hint = " (the file ends too early: cut short?)"
    elif message == expat_errors.XML_ERROR_UNDEFINED_ENTITY:
        hint = " (XML knows only &amp; &lt; &gt; &quot; &apos;, not HTML names like &nbsp;)"
    return f"{NOT_OPML}: not well-formed XML: {message}{hint}"


def _show(name: str) -> str:
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in name)
    return f'"{shown[:59]}…"' if len(shown) > 60 else f'"{shown}"'
