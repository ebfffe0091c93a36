"""The fetch stage against a real HTTP server on loopback: no mocks."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import pytest

from fakes.feed_server import FeedServer, _bomb_parts
from monitor.errors import FetchError
from monitor.ingest.fetch import describe_error, fetch_all, fetch_feed, make_client, parse_retry_after
from monitor.types import FeedForUpdate, FetchedFeed, FetchSettings

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title>
<item><title>Ports reopen</title><link>https://example.com/a</link></item>
</channel></rss>
"""
MiB = 1 << 20
T = TypeVar("T")


def fetch(feed: FeedForUpdate | str, **settings: object) -> FetchedFeed | FetchError:
    """One fetch_feed call with its own client, closed afterwards."""
    config = FetchSettings(**settings)  # type: ignore[arg-type]
    target = FeedForUpdate(feed) if isinstance(feed, str) else feed

    async def run() -> FetchedFeed | FetchError:
        async with make_client(config) as client:
            return await fetch_feed(client, target, config)

    return asyncio.run(run())


def fetch_many(feeds: list[FeedForUpdate], **settings: object) -> list[FetchedFeed | FetchError]:
    config = FetchSettings(**settings)  # type: ignore[arg-type]

    async def run() -> list[FetchedFeed | FetchError]:
        async with make_client(config) as client:
            return await fetch_all(client, feeds, config)

    return asyncio.run(run())


def ok(result: FetchedFeed | FetchError) -> FetchedFeed:
    assert isinstance(result, FetchedFeed), result
    return result


def failed(result: FetchedFeed | FetchError) -> FetchError:
    assert isinstance(result, FetchError), result
    return result


def peak_memory(run: Callable[[], T]) -> tuple[T, int]:
    """``run()``'s result and the most memory it held at once, per tracemalloc."""
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        result = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak - baseline


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- 200 and conditional GET ---------------------------------------------------------------------


def test_200_returns_body_validators_and_lowercase_headers(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.rss", RSS, headers={"X-Served-By": "fake"})

    result = ok(fetch(url))

    assert (result.status, result.body) == (200, RSS.encode())
    assert result.url == result.final_url == url
    assert result.etag and result.etag.startswith('"')
    assert result.last_modified and result.last_modified.endswith("GMT")
    assert result.headers["x-served-by"] == "fake"
    assert all(name == name.lower() for name in result.headers)
    assert result.permanent_url is None and not result.not_modified


def test_etag_makes_the_second_fetch_a_304(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.rss", RSS)
    first = ok(fetch(url))

    second = ok(fetch(FeedForUpdate(url, etag=first.etag)))

    assert (second.status, second.body, second.etag) == (304, None, first.etag)
    assert second.not_modified
    assert feed_server.requests[-1].headers["if-none-match"] == first.etag


def test_last_modified_alone_makes_a_304(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.rss", RSS)
    first = ok(fetch(url))

    second = ok(fetch(FeedForUpdate(url, last_modified=first.last_modified)))

    assert second.status == 304
    assert second.last_modified == first.last_modified
    sent = feed_server.requests[-1].headers
    assert sent["if-modified-since"] == first.last_modified and "if-none-match" not in sent


def test_changed_feed_is_a_200_despite_the_old_etag(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.rss", RSS)
    old = ok(fetch(url))
    feed_server.add("/feed.rss", RSS.replace("Ports reopen", "Ports close"))

    new = ok(fetch(FeedForUpdate(url, etag=old.etag)))

    assert new.status == 200 and b"Ports close" in (new.body or b"")
    assert new.etag != old.etag


def test_304_without_validators_keeps_the_ones_sent(feed_server: FeedServer) -> None:
    url = feed_server.misbehave("/bare-304", "status", code=304)

    sent = FeedForUpdate(url, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")

    result = ok(fetch(sent))

    assert (result.status, result.etag) == (304, '"v1"')
    assert result.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_a_non_ascii_etag_is_sent_back(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.rss", RSS, headers={"ETag": '"\xe9t\xe9"'})  # obs-text
    etag = ok(fetch(url)).etag

    assert ok(fetch(FeedForUpdate(url, etag=etag))).status == 200
    assert feed_server.requests[-1].headers["if-none-match"] == '"\xe9t\xe9"'


def test_request_headers_name_monitor(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.rss", RSS)

    ok(fetch(url))
    ok(fetch(url, user_agent="custom/1"))

    default, custom = (r.headers for r in feed_server.requests)
    assert default["user-agent"].startswith("monitor/")
    assert custom["user-agent"] == "custom/1"
    assert default["accept-encoding"] == "gzip, deflate"


# --- content encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_compressed_bodies_are_decoded(feed_server: FeedServer, encoding: str) -> None:
    url = feed_server.add("/feed.rss", RSS * 50, encoding=encoding)

    result = ok(fetch(url))

    assert result.body == (RSS * 50).encode()
    assert result.headers["content-encoding"] in ("gzip", "deflate")


def test_body_exactly_at_the_cap_is_accepted(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.rss", b"x" * 4096, encoding="gzip")

    assert ok(fetch(url, max_bytes=4096)).body == b"x" * 4096
    assert failed(fetch(url, max_bytes=4095)).message == "body larger than 4095 bytes"


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Content-Encoding": "br"}, b"\x1b\x00", "unsupported Content-Encoding 'br'"),
        ({"Content-Encoding": "gzip"}, b"not gzip at all", "could not decode gzip body"),
    ],
    ids=["unknown-encoding", "corrupt-gzip"],
)
def test_undecodable_bodies_are_errors(
    feed_server: FeedServer, headers: dict[str, str], body: bytes, expected: str
) -> None:
    url = feed_server.misbehave("/odd", "status", code=200, headers=headers, body=body)

    assert expected in failed(fetch(url)).message


# --- redirects -----------------------------------------------------------------------------------


def test_all_permanent_redirects_set_permanent_url(feed_server: FeedServer) -> None:
    final = feed_server.add("/new/feed.rss", RSS)
    feed_server.misbehave("/old", "redirect", to="/moved/once", status=301)
    feed_server.misbehave("/moved/once", "redirect", to="../new/feed.rss", status=308)  # relative

    result = ok(fetch(feed_server.url("/old")))

    assert (result.status, result.body) == (200, RSS.encode())
    assert result.final_url == result.permanent_url == final
    assert result.url == feed_server.url("/old")


def test_a_temporary_hop_means_no_permanent_url(feed_server: FeedServer) -> None:
    final = feed_server.add("/feed.rss", RSS)
    feed_server.misbehave("/a", "redirect", to="/b", status=301)
    feed_server.misbehave("/b", "redirect", to=final, status=302)  # absolute Location

    result = ok(fetch(feed_server.url("/a")))

    assert result.final_url == final and result.permanent_url is None


def test_permanent_redirect_to_a_304_still_reports_the_move(feed_server: FeedServer) -> None:
    final = feed_server.add("/feed.rss", RSS)
    etag = ok(fetch(final)).etag
    feed_server.misbehave("/old", "redirect", to="/feed.rss", status=301)

    result = ok(fetch(FeedForUpdate(feed_server.url("/old"), etag=etag)))

    assert (result.status, result.permanent_url) == (304, final)


@pytest.mark.parametrize(
    ("routes", "max_redirects", "expected"),
    [
        ({"/x": "/y", "/y": "/x"}, 10, "redirect loop at"),
        ({"/x": "/1", "/1": "/2", "/2": "/3", "/3": "/4"}, 3, "too many redirects (more than 3)"),
        ({"/x": "ftp://example.com/feed"}, 10, "redirect to a non-HTTP URL"),
    ],
    ids=["loop", "too-many", "non-http"],
)
def test_bad_redirect_chains_are_errors(
    feed_server: FeedServer, routes: dict[str, str], max_redirects: int, expected: str
) -> None:
    for path, to in routes.items():
        feed_server.misbehave(path, "redirect", to=to, status=307)
    feed_server.add("/4", RSS)

    error = failed(fetch(feed_server.url("/x"), max_redirects=max_redirects))

    assert expected in error.message
    assert error.url == feed_server.url("/x")


def test_redirect_without_location_is_an_error(feed_server: FeedServer) -> None:
    url = feed_server.misbehave("/nowhere", "status", code=302)

    error = failed(fetch(url))

    assert error.status == 302 and "without a Location" in error.message


# --- error statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [(404, "HTTP 404 Not Found"), (410, "HTTP 410 Gone"), (500, "HTTP 500 Internal Server Error")],
)
def test_error_statuses_are_errors_with_the_status(feed_server: FeedServer, code: int, message: str) -> None:
    url = feed_server.misbehave("/broken", "status", code=code, body="oops")

    error = failed(fetch(url))

    assert (error.status, error.message, error.url, error.retry_after) == (code, message, url, None)


def _in_two_minutes() -> str:
    return email.utils.formatdate(time.time() + 120, usegmt=True)


@pytest.mark.parametrize(
    ("code", "retry_after", "low", "high"),
    [
        (429, lambda: "120", 120, 120),
        (503, _in_two_minutes, 115, 121),
        (503, lambda: "Thu, 01 Jan 2015 00:00:00 GMT", 0, 0),  # in the past: retry now
    ],
    ids=["429-seconds", "503-http-date", "503-past-date"],
)
def test_retry_after_is_read_from_429_and_503(
    feed_server: FeedServer, code: int, retry_after: Callable[[], str], low: float, high: float
) -> None:
    headers = {"Retry-After": retry_after()}
    url = feed_server.misbehave("/busy", "status", code=code, headers=headers)

    error = failed(fetch(url))

    assert error.status == code
    assert error.retry_after is not None and low <= error.retry_after <= high


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("30", 30.0),
        (" 0 ", 0.0),
        ("-5", None),
        ("soon", None),
        ("Wed, 01 May 2024 12:01:30 GMT", 90.0),
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


# --- time limits ---------------------------------------------------------------------------------


def test_a_silent_server_trips_the_read_timeout(feed_server: FeedServer) -> None:
    url = feed_server.misbehave("/hang", "hang")

    started = time.monotonic()
    error = failed(fetch(url, deadline=1.0, read_timeout=0.5))

    assert time.monotonic() - started < 2
    assert "timed out" in error.message and error.url == url


def test_a_dripping_server_is_cut_off_by_the_deadline(feed_server: FeedServer) -> None:
    url = feed_server.misbehave("/drip", "drip", interval=0.2)

    started = time.monotonic()
    error = failed(fetch(url, deadline=1.5, read_timeout=5))

    assert 1.4 < time.monotonic() - started < 3
    assert error.message == "timed out after 1.5s"


# --- size limits ---------------------------------------------------------------------------------


def test_an_oversized_body_is_cut_off_in_bounded_memory(feed_server: FeedServer) -> None:
    url = feed_server.misbehave("/big", "oversized", mib=64)

    result, peak = peak_memory(lambda: fetch(url, max_bytes=MiB))

    assert failed(result).message == "body larger than 1 MiB"
    assert peak < 4 * MiB + 4 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_the_fake_gzip_bomb_really_is_one() -> None:
    head, segment = _bomb_parts()
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    inflated = len(decoder.decompress(head + segment * 15))
    assert inflated == 16 * MiB and len(head + segment * 15) < 20_000


def test_a_gzip_bomb_is_cut_off_in_bounded_memory(feed_server: FeedServer) -> None:
    url = feed_server.misbehave("/bomb", "gzip_bomb", gib=10)
    max_bytes = 10 * MiB

    result, peak = peak_memory(lambda: fetch(url, max_bytes=max_bytes))

    print(f"\ngzip bomb: peak traced memory {peak / MiB:.1f} MiB for a 10 MiB cap (10 GiB bomb)")
    assert failed(result).message == "body larger than 10 MiB"
    assert peak < 4 * max_bytes + 4 * MiB, f"peak {peak / MiB:.1f} MiB"


# --- network failures ----------------------------------------------------------------------------


def test_connection_refused_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}/feed.rss"

    error = failed(fetch(url))

    assert error.message.startswith("connection refused (127.0.0.1:")
    assert error.url == url and error.status is None


def test_a_reset_connection_is_an_error(feed_server: FeedServer) -> None:
    url = feed_server.misbehave("/reset", "reset")

    error = failed(fetch(url))

    assert error.message.startswith(("connection reset", "server broke the HTTP protocol"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [("ftp://example.com/feed", "unsupported URL"), ("http://[::1/feed", "invalid URL")],
)
def test_unusable_urls_are_errors(url: str, expected: str) -> None:
    assert failed(fetch(url)).message.startswith(expected)


def _raised(exc: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    exc.__cause__ = cause
    exc.request = httpx.Request("GET", "https://news.example/feed")
    return exc


HOST = "(news.example)"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            _raised(httpx.ConnectError("x"), socket.gaierror(-2, "Name or service not known")),
            f"name resolution failed {HOST}",
        ),
        (
            _raised(httpx.ConnectError("x"), ssl.SSLCertVerificationError(1, "bad")),
            f"TLS certificate verification failed {HOST}",
        ),
        (
            _raised(httpx.ConnectTimeout(""), TimeoutError()),
            f"connect timed out {HOST}: no connection within 10s",
        ),
        (
            _raised(httpx.ReadTimeout(""), TimeoutError()),
            f"read timed out {HOST}: no data for 20s",
        ),
        (
            _raised(httpx.ReadError(""), ConnectionResetError(104, "reset")),
            f"connection reset by the server {HOST}",
        ),
        (
            httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."),
            "unsupported URL: Request URL",
        ),
    ],
    ids=["dns", "tls", "connect-timeout", "read-timeout", "reset", "scheme"],
)
def test_describe_error_names_the_problem(exc: httpx.HTTPError, expected: str) -> None:
    message = describe_error(exc, FetchSettings())
    assert message.startswith(expected) and "\n" not in message


# --- many feeds ----------------------------------------------------------------------------------


def test_fetch_all_keeps_at_most_per_host_in_flight(feed_server: FeedServer) -> None:
    feeds = [FeedForUpdate(feed_server.add(f"/slow/{i}", RSS, delay=0.15)) for i in range(10)]

    results = fetch_many(feeds, per_host=2, concurrency=20)

    assert all(ok(r).status == 200 for r in results)
    assert feed_server.max_in_flight() == 2  # the limit, and reached: requests did overlap


def _two_hosts(server: FeedServer) -> list[FeedForUpdate]:
    """Six slow feeds, each reachable as 127.0.0.1 and as localhost: two hosts to the limits."""
    other_host = server.base_url.replace("127.0.0.1", "localhost")
    paths = [f"/slow/{i}" for i in range(6)]
    for path in paths:
        server.add(path, RSS, delay=0.3)
    return [FeedForUpdate(base + p) for p in paths for base in (server.base_url, other_host)]


def test_fetch_all_limits_each_host_separately(feed_server: FeedServer) -> None:
    results = fetch_many(_two_hosts(feed_server), per_host=2, concurrency=20)

    assert all(ok(r).status == 200 for r in results)
    assert feed_server.max_in_flight() == 4  # two hosts, two each
    assert feed_server.max_in_flight(feed_server.base_url.removeprefix("http://")) == 2


def test_fetch_all_limits_all_hosts_together(feed_server: FeedServer) -> None:
    results = fetch_many(_two_hosts(feed_server), per_host=2, concurrency=3)

    assert all(ok(r).status == 200 for r in results)
    assert feed_server.max_in_flight() == 3


def test_fetch_all_returns_errors_and_successes_in_order(feed_server: FeedServer) -> None:
    urls = [
        feed_server.add("/one.rss", RSS),
        feed_server.misbehave("/gone", "status", code=410),
        f"http://127.0.0.1:{free_port()}/refused",
        feed_server.misbehave("/hang", "hang"),
        feed_server.add("/two.rss", RSS + "<!-- two -->"),
    ]

    results = fetch_many([FeedForUpdate(u) for u in urls], read_timeout=0.5, deadline=2)

    assert [r.url for r in results] == urls
    assert ok(results[0]).body == RSS.encode()
    assert failed(results[1]).status == 410
    assert "connection refused" in failed(results[2]).message
    assert "timed out" in failed(results[3]).message
    assert ok(results[4]).body == (RSS + "<!-- two -->").encode()


def test_server_handlers_end_when_the_client_goes_away(feed_server: FeedServer) -> None:
    threads = threading.active_count()
    hang = feed_server.misbehave("/hang", "hang")
    drip = feed_server.misbehave("/drip", "drip", interval=0.05)

    failed(fetch(hang, read_timeout=0.2))
    failed(fetch(drip, deadline=0.3))

    give_up = time.monotonic() + 1
    while threading.active_count() > threads and time.monotonic() < give_up:
        time.sleep(0.02)
    assert threading.active_count() == threads


def test_server_stops_quickly_while_clients_still_wait() -> None:
    server = FeedServer().start()
    urls = [server.misbehave("/hang", "hang"), server.misbehave("/drip", "drip", interval=0.05)]

    async def stop_mid_request() -> tuple[float, list[object]]:
        async with httpx.AsyncClient(timeout=5) as client:
            requests = [asyncio.create_task(client.get(url)) for url in urls]
            await asyncio.sleep(0.3)  # both handlers are busy now
            started = time.monotonic()
            await asyncio.to_thread(server.stop)
            elapsed = time.monotonic() - started
            return elapsed, await asyncio.gather(*requests, return_exceptions=True)

    elapsed, outcomes = asyncio.run(stop_mid_request())

    assert elapsed < 1
    assert all(isinstance(o, httpx.TransportError) for o in outcomes), outcomes
