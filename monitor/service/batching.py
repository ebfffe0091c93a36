"""Feeds that finish close together share one archive transaction (issue 18).

    batch = Batcher(archive)
    await batch.save(lambda: pipeline.handle(feed, ...))   # returns once committed (or raises
                                                            # what that feed's handling raised)

A pass used to commit once per feed: SQLite's commit, and FTS5 writing its pending terms out
as a new segment (merged later), paid per feed. Here the first feed done opens a window of
WINDOW seconds; every feed done within it is handled, each in its own savepoint, and then all
are committed at once. A feed's articles and its outbox rows are still in one transaction
(the same one), and a feed is archived, and its alerts queued, at most WINDOW after it is done
(issue 14); a feed with new articles, as soon as the loop gets to it (`save(..., soon=True)`).
The handling runs on the event loop's thread without an await, so no other writer
of this connection (delivery's sent marks, a chat command) ever joins a batch's transaction
or waits for a pass's commit.

One feed's failure is that feed's: its savepoint is rolled back and its `save` raises; the
others commit. A StorageError (the archive cannot be written) fails every feed of the batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from monitor.archive.store import Archive
from monitor.errors import StorageError
from monitor.service.memory import TRIM_EVERY, trim

WINDOW = 0.1  # seconds from the first feed done to its batch's commit
# The loop is not held longer than this by one batch: its fetches in flight wait meanwhile.
# Feeds left over go in the next batch, at once.
MAX_HOLD = 0.25


class Batcher:
    """Handles finished feeds in batches, one transaction each (see the module docstring)."""

    def __init__(self, archive: Archive, window: float = WINDOW, max_hold: float = MAX_HOLD) -> None:
        self.archive, self.window, self.max_hold = archive, window, max_hold
        self._pending: list[tuple[Callable[[], None], asyncio.Future[None]]] = []
        self._timer: asyncio.Handle | None = None
        self._soon = False  # the timer is a call_soon
        self.commits = 0  # transactions committed, since the start

    async def save(self, step: Callable[[], None], soon: bool = False) -> None:
        """Run `step` (a feed's archive writes) in the next batch; return once it is committed.

        `soon` (a feed with new articles): its batch is saved as soon as the loop gets to it,
        with whatever else is waiting, instead of after the window. Placing its articles costs
        far more than a commit, and on a cold pass the loop (placing stories) is the slower
        stage: waiting for more feeds would leave it idle (issue 18: 0.1 s per batch, a third of
        a cold pass's wall time). The window still gathers what is cheap to handle and dear to
        commit alone: 304s, unchanged bodies, errors.

        Cancelled while it waits (a stop), the batch is saved at once: what was fetched and read
        is kept, as when each feed committed on its own."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((step, done))
        if soon and not self._soon:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._soon = loop.call_soon(self._flush), True
        elif self._timer is None:
            self._timer = loop.call_later(self.window, self._flush)
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
        """Save what is waiting, now."""
        if self._timer is not None:
            self._timer.cancel()
        while self._pending:
            self._flush()

    def _flush(self) -> None:
        self._timer, self._soon = None, False
        pending, self._pending = self._pending, []
        began = time.monotonic()
        handled: list[tuple[asyncio.Future[None], Exception | None]] = []
        try:
            with self.archive.transaction("save a batch of feeds"):
                for at, (step, done) in enumerate(pending):
                    if handled and time.monotonic() - began > self.max_hold:
                        self._pending[:0] = pending[at:]  # the rest: the next batch, at once
                        pending = pending[:at]
                        break
                    handled.append((done, _attempt(self.archive, step)))
        except BaseException as exc:  # the commit, or a StorageError: every feed of the batch
            failure = exc if isinstance(exc, StorageError) else StorageError(f"cannot save: {exc}")
            for _, done in pending:
                if not done.done():
                    done.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
        else:
            self.commits += 1
            if self.commits % TRIM_EVERY == 0:  # free memory between a pass's feeds, handed back
                trim()
            for done, error in handled:
                if not done.done():
                    done.set_result(None) if error is None else done.set_exception(error)
        if self._pending and self._timer is None:
            self._timer, self._soon = asyncio.get_running_loop().call_soon(self._flush), True


def _attempt(archive: Archive, step: Callable[[], None]) -> Exception | None:
    """One feed's writes in a savepoint: rolled back alone when they raise (a StorageError is
    raised on: the archive, not the feed, is at fault)."""
    try:
        with archive.transaction("save a feed"):
            step()
    except StorageError:
        raise
    except Exception as exc:
        return exc
    return None
