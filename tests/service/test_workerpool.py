"""The parser workers' pool (service/stoppable.py): plain interpreters, no resource tracker, and
an idle worker stops."""

from __future__ import annotations

import asyncio
import os
import time
from multiprocessing import resource_tracker
from pathlib import Path

from monitor.service import stoppable
from monitor.service.stoppable import WorkerPool


def _children() -> list[int]:
    me = os.getpid()
    tasks = Path(f"/proc/{me}/task").iterdir()
    return [int(c) for t in tasks for c in (t / "children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_pool_runs_its_tasks_in_one_worker_and_starts_no_resource_tracker() -> None:
    async def run() -> tuple[list[int], list[int]]:
        pool = WorkerPool(1, os.getpid, ())
        try:
            pids = [await pool.run(os.getpid, (), 30.0) for _ in range(3)]
            return pids, _children()
        finally:
            pool.close()

    pids, children = asyncio.run(run())
    assert len(set(pids)) == 1 and pids[0] != os.getpid()
    assert children == pids[:1]  # the worker, and nothing beside it
    assert resource_tracker._resource_tracker._pid is None


def test_an_idle_worker_stops_and_the_next_task_starts_another(monkeypatch) -> None:
    monkeypatch.setattr(stoppable, "IDLE_SECONDS", 0.2)

    async def run() -> tuple[int, bool, int]:
        pool = WorkerPool(1, os.getpid, ())
        try:
            first = await pool.run(os.getpid, (), 30.0)
            deadline = time.monotonic() + 30
            while _alive(first) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stopped = not _alive(first)
            return first, stopped, await pool.run(os.getpid, (), 30.0)
        finally:
            pool.close()

    first, stopped, second = asyncio.run(run())
    assert stopped
    assert second != first and _alive(second) is False  # closed with the pool
