"""Identity of an article: canonical URLs and dedupe keys. Pure.

An article is the same article when its canonical URL is the same (whatever
feed it came through and whatever its GUID says), or, for an entry without a
link, when its feed gives the same GUID. Grouping differently-worded reports of
one event is a different question (stories), not this module's.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

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


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters.

    Idempotent; never raises (an unparsable URL is returned stripped).
    """
    url = url.strip()
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
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=~-._%") or "/"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(host, k)]
    )
    return urlunsplit((scheme, netloc, path, query, ""))


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
    if entry.guid:
        guid = entry.guid.strip()
        if _is_web(guid):
            # A permalink GUID is a URL: the same article under whatever feed.
            keys.append("url:" + canonical_url(guid))
        else:
            keys.append(f"guid:{entry.feed_url}#{guid}")
    if not keys:
        # <guid> and <link> are both optional in RSS 2.0: fall back to the title
        # within the feed, so a linkless item is still archived once.
        keys.append(f"title:{entry.feed_url}#{entry.title.strip().lower()}")
    return url, tuple(dict.fromkeys(keys))


def _is_web(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))
