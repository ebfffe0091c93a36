"""Writing an update's index rows behind its placement, in a thread of its own (issue 18).

A saved article's rows are of two kinds. Its own (articles, article_keys, matches, stories,
story_joins, story_profiles, alerts, the feed's row) are read by the next feed's handling: its
identity keys, the alerts a report joining its story redraws. Its index rows are not: the
full-text index (articles_fts, articles_cjk), the story index (fingerprints, story_keys) and the
rarity counts (term_df, term_docs). Grouping reads those from the writer's StoryMemory, which
save_update tells as before; SQL is asked only for what the memory does not hold (a window
older than its horizon, an evicted fingerprint, an uncached term: rare).

Inside `Archive.deferring()` save_update collects its index rows (Rows) instead of writing them,
and the batch hands them to WriteBehind, whose one thread writes them on the same connection, in
the same transaction, while the writer's thread places the next feed's articles: most of their
time is SQLite's C code, which runs without the GIL (a cold pass spent a quarter of the main
process's CPU on them: docs/performance-log.md, "Stop 35"). They are written as multi-row
INSERTs, a few statements an update: the thread needs the GIL between statements.

What keeps it exact:
* `Archive.settle()` waits for every row handed over, and raises what failed (a StorageError).
  `Archive.write()`, the way into every write, settles first: no write runs beside the thread
  (a savepoint opened meanwhile would hold another feed's rows, and sqlite3 reads an insert's
  rowid and a statement's row count off the connection), and a feed's savepoint rolled back
  takes only its own. The batch (service/batching.py) settles before its commit or rollback:
  an update's rows commit together, as before.
* StoryMemory settles before it asks SQL anything (storymemory.py, storyindex.MemoryIndex), so a
  look-up never misses a row handed over.
* Between the two, the writer's thread only reads tables the thread does not write: the
  connection (SQLite's serialized mode) runs one statement at a time.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when first used: `monitor search` never writes
    from concurrent.futures import Future, ThreadPoolExecutor

# Bound parameters per statement: SQLite's limit before 3.32 (32,766 since), so any build takes it.
MAX_PARAMETERS = 999


@dataclass(frozen=True)
class Insert:
    """One kind of index row: `head` ("insert into t (a, b)"), columns, and what follows the
    rows ("on conflict ...")."""

    head: str
    width: int
    tail: str = ""

    def statement(self, rows: int) -> str:
        row = "(" + ", ".join("?" * self.width) + ")"
        return f"{self.head} values {', '.join([row] * rows)}{self.tail}"


class Rows:
    """An update's index rows, by kind, in the order added; written as multi-row INSERTs, a few
    statements per update instead of one per row: the thread writing them behind needs the
    GIL between statements, and gets it back only when the writer's thread lets go."""

    __slots__ = ("kinds",)

    def __init__(self) -> None:
        self.kinds: dict[Insert, list[Any]] = {}  # each kind's rows, their values one after another

    def add(self, insert: Insert, *values: Any) -> None:
        """One row, or several of `insert.width` values each, one after another."""
        assert len(values) % insert.width == 0
        self.kinds.setdefault(insert, []).extend(values)

    def __bool__(self) -> bool:
        return bool(self.kinds)

    def write(self, conn: sqlite3.Connection) -> None:
        for insert, values in self.kinds.items():
            most = MAX_PARAMETERS // insert.width * insert.width
            for at in range(0, len(values), most):
                chunk = values[at : at + most]
                conn.execute(insert.statement(len(chunk) // insert.width), chunk)


class WriteBehind:
    """One thread writing handed-over rows on `conn`, in the order handed over."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._thread: ThreadPoolExecutor | None = None
        self._running: list[Future[None]] = []

    @property
    def idle(self) -> bool:
        return not self._running

    def submit(self, rows: Rows) -> None:
        if not rows:
            return
        if self._thread is None:
            from concurrent.futures import ThreadPoolExecutor

            self._thread = ThreadPoolExecutor(1, thread_name_prefix="monitor-index")
        self._running.append(self._thread.submit(rows.write, self.conn))

    def settle(self) -> None:
        """Wait until every row handed over is written; raise the first error (after waiting
        for the rest: nothing runs on the connection once this returns)."""
        running, self._running = self._running, []
        error: BaseException | None = None
        for future in running:
            exc = future.exception()
            error = error or exc
        if error is not None:
            raise error

    def close(self) -> None:
        try:
            self.settle()
        finally:
            if self._thread is not None:
                self._thread.shutdown(wait=True)
                self._thread = None
