"""Worker processes that can be stopped one at a time, and die with their parent.

    WorkerPool(size, setup, args)       up to `size` processes (spawned when first needed)
    await pool.run(task, args, budget)  one task in an idle worker; a worker whose task runs past
                                        `budget` seconds is killed (SIGKILL) and replaced later:
                                        Overrun, and the other workers' tasks go on untouched
                                        (a ProcessPoolExecutor can only be broken whole)

Each worker runs `setup(*args)` once, says it is ready, then runs tasks sent down its pipe,
answering ("ok", value) or ("error", exception type, message). A task's budget counts from
the moment the worker has it, not from the queue.

A worker must not outlive the monitor (issue 20: after a kill -9 of the parent, an orphaned
worker kept a core busy in a regex, where a watcher thread never gets the GIL): on Linux the
kernel kills it when the parent dies (PR_SET_PDEATHSIG); elsewhere a thread watches the parent.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

READY_TIMEOUT = 120.0  # seconds a new worker may take to import and set up (a busy machine)
_PR_SET_PDEATHSIG = 1


class Overrun(Exception):
    """The task ran past its budget; its worker was killed."""


class WorkerDied(Exception):
    """The worker exited (killed, out of memory) before it answered."""


class TaskFailed(Exception):
    """The task raised in the worker: its type name and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message = kind, message


class _Worker:
    def __init__(self, setup: Callable[..., None], args: tuple[Any, ...]) -> None:
        ours, theirs = get_context("spawn").Pipe()
        # spawn, not fork: the service has threads (APScheduler, the HTTP client's pool)
        self.process: BaseProcess = get_context("spawn").Process(
            target=_serve, args=(theirs, os.getpid(), setup, args), name="monitor-parser", daemon=True
        )
        self.process.start()
        theirs.close()
        self.conn: Connection = ours
        self.ready = False

    def call(self, task: Callable[..., Any], args: tuple[Any, ...], budget: float) -> Any:
        """In a thread: wait for the worker to be ready, run one task, its answer or an exception."""
        try:
            if not self.ready:
                if not self.conn.poll(READY_TIMEOUT):
                    self.kill()
                    raise WorkerDied("a parser process did not start")
                self.conn.recv()
                self.ready = True
            self.conn.send((task, args))
            if not self.conn.poll(budget):
                self.kill()
                raise Overrun(f"took longer than {budget:g} s")
            answer = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            self.kill()
            raise WorkerDied(f"a parser process died ({type(exc).__name__})") from None
        if answer[0] == "ok":
            return answer[1]
        raise TaskFailed(answer[1], answer[2])

    @property
    def alive(self) -> bool:
        return self.process.is_alive() and not self.conn.closed

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class WorkerPool:
    """Up to `size` stoppable worker processes; see the module docstring."""

    def __init__(self, size: int, setup: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.size, self.setup, self.args = size, setup, args
        self._idle: list[_Worker] = []
        self._slots = asyncio.Semaphore(size) if size > 0 else None
        self._busy: set[_Worker] = set()

    async def run(self, task: Callable[..., Any], args: tuple[Any, ...], budget: float) -> Any:
        assert self._slots is not None, "a pool of no workers runs nothing"
        async with self._slots:
            worker = self._take()
            self._busy.add(worker)
            try:
                result = await asyncio.to_thread(worker.call, task, args, budget)
            finally:
                self._busy.discard(worker)
                if worker.alive:
                    self._idle.append(worker)
            return result

    def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                return worker
            worker.kill()
        # started here, on the event loop's thread, which lives as long as the process
        # (PR_SET_PDEATHSIG fires when the thread that started the child ends)
        return _Worker(self.setup, self.args)

    def close(self) -> None:
        """Stop every worker (a task still running is killed with it)."""
        for worker in [*self._idle, *self._busy]:
            worker.kill()
        self._idle.clear()


# --- in a worker process ----------------------------------------------------------


def _serve(conn: Connection, parent: int, setup: Callable[..., None], args: tuple[Any, ...]) -> None:
    _die_with(parent)
    # The main process decides when to stop (SIGTERM from systemd reaches the whole group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    setup(*args)
    conn.send(("ready",))
    while True:
        try:
            task, task_args = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        try:
            answer: tuple[Any, ...] = ("ok", task(*task_args))
        except Exception as exc:  # the parent makes it this feed's error
            answer = ("error", type(exc).__name__, str(exc))
        conn.send(answer)


def _die_with(parent: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0 and os.getppid() == parent:
            return  # (the parent may have died before prctl: then the watcher below sees it)
    threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)
