"""The archive file and its one connection: opening, write transactions, and the one place
sqlite3's errors become StorageError.

    ArchiveBase            conn (sqlite3), db (sqlite_utils.Database, made when first used), path,
                           write(), transaction(), check_file(), close()
    @reads("read feeds")   a method whose sqlite3/OS errors leave as StorageError("cannot read feeds: …")
    @writes("add feeds")   the same, inside one write transaction (BEGIN IMMEDIATE)
    wrap_errors(path, …)   the same as a `with` block, for the few that cannot be a method (backup)

Every per-table mixin (articles.py, feeds.py, stories.py, chats.py, outbox.py) subclasses
ArchiveBase; store.Archive composes them (as lemon24/reader's _storage does).
"""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from monitor.errors import StorageError

if TYPE_CHECKING:  # imported when first used (ArchiveBase.db): a reader needs sqlite3 alone
    import sqlite_utils

# How long a write waits for another connection's lock before failing.
BUSY_TIMEOUT = 10.0

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="ArchiveBase")
Method = Callable[Concatenate[S, P], R]


def sqlite_errors(kind: type[sqlite3.Error] = sqlite3.Error) -> tuple[type[Exception], ...]:
    """`kind`, and sqlite-utils' OperationalError once sqlite-utils is loaded (it may come from
    another sqlite3 module, pysqlite3); for `except` clauses."""
    utils = sys.modules.get("sqlite_utils.utils")
    return (kind, utils.OperationalError) if utils is not None else (kind,)


@contextmanager
def wrap_errors(path: Path | str, action: str) -> Iterator[None]:
    """sqlite3 and OS errors inside leave as one StorageError: 'cannot <action>: <why>'."""
    try:
        yield
    except sqlite_errors() as exc:
        why = str(exc)
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY":
            why += f" (another connection held its write lock for over {BUSY_TIMEOUT:g} s)"
        raise StorageError(f"cannot {action}: {why}", path) from None
    except OSError as exc:
        raise StorageError(f"cannot {action}: {exc.strerror or exc}", path) from None


def reads(action: str) -> Callable[[Method[S, P, R]], Method[S, P, R]]:
    """An archive method that reads: its errors wrapped (wrap_errors)."""

    def decorate(method: Method[S, P, R]) -> Method[S, P, R]:
        @functools.wraps(method)
        def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with self.lock, wrap_errors(self.path, action):
                return method(self, *args, **kwargs)

        return run

    return decorate


def writes(action: str) -> Callable[[Method[S, P, R]], Method[S, P, R]]:
    """An archive method that writes: one write transaction, its errors (commit's too) wrapped."""

    def decorate(method: Method[S, P, R]) -> Method[S, P, R]:
        @functools.wraps(method)
        def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with self.lock, wrap_errors(self.path, action), self.write():
                return method(self, *args, **kwargs)

        return run

    return decorate


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """One write transaction that holds SQLite's write lock from its start (BEGIN IMMEDIATE).

    A deferred BEGIN (sqlite-utils' atomic()) asks for the write lock only at its first write.
    When another process (monitor run, and monitor feeds or prune in a shell) wrote in between,
    SQLite fails at once with "database is locked": this transaction's snapshot is stale, so
    the busy timeout cannot help. Asked for at BEGIN, the lock is waited for (BUSY_TIMEOUT).
    Inside an open transaction, it is a savepoint."""
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if conn.in_transaction:
        try:
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class ArchiveBase:
    """The archive file, opened once per process (one connection): what every mixin builds on.

    Reads go through `conn`, plain sqlite3; writes and migrations through `db`, sqlite-utils
    over the same connection, made (and sqlite_utils imported, about 50 ms with its click,
    pluggy and dateutil) when first used: `monitor search`, `status` and `feeds list` only
    read, and start without it."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        # One thread at a time on the connection: a pass saves its batches in a thread of its own
        # (service/batching.py) while the event loop's thread may deliver alerts or answer the
        # chat. Every @reads/@writes method and transaction() holds it (re-entrant).
        self.lock = threading.RLock()
        self.path = path
        self._file = identity(path)  # the file opened: see check_file
        self._data_version: int | None = None  # SQLite's data_version when last looked at

    @functools.cached_property
    def db(self) -> sqlite_utils.Database:
        import sqlite_utils

        return sqlite_utils.Database(self.conn, execute_plugins=False)

    def close(self) -> None:
        self.conn.close()

    def check_file(self) -> None:
        """Fail when the archive's path no longer names the file opened (removed, or replaced by
        a restored copy): the open file lives on, unlinked, and whatever a long-running process
        wrote to it would vanish at its exit."""
        if identity(self.path) != self._file:
            raise StorageError(
                "the archive file was removed or replaced since monitor opened it; restart monitor",
                self.path,
            )

    @reads("read the archive's version")
    def changed_elsewhere(self) -> bool:
        """Whether another connection (a `monitor feeds` command, say) committed to the archive
        since the last call: SQLite's data_version, which this connection's own writes leave
        alone. The first call only notes it (False)."""
        version = int(self.db.execute("pragma data_version").fetchone()[0])
        seen, self._data_version = self._data_version, version
        return seen is not None and version != seen

    def write(self) -> AbstractContextManager[None]:
        """Every write transaction of the archive (see write_transaction)."""
        return write_transaction(self.db)

    @contextmanager
    def transaction(self, action: str) -> Iterator[None]:
        """One write transaction around several writes (each method's own is then a savepoint
        inside it), its errors, the commit's included, wrapped: "cannot <action>: …"."""
        with self.lock, wrap_errors(self.path, action), self.write():
            yield


def identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def check_writable(path: Path) -> None:
    """A writer fails at open, before its pass fetches anything, not at its first write.

    os.access asks the kernel, which refuses root too for an immutable file or a read-only mount
    (and lets root write a file whose mode says read-only: so can SQLite, then)."""
    if not os.access(path, os.W_OK):
        raise StorageError(
            "the archive is read-only: poll, run and feeds write to it (search only reads)", path
        )
    if not os.access(path.parent, os.W_OK):
        raise StorageError(
            f"the archive's folder is read-only: SQLite keeps {path.name}-wal and -shm beside the archive",
            path,
        )


def connect(path: Path, create: bool) -> sqlite3.Connection:
    if create or os.access(path.parent, os.W_OK) or path.with_name(path.name + "-wal").exists():
        # used by one thread at a time (ArchiveBase.lock), not always the one that opened it
        return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, check_same_thread=False)
    # A reader in a read-only folder: SQLite cannot create the -wal and -shm files it reads a
    # WAL archive with. Nor can any writer (it needs them), so the file is as it stays: immutable.
    return sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
