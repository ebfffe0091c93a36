"""feedparser's URL work, done once where it repeats. Imported by parse.py, which calls `install()`.

feedparser 6 checks the document's base URI at *every* start tag: it joins the current base
with itself (``make_safe_absolute_uri(base, base)``, a ``urljoin`` of two URL parses) though
it only changes where an element carries ``xml:base``. On a feed of 50 items that is ~700
joins of the same two strings, 15% of parsing it (py-spy, bench/ab.py's parse stage). And each
link it resolves first goes through a regex substitution with a template (``\\1\\3``), which
Python expands in Python code.

`install()` swaps two functions in feedparser's modules for versions that give the same
answer, cheaper:

    make_safe_absolute_uri(base, rel)   answered from a small memo: it is a pure function of its
                                        two strings (and feedparser's fixed scheme list)
    _urljoin(base, uri)                 the same regex, matched instead of substituted: the
                                        slashes after "scheme://" dropped only when there are any

tests/ingest/test_feedurls.py checks both against feedparser's own on URLs built to differ,
and that a feed parses to the same entries either way. If feedparser ever moves or renames
them, `install()` leaves it alone (parsing is then as fast as feedparser alone).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import feedparser.mixin
import feedparser.urls

_MEMO_SIZE = 256  # (base, rel) pairs: a feed has one or a few; the memo starts afresh when full

_original_join: Callable[[str, str], str] = feedparser.urls._urljoin
_original_safe: Callable[..., str] = feedparser.urls.make_safe_absolute_uri
_FIXER: Any = getattr(feedparser.urls, "_urifixer", None)


def urljoin(base: str, uri: str) -> str:
    """feedparser.urls._urljoin, without expanding a substitution template per call."""
    found = _FIXER.match(uri)
    if found is not None and found.end(2) > found.start(2):  # "scheme:///..." : extra slashes
        uri = found.group(1) + uri[found.end(2) :]
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


_memo: dict[tuple[object, object], str] = {}


def make_safe_absolute_uri(base: Any, rel: Any = None) -> str:
    """feedparser.urls.make_safe_absolute_uri, remembered for the last few (base, rel) pairs."""
    key = (base, rel)
    try:
        return _memo[key]
    except KeyError:
        pass
    except TypeError:  # not hashable: never from feedparser, but answer as it would
        return _original_safe(base, rel)
    uri = _original_safe(base, rel)
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()
    _memo[key] = uri
    return uri


def install() -> bool:
    """Put the two functions in feedparser's modules, where it looks them up; False (nothing
    changed) when this feedparser does not have them as expected."""
    mixin, urls = feedparser.mixin, feedparser.urls
    if mixin.make_safe_absolute_uri is make_safe_absolute_uri:
        return True
    expected = (
        getattr(mixin, "make_safe_absolute_uri", None) is _original_safe
        and getattr(mixin, "_urljoin", None) is _original_join
        and _FIXER is not None
        and _FIXER.pattern == "^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)"
    )
    if not expected:
        return False
    # urls.make_safe_absolute_uri calls urls._urljoin: the cheaper join serves it too
    urls._urljoin = urljoin
    mixin._urljoin = urljoin
    mixin.make_safe_absolute_uri = make_safe_absolute_uri
    return True
