"""Digests as Telegram HTML: many articles grouped by topic, in as few messages as fit. Pure.

Feed text is cut and escaped as in monitor.alerts.render. Every item line is budgeted
against `limit` so that it fits a message on its own, with the heading and a
section header, whatever the feed sends; messages are split only between lines,
so a tag or an entity is never cut. Each message's raw HTML stays within `limit`
UTF-16 code units, and the visible text Telegram counts is never longer.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.alerts.render import HREF_BUDGET, to_plain_text
from monitor.alerts.text import MAX_MESSAGE, MONTHS, clean, cut, fits, is_web_url, units
from monitor.types import Digest, DigestItem

TITLE_CHARS = 200  # visible characters of a title
TITLE_BUDGET = 400  # budgets: UTF-16 units of escaped text
OUTLET_CHARS = 60
OUTLET_BUDGET = 150
HEADING_BUDGET = 200  # and never more than an eighth of the limit
TOPIC_BUDGET = 120  # likewise
MIN_TITLE = 24  # what a title keeps when a small limit squeezes its line
MIN_LINE = 100  # a limit leaving less room than this for an item line is refused

_BULLET = "• "
_CONT = " (cont.)"
_LINK_MARKUP = len('<a href=""></a>')


@dataclass(frozen=True)
class _Section:
    header: str  # '<b>topic</b> (count)', without " (cont.)"
    lines: list[tuple[str, int]]  # each item line and its UTF-16 length


_Chunk = tuple[int, bool, list[str]]  # a section's index, whether it continues, its lines in one message


def render_digest(heading: str, items: Sequence[DigestItem], *, limit: int = MAX_MESSAGE) -> list[str]:
    """Telegram HTML messages, in order, each at most `limit` UTF-16 units; [] when items is empty.

    ValueError when `limit` leaves no room for one article (256 suffice for a million articles)."""
    if not items:
        return []
    groups: dict[str, list[DigestItem]] = {}
    for item in items:
        groups.setdefault(item.topic, []).append(item)
    name = cut(clean(heading), min(HEADING_BUDGET, limit // 8)) or "Digest"
    head = f"<b>{html.escape(name)}</b>"
    total = f"{_count(len(items), 'article')} in {_count(len(groups), 'topic')}"
    headers = [_header(topic, len(group), limit) for topic, group in groups.items()]

    # The most a message holding one item spends besides that item's line.
    widest_suffix = _suffix_length(len(str(len(items))))
    first_prefix = units(head) + widest_suffix + 1 + len(total)
    overhead = first_prefix + 2 + max(units(header) for header in headers) + len(_CONT) + 1
    room = limit - overhead
    if room < MIN_LINE:
        raise ValueError(f"a digest limit of {limit} leaves no room for an article")

    sections = [
        _Section(header, [(line, units(line)) for line in (_line(item, room) for item in group)])
        for header, group in zip(headers, groups.values(), strict=True)
    ]
    parts = _pack(sections, units(head) + 1 + len(total), units(head), limit)
    if len(parts) > 1:  # room for " (k/n)", n's digits found by repacking until they agree
        digits = 1
        while True:
            suffix = _suffix_length(digits)
            parts = _pack(sections, first_prefix - widest_suffix + suffix, units(head) + suffix, limit)
            if len(str(len(parts))) <= digits:
                break
            digits = len(str(len(parts)))

    messages: list[str] = []
    for number, chunks in enumerate(parts, start=1):
        text = head + (f" ({number}/{len(parts)})" if len(parts) > 1 else "")
        if number == 1:
            text += "\n" + total
        for index, continued, lines in chunks:
            text += "\n\n" + sections[index].header + (_CONT if continued else "")
            text += "".join("\n" + line for line in lines)
        messages.append(text)
    return messages


def render_digest_message(digest: Digest, *, limit: int = MAX_MESSAGE) -> list[str]:
    """A queued digest as Telegram HTML messages; one saying so when it has nothing new."""
    messages = render_digest(digest.heading, digest.items, limit=limit)
    if not messages and digest.since is not None:
        heading = html.escape(cut(clean(digest.heading), min(HEADING_BUDGET, limit // 8)) or "Digest")
        messages = [f"<b>{heading}</b>\nNo new matches since {short_date(digest.since)} UTC."]
    return messages


def render_digest_plain(heading: str, items: Sequence[DigestItem], *, limit: int = MAX_MESSAGE) -> list[str]:
    """The same messages without markup, a link as "title (address)"; never longer than their HTML."""
    return [to_plain_text(message) for message in render_digest(heading, items, limit=limit)]


def short_date(moment: datetime) -> str:
    """'6 Mar 14:05' in UTC; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment:%H:%M}"


# --- pieces ------------------------------------------------------------------


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _header(topic: str, count: int, limit: int) -> str:
    name = cut(clean(topic), min(TOPIC_BUDGET, limit // 8)) or "Other"
    return f"<b>{html.escape(name)}</b> ({count})"


def _suffix_length(digits: int) -> int:
    return len(" (/)") + 2 * digits


def _line(item: DigestItem, room: int) -> str:
    """'• <a href="…">title</a> — outlet · date (+N more)', at most `room` UTF-16 units."""
    room -= len(_BULLET)
    meta = [cut(clean(item.outlet or ""), OUTLET_BUDGET, OUTLET_CHARS)]
    if item.published is not None:
        meta.append(short_date(item.published))
    tail = " · ".join(part for part in meta if part)
    tail = f" — {tail}" if tail else ""
    if item.more > 0:
        tail += f" (+{item.more} more)"

    url = (item.link or "").strip()
    href = html.escape(url) if is_web_url(url) and fits(url, HREF_BUDGET) else ""
    markup = _LINK_MARKUP + units(href) if href else 0
    if markup + MIN_TITLE + units(html.escape(tail)) > room:  # only under a small limit
        href, markup = "", 0
    tail = html.escape(cut(tail, room - markup - MIN_TITLE))
    title = clean(item.title) or "(untitled)"
    budget = min(TITLE_BUDGET, room - markup - units(tail))
    text = html.escape(cut(title, budget, TITLE_CHARS, at_word=True))
    return _BULLET + (f'<a href="{href}">{text}</a>' if href else text) + tail


# --- packing -----------------------------------------------------------------


def _pack(sections: Sequence[_Section], first_prefix: int, prefix: int, limit: int) -> list[list[_Chunk]]:
    """Lines into messages, greedily and in order; a header always comes with a line after it."""
    parts: list[list[_Chunk]] = [[]]
    used = first_prefix
    for index, section in enumerate(sections):
        placed = 0
        for line, length in section.lines:
            current = parts[-1]
            is_open = bool(current) and current[-1][0] == index
            header = 0 if is_open else 2 + units(section.header) + (len(_CONT) if placed else 0)
            if used + header + 1 + length > limit and current:
                parts.append(current := [])
                used, is_open = prefix, False
                header = 2 + units(section.header) + (len(_CONT) if placed else 0)
            if not is_open:
                current.append((index, placed > 0, []))
            current[-1][2].append(line)
            used += header + 1 + length
            placed += 1
    return parts
