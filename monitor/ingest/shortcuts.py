"""feedparser's repeated work, done cheaper with the same answers. parse.py calls `install()`.

Three things feedparser 6 does per element or per item cost a fifth of parsing a feed (py-spy,
bench/ab.py's parse stage):

* it checks the document's base URI at *every* start tag, joining the current base with
  itself (``make_safe_absolute_uri(base, base)``, a ``urljoin`` of two URL parses), though
  it only changes where an element carries ``xml:base``: ~700 joins of the same two strings
  in a feed of 50 items;
* each link it resolves first goes through a regex substitution with a template (``\\1\\3``),
  which Python expands in Python code;
* it deep-copies a text element's content parameters (``{"type", "language", "base"}``, all
  strings) for its ``*_detail``, through copy's generic reduce-and-rebuild: ~20 us each.

`install()` puts in feedparser's modules, where it looks them up:

    make_safe_absolute_uri(base, rel)   answered from a small memo: a pure function of its two
                                        strings (and feedparser's fixed scheme list)
    _urljoin(base, uri)                 the same regex, matched instead of substituted: the
                                        slashes after "scheme://" dropped only when there are any
    copy.deepcopy(value)                a FeedParserDict of strings (or numbers, or None) rebuilt
                                        item by item, as deepcopy rebuilds it (its __setitem__,
                                        key aliases and all); anything else to copy.deepcopy

tests/ingest/test_shortcuts.py checks each against feedparser's own, and feedparser's whole test
corpus parsed both ways. If feedparser moves or renames them, `install()` leaves it alone
(parsing is then as fast as feedparser alone).
"""

from __future__ import annotations

import copy
import urllib.parse
from collections.abc import Callable
from typing import Any

import feedparser.mixin
import feedparser.urls
from feedparser.util import FeedParserDict

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


# what copy.deepcopy gives back as it is (copy._deepcopy_atomic): a dict of these is copied item by item
_ATOMIC = frozenset({str, int, float, bool, type(None), bytes})


def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy, without its generic machinery for a FeedParserDict of atomic values."""
    if type(value) is FeedParserDict and not value.__dict__ and _ATOMIC.issuperset(map(type, value.values())):
        copied = FeedParserDict()
        for key, item in dict.items(value):
            copied[key] = item  # FeedParserDict.__setitem__, as copy._reconstruct sets them
        return copied
    return copy.deepcopy(value, memo)


class _Copy:
    """feedparser.mixin's `copy`: the copy module, with `deepcopy` above."""

    deepcopy = staticmethod(deepcopy)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def install() -> bool:
    """Put the two functions in feedparser's modules, where it looks them up; False (nothing
    changed) when this feedparser does not have them as expected."""
    mixin, urls = feedparser.mixin, feedparser.urls
    if mixin.make_safe_absolute_uri is make_safe_absolute_uri:
        return True
    expected = (
        getattr(mixin, "make_safe_absolute_uri", None) is _original_safe
        and getattr(mixin, "_urljoin", None) is _original_join
        and getattr(mixin, "copy", None) is copy
        and _FIXER is not None
        and _FIXER.pattern == "^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)"
    )
    if not expected:
        return False
    # urls.make_safe_absolute_uri calls urls._urljoin: the cheaper join serves it too
    urls._urljoin = urljoin
    mixin._urljoin = urljoin
    mixin.make_safe_absolute_uri = make_safe_absolute_uri
    mixin.copy = _Copy()
    return True
