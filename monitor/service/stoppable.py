"""Worker processes that can be stopped one at a time, and die with their parent.

    WorkerPool(size, setup, args)       up to `size` processes (started when needed, stopped after
                                        IDLE_SECONDS without a task)
    await pool.run(task, args, budget)  one task in the next free worker; a worker whose task runs past
                                        `budget` seconds is killed (SIGKILL) and replaced later:
                                        Overrun, and the other workers' tasks go on untouched
                                        (a ProcessPoolExecutor can only be broken whole)

Each worker is a fresh interpreter (`python -c "... serve_from_command_line()" FD PARENT`, serve.py)
holding one end of a socket pair: it reads `setup` and its arguments from it, runs `setup(*args)`
once, says it is ready, then runs tasks sent down the pipe, answering ("ok", value) or ("error",
exception type, message). It imports serve.py and the setup's module, not this one: no asyncio
in a parser process (issue 18). A task's budget counts from the moment the worker has it, not from
the queue. Not multiprocessing's spawn: that starts a resource-tracker process beside the
workers (12 MB more for nothing monitor uses: issue 18), and fork is unsafe in a process with
threads (APScheduler, the HTTP client's pool).

A worker must not outlive the monitor (issue 20): serve.py has it die with its parent.
"""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

# A worker idle this long exits (started again by the next task): a running service spends most
# of its time on 304s and small passes, analysed in-process, and needs no second process then.
IDLE_SECONDS = 60.0
_PATH_VARIABLE = "MONITOR_WORKER_PATH"
_BOOT = (
    f"import os, sys; sys.path[:] = os.environ.pop({_PATH_VARIABLE!r}).split(os.pathsep); "
    "from monitor.service.serve import serve_from_command_line; serve_from_command_line()"
)
READY_TIMEOUT = 120.0  # seconds a new worker may take to import and set up (a busy machine)


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
        ours, theirs = socket.socketpair()
        command = [sys.executable, *_interpreter_flags(), "-c", _BOOT, str(theirs.fileno()), str(os.getpid())]
        # The child imports monitor from where this process did, with this process's sys.path
        # (as multiprocessing's spawn does), never from a folder it happens to start in.
        env = {**os.environ, _PATH_VARIABLE: os.pathsep.join(sys.path)}
        try:
            self.process = subprocess.Popen(
                command, pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL, close_fds=True
            )
        finally:
            theirs.close()
        self.conn: Connection = Connection(ours.detach())
        self.ready = False
        # close() and the worker's own pool thread may kill it at once: its socket is closed
        # once (a second close could hit a descriptor the process has opened since)
        self._killing = threading.Lock()
        try:
            self.conn.send((setup, args))
        except OSError:  # it died at once (a broken interpreter, no memory)
            self.kill()
            raise WorkerDied("a parser process did not start") from None

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
        return self.process.poll() is None and not self.conn.closed

    def kill(self) -> None:
        with self._killing:
            if self.process.poll() is None:
                self.process.kill()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.conn.close()


_Job = tuple[Callable[..., Any], tuple[Any, ...], float, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class WorkerPool:
    """Up to `size` stoppable worker processes; see the module docstring.

    Each worker has a thread of its own in this process that takes the next task from a queue
    as soon as its worker answers, without waiting for the event loop: while the loop is busy
    (archiving a feed, placing its stories) the workers keep reading the feeds queued for them.
    """

    def __init__(self, size: int, setup: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.size, self.setup, self.args = size, setup, args
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._workers: set[_Worker] = set()  # alive, idle or busy (close() kills them)
        self._lock = threading.Lock()
        self._retired = False  # no task more: each worker stops when the tasks queued before end

    async def run(self, task: Callable[..., Any], args: tuple[Any, ...], budget: float) -> Any:
        assert self.size > 0, "a pool of no workers runs nothing"
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._threads:
            for n in range(self.size):
                thread = threading.Thread(target=self._serve_jobs, name=f"monitor-parser-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)
        self._jobs.put((task, args, budget, loop, future))
        return await future

    def _serve_jobs(self) -> None:
        """In a pool thread: one worker's life. It is started here, and this thread lives as long
        as the pool (PR_SET_PDEATHSIG fires when the thread that started the child ends)."""
        worker: _Worker | None = None
        try:
            while True:
                try:
                    # An idle worker stops: a service between big passes is one process.
                    job = self._jobs.get(timeout=IDLE_SECONDS if worker is not None else None)
                except queue.Empty:
                    if worker is not None:
                        self._forget(worker)
                    worker = None
                    continue
                if job is None:
                    break
                task, args, budget, loop, future = job
                if future.cancelled():
                    continue
                try:
                    if worker is None or not worker.alive:
                        if worker is not None:
                            self._forget(worker)
                        worker = None
                        worker = self._start()
                    outcome: tuple[bool, Any] = (True, worker.call(task, args, budget))
                except (Overrun, WorkerDied, TaskFailed) as exc:  # the caller's to see
                    outcome = (False, exc)
                except Exception as exc:  # a worker that could not start: no thread is lost to it
                    outcome = (False, WorkerDied(f"a parser process failed ({type(exc).__name__}: {exc})"))
                try:
                    loop.call_soon_threadsafe(_settle, future, outcome)
                except RuntimeError:  # the loop is closed: nobody waits for it any more
                    pass
        finally:
            if worker is not None:
                self._forget(worker)

    def _start(self) -> _Worker:
        worker = _Worker(self.setup, self.args)
        with self._lock:
            self._workers.add(worker)
        return worker

    def _forget(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._workers.discard(worker)

    def retire(self) -> None:
        """Stop each worker once the tasks queued before this are done (a reloaded config's
        rules go to a new pool; what the old one is reading finishes)."""
        self._retired = True
        for _ in self._threads:
            self._jobs.put(None)

    def close(self) -> None:
        """Stop every worker (a task still running is killed with it: WorkerDied)."""
        if not self._retired:
            self.retire()
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.kill()


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():  # its caller was cancelled
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _interpreter_flags() -> list[str]:
    """This interpreter's -X, -W, -B... options, for the child (as multiprocessing passes them)."""
    flags: list[str] = getattr(subprocess, "_args_from_interpreter_flags", list)()
    return [str(f) for f in flags]
