"""Measuring and cutting feed text for a chat message: pure helpers every renderer shares
(render.py, digest.py, compose.py, chat.commands).

Budgets are in UTF-16 code units of the *escaped* form (html.escape(quote=True)), which is
never less than what Telegram counts after entity parsing: a piece cut to its budget fits,
whatever a feed sends. Every piece is cleaned first (one line, no unsendable characters).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

MAX_MESSAGE = 4096  # Telegram's limit for a message's text, in UTF-16 code units
ELLIPSIS = "…"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_ESCAPED_LENGTH = {"&": 5, "<": 4, ">": 4, '"': 6, "'": 6}  # html.escape(quote=True)
_DEAR = re.compile("[&<>\"'\U00010000-\U0010ffff]")  # the characters costing more than one unit
# Lone surrogates cannot be sent as UTF-8; control characters mean nothing in a chat.
_UNSENDABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def format_date(moment: datetime) -> str:
    """'6 Mar 2026 10:30 UTC', whatever the locale; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year} {moment:%H:%M} UTC"


def is_web_url(url: str) -> bool:
    """Only http(s) links are made clickable: javascript:, data: and the like stay text."""
    if _UNSENDABLE.search(url) or any(char.isspace() for char in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def clean(text: str) -> str:
    """One line of sendable text: whitespace runs collapsed, unsendable characters replaced."""
    return " ".join(_UNSENDABLE.sub("\ufffd", text).split())


def _cost(char: str) -> int:
    """UTF-16 units of html.escape(char): astral characters are surrogate pairs."""
    return 2 if ord(char) > 0xFFFF else _ESCAPED_LENGTH.get(char, 1)


def units(text: str) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def fits(text: str, budget: int, max_chars: int | None = None) -> bool:
    if max_chars is not None and len(text) > max_chars:
        return False
    if len(text) > budget:  # every character costs a unit at least: a 1 MB title is not read
        return False
    return len(text) + sum(_cost(char) - 1 for char in _DEAR.findall(text)) <= budget


def _fitting(text: str, stop: int, room: int) -> int:
    """How many characters of text[:stop] fit in `room` units, each costing _cost: runs of
    one-unit characters taken whole (a regex finds the next dearer one), not one by one."""
    used = end = 0
    while end < stop and used < room:
        dear = _DEAR.search(text, end, stop)
        cheap = min((dear.start() if dear else stop) - end, room - used)
        end, used = end + cheap, used + cheap
        if dear is None or end < dear.start():
            break
        cost = _cost(text[end])
        if used + cost > room:
            break
        end, used = end + 1, used + cost
    return end


def cut(text: str, budget: int, max_chars: int | None = None, *, at_word: bool = False) -> str:
    """The longest prefix whose escaped form fits budget, ending in "…" when cut."""
    if fits(text, budget, max_chars):
        return text
    room = budget - len(ELLIPSIS)
    limit = len(text) if max_chars is None else max_chars - len(ELLIPSIS)
    end = _fitting(text, min(len(text), limit), room)
    prefix = text[:end]
    space = prefix.rfind(" ")
    if at_word and space > len(prefix) // 2:  # a word boundary, unless it loses half
        prefix = prefix[:space]
    return prefix.rstrip() + ELLIPSIS
