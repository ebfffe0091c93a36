"""Feeds that finish close together share one archive transaction (issue 18).

    batch = Batcher(archive)
    await batch.save(lambda: pipeline.prepare(feed, ...))  # returns once committed (or raises
                                                            # what that feed's handling raised)

A pass used to commit once per feed: SQLite's commit, and FTS5 writing its pending terms out
as a new segment (merged later), paid per feed. Here the first feed done opens a window of
WINDOW seconds; every feed done within it is handled, each after the first in its own savepoint,
and then all are committed at once. A feed's articles and its outbox rows are still in one transaction
(the same one), and a feed is archived, and its alerts queued, at most WINDOW after it is done
(issue 14); a feed with new articles, as soon as the loop gets to it (`save(..., soon=True)`).

A batch is saved in a thread of its own (one batch at a time, in order), so the event loop goes
on fetching while a feed's stories are placed: on the loop, a changed feed's placement stopped
every fetch in flight for its length, and a changed pass lost a fifth of its rate to them (issue
18). The GIL is handed to the loop's thread within a few milliseconds when a socket wakes it.
The thread holds the archive's lock (ArchiveBase.lock) for the whole transaction, so no other
user of the connection (delivery's sent marks, a chat command, on the loop's thread) ever joins
a batch's transaction; it waits for the commit instead, as it waited for the loop before.
While it saves a batch, the feeds done meanwhile join it (until MAX_HOLD from its start): on a
cold pass the archive is the slower stage, and a batch that ended whenever the next feed came a
moment late committed every other feed (2 feeds a batch), each time with nothing to place while
the last feed's index rows were written.

A step is a feed's handling in two halves (Pipeline.prepare): called, it reads the archive and
places the feed's articles, writing nothing; what it returns writes them. Only the writes are in
the feed's savepoint: the feed's index rows (full text, story keys, rarity counts) are handed to
the archive's index thread (archive/behind.py) and written while the next feed is placed, in the
same transaction. The batch waits for them (Archive.settle) before the next feed's savepoint and
before its commit.

One feed's failure is that feed's: its savepoint is rolled back (the first feed's, the whole
transaction, which held nothing else: it needs no savepoint) and its `save` raises; the others
commit. A StorageError (the archive cannot be written) fails every feed of the batch.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from monitor.archive.store import Archive
from monitor.errors import StorageError
from monitor.service.memory import TRIM_EVERY, trim

WINDOW = 0.1  # seconds from the first feed done to its batch's commit
# A batch stops taking feeds after this long: the feeds left over go in the next batch, at once
# (each batch commits: what is saved is committed at most this long after its turn came).
MAX_HOLD = 0.25
SWITCH_INTERVAL = 0.001  # seconds (sys.setswitchinterval), once a pass saves in a thread of its own

Write = Callable[[], None]  # a feed's writes
Step = Callable[[], Write]  # a feed's reads and placement, returning its writes
Waiting = tuple[Step, "asyncio.Future[None]"]
Outcome = list[Exception | None]  # each handled step's error (or None): the rest wait for the next batch


class Batcher:
    """Handles finished feeds in batches, one transaction each (see the module docstring)."""

    def __init__(self, archive: Archive, window: float = WINDOW, max_hold: float = MAX_HOLD) -> None:
        self.archive, self.window, self.max_hold = archive, window, max_hold
        self._pending: list[Waiting] = []
        self._taking = threading.Lock()  # _pending: appended on the loop, taken by the writer too
        self._timer: asyncio.Handle | None = None
        self._soon = False  # the timer is a call_soon
        self._urgent = False  # a feed waiting was saved with `soon`
        self._writer: ThreadPoolExecutor | None = None  # the one thread batches are saved in
        self._running: tuple[Future[Outcome], list[Waiting]] | None = None  # the batch in it
        self.commits = 0  # transactions committed, since the start

    async def save(self, step: Step, soon: bool = False) -> None:
        """Run `step` (a feed's reads and placement, returning its writes) in the next batch, or
        in the one being saved if it is still taking feeds; return once it is committed.

        `soon` (a feed with new articles): its batch is saved as soon as the loop gets to it,
        with whatever else is waiting, instead of after the window. Placing its articles costs
        far more than a commit, and on a cold pass the archive (placing stories) is the slower
        stage: waiting for more feeds would leave it idle (issue 18: 0.1 s per batch, a third of
        a cold pass's wall time). The window still gathers what is cheap to handle and dear to
        commit alone: 304s, unchanged bodies, errors.

        Cancelled while it waits (a stop), the batch is saved at once: what was fetched and read
        is kept, as when each feed committed on its own."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._taking:
            self._pending.append((step, done))
        self._urgent = self._urgent or soon
        if self._running is None:  # else the batch running starts the next when it ends
            if soon and not self._soon:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer, self._soon = loop.call_soon(self._start), True
            elif self._timer is None:
                self._timer = loop.call_later(self.window, self._start)
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            if not done.done():
                self.flush()
            if done.done() and not done.cancelled():
                # Read, so that asyncio does not print it with a traceback as never retrieved:
                # this caller is gone, and the pass reports the batch's failure in one line.
                done.exception()
            raise

    def flush(self) -> None:
        """Save what is waiting, now, in this thread (the batch being saved in the writer's
        thread first: waited for)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._soon = None, False
        if self._running is not None:
            self._settle(*self._running)
        while self._pending:
            pending, self._pending = self._pending, []
            future: Future[Outcome] = Future()
            try:
                future.set_result(self._write(pending))
            except BaseException as exc:
                future.set_exception(exc)
            self._settle(future, pending)

    def close(self) -> None:
        """The writer's thread ends (a batch it is saving is waited for)."""
        if self._running is not None:
            self._settle(*self._running)
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def _start(self) -> None:
        """On the loop: the waiting feeds to the writer's thread, as one batch."""
        self._timer, self._soon = None, False
        if self._running is not None or not self._pending:
            return
        pending, self._pending, self._urgent = self._pending, [], False
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="monitor-archive")
            # Threads waiting for the GIL get it within 1 ms of asking, not Python's 5: the
            # archive's index thread needs it between its statements while this one places
            # stories, and the loop's on every socket it wakes for (docs/performance-log.md,
            # "Stop 35": 1,000 feeds cold, 18.2 -> 19.1 feeds/s back to back).
            sys.setswitchinterval(SWITCH_INTERVAL)
        future = self._writer.submit(self._write, pending, True)
        self._running = (future, pending)
        # No closure over the batch: a cycle through the future's callbacks would keep every
        # feed's analysed articles alive until the next full collection (12 MB more at a peak).
        future.add_done_callback(partial(_wake, asyncio.get_running_loop(), self._ended))

    def _ended(self, future: Future[Outcome]) -> None:
        """On the loop, once the writer's thread has saved a batch: its feeds told, and the next
        batch started: at once for feeds it left over or saved with `soon`, else after the window."""
        if self._running is None or self._running[0] is not future:
            return  # flush() or close() settled it already
        waiting = len(self._pending)
        self._settle(*self._running)
        self._urgent = self._urgent and bool(self._pending)  # the writer may have taken them (_take)
        if self._pending and self._timer is None:
            loop = asyncio.get_running_loop()
            if self._urgent or len(self._pending) > waiting:
                self._timer, self._soon = loop.call_soon(self._start), True
            else:
                self._timer = loop.call_later(self.window, self._start)

    def _settle(self, future: Future[Outcome], pending: list[Waiting]) -> None:
        """Tell the batch's feeds how it went (waiting for it if it is still being saved); the
        feeds it left for later go first in the next batch."""
        if self._running is not None and self._running[0] is future:
            self._running = None
        try:
            errors = future.result()
        except BaseException as exc:  # the commit, or a StorageError: every feed of the batch
            failure = exc if isinstance(exc, StorageError) else StorageError(f"cannot save: {exc}")
            for _, done in pending:
                if not done.done():
                    done.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        self.commits += 1
        if self.commits % TRIM_EVERY == 0:  # free memory between a pass's feeds, handed back
            trim()
        self._pending[:0] = pending[len(errors) :]
        for (_, done), error in zip(pending, errors, strict=False):
            if not done.done():
                done.set_result(None) if error is None else done.set_exception(error)

    def _write(self, batch: list[Waiting], taking: bool = False) -> Outcome:
        """In the writer's thread (or the loop's, flushing): the batch's steps in one
        transaction, until max_hold has passed; each handled step's error. A first step that
        fails takes its transaction with it, and the steps after it go in another (see
        _transaction). `taking` (the writer's thread): feeds done meanwhile join the batch, to
        the same end (_take): on a cold pass the archive is the slower stage, and a feed that
        ends a batch has its index rows written while nothing else is placed (behind.py)."""
        began = time.monotonic()
        errors: list[Exception | None] = []
        while len(errors) < len(batch) and not (errors and time.monotonic() - began > self.max_hold):
            errors += self._transaction(batch, len(errors), began, taking)
        return errors

    def _take(self, batch: list[Waiting]) -> bool:
        """The feeds waiting join the batch being saved (its list, which _settle reads)."""
        with self._taking:
            taken, self._pending = self._pending, []
        batch += taken
        return bool(taken)

    def _transaction(self, batch: list[Waiting], start: int, began: float, taking: bool) -> Outcome:
        """The batch's steps from `start` in one transaction, the first bare (Archive.bare: no
        savepoint, whose page copies cost as much as a commit), each after it in a savepoint of
        its own (rolled back alone, the others kept), until max_hold has passed; each handled
        step's error. When the first fails, the transaction is rolled back (it held nothing
        else) and only its error is returned."""
        errors: list[Exception | None] = []
        archive = self.archive
        try:
            with archive.transaction("save a batch of feeds"):
                try:
                    with archive.bare():
                        write = _handled(batch, start)()
                        with archive.deferring() as index:
                            write()
                    del write
                    archive.write_behind(index)
                    errors.append(None)
                    while time.monotonic() - began <= self.max_hold:  # else the rest: the next batch
                        if start + len(errors) == len(batch) and not (taking and self._take(batch)):
                            break
                        errors.append(_attempt(archive, _handled(batch, start + len(errors))))
                finally:
                    archive.settle()  # the index rows written behind: in this transaction
        except StorageError:
            raise
        except Exception as exc:
            if errors:  # not the first step's (each after it is caught in _attempt): the archive's
                raise
            return [exc]
        return errors


def _wake(
    loop: asyncio.AbstractEventLoop, ended: Callable[[Future[Outcome]], None], future: Future[Outcome]
) -> None:
    """In the writer's thread, its batch saved: the loop takes it from there."""
    try:
        loop.call_soon_threadsafe(ended, future)
    except RuntimeError:  # the loop is closed: flush() or close() settled the batch
        pass


def _handled(batch: list[Waiting], i: int) -> Step:
    """The batch's i-th step, which the batch then no longer holds: what a feed's handling
    refers to (its analysed articles) goes once it is written, not once its batch is."""
    step, done = batch[i]
    batch[i] = (_gone, done)
    return step


def _gone() -> Write:
    raise AssertionError("a feed's step is handled once")


def _attempt(archive: Archive, step: Step) -> Exception | None:
    """One feed: its placement, then its writes in a savepoint, rolled back alone when they
    raise (a StorageError is raised on: the archive, not the feed, is at fault). The write
    methods inside open none of their own (Archive.bare): the feed's is rolled back whole, as
    the first feed's transaction is. The savepoint is opened once the feed before's index rows
    are written (Archive.write settles): it holds this feed's writes only."""
    try:
        write = step()  # while the feed before's index rows are written behind
        with archive.transaction("save a feed"), archive.bare(), archive.deferring() as index:
            write()
    except StorageError:
        raise
    except Exception as exc:
        return exc
    archive.write_behind(index)
    return None
