"""The fetch stage: one conditional GET per feed, bounded in time and size.

The only concurrent stage, and the only module that knows httpx::

    fetch_all(client, feeds, settings)              # one pass, results in feed order
      └─ fetch_feed(client, feed, settings, limits)  # never raises for a feed's problem
           ├─ HostLimits.slot(url)                   # global + per-host semaphores
           └─ asyncio.timeout(deadline)              # the whole fetch, however the server drips
                └─ _follow: GET, redirects by hand → 304 | error status | body.read_body
                     └─ raw bytes → our own decoder → capped at max_bytes decoded

Every problem with one feed comes back as a ``FetchError`` value whose ``url`` is
the feed's key; httpx exceptions are wrapped here and nowhere else.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import socket
import ssl
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx

from monitor import __version__
from monitor.errors import FetchError
from monitor.ingest import netguard
from monitor.ingest.body import read_body
from monitor.ingest.netguard import AddressPolicy, GuardedTransport, PrivateAddressRefused
from monitor.types import FeedForUpdate, FetchedFeed, FetchSettings

USER_AGENT = f"monitor/{__version__} (+https://github.com/monitor)"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
# RFC 9110 §10.2.3: servers send Retry-After with these two.
RETRY_AFTER_STATUSES = frozenset({429, 503})


def make_client(settings: FetchSettings, policy: AddressPolicy | None = None) -> httpx.AsyncClient:
    """The one client a process uses; close it with ``async with``.

    `policy`: where redirects may not lead (netguard.py); by default from `settings`."""
    if policy is None and settings.block_private_redirects:
        policy = AddressPolicy.from_entries(settings.allow_private)
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        pool=settings.deadline,  # waiting for a pooled connection is bounded by the deadline anyway
    )
    headers = {
        "User-Agent": settings.user_agent or USER_AGENT,
        "Accept": ACCEPT,
        # Only what body.read_body understands: httpx would add br/zstd when those packages exist.
        "Accept-Encoding": "gzip, deflate",
    }
    # Redirects are followed by hand to learn whether every hop was permanent.
    transport = GuardedTransport(policy if settings.block_private_redirects else None)
    return httpx.AsyncClient(headers=headers, timeout=timeout, follow_redirects=False, transport=transport)


# --- concurrency -------------------------------------------------------------


class HostLimits:
    """At most ``concurrency`` fetches in flight, and ``per_host`` to any one host.

    Make one per pass, or share one across passes in a long-running service
    (the semaphores bind to the running event loop on first use).
    """

    def __init__(self, concurrency: int, per_host: int) -> None:
        self._all = asyncio.Semaphore(max(1, concurrency))
        self._per_host = max(1, per_host)
        self._hosts: dict[str, asyncio.Semaphore] = {}

    @classmethod
    def from_settings(cls, settings: FetchSettings) -> HostLimits:
        return cls(settings.concurrency, settings.per_host)

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Hold a slot for ``url``'s host (the feed's own host, even across redirects)."""
        # Host first: a feed queued behind its busy host must not sit on a global slot.
        async with self.host(url), self._all:
            yield

    def host(self, url: str) -> asyncio.Semaphore:
        """The semaphore of ``url``'s host alone (for callers that bound the rest themselves)."""
        host = _host_of(url)
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self._per_host)
        return self._hosts[host]


def _host_of(url: str) -> str:
    try:
        return httpx.URL(url).host.lower()
    except httpx.InvalidURL:
        return ""  # a bad URL fails in _follow with a proper message


async def fetch_all(
    client: httpx.AsyncClient, feeds: Sequence[FeedForUpdate], settings: FetchSettings
) -> list[FetchedFeed | FetchError]:
    """Fetch every feed concurrently; results in the order of ``feeds``."""
    limits = HostLimits.from_settings(settings)
    # A TaskGroup, not gather: a bug in one task cancels the rest instead of orphaning them.
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(fetch_feed(client, feed, settings, limits)) for feed in feeds]
    return [task.result() for task in tasks]


async def fetch_feed(
    client: httpx.AsyncClient,
    feed: FeedForUpdate,
    settings: FetchSettings,
    limits: HostLimits | None = None,
) -> FetchedFeed | FetchError:
    """Fetch one feed; every per-feed problem comes back as a FetchError value."""
    if limits is None:
        return await _fetch_within_deadline(client, feed, settings)
    async with limits.slot(feed.url):
        # The deadline starts once a slot is ours: time queued is not the server's fault.
        return await _fetch_within_deadline(client, feed, settings)


async def _fetch_within_deadline(
    client: httpx.AsyncClient, feed: FeedForUpdate, settings: FetchSettings
) -> FetchedFeed | FetchError:
    try:
        async with asyncio.timeout(settings.deadline):
            return await _follow(client, feed, settings)
    except TimeoutError:
        return FetchError(feed.url, f"timed out after {settings.deadline:g}s")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return FetchError(feed.url, describe_error(exc, settings))


# --- one request, redirects by hand ------------------------------------------


async def _follow(
    client: httpx.AsyncClient, feed: FeedForUpdate, settings: FetchSettings
) -> FetchedFeed | FetchError:
    url, seen, all_permanent = feed.url, {feed.url}, True
    # An imported feed's address came from a file, not from the operator's config: it gets the
    # redirects' policy from its first request (a name that resolves to a private address).
    token = netguard.guarded.set(True) if feed.guarded else None
    try:
        for hop in range(settings.max_redirects + 1):
            headers = _conditional_headers(feed)
            try:
                async with client.stream("GET", url, headers=headers) as response:  # type: ignore[arg-type]
                    if response.status_code not in REDIRECTS:
                        permanent_url = url if all_permanent and url != feed.url else None
                        return await _finish(response, feed, settings, url, permanent_url)
                    target = _redirect_target(response, url)
                    if token is None and hop == 0 and response.extensions.get("peer_public"):
                        token = netguard.guarded.set(True)  # every later hop: public addresses only
            except httpx.ConnectError as exc:
                refused = next((c for c in _causes(exc) if isinstance(c, PrivateAddressRefused)), None)
                if refused is None:
                    raise
                return FetchError(feed.url, f"{refused} ({url})")
            result = _next_hop(feed, response, target, url, seen)
            if isinstance(result, FetchError):
                return result
            all_permanent = all_permanent and response.status_code in PERMANENT_REDIRECTS
            url = result
        return FetchError(feed.url, f"too many redirects (more than {settings.max_redirects})")
    finally:
        if token is not None:
            netguard.guarded.reset(token)


def _next_hop(
    feed: FeedForUpdate, response: httpx.Response, target: httpx.URL | str, url: str, seen: set[str]
) -> str | FetchError:
    """The next URL of a redirect chain, or what is wrong with it."""
    if isinstance(target, str):
        return FetchError(feed.url, target, status=response.status_code)
    url = str(target)
    if url in seen:
        return FetchError(feed.url, f"redirect loop at {url}", status=response.status_code)
    seen.add(url)
    return url


def _conditional_headers(feed: FeedForUpdate) -> dict[str, bytes]:
    headers = {}
    if feed.etag:
        headers["If-None-Match"] = _header_bytes(feed.etag)
    if feed.last_modified:
        headers["If-Modified-Since"] = _header_bytes(feed.last_modified)
    return headers


def _header_bytes(value: str) -> bytes:
    # httpx sends str headers as ASCII and raises on anything else, but an ETag may
    # carry obs-text (RFC 9110 §8.8.3), which httpx decoded as Latin-1: send it back so.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _redirect_target(response: httpx.Response, url: str) -> httpx.URL | str:
    """The absolute URL a redirect points to, or what is wrong with it."""
    location = response.headers.get("location", "").strip()
    if not location:
        return f"HTTP {response.status_code} redirect without a Location header"
    try:
        target = httpx.URL(url).join(location)  # RFC 9110 §10.2.2: may be relative
    except httpx.InvalidURL as exc:
        return f"redirect to an invalid URL {location!r}: {exc}"
    if target.scheme not in ("http", "https"):
        return f"redirect to a non-HTTP URL {location!r}"
    return target.copy_with(fragment=None)


async def _finish(
    response: httpx.Response,
    feed: FeedForUpdate,
    settings: FetchSettings,
    url: str,
    permanent_url: str | None,
) -> FetchedFeed | FetchError:
    status = response.status_code
    if status != 304 and not 200 <= status < 300:
        return _status_error(response, feed.url)
    headers = dict(response.headers.items())  # httpx lower-cases names and joins repeats
    etag, last_modified = headers.get("etag"), headers.get("last-modified")
    body: bytes | None = None
    if status == 304:
        # A 304 may omit validators; the ones we sent are still current.
        etag, last_modified = etag or feed.etag, last_modified or feed.last_modified
    else:
        read = await read_body(response, settings.max_bytes)
        if isinstance(read, str):
            return FetchError(feed.url, read, status=status)
        body = read
    return FetchedFeed(
        url=feed.url,
        final_url=url,
        status=status,
        body=body,
        headers=headers,
        permanent_url=permanent_url,
        etag=etag,
        last_modified=last_modified,
    )


def _status_error(response: httpx.Response, url: str) -> FetchError:
    status = response.status_code
    reason = response.reason_phrase or _standard_reason(status)
    retry_after = None
    if status in RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
    message = f"HTTP {status} {reason}".rstrip()
    return FetchError(url, message, status=status, retry_after=retry_after)


def _standard_reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from ``now``; never negative.

    Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT; parsedate gives naive for "-0000"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# --- httpx exceptions → one line ----------------------------------------------

# The most specific cause wins: low-level OS errors first, then httpx's own classes.
_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset by the server"),
    (socket.gaierror, "name resolution failed"),
    (ssl.SSLCertVerificationError, "TLS certificate verification failed"),
    (ssl.SSLError, "TLS error"),
    (httpx.ConnectTimeout, "connect timed out"),
    (httpx.ReadTimeout, "read timed out"),
    (httpx.WriteTimeout, "write timed out"),
    (httpx.PoolTimeout, "timed out waiting for a free connection"),
    (httpx.RemoteProtocolError, "server broke the HTTP protocol"),
    (httpx.UnsupportedProtocol, "unsupported URL"),
    (httpx.InvalidURL, "invalid URL"),
    (httpx.ProxyError, "proxy error"),
    (httpx.ConnectError, "connection failed"),
    (httpx.ReadError, "connection failed while reading"),
    (httpx.WriteError, "connection failed while sending"),
)


def describe_error(exc: BaseException, settings: FetchSettings) -> str:
    """A one-line, human message for an httpx exception, for ``monitor status``."""
    chain = list(_causes(exc))
    for kind, label in _CAUSES:
        cause = next((c for c in chain if isinstance(c, kind)), None)
        if cause is not None:
            return _with_detail(label, cause, exc, settings)
    return f"request failed: {_one_line(exc) or type(exc).__name__}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _with_detail(label: str, cause: BaseException, exc: BaseException, settings: FetchSettings) -> str:
    host = _request_host(exc)
    message = f"{label} ({host})" if host else label
    if isinstance(cause, httpx.ConnectTimeout):
        detail = f"no connection within {settings.connect_timeout:g}s"
    elif isinstance(cause, httpx.ReadTimeout):
        detail = f"no data for {settings.read_timeout:g}s"
    elif isinstance(cause, ssl.SSLError):
        # Set by the ssl module when it raises; absent on hand-made instances.
        detail = getattr(cause, "verify_message", None) or getattr(cause, "reason", None) or ""
    elif isinstance(cause, OSError):
        detail = ""  # the label already names it; "[Errno 111] ..." adds nothing
    else:
        detail = _one_line(cause)
    return f"{message}: {detail}" if detail else message


def _request_host(exc: BaseException) -> str:
    try:
        url = exc.request.url  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when no request is set
        return ""
    return f"{url.host}:{url.port}" if url.port else url.host


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
