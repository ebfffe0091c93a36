"""A feed field → the plain text monitor archives, matches and alerts on. Pure, and linear.

    plain_text(value, limit)    a field the feed declares plain (Atom type="text", an RSS title
                                without markup): left as written; "Sensex < 80,000 as FII > DII"
                                and "History of the <blink> tag" stay whole
    html_text(value, limit)     a field in HTML: its text as a browser shows it, tags dropped,
                                character references decoded, script and style skipped
    html_tokens(value)          the tokens of an HTML fragment, for readers of its links
                                (googlenews.py)

Both cut the value at ``RAW_FACTOR * limit`` characters before anything reads it, and the result
at ``limit``: a 1 MB description is never scanned whole (issue 20, item 1). Format characters
(soft hyphen, zero-width space, word joiner, bidirectional controls) are removed, not made
spaces, so "Semi&shy;conductor" is the word "Semiconductor" (issue 20, item 8); the joiners
U+200C/U+200D stay between letters that need them (Persian, Devanagari, emoji sequences).

The tokenizer follows the HTML5 tokenizer's states as far as text is concerned: "<" starts a
tag only before a letter, "</" before a letter, "<!--" a comment, "<!", "<?" and "</" before
anything else a bogus comment; anything else is text. A construct the input ends inside is
dropped with the rest of the input, as a browser does, so every search either moves past its
match or ends the scan: linear. The standard library's html.parser was measured for this and is
quadratic on unclosed tags ("<a" * 50,000: 7 s, twice as long 36 s); lexbor (selectolax) on
nested blocks ("<div>" * 20,000: 1.1 s, twice as many 6.6 s). See bench/htmltext_bench.py.
"""

from __future__ import annotations

import html
import re
import sys
import unicodedata
from collections.abc import Iterator
from functools import cache
from typing import NamedTuple

RAW_FACTOR = 8  # markup seldom outweighs text more than this; a larger value is not read past it

# Where "<" starts markup, and of which kind.
_MARKUP = re.compile(r"<(?:(/?)([A-Za-z][^\t\n\f\r />]*)|(!--)|[!?/])")
# The rest of a tag: attributes, a quoted value may hold ">"; possessive, so it never backtracks.
_TAG_REST = re.compile(r"""(?:[^>=]++|=\s*+"[^"]*+"|=\s*+'[^']*+'|=)*+>""")
_COMMENT_END = re.compile(r"--!?>")
_RAW_TEXT = frozenset({"script", "style", "template", "noscript", "iframe", "xmp", "noembed", "noframes"})
# Elements a browser lays out on a line of their own: their tags separate words.
_BLOCK = frozenset(
    "address article aside blockquote br dd details dialog div dl dt fieldset figcaption figure footer"
    " form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody td tfoot th"
    " thead tr ul caption img".split()
)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def _format_class() -> str:
    """Format characters (Unicode category Cf), but the joiners: built once at import (the BMP
    scanned, a few ms; the astral ones, Egyptian and musical format controls and the tag
    characters, listed)."""
    ranges: list[list[int]] = []
    for code in range(min(sys.maxunicode, 0xFFFF) + 1):
        if code not in (0x200C, 0x200D) and unicodedata.category(chr(code)) == "Cf":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    astral = "\\U000110bd\\U000110cd\\U00013430-\\U0001343f\\U0001bca0-\\U0001bca3\\U0001d173-\\U0001d17a"
    return (
        "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges) + astral + "\\U000e0001\\U000e0020-\\U000e007f"
    )


_FORMAT = re.compile(f"[{_format_class()}]+")
# A joiner is glue between letters of scripts that use it; next to an ASCII letter or digit it
# only hides a word ("Semi\u200dconductor").
_STRAY_JOINER = re.compile(r"(?<=[A-Za-z0-9])[\u200c\u200d]+|[\u200c\u200d]+(?=[A-Za-z0-9])")


class Tag(NamedTuple):
    name: str  # lower case
    end: bool  # "</name>"
    attributes: str  # as written, between the name and ">"

    def href(self) -> str | None:
        found = _HREF.search(self.attributes)
        return html.unescape(next(g for g in found.groups() if g is not None)) if found else None


def html_tokens(value: str) -> Iterator[str | Tag]:
    """The text (references not yet decoded) and tags of an HTML fragment, in order."""
    text_start = 0
    # a "<" before a space, a digit or "=" is text: the search passes it by
    while (markup := _MARKUP.search(value, text_start)) is not None:
        lt = markup.start()
        if lt > text_start:
            yield value[text_start:lt]
        slash, name, comment = markup.groups()
        if comment:
            close = _COMMENT_END.search(value, markup.end())
            end = close.end() if close else -1
        elif name:
            rest = _TAG_REST.match(value, markup.end())
            end = rest.end() if rest else -1
            if end != -1:
                tag = Tag(name.lower(), bool(slash), value[markup.end() : end - 1])
                yield tag
                if tag.name in _RAW_TEXT and not tag.end:
                    close = _raw_text_end(tag.name).search(value, end)
                    end = (value.find(">", close.end() - 1) + 1 or -1) if close else -1
        else:  # "<!", "<?", "</" + not a letter: a bogus comment up to the next ">"
            end = value.find(">", markup.end()) + 1 or -1
        if end == -1:  # the input ends inside it: the rest is not text
            return
        text_start = end
    if text_start < len(value):
        yield value[text_start:]


@cache
def _raw_text_end(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE)


def html_text(value: str, limit: int) -> str:
    """The text of an HTML field, at most `limit` characters."""
    if not value:
        return ""
    value = value[: limit * RAW_FACTOR]
    if "<" not in value:
        return _visible(html.unescape(value) if "&" in value else value, limit)
    quick = _simple_markup_text(value)
    if quick is not None:
        return _visible(quick, limit)
    return _visible(tokens_text(value), limit)


def tokens_text(value: str) -> str:
    """The text of HTML, tag by tag: the reference `html_text` agrees with."""
    parts = []
    for token in html_tokens(value):
        if isinstance(token, Tag):
            if token.name in _BLOCK:
                parts.append(" ")
        else:
            parts.append(html.unescape(token) if "&" in token else token)
    return "".join(parts)


# The usual summary is only simple tags (no comment, script or quoted "<" and ">"): two regex
# substitutions in C read it three times faster than the tokenizer's loop. Each attempt stops at
# the next "<", so a failed one costs what lies before it: linear. Whatever they leave that could
# be markup sends the value to the tokenizer (tests/ingest/test_htmltext.py checks they agree).
# A replaced tag leaves a NUL (dropped at the end): no tag or character reference is made of
# what stood on either side of it.
_SIMPLE_ATTRIBUTES = r"""(?:[^<>"'=\x00]++|=\s*+"[^"<>]*+"|=\s*+'[^'<>]*+'|=)*+"""
_SIMPLE_BLOCK_TAG = re.compile(
    rf"</?(?:{'|'.join(sorted(_BLOCK))})(?![^\t\n\f\r />]){_SIMPLE_ATTRIBUTES}>", re.IGNORECASE
)
_SIMPLE_TAG = re.compile(rf"</?[A-Za-z][^\t\n\f\r /><\x00]*+{_SIMPLE_ATTRIBUTES}>")
_NOT_SIMPLE = re.compile(
    rf"<[!?]|</(?![A-Za-z])|<(?:{'|'.join(sorted(_RAW_TEXT))})(?![^\t\n\f\r />])", re.IGNORECASE
)
_MARKUP_LEFT = re.compile(r"</?[A-Za-z]")


def _simple_markup_text(value: str) -> str | None:
    if _NOT_SIMPLE.search(value):
        return None
    text = _SIMPLE_TAG.sub("\x00", _SIMPLE_BLOCK_TAG.sub("\x00 ", value))
    if _MARKUP_LEFT.search(text):
        return None
    return (html.unescape(text) if "&" in text else text).replace("\x00", "")


def plain_text(value: str, limit: int) -> str:
    """A plain-text field as written, at most `limit` characters: whitespace folded, format
    characters removed, other controls made spaces."""
    return _visible(value[: limit * RAW_FACTOR], limit) if value else ""


def _visible(text: str, limit: int) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "")
    if text.isprintable() and "  " not in text:
        # the usual text: its only white space is single ASCII spaces (" " is the one printable
        # white-space character), so its words are already one space apart
        return text.strip()[:limit].rstrip()
    # str.split() splits at what \s matches (Unicode white space, tests/ingest/test_htmltext.py):
    # the words one space apart, four times faster than a substitution of every run of spaces
    text = " ".join(text.split())
    if not text.isprintable():  # rare: controls and format characters
        text = _STRAY_JOINER.sub("", _FORMAT.sub("", text))
        if not text.isprintable():
            text = " ".join("".join(ch if _shown(ch) else " " for ch in text).split())
    return text.strip()[:limit].rstrip()


def _shown(char: str) -> bool:
    """Printable, or a joiner, or a character newer than this Python's Unicode (this year's
    emoji): none of them is a control."""
    return char.isprintable() or char in "\u200c\u200d" or unicodedata.category(char) == "Cn"
