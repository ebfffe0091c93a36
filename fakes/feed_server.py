"""A real HTTP/1.1 feed server on loopback, for tests that fetch over the network.

Tests get a started one from the ``feed_server`` fixture (tests/conftest.py); bench/farm.py
serves its generated feeds through it too::

    def test_something(feed_server):
        url = feed_server.add("/news.rss", rss_bytes)         # 200, ETag, Last-Modified, 304s
        bad = feed_server.misbehave("/down.rss", "status", code=503, headers={"Retry-After": "60"})
        ...
        assert feed_server.count("/news.rss") == 2
        assert feed_server.requests[-1].headers["if-none-match"] == '"..."'

API (everything else is private):

``FeedServer(tls=None, hosts=1, port=0, keep_requests=True)``
                             the class; use it as a context manager. ``tls``, a server-side
                             ``ssl.SSLContext``, makes it HTTPS (the fixture is plain HTTP).
                             ``hosts`` loopback addresses listen on one port (``port``, 0: any
                             free one): 127.0.0.1, 127.0.0.2, ... (all of 127/8 is loopback on
                             Linux), for clients that limit connections per host; every route
                             answers on every host. ``keep_requests=False`` keeps counts only
                             (``requests`` stays empty), for long benchmark runs.
``base_url``                 ``http://127.0.0.1:<port>`` (``https://`` with ``tls``)
``url(path, host=0)``        ``base_url + path``, on the host-th address
``host(k)``, ``port``        the k-th loopback address (k modulo ``hosts``), the port
``add(path, body, content_type=..., headers=None, encoding=None, delay=0.0) -> url``
    Serve ``body`` (bytes, or str encoded as UTF-8) with a strong ETag (a hash of
    the body) and a Last-Modified; answer 304 to a matching If-None-Match, or,
    without one, to an If-Modified-Since not older than Last-Modified.
    ``encoding`` "gzip" / "deflate" (zlib-wrapped) / "raw-deflate" compresses it
    with the matching Content-Encoding; ``delay`` waits that many seconds first.
    ``headers={"Date": ""}`` sends no Date header (the server's clock is unknown).
    Calling ``add`` again on a path replaces the body (and so the ETag).
    An HTML page or a Latin-1 feed is just ``add(..., content_type="text/html")``.
``misbehave(path, mode, **options) -> url``, modes:
    "redirect"   ``to`` (Location as given: relative or absolute), ``status`` (301)
    "status"     ``code``, ``headers`` ({}), ``body`` (b"")
    "hang"       read the request, send nothing until the client goes away
    "drip"       headers, then one byte every ``interval`` (1.0) seconds, forever
    "oversized"  200 chunked, ``mib`` (64) MiB of junk
    "gzip_bomb"  200 chunked, Content-Encoding gzip, zeros that inflate to ``gib`` (10) GiB
                 from about 1 MB per GiB of compressed data
    "deflate_bomb"  the same with Content-Encoding deflate: zlib-wrapped, or raw deflate
                 (``raw``, False) as misconfigured servers send it
    "reset"      read the request, then reset the connection (TCP RST)
    "reset_mid_body"  headers with the Content-Length of ``body`` (an RSS feed), the first
                 ``sent`` bytes of it (half), then a TCP RST
    "endless"    200 chunked RSS that never ends: the channel's head, then one ``<item>``
                 every ``interval`` (0.1) seconds until the client goes away
``route(path, respond) -> url``  serve ``path`` with ``respond(request)``, which reads
                             ``request.headers`` and answers with ``request.reply(code, body,
                             headers)`` (``request.wait(seconds)`` first to delay: False when the
                             client or the server went away meanwhile); ``add`` and
                             ``misbehave`` install routes of their own
``requests``                 every request seen: ``RequestRecord(path, method, headers, host)``,
                             header names lower-case; ``path`` is the request target (with query)
``count(path)``              how many requests asked for ``path``
``max_in_flight(host=None)`` the most requests handled at once (to one Host header, or to any)
``stats()``, ``reset_stats()``  ``ServerStats``: requests, 200s, 304s, 404s, body bytes, in flight
                             now, most in flight since the reset, connections accepted

Routes match the full request target first, then the path without its query;
anything else is a 404. Hang, drip and streaming handlers stop when the client
disconnects or the server stops; ``stop()`` returns within about a second.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import select
import selectors
import socket
import ssl
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any
from urllib.parse import urlsplit

_POLL = 0.05  # seconds between checks that the client or the server is still there


@dataclass(frozen=True)
class RequestRecord:
    path: str  # the request target, query included
    method: str  # "GET", ...
    headers: dict[str, str]  # lower-case names
    host: str  # the Host header


Handler = Callable[["_RequestHandler"], None]


@dataclass
class ServerStats:
    requests: int = 0  # requests answered or being answered
    ok: int = 0  # 200s
    not_modified: int = 0  # 304s
    not_found: int = 0  # 404s
    bytes: int = 0  # body bytes sent (not counting streamed misbehaviour)
    in_flight: int = 0  # requests between arrival and answer now
    max_in_flight: int = 0  # the most at once since the last reset
    connections: int = 0  # TCP connections accepted

    def line(self) -> str:
        return (
            f"requests {self.requests}: {self.ok} 200, {self.not_modified} 304, {self.not_found} 404; "
            f"{self.bytes / 1e6:.1f} MB; most in flight {self.max_in_flight}; connections {self.connections}"
        )


class FeedServer:
    """A threaded HTTP/1.1 server on loopback with programmable routes."""

    def __init__(
        self, tls: ssl.SSLContext | None = None, hosts: int = 1, port: int = 0, keep_requests: bool = True
    ) -> None:
        if not 1 <= hosts <= 250 * 250:
            raise ValueError(f"hosts must be 1..62500, got {hosts}")
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._in_flight: dict[str, int] = {}
        self._max_in_flight: dict[str, int] = {}
        self._stats = ServerStats()
        self.requests: list[RequestRecord] = []
        self.keep_requests = keep_requests
        self.hosts = hosts
        self._httpds = self._listen(tls, port)
        self.port: int = self._httpds[0].server_address[1]
        scheme = "https" if tls else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, name="feed-server", daemon=True)

    def _listen(self, tls: ssl.SSLContext | None, port: int) -> list[_HTTPServer]:
        """One listening socket per host, all on one port (a free one when port is 0)."""
        for attempt in range(20):
            httpds: list[_HTTPServer] = []
            try:
                for k in range(self.hosts):
                    chosen = httpds[0].server_address[1] if httpds else port
                    httpds.append(_HTTPServer((self.host(k), chosen), _RequestHandler, self, tls))
                return httpds
            except OSError:
                for httpd in httpds:
                    httpd.server_close()
                if port or attempt == 19:  # a fixed port that is taken: say so
                    raise
        raise AssertionError("unreachable")

    def _accept(self) -> None:
        """One thread accepts on every host's socket; each connection gets a thread of its own."""
        with selectors.DefaultSelector() as selector:
            for httpd in self._httpds:
                selector.register(httpd, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select(_POLL):
                    # what serve_forever does for one socket: accept, then a thread per connection
                    key.fileobj._handle_request_noblock()  # type: ignore[union-attr]

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # wake handlers blocked reading a keep-alive connection
            _shutdown_quietly(conn)
        for httpd in self._httpds:
            httpd.server_close()
        deadline = time.monotonic() + 1
        while self._connections and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- routes -----------------------------------------------------------------------

    def host(self, k: int) -> str:
        """The k-th loopback address this server listens on (k modulo hosts)."""
        k %= self.hosts
        return f"127.0.{k // 250}.{1 + k % 250}"

    def url(self, path: str, host: int = 0) -> str:
        if host % self.hosts == 0:
            return self.base_url + path
        return self.base_url.replace("127.0.0.1", self.host(host)) + path

    def route(self, path: str, respond: Handler) -> str:
        """Serve ``path`` with ``respond(request)``; see the module docstring."""
        self._routes[path] = respond
        return self.url(path)

    def add(
        self,
        path: str,
        body: bytes | str,
        content_type: str = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        encoding: str | None = None,
        delay: float = 0.0,
    ) -> str:
        """Serve a feed at ``path`` with validators; see the module docstring."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        resource = _Resource(
            body=data,
            content_type=content_type,
            headers=dict(headers or {}),
            encoding=encoding,
            delay=delay,
            etag=f'"{hashlib.sha256(data).hexdigest()[:20]}"',
            last_modified=email.utils.formatdate(time.time() - 60, usegmt=True),
        )
        return self.route(path, resource.serve)

    def misbehave(self, path: str, mode: str, **options: Any) -> str:
        """Serve ``path`` badly on purpose; see the module docstring for modes."""
        try:
            make = _MODES[mode]
        except KeyError:
            raise ValueError(f"unknown mode {mode!r}; one of {sorted(_MODES)}") from None
        return self.route(path, make(**options))

    # --- what happened ----------------------------------------------------------------

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def max_in_flight(self, host: str | None = None) -> int:
        with self._lock:
            if host is None:
                return self._max_in_flight.get("", 0)
            return self._max_in_flight.get(host, 0)

    def stats(self) -> ServerStats:
        with self._lock:
            return replace(self._stats, in_flight=self._in_flight.get("", 0))

    def reset_stats(self) -> None:
        with self._lock:
            now = self._in_flight.get("", 0)
            self._stats = ServerStats(in_flight=now, max_in_flight=now)

    # --- used by the handler ----------------------------------------------------------

    def _route(self, target: str) -> Handler | None:
        return self._routes.get(target) or self._routes.get(urlsplit(target).path)

    def _begin(self, record: RequestRecord) -> None:
        with self._lock:
            if self.keep_requests:
                self.requests.append(record)
            for key in ("", record.host):  # "" counts every host together
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
                now = self._in_flight[key]
                self._max_in_flight[key] = max(self._max_in_flight.get(key, 0), now)
            self._stats.requests += 1
            self._stats.max_in_flight = max(self._stats.max_in_flight, self._in_flight[""])

    def _answering(self, code: int, size: int) -> None:
        with self._lock:
            stats = self._stats
            stats.ok += code == 200
            stats.not_modified += code == 304
            stats.not_found += code == 404
            stats.bytes += size

    def _end(self, record: RequestRecord) -> None:
        with self._lock:
            for key in ("", record.host):
                self._in_flight[key] -= 1

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(conn)
            self._stats.connections += alive


# --- the HTTP machinery ---------------------------------------------------------------


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # FeedServer.stop wakes and waits for handlers itself
    request_queue_size = 2048  # a benchmark's burst of connections must not wait for SYN retries

    def __init__(
        self, address: tuple[str, int], handler: type, owner: FeedServer, tls: ssl.SSLContext | None
    ) -> None:
        self.owner, self.tls = owner, tls
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        if self.tls is None:
            return conn, address
        # The handshake happens in the handler's thread (setup), not in the accept loop.
        return self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response is what these tests do on purpose.
        if not isinstance(sys.exc_info()[1], OSError | ValueError):
            super().handle_error(request, client_address)


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)  # a client that never finishes the handshake
            self.request.do_handshake()  # a client that rejects our certificate raises here
            self.request.settimeout(None)
        super().setup()
        self.server.owner._track(self.connection, alive=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, alive=False)

    def do_GET(self) -> None:
        owner = self.server.owner
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._record: RequestRecord | None = RequestRecord(
            self.path, self.command, headers, headers.get("host", "")
        )
        owner._begin(self._record)
        try:
            route = owner._route(self.path)
            if route is None:
                self.reply(404, b"not found\n", {"Content-Type": "text/plain"})
            else:
                route(self)
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away; nothing to tell it
        finally:
            self._answered()

    def _answered(self) -> None:
        """The request stops counting as in flight (once)."""
        if self._record is not None:
            self.server.owner._end(self._record)
            self._record = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep pytest output clean

    # --- helpers for routes -----------------------------------------------------------

    def reply(self, code: int, body: bytes, headers: dict[str, str]) -> None:
        # Out of flight before the client can have the whole answer: else it may start its next
        # request while this thread has yet to count this one done, and max_in_flight overcounts.
        self._answered()
        self.server.owner._answering(code, 0 if code == 304 else len(body))
        if headers.get("Date") == "":  # a server that sends no Date header
            self.send_response_only(code)
            self.send_header("Server", self.version_string())
        else:
            self.send_response(code)
        for name, value in headers.items():
            if value != "" or name != "Date":
                self.send_header(name, value)
        if code != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if code != 304:
            self.wfile.write(body)

    def start_chunked(self, headers: dict[str, str]) -> None:
        self.server.owner._answering(200, 0)
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def should_stop(self) -> bool:
        """True once the server is stopping or the client has hung up."""
        if self.server.owner._stopping.is_set():
            return True
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            # socket.socket's recv on a TLS socket too: it peeks at the TCP stream under TLS.
            return socket.socket.recv(self.connection, 1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if the client or server went away meanwhile."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.should_stop():
                return False
            self.server.owner._stopping.wait(min(_POLL, max(0.0, end - time.monotonic())))
        return not self.should_stop()


def _shutdown_quietly(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# --- well-behaved feeds ---------------------------------------------------------------


@dataclass
class _Resource:
    body: bytes
    content_type: str
    headers: dict[str, str]
    encoding: str | None
    delay: float
    etag: str
    last_modified: str
    _encoded: bytes | None = field(default=None, repr=False)

    def serve(self, handler: _RequestHandler) -> None:
        if self.delay and not handler.wait(self.delay):
            return
        headers = {"ETag": self.etag, "Last-Modified": self.last_modified, **self.headers}
        if self._not_modified(handler.headers):
            handler.reply(304, b"", headers)
            return
        headers["Content-Type"] = self.content_type
        if self.encoding:  # raw deflate is what misconfigured servers label "deflate"
            headers["Content-Encoding"] = self.encoding.removeprefix("raw-")
        handler.reply(200, self._body(), headers)

    def _not_modified(self, request_headers: Any) -> bool:
        # RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present.
        if_none_match = request_headers.get("If-None-Match")
        if if_none_match is not None:
            tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
            return "*" in tags or self.etag in tags
        since = request_headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            return email.utils.parsedate_to_datetime(since) >= email.utils.parsedate_to_datetime(
                self.last_modified
            )
        except (TypeError, ValueError):
            return False

    def _body(self) -> bytes:
        if self._encoded is None:
            self._encoded = _compress(self.body, self.encoding)
        return self._encoded


def _compress(body: bytes, encoding: str | None) -> bytes:
    if encoding is None:
        return body
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "raw-deflate": -zlib.MAX_WBITS}
    if encoding not in wbits:
        raise ValueError(f"unknown encoding {encoding!r}; one of {sorted(wbits)}")
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits[encoding])
    return compressor.compress(body) + compressor.flush()


# --- misbehaving routes: each takes options and returns a handler ---------------------


def _redirect(to: str, status: int = 301) -> Handler:
    def serve(handler: _RequestHandler) -> None:
        handler.reply(status, b"", {"Location": to})

    return serve


def _status(code: int, headers: dict[str, str] | None = None, body: bytes | str = b"") -> Handler:
    data = body.encode("utf-8") if isinstance(body, str) else body

    def serve(handler: _RequestHandler) -> None:
        handler.reply(code, data, {"Content-Type": "text/plain", **(headers or {})})

    return serve


def _hang() -> Handler:
    def serve(handler: _RequestHandler) -> None:
        handler.close_connection = True
        while handler.wait(_POLL):
            pass

    return serve


def _drip(interval: float = 1.0) -> Handler:
    def serve(handler: _RequestHandler) -> None:
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(10**9))  # the body never completes
        handler.end_headers()
        handler.wfile.flush()
        while handler.wait(interval):
            handler.wfile.write(b" ")
            handler.wfile.flush()

    return serve


def _stream(chunks: Callable[[], Iterator[bytes]], headers: dict[str, str]) -> Handler:
    def serve(handler: _RequestHandler) -> None:
        handler.close_connection = True
        handler.start_chunked(headers)
        for chunk in chunks():
            if handler.should_stop():
                return
            handler.write_chunk(chunk)
        handler.write_chunk(b"")

    return serve


def _oversized(mib: int = 64) -> Handler:
    block = (b"<!-- junk -->" * 5042)[: 64 * 1024]

    def chunks() -> Iterator[bytes]:
        for _ in range(mib * 16):
            yield block

    return _stream(chunks, {"Content-Type": "application/rss+xml"})


def _gzip_bomb(gib: int = 10) -> Handler:
    return _bomb(gib, "gzip", 16 + zlib.MAX_WBITS)


def _deflate_bomb(gib: int = 10, raw: bool = False) -> Handler:
    return _bomb(gib, "deflate", -zlib.MAX_WBITS if raw else zlib.MAX_WBITS)


def _bomb(gib: int, encoding: str, wbits: int) -> Handler:
    def chunks() -> Iterator[bytes]:
        head, segment = _bomb_parts(wbits)
        yield head
        batch = segment * 64  # 64 MiB of zeros in about 66 KB
        for _ in range(gib * 16):
            yield batch
        # No trailer: a decoder that gets this far has already failed the test.

    return _stream(chunks, {"Content-Type": "application/rss+xml", "Content-Encoding": encoding})


@cache
def _bomb_parts(wbits: int = 16 + zlib.MAX_WBITS) -> tuple[bytes, bytes]:
    """A header (gzip by default; see zlib's ``wbits``) + 1 MiB of zeros, and a segment
    worth another 1 MiB of zeros.

    Z_FULL_FLUSH resets the compressor's state, so every later 1 MiB of zeros
    compresses to the same bytes: the bomb is one segment repeated, built in
    milliseconds instead of compressing gigabytes.
    """
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head, segment


def _reset() -> Handler:
    def serve(handler: _RequestHandler) -> None:
        _send_reset(handler)

    return serve


def _send_reset(handler: _RequestHandler) -> None:
    handler.close_connection = True
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()


_FEED_HEAD = b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Cut</title>\n'


def _item(n: int) -> bytes:
    return b"<item><title>Item %d</title><link>https://example.com/%d</link></item>\n" % (n, n)


def _reset_mid_body(body: bytes | None = None, sent: int | None = None) -> Handler:
    data = body if body is not None else _FEED_HEAD + b"".join(map(_item, range(40))) + b"</channel></rss>\n"
    cut = len(data) // 2 if sent is None else sent

    def serve(handler: _RequestHandler) -> None:
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[:cut])
        handler.wfile.flush()
        if handler.wait(0.1):  # let the client read what it got, so the reset comes mid-body
            _send_reset(handler)

    return serve


def _endless(interval: float = 0.1) -> Handler:
    def serve(handler: _RequestHandler) -> None:
        handler.close_connection = True
        handler.start_chunked({"Content-Type": "application/rss+xml"})
        handler.write_chunk(_FEED_HEAD)
        n = 0
        while handler.wait(interval):
            handler.write_chunk(_item(n))
            n += 1

    return serve


_MODES: dict[str, Callable[..., Handler]] = {
    "redirect": _redirect,
    "status": _status,
    "hang": _hang,
    "drip": _drip,
    "oversized": _oversized,
    "gzip_bomb": _gzip_bomb,
    "deflate_bomb": _deflate_bomb,
    "reset": _reset,
    "reset_mid_body": _reset_mid_body,
    "endless": _endless,
}
