"""Health and Prometheus metrics over HTTP for `monitor run` (``[service] listen``).

The service counts what it does into ``Metrics`` and reads its state (pending
alerts, feeds by status) only when Prometheus scrapes. ``HealthServer`` answers
in the service's own event loop, one request per connection::

    GET /healthz  →  200 {"status": "ok", ...}  or  503 {"status": "failing", ...}
    GET /metrics  →  Prometheus text format from Metrics.registry
    anything else →  404; methods other than GET and HEAD → 405

A slow, silent or garbage-sending client gets at most ``timeout`` seconds and
``MAX_REQUEST_BYTES`` of the server; it never holds up other requests or the
service.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate
from http import HTTPStatus

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from monitor.config.values import redact_urls
from monitor.errors import ConfigError

log = logging.getLogger("monitor.health")

PASS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)  # seconds
FEED_STATUSES = ("active", "failing", "suspended", "stale")  # always exported, 0 when none
MAX_REQUEST_BYTES = 8192  # request line and headers; a scraper sends a few hundred
REQUEST_TIMEOUT = 5.0  # seconds for a whole exchange: read, answer, close


@dataclass(frozen=True)
class ServiceState:
    """What the service looks like now, read at scrape time."""

    pending: int  # alerts in the outbox, not yet sent
    held: int  # alerts held for a digest or quiet hours
    disabled_chats: int  # chats the bot can no longer post to
    feeds: Mapping[str, int]  # feed status → count
    last_success: Mapping[str, datetime | None]  # feed url → last successful check, None if never


class _StateCollector:
    """Gauges from the service's state callback; a failing callback costs its gauges, not the scrape."""

    def __init__(self) -> None:
        self.state: Callable[[], ServiceState] | None = None

    def collect(self) -> Iterable[Metric]:
        if self.state is None:
            return []
        families: list[Metric] = []
        up = GaugeMetricFamily("monitor_state_up", "1 if the service state could be read at this scrape")
        try:
            state = self.state()
            families.append(_gauge("monitor_alerts_pending", "Alerts waiting to be sent", state.pending))
            families.append(_gauge("monitor_alerts_held", "Alerts held for a digest", state.held))
            families.append(
                _gauge("monitor_chats_disabled", "Chats the bot cannot reach", state.disabled_chats)
            )
            families.append(_feeds_by_status(state.feeds))
            families.append(_last_success(state.last_success))
            up.add_metric([], 1)
        except Exception as exc:  # a scrape must never take the service down
            log.warning("event=metrics_state_error error=%r", exc)
            up.add_metric([], 0)
        return [*families, up]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _feeds_by_status(counts: Mapping[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily("monitor_feeds", "Feeds by status", labels=["status"])
    for status in dict.fromkeys([*FEED_STATUSES, *counts]):
        family.add_metric([status], counts.get(status, 0))
    return family


def _last_success(last_success: Mapping[str, datetime | None]) -> GaugeMetricFamily:
    # A feed that never succeeded has no series: monitor_feeds{status="failing"} counts it.
    family = GaugeMetricFamily(
        "monitor_feed_last_success_timestamp_seconds", "Last successful check of a feed", labels=["feed"]
    )
    for url, when in last_success.items():
        if when is not None:
            family.add_metric([redact_urls(url)], when.timestamp())  # no credentials in a label
    return family


class Metrics:
    """Counters and gauges for one running service, in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._passes = Counter("monitor_passes", "Completed passes over the due feeds", registry=r)
        self._checks = Counter("monitor_feed_checks", "Feed checks by result", ["result"], registry=r)
        for result in ("ok", "not_modified", "error"):
            self._checks.labels(result=result)  # export 0 before the first pass
        self._articles = Counter("monitor_articles", "New articles archived", registry=r)
        self._queued = Counter("monitor_alerts_queued", "Alerts written to the outbox", registry=r)
        self._matches = Counter("monitor_matches", "Rule matches found", registry=r)
        self._duration = Histogram(
            "monitor_pass_duration_seconds", "Wall time of a pass", buckets=PASS_BUCKETS, registry=r
        )
        self._last_pass = Gauge("monitor_last_pass_timestamp_seconds", "When the last pass ended", registry=r)
        self._sent = Counter("monitor_alerts_sent", "Alerts delivered", registry=r)
        self._failed = Counter("monitor_alerts_failed", "Alerts that failed for good", registry=r)
        self._deferred = Counter("monitor_alerts_deferred", "Alert sends put off to retry later", registry=r)
        self._state = _StateCollector()
        r.register(self._state)

    def pass_done(
        self,
        *,
        feeds: int,
        not_modified: int,
        errors: int,
        new_articles: int,
        alerts_queued: int,
        seconds: float,
    ) -> None:
        """Count one pass; ``feeds`` is every feed checked, including the 304s and the errors."""
        self._passes.inc()
        self._checks.labels(result="ok").inc(max(feeds - not_modified - errors, 0))
        self._checks.labels(result="not_modified").inc(not_modified)
        self._checks.labels(result="error").inc(errors)
        self._articles.inc(new_articles)
        self._queued.inc(alerts_queued)
        self._duration.observe(seconds)
        self._last_pass.set_to_current_time()

    def matches_found(self, n: int) -> None:
        self._matches.inc(n)

    def delivered(self, *, sent: int, failed: int, deferred: int) -> None:
        self._sent.inc(sent)
        self._failed.inc(failed)
        self._deferred.inc(deferred)

    def set_state(self, state: Callable[[], ServiceState]) -> None:
        """Read ``state()`` at every scrape, in the event loop, for the gauges of the moment."""
        self._state.state = state


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
        self, listen: str, metrics: Metrics, check: Callable[[], Health], *, timeout: float = REQUEST_TIMEOUT
    ) -> None:
        self.listen = listen
        self.metrics = metrics
        self.check = check
        self.timeout = timeout
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
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
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        # drain() returns once the whole answer is with the kernel, so close() leaves nothing behind
        writer.transport.set_write_buffer_limits(high=0)
        try:
            async with asyncio.timeout(self.timeout):
                await self._exchange(reader, writer)
                writer.close()
                await writer.wait_closed()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("event=health_client_dropped error=%r", exc)
        except Exception as exc:  # whatever a client does, the service goes on
            log.warning("event=health_request_error error=%r", exc)
        finally:
            if not writer.transport.is_closing():  # timed out, cancelled or failed: drop the client
                writer.transport.abort()
            self._connections.discard(task)

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
                return HTTPStatus.OK, CONTENT_TYPE_LATEST, generate_latest(self.metrics.registry), {}
        except Exception as exc:
            log.warning("event=health_handler_error path=%s error=%r", path, exc)
            return _text(HTTPStatus.INTERNAL_SERVER_ERROR)
        return _text(HTTPStatus.NOT_FOUND)


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
