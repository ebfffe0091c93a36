"""A short outlet name for a feed that names none per item. Pure.

Every article has an outlet (``articles.outlet``): the item's own ``<source>`` or
``dc:publisher`` where it gives one (parse.py), else the feed's configured ``name`` (the
pipeline), else ``feed_outlet`` here: the feed's title cleaned of section words and
separators ("Economy news, Latest Economic News, GDP | The Hindu" → "The Hindu"), else the
site's host ("thehindu.com").
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# What sites put between the outlet and the section: "World | The Guardian", "BBC News - Asia",
# "NYT > World News", "Mainichi :: English", "Reuters » Business", "Japan Times: News".
_SEPARATORS = re.compile(r"\s+(?:[|>»«:·•/–—-]|::|-{2})\s+|\s*[|»«·•]\s*|:\s+")
# Words that name the feed, not the outlet, at either end of a part.
_FEED_WORDS = re.compile(
    r"^(?:(?:rss|atom|xml|feeds?)\s+)+|(?:\s+(?:rss|atom|xml|feeds?)(?:\s+feeds?)?)+$", re.I
)
_HOST_PREFIXES = ("www.", "feeds.", "feed.", "rss.", "m.", "news.")
_MAX_OUTLET = 60


def feed_outlet(title: str | None, url: str) -> str | None:
    """The outlet a feed's title names, else its host; None without either."""
    host = _host(url)
    parts = [p for p in (_clean(p) for p in _SEPARATORS.split(title or "")) if p]
    if parts:
        named = [p for p in parts if _names_host(p, host)]
        if named:
            return named[0]
        if len(parts) == 1 and len(parts[0]) <= _MAX_OUTLET:
            return parts[0]
        # "Section | Outlet" is the more usual order; a long last part is a tagline, not a name
        short = [p for p in (parts[-1], parts[0]) if len(p) <= _MAX_OUTLET]
        if short:
            return short[0]
    return host or None


def _clean(part: str) -> str:
    return _FEED_WORDS.sub("", part.strip(" \t\"'“”")).strip()


def _host(url: str) -> str:
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix) :]
    return host


def _names_host(part: str, host: str) -> bool:
    """Whether a title part is the site's name: "The Hindu" for thehindu.com, "NYT" for
    nytimes.com, "Times of India" for timesofindia.indiatimes.com."""
    squashed = re.sub(r"[^a-z0-9]", "", part.lower())
    if len(squashed) < 3 or not host:
        return False
    labels = [label for label in host.lower().split(".") if len(label) >= 3]
    bare = squashed.removeprefix("the")
    words = [w for w in re.findall(r"[a-z0-9]+", part.lower()) if w != "the"]
    first = words[0] if words and len(words[0]) >= 3 else bare  # "BBC News" for bbci.co.uk
    return any(
        squashed in label or bare in label or label in squashed or label.startswith((bare, first))
        for label in labels[:-1] or labels
    )
