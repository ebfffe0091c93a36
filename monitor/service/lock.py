"""One writer per archive: `monitor run` and `monitor poll` hold an exclusive lock.

The lock is ``flock`` on ``<archive>.lock`` next to the archive; the kernel
releases it when the process ends however it ends (kill -9 included), so a
stale lock never blocks a restart. Readers (``monitor search``, ``status``,
sqlite3, Datasette) do not take it: SQLite's WAL lets them read while the
service writes. Nor do `monitor feeds`, `prune` and `backup`: their few short
write transactions wait for SQLite's own write lock (storage.write_transaction).
The lock file holds the owner's pid, for the error message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from monitor.errors import StorageError


class WriterLock:
    def __init__(self, archive: Path) -> None:
        self.path = archive.with_name(archive.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # a read-only folder, say
            raise StorageError(f"cannot create the archive's lock: {exc.strerror}", self.path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StorageError(
                f"another monitor (pid {owner}) is already writing this archive; "
                "stop it first (monitor search and status can read meanwhile)",
                self.path.with_suffix(""),
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot lock the archive: {exc.strerror}", self.path) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()
