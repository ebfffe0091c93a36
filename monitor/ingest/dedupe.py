"""Identity of an article: canonical URLs and dedupe keys. Pure.

An article is the same article when its canonical URL is the same (whatever
feed it came through and whatever its GUID says), or, for an entry without a
link, when its feed gives the same GUID. Grouping differently-worded reports of
one event is a different question (stories), not this module's.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from monitor.types import EntryData

# Parameters that say where a click came from, never which article it is.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "_hs")
_TRACKING = {
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "igshid",
    "mkt_tok",
    "ref_src",
    "ref_url",
    "cmpid",
    "ocid",
    "smid",
    "soc_src",
    "soc_trk",
    "ito",
    "cid_source",
    "__twitter_impression",
    "s_cid",
    "spm",
    "share",
    "rss",
    "feed",
    "from_rss",
}
# Google News item links are redirect addresses; the article id is the path,
# and these parameters only pick the edition the reader browsed in.
_GOOGLE_NEWS_HOSTS = {"news.google.com"}
_GOOGLE_NEWS_PARAMS = {"oc", "hl", "gl", "ceid"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# A "%" that starts no escape is a literal percent sign: escaped first, else unescaping what
# follows it could make one ("%a%30" → "%a0", then "%A0": not idempotent; tests/test_properties.py)
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_SAFE = "/:@!$&'()*+,;=~-._%"  # what a path may hold unescaped (RFC 3986), and escapes
# A lone surrogate cannot be encoded (URLs, SQLite): it comes from a broken character
# reference, so it stands for nothing and becomes U+FFFD, as an HTML parser makes it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


# A link that is canonical as it stands (lower-case web scheme and host, no port, user, query
# or fragment, a path of unreserved characters): most feeds' links. `_canonical` would give it
# back unchanged ("/" added to an empty path) after a dozen urllib calls; tests/ingest/test_dedupe.py
# checks the two agree.
_PLAIN_WEB = re.compile(r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*+(/[A-Za-z0-9._~/-]*+)?")


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters.

    Idempotent; never raises (an unparsable URL is returned stripped); the result always
    encodes as UTF-8.
    """
    plain = _PLAIN_WEB.fullmatch(url)
    if plain is not None:
        return url if plain.group(1) else url + "/"
    return _canonical(url)


def _canonical(url: str) -> str:
    url = _SURROGATE.sub("\ufffd", url.strip())
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not scheme or not host:
        return url
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
    if parts.username or parts.password:
        # Credentials in a feed link are rare; keep them rather than merge distinct URLs.
        netloc = f"{parts.netloc.rsplit('@', 1)[0]}@{netloc}"
    path = quote(_ESCAPE.sub(_normal_escape, _LONE_PERCENT.sub("%25", parts.path)), safe=_PATH_SAFE) or "/"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(host, k)]
    )
    return urlunsplit((scheme, netloc, path, query, ""))


def _normal_escape(escape: re.Match[str]) -> str:
    """RFC 3986 6.2.2: an escaped unreserved character is that character; other escapes stay,
    in upper case. Unescaping every one made "%2541" "%41" and then "A" (not idempotent),
    and "a%2Fb" the same address as "a/b" (found by tests/test_properties.py)."""
    char = chr(int(escape.group(1), 16))
    return char if char in _UNRESERVED else escape.group().upper()


def _is_tracking(host: str, key: str) -> bool:
    k = key.lower()
    if host in _GOOGLE_NEWS_HOSTS and k in _GOOGLE_NEWS_PARAMS:
        return True
    return k in _TRACKING or k.startswith(_TRACKING_PREFIXES)


def entry_keys(entry: EntryData) -> tuple[str | None, tuple[str, ...]]:
    """The canonical URL (None without a usable link) and every identity key of an entry.

    A GUID is only unique within its feed, so its key is scoped by the feed.
    """
    url = canonical_url(entry.link) if entry.link and _is_web(entry.link) else None
    keys: list[str] = []
    if url:
        keys.append("url:" + url)
    guid = (entry.guid or "").strip()  # a blank GUID is none: it would make every such entry one
    if guid:
        if _is_web(guid):
            # A permalink GUID is a URL: the same article under whatever feed.
            keys.append("url:" + canonical_url(guid))
        else:
            keys.append(f"guid:{entry.feed_url}#{guid}")
    if not keys:
        # <guid> and <link> are both optional in RSS 2.0: fall back to the title
        # within the feed, so a linkless item is still archived once.
        keys.append(f"title:{entry.feed_url}#{entry.title.strip().lower()}")
    # Keys go into SQLite, which cannot store a lone surrogate.
    return url, tuple(dict.fromkeys(_SURROGATE.sub("\ufffd", key) for key in keys))


def without_shared_guids(entries: Sequence[EntryData]) -> tuple[list[EntryData], int]:
    """The entries, each GUID that several of them with different links share dropped, and how
    many lost theirs.

    A GUID is meant to be one item's own. A feed that gives every item "0", or its home page,
    made every item after the first a duplicate of it, now and on every later poll (issue 20,
    item 7): such a GUID says nothing, and the link identifies each item instead. Entries that
    share a GUID and a link (the same item listed twice) keep it.
    """
    counts = Counter(entry.guid for entry in entries if entry.guid and entry.link)
    links: dict[str, set[str]] = {}
    for entry in entries:
        if entry.guid and entry.link and counts[entry.guid] > 1:  # the usual feed: none
            links.setdefault(entry.guid, set()).add(canonical_url(entry.link))
    shared = {guid for guid, seen in links.items() if len(seen) > 1}
    if not shared:
        return list(entries), 0
    kept = [replace(e, guid=None) if e.guid in shared and e.link else e for e in entries]
    return kept, sum(1 for e in entries if e.guid in shared and e.link)


Keyed = tuple[EntryData, str | None, tuple[str, ...]]  # an entry, its canonical URL, its keys


def distinct_entries(entries: Sequence[EntryData]) -> list[Keyed]:
    """Each article of one feed once, whatever order the feed lists its entries in.

    Entries that share a key, directly or through another entry (a link in one, the same
    link and a GUID in the next, that GUID in a third), are one article. The first of them
    in feed order stands for it, with every key of the group, so that whichever of them
    the feed carries next time is known. Dropping a duplicate without keeping its keys
    made the result depend on the order (found by tests/test_properties.py).
    """
    keyed = [(entry, *entry_keys(entry)) for entry in entries]
    parent = list(range(len(keyed)))  # union-find over entry indexes; a root is its group's first

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]  # path halving keeps the trees flat
            index = parent[index]
        return index

    owner: dict[str, int] = {}
    for index, (_, _, keys) in enumerate(keyed):
        for key in keys:
            first, other = sorted((root(index), root(owner.setdefault(key, index))))
            parent[other] = first
    groups: dict[int, list[str]] = {}
    for index, (_, _, keys) in enumerate(keyed):
        groups.setdefault(root(index), []).extend(keys)
    return [(keyed[first][0], keyed[first][1], tuple(dict.fromkeys(keys))) for first, keys in groups.items()]


def _is_web(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))
