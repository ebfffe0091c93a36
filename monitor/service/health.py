"""Health and Prometheus metrics over HTTP for `monitor run` (``[service] listen``).

The service counts what it does into ``Metrics`` (metrics.py, made only when
``listen`` is set: prometheus-client is 1 MB of the service, issue 18) and reads its
state (pending alerts, feeds by status) only when Prometheus scrapes. ``HealthServer`` answers
in the service's own event loop, one request per connection::

    GET /healthz  →  200 {"status": "ok", ...}  or  503 {"status": "failing", ...}
    GET /metrics  →  Prometheus text format from Metrics.registry (metrics.py)
    anything else →  404; methods other than GET and HEAD → 405

A slow, silent or garbage-sending client gets at most ``timeout`` seconds and
``MAX_REQUEST_BYTES`` of the server; it never holds up other requests or the
service. At most ``max_connections`` are open at once: one more drops the oldest (a
client holding idle connections cannot lock a scraper out, nor use up the process's
file descriptors, which every feed fetch needs too). Errors of one kind (the event
loop's "socket.accept() out of system resource" among them) are logged once a minute
with a count, not once per event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.service.metrics import Metrics

log = logging.getLogger("monitor.health")

MAX_REQUEST_BYTES = 8192  # request line and headers; a scraper sends a few hundred
REQUEST_TIMEOUT = 5.0  # seconds for a whole exchange: read, answer, close
MAX_CONNECTIONS = 64  # open at once; a scraper and a health check need one or two
LOG_EVERY = 60.0  # seconds between two log lines of one kind of error


@dataclass(frozen=True)
class ServiceState:
    """What the service looks like now, read at scrape time."""

    pending: int  # alerts in the outbox, not yet sent
    held: int  # alerts held for a digest or quiet hours
    disabled_chats: int  # chats the bot can no longer post to
    feeds: Mapping[str, int]  # feed status → count
    last_success: Mapping[str, datetime | None]  # feed url → last successful check, None if never


@dataclass(frozen=True)
class Health:
    ok: bool  # 200 if true, 503 if not
    body: dict[str, object]  # the JSON answer


def health(
    *,
    last_tick: datetime | None,
    last_pass: datetime | None,
    started: datetime,
    now: datetime,
    tick_seconds: float,
    max_pass_age: float,
) -> Health:
    """Whether the service is alive, from when it last ticked and last finished a pass.

    Healthy when both hold:

    * the scheduler ticks: the last tick is at most 3 × ``tick_seconds`` old, or
      the service started less than 3 × ``tick_seconds`` ago (no tick due yet);
    * passes finish: the last pass ended at most ``max_pass_age`` seconds ago, or
      there has been none yet and the service started less than ``max_pass_age`` ago.

    The second check catches a pass that hangs while the scheduler still ticks.
    """
    tick_limit = 3 * tick_seconds
    uptime = (now - started).total_seconds()
    scheduler = _check("last_tick", last_tick, now, tick_limit, uptime < tick_limit)
    passes = _check("last_pass", last_pass, now, max_pass_age, last_pass is None and uptime < max_pass_age)
    ok = bool(scheduler["ok"] and passes["ok"])
    body: dict[str, object] = {
        "status": "ok" if ok else "failing",
        "checks": {"scheduler": scheduler, "last_pass": passes},
        "started": started.isoformat(),
        "uptime_seconds": round(uptime, 1),
    }
    return Health(ok, body)


def _check(key: str, when: datetime | None, now: datetime, limit: float, grace: bool) -> dict[str, object]:
    age = None if when is None else (now - when).total_seconds()
    return {
        "ok": grace or (age is not None and age <= limit),
        key: None if when is None else when.isoformat(),
        "age_seconds": None if age is None else round(age, 1),
        "max_age_seconds": limit,
    }


class _BadRequest(Exception):
    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


Response = tuple[HTTPStatus, str, bytes, dict[str, str]]  # status, content type, body, extra headers


class HealthServer:
    """/healthz and /metrics over HTTP/1.1 on ``listen`` ("host:port", "[::1]:9108"; port 0 = any)."""

    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        check: Callable[[], Health],
        *,
        timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.listen = listen
        self.metrics = metrics
        self.check = check
        self.timeout = timeout
        self.max_connections = max_connections
        self.dropped = 0  # connections closed to make room for newer ones
        self.problems = ThrottledLog(log)
        self._server: asyncio.Server | None = None
        # open connections, oldest first: task -> its transport
        self._connections: dict[asyncio.Task[object], asyncio.BaseTransport] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # The loop reports a failed accept() (out of file descriptors) through its exception
        # handler, once per attempt: thousands of identical ERROR lines. Once a minute instead.
        loop.set_exception_handler(self.problems.loop_exception)
        host, port = _split_listen(self.listen)
        try:
            self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_REQUEST_BYTES)
        except OSError as exc:  # in use, not an address of this host, unknown name
            # asyncio rewords bind errors ("error while attempting to bind on address ..."): say it plainly
            reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror or str(exc)
            raise ConfigError(f"[service] listen {self.listen}: {reason.lower()}") from None
        log.info("event=health_listening listen=%s port=%d", self.listen, self.port)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("HealthServer is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        while len(self._connections) >= self.max_connections:  # room for this one: drop the oldest
            oldest = next(iter(self._connections))
            transport = self._connections.pop(oldest)
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            oldest.cancel()
            self.dropped += 1
            self.problems.warn(
                "health_connections_capped", f"over {self.max_connections} open: oldest dropped"
            )
        self._connections[task] = writer.transport
        # drain() returns once the whole answer is with the kernel, so close() leaves nothing behind
        writer.transport.set_write_buffer_limits(high=0)
        try:
            async with asyncio.timeout(self.timeout):
                await self._exchange(reader, writer)
                writer.close()
                await writer.wait_closed()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("event=health_client_dropped error=%r", exc)
        except asyncio.CancelledError:  # dropped for a newer connection, or the server closes
            pass
        except Exception as exc:  # whatever a client does, the service goes on
            self.problems.warn("health_request_error", repr(exc))
        finally:
            if not writer.transport.is_closing():  # timed out, cancelled or failed: drop the client
                writer.transport.abort()
            self._connections.pop(task, None)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await _read_request(reader)
        except _BadRequest as bad:
            method, response = "GET", _text(bad.status)
        else:
            response = self._respond(method, path)
        status, content_type, body, extra = response
        headers = {
            "Date": formatdate(usegmt=True),
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "Connection": "close",
            **extra,
        }
        head = f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1") + (b"" if method == "HEAD" else body))
        await writer.drain()

    def _respond(self, method: str, path: str) -> Response:
        if method not in ("GET", "HEAD"):
            return _text(HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "GET, HEAD"})
        try:
            if path == "/healthz":
                result = self.check()
                status = HTTPStatus.OK if result.ok else HTTPStatus.SERVICE_UNAVAILABLE
                return status, "application/json", json.dumps(result.body).encode(), {}
            if path == "/metrics":
                return HTTPStatus.OK, *self.metrics.exposition(), {}
        except Exception as exc:
            log.warning("event=health_handler_error path=%s error=%r", path, exc)
            return _text(HTTPStatus.INTERNAL_SERVER_ERROR)
        return _text(HTTPStatus.NOT_FOUND)


class ThrottledLog:
    """Warnings of one kind at most once per `every` seconds, each saying how many came since."""

    def __init__(self, logger: logging.Logger, every: float = LOG_EVERY) -> None:
        self.logger, self.every = logger, every
        self._last: dict[str, float] = {}  # kind -> when it was last logged (monotonic)
        self._since: dict[str, int] = {}  # kind -> occurrences not logged since
        self.logged = 0  # lines written, for tests

    def warn(self, kind: str, detail: str) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.every:
            self._since[kind] = self._since.get(kind, 0) + 1
            return
        more = self._since.pop(kind, 0)
        self._last[kind] = now
        self.logged += 1
        self.logger.warning("event=%s detail=%r repeated=%d in_last_s=%d", kind, detail, more, self.every)

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An event-loop exception handler: a failed accept() (out of file descriptors, which the
        loop retries every second) once per `every` seconds; anything else as asyncio logs it."""
        message = str(context.get("message", ""))
        if "accept" not in message:
            loop.default_exception_handler(context)
            return
        self.warn("health_accept_failed", f"{message}: {context.get('exception')!r}")


def _text(status: HTTPStatus, extra: dict[str, str] | None = None) -> Response:
    return status, "text/plain; charset=utf-8", f"{status.value} {status.phrase}\n".encode(), extra or {}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The method and path of one request; the headers are read (up to the cap) and ignored."""
    size = 0
    lines: list[bytes] = []
    while not lines or lines[-1] not in (b"\r\n", b"\n"):
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE) from None
        size += len(line)
        if size > MAX_REQUEST_BYTES:
            raise _BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        lines.append(line)
    parts = lines[0].decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise _BadRequest(HTTPStatus.BAD_REQUEST)
    method, target, _ = parts
    return method, target.split("?", 1)[0]


def _split_listen(listen: str) -> tuple[str, int]:
    """("127.0.0.1", 9108) from "127.0.0.1:9108", ("::1", 9108) from "[::1]:9108"."""
    host, _, port = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"[service] listen {listen}: write an IPv6 address in brackets, [::1]:9108")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"[service] listen {listen}: expected host:port, like 127.0.0.1:9108")
    return host, int(port)
