"""Alerts as Telegram HTML, and the same alert as plain text. Pure: no clock, no I/O.

Feed text is hostile, so every piece is cut first (an entity is never split)
and then escaped with ``html.escape(quote=True)``. Each piece has a budget in
UTF-16 code units of its *escaped* form, which is never less than what Telegram
counts after entity parsing; the budgets plus the fixed markup add up to less
than MAX_MESSAGE whatever the feed sends (checked at import, see _WORST_CASE).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitor.alerts.text import ELLIPSIS, MAX_MESSAGE, clean, cut, fits, format_date, is_web_url, units
from monitor.types import Alert, AlertRule, Notice

SNIPPET_CHARS = 300  # visible characters of the summary
TITLE_BUDGET = 400  # budgets: UTF-16 units of escaped text
OUTLET_BUDGET = 150
SNIPPET_BUDGET = 900
HIGHLIGHTS = 40  # <b>…</b> pairs in the snippet, 7 units each
HREF_BUDGET = 800  # a longer link is shown as text: cutting it would point elsewhere
LINK_TEXT_BUDGET = 120
RULE_LINE_BUDGET = 300  # "Rules: …", escaped
TERMS_BUDGET = 200  # "Terms: …", escaped
RULES_BUDGET = RULE_LINE_BUDGET + TERMS_BUDGET + 20  # both lines and their labels
ALSO_BUDGET = 400  # "Also reported by: …" on a story's alert
ALSO_OUTLET_BUDGET = 40

_MORE_RULES = 40  # room kept for "… and 1000 more"
_FIXED_MARKUP = 200  # tags, labels, separators and the date: well over what we add
_WORST_CASE = (
    TITLE_BUDGET
    + OUTLET_BUDGET
    + SNIPPET_BUDGET
    + 7 * HIGHLIGHTS
    + HREF_BUDGET
    + LINK_TEXT_BUDGET
    + RULES_BUDGET
    + ALSO_BUDGET
    + _MORE_RULES
    + _FIXED_MARKUP
)
assert _WORST_CASE < MAX_MESSAGE, "render budgets exceed Telegram's message limit"


def render_alert(alert: Alert) -> str:
    """An article's alert (compose.compose_alert) as Telegram HTML, always under MAX_MESSAGE units."""
    found = [word for rule in alert.rules for word in rule.found]
    blocks = [
        _headline(alert.title, alert.outlet, alert.published),
        _highlight(cut_snippet(alert.snippet), found),
        _link(alert.link),
        _also(alert.also, alert.also_more),
        _rules(alert.rules),
    ]
    return "\n\n".join(block for block in blocks if block)


NOTICE_FEED_BUDGET = 800  # budgets of a notice's pieces: UTF-16 units of escaped text
NOTICE_WHY_BUDGET = 400
NOTICE_ERROR_BUDGET = 1000
assert 2 * NOTICE_FEED_BUDGET + NOTICE_WHY_BUDGET + NOTICE_ERROR_BUDGET + _FIXED_MARKUP < MAX_MESSAGE


def suspension_notice(feed: str, error: str, why: str) -> str:
    """The admin chat's message about a suspended feed (Telegram HTML), always under MAX_MESSAGE units.

    The error may quote what a server sent, so every piece is cleaned and cut like feed text."""
    address = clean(feed)
    shown = cut(address, NOTICE_FEED_BUDGET)
    # The command only with the address whole and as written: a cut one would name another feed.
    command = "monitor feeds resume"
    if address and shown == address == feed.strip():
        command += " " + html.escape(address)
    return "\n".join(
        [
            "<b>Feed suspended</b>",
            html.escape(shown or "(no address)"),
            html.escape(cut(clean(why), NOTICE_WHY_BUDGET)),
            "Last error: " + html.escape(cut(clean(error), NOTICE_ERROR_BUDGET)),
            f"<code>{command}</code> brings it back.",
        ]
    )


def render_notice(notice: Notice) -> str:
    return suspension_notice(notice.feed, notice.error, notice.why)


def to_plain_text(html_text: str) -> str:
    """The same alert without markup: a link becomes its text and address."""
    text = _TAG_OR_LINK.sub(_plain_piece, html_text)
    return html.unescape(text)


# --- pieces ------------------------------------------------------------------


def _headline(title: str, outlet: str | None, published: datetime | None) -> str:
    title = cut(clean(title), TITLE_BUDGET) or "(untitled)"
    meta = [cut(clean(outlet or ""), OUTLET_BUDGET)]
    if published is not None:
        meta.append(format_date(published))
    meta_line = " · ".join(html.escape(part) for part in meta if part)
    headline = f"<b>{html.escape(title)}</b>"
    return f"{headline}\n{meta_line}" if meta_line else headline


def cut_snippet(summary: str) -> str:
    return cut(clean(summary), SNIPPET_BUDGET, SNIPPET_CHARS, at_word=True)


def _link(url: str | None) -> str:
    url = (url or "").strip()
    if not url:
        return ""
    text = html.escape(cut(clean(url), LINK_TEXT_BUDGET))
    if is_web_url(url) and fits(url, HREF_BUDGET):
        return f'<a href="{html.escape(url)}">{text}</a>'
    return text


def _also(reports: Sequence[tuple[str | None, str | None]], more: int = 0) -> str:
    """ "Also reported by: …": each outlet once, linked to its first report, with how many
    reports it made when more than one ("Japan Times (2 reports)"), while they fit; then how
    many more outlets (`more`: reports beyond the list, counted as outlets)."""
    if not reports:
        return ""
    outlets: dict[str, tuple[str | None, int]] = {}  # name -> (first link, reports)
    for outlet, link in reports:
        name = clean(outlet or "") or "another outlet"
        first, seen = outlets.get(name, (link, 0))
        outlets[name] = (first, seen + 1)
    label = "Also reported by: "
    parts: list[str] = []
    used = len(label) + len(_MORE_ALSO)
    for count, (outlet, (link, times)) in enumerate(outlets.items()):
        name = html.escape(cut(outlet, ALSO_OUTLET_BUDGET))
        url = (link or "").strip()
        clickable = is_web_url(url) and len(url) <= ALSO_BUDGET // 2
        part = f'<a href="{html.escape(url)}">{name}</a>' if clickable else name
        part += f" ({times} reports)" if times > 1 else ""
        if used + units(part) + 2 > ALSO_BUDGET:
            parts.append(_MORE_ALSO.format(len(outlets) - count + more))
            break
        used += units(part) + 2
        parts.append(part)
    else:
        if more:
            parts.append(_MORE_ALSO.format(more))
    return label + ", ".join(parts)


_MORE_ALSO = "… and {} more"  # at most 99,999 more fit the room kept for it


def _rules(matches: Sequence[AlertRule]) -> str:
    """Two short lines for a phone: which rules (name and id, for /mute), then the terms that
    matched, each once; terms every rule shares (the beat's context, e.g. the two countries)
    come last, so the line starts with what sets the article apart."""
    if not matches:
        return ""
    labels = [_rule_label(match) for match in matches]
    lines = ["Rules: " + _joined(labels, " · ", RULE_LINE_BUDGET)]
    terms = [clean(term) for match in matches for term in match.terms]
    shared = set.intersection(*(set(map(clean, m.terms)) for m in matches)) if len(matches) > 1 else set()
    ordered = [t for t in dict.fromkeys(terms) if t and t not in shared] + [
        t for t in dict.fromkeys(terms) if t in shared
    ]
    if ordered:
        lines.append("Terms: " + _joined(ordered, ", ", TERMS_BUDGET))
    return "\n".join(lines)


def _rule_label(match: AlertRule) -> str:
    # Rule ids are kebab-case when rules load, yet the renderer cleans every piece it is given:
    # an id with a control character went out as it was (found by tests/test_properties.py).
    rule_id = clean(match.rule_id)
    name = clean(match.name)
    return f"{name} ({rule_id})" if name and name != rule_id else rule_id


def _joined(parts: Sequence[str], separator: str, budget: int) -> str:
    """Escaped parts joined while they fit the budget, then "… and N more"."""
    shown: list[str] = []
    used = 0
    for count, part in enumerate(parts):
        piece = html.escape(cut(part, budget // 2))
        used += units(piece) + len(separator)
        if used > budget and shown:
            return separator.join(shown) + f" {ELLIPSIS} and {len(parts) - count} more"
        shown.append(piece)
    return separator.join(shown)


# --- highlighting ------------------------------------------------------------


def _highlight(snippet: str, found: Iterable[str]) -> str:
    """The escaped snippet with the found words in <b>; overlapping words share one tag."""
    parts: list[str] = []
    position = 0
    for start, end in _merge(_spans(snippet, found))[:HIGHLIGHTS]:
        word = html.escape(snippet[start:end])
        parts += [html.escape(snippet[position:start]), f"<b>{word}</b>"]
        position = end
    parts.append(html.escape(snippet[position:]))
    return "".join(parts)


def _spans(text: str, words: Iterable[str]) -> list[tuple[int, int]]:
    folded = text.casefold()
    spans: list[tuple[int, int]] = []
    for word in {clean(word) for word in words}:
        if word and word.casefold() in folded:
            spans += _occurrences(text, word)
    return spans


def _occurrences(text: str, word: str) -> list[tuple[int, int]]:
    """Where word occurs, preferring whole words; the lookahead finds overlapping ones too."""
    left = r"(?<!\w)" if re.match(r"\w", word[0]) else ""
    right = r"(?!\w)" if re.match(r"\w", word[-1]) else ""
    for pattern in (left + re.escape(word) + right, re.escape(word)):
        found = [m.span(1) for m in re.finditer(f"(?=({pattern}))", text, re.IGNORECASE)]
        if found:
            return found
    return []


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# --- plain text --------------------------------------------------------------

_TAG_OR_LINK = re.compile(r'<a\s[^>]*?href="(?P<href>[^"]*)"[^>]*>(?P<text>.*?)</a>|<[^>]*>', re.S)


def _plain_piece(match: re.Match[str]) -> str:
    if match.group("href") is None:
        return ""  # any other tag: keep only the text around it
    href = match.group("href")
    text = re.sub(r"<[^>]*>", "", match.group("text"))
    shown, address = html.unescape(text), html.unescape(href)
    if address.startswith(shown.removesuffix(ELLIPSIS)):  # the address itself, maybe cut
        return href
    return f"{text} ({href})"
