"""The archive as a parser worker sees it: a read-only connection, one read transaction per feed.

    with snapshot.reading() as view:     BEGIN ... ROLLBACK: the keys of one moment
        view.known_keys(keys)            which identity keys are archived already

Errors come out as StorageError (picklable: it crosses back to the main process). It imports
keys.py alone of the writer's side: a worker never writes (issue 18: 0.8 MB of its memory).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from monitor.archive.keys import known_keys
from monitor.errors import StorageError


@dataclass(frozen=True)
class SnapshotView:
    conn: sqlite3.Connection

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        return known_keys(self.conn, keys)


class Snapshot:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        try:
            self.conn = sqlite3.connect(
                Path(path).resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False
            )
            self.conn.execute("pragma busy_timeout = 10000")
            # 512 KiB of page cache, not SQLite's 2 MiB: a worker looks up each feed's identity
            # keys, digests spread at random over an index larger than either, so the leaves it
            # reads miss the cache at either size (issue 18: the worker's memory).
            self.conn.execute("pragma cache_size = -512")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the archive read-only: {exc}", self.path) from None

    @contextmanager
    def reading(self) -> Iterator[SnapshotView]:
        try:
            self.conn.execute("begin")
            try:
                yield SnapshotView(self.conn)
            finally:
                self.conn.execute("rollback")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the archive: {exc}", self.path) from None
