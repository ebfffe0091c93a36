"""A parser process's side of stoppable.py: read the set-up, then serve tasks until told to go.

    python -c "...; from monitor.service.serve import serve_from_command_line; ..." FD PARENT

It reads `setup` and its arguments from the socket FD, runs `setup(*args)` once, says it is
ready, then answers each task ("ok", value) or ("error", exception type, message). This module
imports no more than that needs (no asyncio, no subprocess): a worker's memory is its parsing
(parsing.py, issue 18), and the setup's own module brings what it uses.

A worker must not outlive the monitor (issue 20: after a kill -9 of the parent, an orphaned
worker kept a core busy in a regex, where a watcher thread never gets the GIL): on Linux the
kernel kills it when the parent dies (PR_SET_PDEATHSIG); elsewhere a thread watches the parent.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import struct
import sys
import threading
import time
from typing import Any

from monitor import _bytecode

_PR_SET_PDEATHSIG = 1


class _Channel:
    """The worker's end of the socket pair, spoken as multiprocessing.connection.Connection
    speaks it (the parent's end is one): a 4-byte big-endian length (or -1 and an 8-byte one),
    then the pickle. Without multiprocessing's package: 0.4 MB of a worker (issue 18)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def recv(self) -> Any:
        (size,) = struct.unpack("!i", self._read(4))
        if size == -1:
            (size,) = struct.unpack("!Q", self._read(8))
        return pickle.loads(self._read(size))

    def send(self, value: Any) -> None:
        data = pickle.dumps(value)
        size = len(data)
        header = struct.pack("!i", size) if size <= 0x7FFFFFFF else struct.pack("!iQ", -1, size)
        for part in (header, data):
            view = memoryview(part)
            while view:
                view = view[os.write(self.fd, view) :]

    def _read(self, size: int) -> bytearray:
        data = bytearray()
        while len(data) < size:
            chunk = os.read(self.fd, size - len(data))
            if not chunk:
                raise EOFError("the parent closed the socket")
            data += chunk
        return data


def _serve(conn: _Channel, parent: int) -> None:
    _die_with(parent)
    # The main process decides when to stop (SIGTERM from systemd reaches the whole group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        setup, args = conn.recv()
    except (EOFError, OSError, pickle.UnpicklingError):
        os._exit(0)
    setup(*args)
    _bytecode.release()  # its records are made: 0.5 MB of cached code a worker never needs again
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
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols, libc's among them
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0 and os.getppid() == parent:
            return  # (the parent may have died before prctl: then the watcher below sees it)
    threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def serve_from_command_line() -> None:
    """A worker's start (_BOOT): the socket's descriptor and the parent's pid are its arguments.

    A parser process opens no connection: `ssl` is refused before anything is imported, so that
    feedparser's import of urllib.request (through xml.sax.saxutils) leaves OpenSSL out (1.5 MB
    of a worker's memory; urllib and http.client go on without it). So is `_hashlib`, OpenSSL's
    hashes: hashlib and hmac fall back to CPython's own (BLAKE2, the one monitor uses, is always
    CPython's), and libcrypto is not loaded (3.3 MB of a worker's memory, issue 18)."""
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
    sys.modules.setdefault("_hashlib", None)  # type: ignore[arg-type]
    _serve(_Channel(int(sys.argv[1])), int(sys.argv[2]))
