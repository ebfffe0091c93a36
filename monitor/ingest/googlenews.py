"""Google News items: the headline without its outlet, and the related coverage apart. Pure.

A Google News item's title ends in " - Outlet", and its description is no text of the
article's: it is a list of links to reports of the same event, each followed by its outlet::

    <a href="https://news.google.com/rss/articles/…">Headline</a>&nbsp;&nbsp;<font …>The Hindu</font>
    <ol><li><a href="…">Other headline</a>&nbsp;&nbsp;<font …>The Japan Times</font></li>…</ol>

Matched as text, those outlets' names fired rules ("The Japan Times" for a rule on Japan) and
joined unrelated stories on shared names. They become the item's related links (stored with
the article); its own text is what is left: usually nothing but the headline.
"""

from __future__ import annotations

import re

from monitor.ingest.htmltext import Tag, html_text, html_tokens
from monitor.types import RelatedLink

GOOGLE_NEWS = re.compile(r"^https?://news\.google\.com/", re.IGNORECASE)
MAX_RELATED = 20  # Google lists up to about ten; anything more is not Google's list
_TITLE_CHARS = 300


def is_google_news(link: str | None) -> bool:
    return bool(link and GOOGLE_NEWS.match(link))


def split_title(title: str, outlet: str | None) -> tuple[str, str | None]:
    """'Headline - The Hindu' → ('Headline', 'The Hindu')."""
    if outlet and title.endswith(" - " + outlet):
        return title[: -len(outlet) - 3].rstrip(), outlet
    head, sep, tail = title.rpartition(" - ")
    if sep and head and 0 < len(tail) <= 60:
        return head.rstrip(), tail.strip()
    return title, None


def split_description(
    description: str, own_link: str | None, own_title: str, limit: int
) -> tuple[str, tuple[RelatedLink, ...]]:
    """The description's own text (outside the links and their outlets) and its related links,
    the item itself (its link, or its headline) left out."""
    own_text: list[str] = []
    related: list[RelatedLink] = []
    href: str | None = None
    inside: str | None = None  # "a" or "font" while inside one
    parts: list[str] = []
    for token in html_tokens(description[: limit * 8]):
        if isinstance(token, Tag):
            if token.name == "a" and not token.end:
                href, inside, parts = token.href(), "a", []
            elif token.name == "font" and not token.end and related:
                inside, parts = "font", []
            elif token.end and token.name == inside:
                _close(inside, "".join(parts), href, related)
                inside = None
            elif token.name in ("li", "p", "br", "div"):
                own_text.append(" ")
        elif inside is not None:
            parts.append(token)
        else:
            own_text.append(token)
    others = tuple(r for r in related if r.url != own_link and r.title != own_title)[:MAX_RELATED]
    return html_text("".join(own_text), limit), others


def _close(kind: str, text: str, href: str | None, related: list[RelatedLink]) -> None:
    text = html_text(text, _TITLE_CHARS)
    if kind == "a" and href and len(related) < MAX_RELATED * 2:
        related.append(RelatedLink(title=text, url=href.strip(), outlet=None))
    elif kind == "font" and related and text:
        last = related[-1]
        related[-1] = RelatedLink(title=last.title, url=last.url, outlet=text)
