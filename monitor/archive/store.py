"""The Archive: one SQLite file, composed from one mixin per table family (as lemon24/reader's
_storage composes its Storage).

    connection.py  ArchiveBase: the connection, write transactions, @reads/@writes (sqlite3
                   errors become StorageError there and nowhere else)
    schema.py      the tables and every migration, m001 onwards
    articles.py    articles, identity keys, matches: save_update, search, prune
    feeds.py       feeds and their schedule; feedstatus.py, each feed's state for status reports
    stories.py     stories and their look-up index
    chats.py       chat state and mutes
    outbox.py      the alerts table: pending_alerts, mark_sent, digests
    snapshot.py    a parser worker's read-only view (not part of Archive)

Here: opening (and upgrading) the file, and its care (backup, optimize).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path

from monitor.archive.articles import ArticlesMixin
from monitor.archive.behind import Rows, WriteBehind
from monitor.archive.chats import ChatsMixin
from monitor.archive.connection import check_writable, connect, reads, wrap_errors, write_transaction
from monitor.archive.feeds import FeedsMixin
from monitor.archive.outbox import OutboxMixin
from monitor.archive.schema import migrations
from monitor.archive.stories import StoriesMixin
from monitor.errors import StorageError

__all__ = ["Archive", "migrations"]

WAL_CHECKPOINT = 10_000  # pages (4 KiB) of WAL before a commit copies them into the file


class Archive(ArticlesMixin, FeedsMixin, StoriesMixin, ChatsMixin, OutboxMixin):
    """The archive file, opened once per process (one connection)."""

    _bare = False  # inside bare(): write methods open no savepoint of their own

    def write(self) -> AbstractContextManager[None]:
        # No write runs beside the index thread (behind.py): a savepoint opened meanwhile would
        # hold rows of the feed before, and sqlite3 reads an insert's rowid off the connection.
        self.settle()
        if self._bare and self.conn.in_transaction:
            return nullcontext()
        return super().write()

    @contextmanager
    def bare(self) -> Iterator[None]:
        """Inside a write transaction, or a savepoint (transaction()), that holds nothing else
        yet: the block's writes open no savepoint of their own, and when it raises, the caller
        rolls that whole transaction or savepoint back (leaving transaction() with the exception
        does).

        A savepoint copies every page the writes inside it change, as it was, to a statement
        journal (a temporary file past 64 KiB), so that they can be undone alone: a cold pass's
        feed changes about a thousand pages (keyed indexes, full text), and its savepoints were
        a quarter of the archive write's CPU, half of it in system calls (issue 18, docs/performance-log.md,
        "Cold pass, main-process CPU"). Nothing to keep apart from, nothing to copy. FTS5 also writes its
        pending words out at every savepoint."""
        if not self.conn.in_transaction:
            raise RuntimeError("Archive.bare() is for the start of an open write transaction")
        self._bare = True
        try:
            yield
        finally:
            self._bare = False

    @contextmanager
    def deferring(self) -> Iterator[Rows]:
        """Inside: save_update collects its index rows (behind.py) in the Rows yielded instead
        of writing them; hand them to write_behind once the block's writes are done, or drop
        them with its savepoint."""
        self._deferred = Rows()
        try:
            yield self._deferred
        finally:
            self._deferred = None

    def write_behind(self, rows: Rows) -> None:
        """Write these rows in the archive's index thread, in this transaction (settle before
        its end)."""
        self._behind.submit(rows)

    def settle(self) -> None:
        """Every row handed to write_behind is written (behind.py); a StorageError if one could
        not be. Nothing to wait for (and no index thread made) when none was handed over."""
        behind = self.__dict__.get("_behind")
        if behind is not None and not behind.idle:
            with wrap_errors(self.path, "save articles"):
                behind.settle()

    def close(self) -> None:
        behind = self.__dict__.get("_behind")
        if behind is not None:  # a batch settles before its commit: here, only after a failure,
            with suppress(Exception):  # whose transaction the closing connection rolls back
                behind.close()
        super().close()

    @functools.cached_property
    def _behind(self) -> WriteBehind:
        return WriteBehind(self.conn)

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> Archive:
        if not create and not path.exists():
            raise StorageError("archive not found (run 'monitor poll' first)", path)
        with wrap_errors(path, "open the archive"):
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    # Owner-only: the archive holds what the operator chose to watch.
                    path.touch(mode=0o600)
                check_writable(path)
            conn = connect(path, create)
            # WAL with synchronous=NORMAL: a commit is not flushed to disk on its own, so a power
            # cut may undo the last passes, feed state (ETags) included, and their articles are
            # fetched again. An application crash loses nothing.
            conn.execute("pragma synchronous = normal")
            # 3 MiB of page cache instead of SQLite's 2: a cold pass inserts into four indexes
            # keyed at random (identity keys, story keys, full text), and with 2 MiB an eighth
            # of the main process's time went to reading pages back (measured with py-spy).
            # 8 MiB before issue 18's fourth round, 4 MiB before its sixth: the page cache is full
            # within the first minute of a cold pass, and each MiB of it is about a MB of the
            # service's peak (docs/performance-log.md, "Memory of `monitor run`", 4th and 6th rounds).
            conn.execute("pragma cache_size = -3072")
            # The WAL is copied into the file every WAL_CHECKPOINT pages instead of SQLite's 1,000:
            # a cold pass rewrites the same index pages (identity keys, story keys, term counts,
            # full text) commit after commit, and each checkpoint copied them all again. 8% of
            # the archive's write CPU (issue 18); the WAL file may reach 40 MB meanwhile.
            conn.execute(f"pragma wal_autocheckpoint = {WAL_CHECKPOINT}")
            archive = cls(conn, path)
            if create:
                archive.db.enable_wal()
                if migrations.unapplied(conn):  # under the write lock: two processes may upgrade at once
                    with write_transaction(archive.db):
                        migrations.apply(archive.db)
            elif migrations.unapplied(conn):
                raise StorageError("archive is from an older monitor: run 'monitor poll' to upgrade it", path)
        return archive

    def backup(self, target: Path) -> None:
        """A consistent copy (VACUUM INTO), safe while the service writes; owner-only.

        The file is created here, empty, with O_EXCL and O_NOFOLLOW: a symlink at `target`
        (dangling or not) is refused, never followed to write somewhere else (issue 20)."""
        if target.is_symlink():
            raise StorageError("backup target is a symbolic link; give the path of a new file", target)
        if target.exists():
            raise StorageError("backup target already exists; choose a new file name", target)
        with wrap_errors(target, "write the backup"):
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            try:
                os.close(os.open(target, flags, 0o600))
            except FileExistsError:  # appeared since the check (a symlink too: O_EXCL never follows)
                raise StorageError("backup target already exists; choose a new file name", target) from None
            # VACUUM INTO writes into an empty file it is given; owner-only from its first byte.
            self.db.execute("vacuum into ?", [str(target)])
            target.chmod(0o600)

    @reads("optimize the archive")
    def optimize(self) -> None:
        """Daily upkeep: refresh the query planner's statistics and trim the WAL file."""
        self.db.execute("pragma optimize")
        self.db.execute("pragma wal_checkpoint(truncate)")
