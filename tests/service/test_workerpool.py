"""The parser workers' pool (service/stoppable.py): plain interpreters, no resource tracker, and
an idle worker stops."""

from __future__ import annotations

import asyncio
import os
import time
from multiprocessing import resource_tracker

from monitor.service import stoppable
from monitor.service.stoppable import WorkerPool
from tests.service import procs


def test_a_pool_runs_its_tasks_in_one_worker_and_starts_no_resource_tracker() -> None:
    async def run() -> tuple[list[int], list[int]]:
        pool = WorkerPool(1, os.getpid, ())
        try:
            pids = [await pool.run(os.getpid, (), 30.0) for _ in range(3)]
            return pids, procs.children(os.getpid())
        finally:
            pool.close()

    pids, children = asyncio.run(run())
    assert len(set(pids)) == 1 and pids[0] != os.getpid()
    assert children == pids[:1]  # the worker, and nothing beside it
    assert resource_tracker._resource_tracker._pid is None


def test_a_worker_reads_and_answers_a_task_of_several_megabytes_whole() -> None:
    """The worker speaks the parent's Connection framing itself (serve.py): a task and an answer
    far larger than one read of its socket (a feed body of several MB) arrive byte for byte."""
    data = os.urandom(3 << 20) + b"end"

    async def run() -> bytes:
        pool = WorkerPool(1, os.getpid, ())
        try:
            return await pool.run(procs.reversed_bytes, (data,), 60.0)  # type: ignore[no-any-return]
        finally:
            pool.close()

    assert asyncio.run(run()) == data[::-1]


def test_an_idle_worker_stops_and_the_next_task_starts_another(monkeypatch) -> None:
    monkeypatch.setattr(stoppable, "IDLE_SECONDS", 0.2)

    async def run() -> tuple[int, bool, int]:
        pool = WorkerPool(1, os.getpid, ())
        try:
            first = await pool.run(os.getpid, (), 30.0)
            deadline = time.monotonic() + 30
            while procs.alive(first) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stopped = not procs.alive(first)
            return first, stopped, await pool.run(os.getpid, (), 30.0)
        finally:
            pool.close()

    first, stopped, second = asyncio.run(run())
    assert stopped
    assert second != first and procs.alive(second) is False  # closed with the pool


class _SlowClose:
    """The worker's socket, closing slowly and noting whether two closes ever overlap."""

    def __init__(self, conn: object) -> None:
        self.conn, self.inside, self.overlapped = conn, 0, False

    @property
    def closed(self) -> bool:
        return self.conn.closed  # type: ignore[attr-defined]

    def close(self) -> None:
        self.inside += 1
        self.overlapped |= self.inside > 1
        time.sleep(0.2)
        self.conn.close()  # type: ignore[attr-defined]
        self.inside -= 1


def test_a_worker_killed_from_two_threads_at_once_closes_its_socket_once() -> None:
    """Pool.close() and the worker's own pool thread may kill one worker together (both wake
    when its process exits): its socket is closed by one of them at a time, never twice at
    once (a second close of a descriptor can hit one the process has opened since, or raise
    EBADF, as the stories bench saw)."""
    import threading

    worker = stoppable._Worker(os.getpid, ())
    conn = worker.conn = _SlowClose(worker.conn)  # type: ignore[assignment]
    ready = threading.Barrier(2)
    failures: list[BaseException] = []

    def kill() -> None:
        ready.wait()
        try:
            worker.kill()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=kill) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and not conn.overlapped
    assert conn.closed and not worker.alive


def test_a_parser_worker_imports_what_parsing_needs_and_no_more(tmp_path, seeds) -> None:
    """A parser process is started lean (issue 18): parsing.py and the stages it names, not
    asyncio, the HTTP client, Telegram, the scheduler or OpenSSL (its TLS and its hashes), which
    the main process holds (about 13 MB of a worker's memory), nor the archive's writer side
    (0.8 MB) or multiprocessing (0.4 MB); and it reads a feed without them, keeping no dataclass
    code cache once set up."""
    from datetime import UTC, datetime

    from monitor.archive.store import Archive
    from monitor.rules.rulefile import load_rules
    from monitor.service import parsing
    from monitor.types import StorySettings
    from tests.conftest import RULES, rss

    db = tmp_path / "monitor.db"
    Archive.open(db).db.conn.close()
    unwanted = ["asyncio", "ssl", "_hashlib", "httpx", "telegram", "apscheduler", "sqlite_utils"]
    unwanted += ["monitor.service.pipeline", "monitor.service.stoppable"]
    unwanted += ["monitor.archive.articles", "monitor.archive.storymemory", "monitor.archive.stories"]
    unwanted += ["multiprocessing"]  # serve.py speaks its Connection's framing itself

    async def run() -> tuple[list[str], list[str], object]:
        pool = WorkerPool(1, parsing.start_worker, (load_rules([RULES]), StorySettings(), str(db)))
        try:
            before = await pool.run(procs.imported, (unwanted,), 60.0)
            assert await pool.run(procs.cached_code, (), 60.0) == 0  # released after set-up
            args = ("http://feeds.test/a.xml", rss("A", seeds), {}, datetime.now(UTC), 200)
            analysed = await pool.run(parsing.analyse_in_worker, args, 60.0)
            after = await pool.run(procs.imported, (unwanted + ["feedparser", "monitor.ingest.parse"],), 60.0)
            return before, after, analysed
        finally:
            pool.close()

    before, after, analysed = asyncio.run(run())
    assert before == []
    assert after == ["feedparser", "monitor.ingest.parse"]
    assert isinstance(analysed, parsing.AnalysedFeed) and len(analysed.fresh) == len(seeds)
