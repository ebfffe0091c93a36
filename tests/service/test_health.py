"""Health rules with fixed times, and the health server over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.errors import ConfigError
from monitor.service.health import Health, HealthServer, ServiceState, health
from monitor.service.metrics import Metrics

STARTED = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
OK = Health(True, {"status": "ok"})


def at(seconds: float) -> datetime:
    return STARTED + timedelta(seconds=seconds)


# (id, seconds since start: last tick, last pass, now; expected ok, scheduler ok, last pass ok)
# with tick_seconds=10 (the scheduler may be silent 30 s) and max_pass_age=600.
HEALTH_CASES = [
    ("just-started", None, None, 5, True, True, True),
    ("ticking-recent-pass", 995, 900, 1000, True, True, True),
    ("tick-at-the-limit", 970, 900, 1000, True, True, True),
    ("scheduler-stalled", 969, 900, 1000, False, False, True),
    ("never-ticked-after-start", None, None, 31, False, False, True),
    ("pass-too-old", 995, 399, 1000, False, True, False),
    ("no-pass-within-max-age", 995, None, 601, False, True, False),
    ("no-pass-yet-still-young", 595, None, 599, True, True, True),
    ("both-stalled", 100, 100, 1000, False, False, False),
]


def test_the_service_imports_prometheus_only_to_serve_metrics() -> None:
    """prometheus-client (1 MB of the service's memory, issue 18) comes with metrics.py, which
    app.py imports when [service] listen is set: not with the service's own modules."""
    from tests.conftest import ROOT

    probe = "import sys, monitor.cli.main, monitor.cli.service; print('prometheus_client' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    found = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert found.stdout.split() == ["False"]


@pytest.mark.parametrize(
    ("tick", "last_pass", "now", "ok", "scheduler_ok", "pass_ok"),
    [case[1:] for case in HEALTH_CASES],
    ids=[case[0] for case in HEALTH_CASES],
)
def test_health_rules(
    tick: float | None, last_pass: float | None, now: float, ok: bool, scheduler_ok: bool, pass_ok: bool
) -> None:
    result = health(
        last_tick=None if tick is None else at(tick),
        last_pass=None if last_pass is None else at(last_pass),
        started=STARTED,
        now=at(now),
        tick_seconds=10,
        max_pass_age=600,
    )
    checks: Any = result.body["checks"]
    assert (result.ok, checks["scheduler"]["ok"], checks["last_pass"]["ok"]) == (ok, scheduler_ok, pass_ok)
    assert result.body["status"] == ("ok" if ok else "failing")


def test_health_body_reports_times_and_ages() -> None:
    result = health(
        last_tick=at(990), last_pass=None, started=STARTED, now=at(1000), tick_seconds=10, max_pass_age=600
    )
    assert result.body == {
        "status": "failing",
        "checks": {
            "scheduler": {
                "ok": True,
                "last_tick": "2026-03-06T12:16:30+00:00",
                "age_seconds": 10.0,
                "max_age_seconds": 30,
            },
            "last_pass": {"ok": False, "last_pass": None, "age_seconds": None, "max_age_seconds": 600},
        },
        "started": "2026-03-06T12:00:00+00:00",
        "uptime_seconds": 1000.0,
    }


Scenario = Callable[[HealthServer, httpx.AsyncClient], Awaitable[Any]]


def serve(
    scenario: Scenario,
    metrics: Metrics | None = None,
    check: Callable[[], Health] = lambda: OK,
    timeout: float = 30.0,
) -> Any:
    """Run scenario against a started server on 127.0.0.1 (any port), then close the server."""

    async def main() -> Any:
        server = HealthServer("127.0.0.1:0", metrics or Metrics(), check, timeout=timeout)
        await server.start()
        try:
            url = f"http://127.0.0.1:{server.port}"
            async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=5) as client:
                return await scenario(server, client)
        finally:
            await server.close()

    return asyncio.run(main())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    return await client.get(path)


def test_healthz_answers_200_with_json_when_healthy() -> None:
    response = serve(lambda _, client: get(client, "/healthz"), check=lambda: Health(True, {"status": "ok"}))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    assert response.json() == {"status": "ok"}


def test_healthz_answers_503_with_json_when_failing() -> None:
    body: dict[str, object] = {"status": "failing", "checks": {"scheduler": {"ok": False}}}
    response = serve(lambda _, client: get(client, "/healthz"), check=lambda: Health(False, body))
    assert response.status_code == 503
    assert response.json() == body


def test_head_sends_headers_without_body() -> None:
    # raw bytes: httpx would ignore a body sent after a HEAD response
    async def scenario(server: HealthServer, client: httpx.AsyncClient) -> tuple[bytes, httpx.Response]:
        reader, writer = await raw(server.port, b"HEAD /healthz HTTP/1.1\r\nHost: monitor\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        await hang_up(writer)
        return answer, await client.get("/healthz")

    answer, get_ = serve(scenario)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body == b""
    assert f"\r\nContent-Length: {len(get_.content)}\r\n".encode() in head + b"\r\n"
    assert get_.content


def test_metrics_show_counters_after_passes_and_deliveries() -> None:
    metrics = Metrics()
    metrics.pass_done(feeds=10, not_modified=3, errors=2, new_articles=7, alerts_queued=4, seconds=1.5)
    metrics.pass_done(feeds=2, not_modified=0, errors=0, new_articles=1, alerts_queued=0, seconds=0.05)
    metrics.matches_found(5)
    metrics.delivered(sent=3, failed=1, deferred=2)

    response = serve(lambda _, client: get(client, "/metrics"), metrics=metrics)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found[("monitor_passes_total", ())] == 2
    assert found[("monitor_feed_checks_total", (("result", "ok"),))] == 7
    assert found[("monitor_feed_checks_total", (("result", "not_modified"),))] == 3
    assert found[("monitor_feed_checks_total", (("result", "error"),))] == 2
    assert found[("monitor_articles_total", ())] == 8
    assert found[("monitor_alerts_queued_total", ())] == 4
    assert found[("monitor_matches_total", ())] == 5
    assert found[("monitor_alerts_sent_total", ())] == 3
    assert found[("monitor_alerts_failed_total", ())] == 1
    assert found[("monitor_alerts_deferred_total", ())] == 2
    assert found[("monitor_pass_duration_seconds_count", ())] == 2
    assert found[("monitor_pass_duration_seconds_sum", ())] == pytest.approx(1.55)
    assert found[("monitor_pass_duration_seconds_bucket", (("le", "0.1"),))] == 1
    assert found[("monitor_pass_duration_seconds_bucket", (("le", "300.0"),))] == 2
    assert found[("monitor_last_pass_timestamp_seconds", ())] > 0


def test_metrics_show_the_state_read_at_scrape_time() -> None:
    metrics = Metrics()
    calls: list[int] = []
    ok_at = datetime(2026, 3, 6, 11, 0, tzinfo=UTC)

    def state() -> ServiceState:
        calls.append(1)
        return ServiceState(
            pending=4,
            held=2,
            disabled_chats=1,
            feeds={"active": 2, "failing": 1},
            last_success={"https://a.example/rss": ok_at, "https://b.example/rss?x=1": None},
        )

    metrics.set_state(state)
    assert calls == []  # nothing is read until a scrape
    found = samples(serve(lambda _, client: get(client, "/metrics"), metrics=metrics).text)
    assert calls == [1]
    assert found[("monitor_alerts_pending", ())] == 4
    assert found[("monitor_alerts_held", ())] == 2
    assert found[("monitor_chats_disabled", ())] == 1
    feeds = {labels[0][1]: value for (name, labels), value in found.items() if name == "monitor_feeds"}
    assert feeds == {"active": 2, "failing": 1, "suspended": 0, "stale": 0}
    last_success = {
        labels: value
        for (name, labels), value in found.items()
        if name == "monitor_feed_last_success_timestamp_seconds"
    }
    # one series per feed that ever succeeded
    assert last_success == {(("feed", "https://a.example/rss"),): ok_at.timestamp()}
    assert found[("monitor_state_up", ())] == 1


def test_a_raising_state_callback_costs_only_its_gauges(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    metrics.pass_done(feeds=1, not_modified=0, errors=0, new_articles=0, alerts_queued=0, seconds=0.2)

    def state() -> ServiceState:
        raise RuntimeError("database is locked")

    metrics.set_state(state)

    async def scenario(_: HealthServer, client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        return await client.get("/metrics"), await client.get("/healthz")

    with caplog.at_level(logging.WARNING, logger="monitor.health"):
        scrape, healthz = serve(scenario, metrics=metrics)
    assert scrape.status_code == 200
    found = samples(scrape.text)
    assert found[("monitor_passes_total", ())] == 1
    assert found[("monitor_state_up", ())] == 0
    assert ("monitor_alerts_pending", ()) not in found
    assert healthz.status_code == 200  # the server still answers
    assert [r.getMessage() for r in caplog.records] == [
        "event=metrics_state_error error=RuntimeError('database is locked')"
    ]
    assert caplog.records[0].exc_info is None  # one line, no traceback


def test_a_raising_health_check_answers_500() -> None:
    def check() -> Health:
        raise RuntimeError("boom")

    async def scenario(_: HealthServer, client: httpx.AsyncClient) -> tuple[int, int]:
        return (await client.get("/healthz")).status_code, (await client.get("/metrics")).status_code

    assert serve(scenario, check=check) == (500, 200)


def test_unknown_path_is_404_and_other_methods_are_405() -> None:
    async def scenario(_: HealthServer, client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.get("/"),
            await client.get("/healthz/extra"),
            await client.post("/healthz"),
            await client.delete("/metrics"),
        ]

    root, extra, post, delete = serve(scenario)
    assert (root.status_code, extra.status_code) == (404, 404)
    assert (post.status_code, delete.status_code) == (405, 405)
    assert post.headers["allow"] == "GET, HEAD"


def test_query_string_is_ignored() -> None:
    response = serve(lambda _, client: get(client, "/metrics?name[]=monitor_passes_total"))
    assert response.status_code == 200


async def raw(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"\x00\xff\xfe garbage\r\n\r\n", b"400"),
        (b"GET /healthz\r\n\r\n", b"400"),  # HTTP/0.9
        (b"GET /healthz SPDY/3\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n", b"431"),
        (b"GET /healthz HTTP/1.1\r\n" + b"X-Many: header\r\n" * 1000 + b"\r\n", b"431"),
        (b"GET /healthz HTTP/1.0\n\n", b"200"),  # bare LF, as some tools send
    ],
    ids=["binary", "http-0.9", "not-http", "long-header", "many-headers", "bare-lf"],
)
def test_raw_requests_get_a_status_line(request_bytes: bytes, status: bytes) -> None:
    async def scenario(server: HealthServer, _: httpx.AsyncClient) -> bytes:
        reader, writer = await raw(server.port, request_bytes)
        answer = await asyncio.wait_for(reader.read(), 5)
        await hang_up(writer)
        return answer

    answer = serve(scenario)
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == status
    assert b"\r\nConnection: close\r\n" in answer


def test_silent_garbage_and_dripping_clients_do_not_block_others() -> None:
    async def scenario(server: HealthServer, client: httpx.AsyncClient) -> list[int]:
        silent = await raw(server.port, b"")
        garbage = await raw(server.port, b"\x16\x03\x01 no newline ever")
        drip = await raw(server.port, b"GET /heal")
        gone = await raw(server.port, b"GET /hea")
        await hang_up(gone[1])  # closes mid-request
        statuses = []
        for _ in range(3):
            drip[1].write(b"t")
            await drip[1].drain()
            response = await asyncio.wait_for(client.get("/healthz"), 2)
            statuses.append(response.status_code)
        for _, writer in (silent, garbage, drip):
            await hang_up(writer)
        return statuses

    assert serve(scenario, timeout=30) == [200, 200, 200]


async def dropped(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server hangs up on this connection (EOF or reset) within the given seconds."""
    try:
        return await asyncio.wait_for(reader.read(), within) == b""
    except ConnectionError:
        return True


def test_a_client_too_slow_is_dropped_after_the_timeout() -> None:
    async def scenario(server: HealthServer, client: httpx.AsyncClient) -> tuple[bool, bool, float, int]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        silent_reader, silent = await raw(server.port, b"")
        drip_reader, drip = await raw(server.port, b"GET /healthz HTTP/1.1\r\n")

        async def keep_dripping() -> None:  # a header every 0.1 s, for longer than the timeout
            with contextlib.suppress(ConnectionError):
                for _ in range(50):
                    drip.write(b"X-Slow: 1\r\n")
                    await drip.drain()
                    await asyncio.sleep(0.1)

        dripping = asyncio.create_task(keep_dripping())
        both = await dropped(silent_reader, 3), await dropped(drip_reader, 3)
        took = loop.time() - began
        dripping.cancel()
        after = (await client.get("/healthz")).status_code
        await hang_up(silent)
        await hang_up(drip)
        return *both, took, after

    silent_dropped, drip_dropped, took, after = serve(scenario, timeout=0.5)
    assert (silent_dropped, drip_dropped, after) == (True, True, 200)
    assert 0.4 < took < 2


def test_close_drops_open_connections_at_once() -> None:
    async def main() -> float:
        server = HealthServer("127.0.0.1:0", Metrics(), lambda: OK, timeout=60)
        await server.start()
        reader, writer = await raw(server.port, b"GET /")
        await asyncio.sleep(0.05)  # the server has the connection
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.wait_for(server.close(), 5)
        took = loop.time() - began
        assert await asyncio.wait_for(reader.read(), 1) == b""
        await hang_up(writer)
        return took

    assert asyncio.run(main()) < 1


def test_address_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def main() -> None:
            await HealthServer(f"127.0.0.1:{port}", Metrics(), lambda: OK).start()

        with pytest.raises(ConfigError) as error:
            asyncio.run(main())
    assert error.value.message == f"[service] listen 127.0.0.1:{port}: address already in use"


@pytest.mark.parametrize(
    "listen", ["9108", "127.0.0.1", ":9108", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000", "::1:9108"]
)
def test_invalid_listen_is_a_config_error(listen: str) -> None:
    async def main() -> None:
        await HealthServer(listen, Metrics(), lambda: OK).start()

    with pytest.raises(ConfigError) as error:
        asyncio.run(main())
    assert error.value.message.startswith(f"[service] listen {listen}: ")
    assert "\n" not in str(error.value)


def test_ipv6_listen_in_brackets() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")

    async def main() -> int:
        server = HealthServer("[::1]:0", Metrics(), lambda: OK)
        try:
            await server.start()
        except ConfigError as exc:
            pytest.skip(f"no IPv6 loopback: {exc}")
        try:
            async with httpx.AsyncClient(trust_env=False) as client:
                return (await client.get(f"http://[::1]:{server.port}/healthz")).status_code
        finally:
            await server.close()

    assert asyncio.run(main()) == 200


def test_metrics_instances_do_not_share_a_registry() -> None:
    first, second = Metrics(), Metrics()
    first.matches_found(3)
    found = samples(serve(lambda _, client: get(client, "/metrics"), metrics=second).text)
    assert found[("monitor_matches_total", ())] == 0


@pytest.mark.parametrize(
    ("pause", "timeout", "complete"),
    # stops-reading: the server's 3 s covers rendering the 10 MB scrape and sending it to the
    # client that reads at once, even on a loaded machine (0.5 s was not enough at load 15);
    # the other client reads nothing for 5 s, past it.
    [(5.0, 3.0, False), (0.3, 5.0, True)],
    ids=["stops-reading-is-dropped", "reads-late-gets-it-all"],
)
def test_a_large_scrape_to_a_slow_reader(
    pause: float, timeout: float, complete: bool, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    ok_at = datetime(2026, 3, 6, 11, 0, tzinfo=UTC)
    # 10 MB: more than the kernel buffers between the two ends (tcp_wmem's default cap is 4 MB)
    feeds = {f"https://news{i}.example/rss?{'x' * 2000}": ok_at for i in range(5000)}
    metrics.set_state(lambda: ServiceState(0, 0, 0, {"active": len(feeds)}, feeds))

    async def scenario(server: HealthServer, client: httpx.AsyncClient) -> tuple[httpx.Response, bytes]:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        try:  # hung up whatever happens: a socket left open fails a later test's collection
            writer.write(b"GET /metrics HTTP/1.1\r\n\r\n")
            await writer.drain()
            full = await client.get("/metrics")  # served while the other client reads nothing
            await asyncio.sleep(pause)
            received = b""
            with contextlib.suppress(ConnectionError):
                while chunk := await asyncio.wait_for(reader.read(65536), 3):
                    received += chunk
        finally:
            await hang_up(writer)
        return full, received

    with caplog.at_level(logging.DEBUG):
        full, received = serve(scenario, metrics=metrics, timeout=timeout)
    assert full.text.count("\nmonitor_feed_last_success_timestamp_seconds{") == 5000
    assert (received.partition(b"\r\n\r\n")[2] == full.content) is complete
    # neither our warnings nor asyncio's "Exception in callback" errors
    problems = [
        r
        for r in caplog.records
        if r.levelno >= (logging.WARNING if r.name == "monitor.health" else logging.ERROR)
    ]
    assert [r.getMessage() for r in problems] == []
