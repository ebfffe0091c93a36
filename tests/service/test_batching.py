"""Feeds done together share one archive transaction (service/batching.py), on a real SQLite file."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.archive.store import Archive
from monitor.errors import StorageError
from monitor.ingest.schedule import Decision
from monitor.service.batching import Batcher, Step
from monitor.types import EntryData, FeedConfig, FetchedFeed, NewArticle

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
FEEDS = [f"https://feed{n}.example/rss" for n in range(4)]


def saving(archive: Archive, feed: str, n: int) -> Step:
    """A feed's handling as Pipeline.prepare makes it: nothing to read here; its writes, one
    article and the feed's new state."""
    entry = EntryData(
        feed_url=feed,
        title=f"Report {n}",
        summary="Text.",
        link=f"https://example.org/{n}",
        guid=None,
        published=NOW,
    )
    article = NewArticle(entry=entry, url=entry.link, keys=(f"url:{entry.link}",), first_seen=NOW, matches=())
    fetched = FetchedFeed(url=feed, final_url=feed, status=200, body=None, headers={}, etag=f'"{n}"')
    decision = Decision(NOW + timedelta(minutes=15), 900, "interval", None)
    return lambda: lambda: archive.save_update(feed, fetched, None, [(article, [])], NOW, decision)


def failing(archive: Archive, feed: str, n: int) -> Step:
    """A feed whose writes are made, then its handling fails."""

    def write() -> None:
        saving(archive, feed, n)()()
        raise ValueError("a bug this feed's content brings out")

    return lambda: write


@pytest.fixture
def archive(tmp_path: Path):
    archive = Archive.open(tmp_path / "monitor.db")
    archive.sync_feeds([FeedConfig(url) for url in FEEDS], NOW)
    yield archive
    archive.close()


def committed(path: Path) -> int:
    """Articles another connection sees: what is committed."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute("select count(*) from articles").fetchone()[0])


def test_feeds_done_within_the_window_share_one_commit(archive: Archive) -> None:
    async def run() -> Batcher:
        batch = Batcher(archive, window=0.05)
        await asyncio.gather(*(batch.save(saving(archive, feed, n)) for n, feed in enumerate(FEEDS)))
        return batch

    batch = asyncio.run(run())
    assert batch.commits == 1
    assert committed(archive.path) == len(FEEDS)
    assert [archive.db["feeds"].get(feed)["etag"] for feed in FEEDS] == [f'"{n}"' for n in range(4)]


def test_save_returns_only_once_its_feed_is_committed(archive: Archive) -> None:
    async def run() -> int:
        batch = Batcher(archive, window=0.05)
        await batch.save(saving(archive, FEEDS[0], 0))
        return committed(archive.path)  # read by another connection the moment save returns

    assert asyncio.run(run()) == 1


def test_one_feeds_failure_is_its_own_and_the_others_commit(archive: Archive) -> None:
    broken = failing(archive, FEEDS[1], 1)  # written, then the feed's handling fails

    async def run() -> list[BaseException | None]:
        batch = Batcher(archive, window=0.05)
        steps = [saving(archive, FEEDS[0], 0), broken, saving(archive, FEEDS[2], 2)]
        return await asyncio.gather(*(batch.save(step) for step in steps), return_exceptions=True)

    outcomes = asyncio.run(run())
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert committed(archive.path) == 2  # the broken feed's article rolled back with its savepoint
    assert archive.known_keys(["url:https://example.org/1"]) == set()
    assert archive.db["feeds"].get(FEEDS[1])["etag"] is None  # fetched again next time


def test_a_first_feed_that_fails_takes_only_its_own_writes_with_it(archive: Archive) -> None:
    """The first feed of a batch is saved without a savepoint (Archive.bare): when it fails, its
    transaction is rolled back whole, and the feeds after it go in another, committed."""

    broken = failing(archive, FEEDS[0], 0)

    async def run() -> tuple[list[BaseException | None], int]:
        batch = Batcher(archive, window=0.05)
        steps = [broken, saving(archive, FEEDS[1], 1), saving(archive, FEEDS[2], 2)]
        outcomes = await asyncio.gather(*(batch.save(step) for step in steps), return_exceptions=True)
        return outcomes, batch.commits

    outcomes, commits = asyncio.run(run())
    assert isinstance(outcomes[0], ValueError) and outcomes[1:] == [None, None]
    assert commits == 1
    assert committed(archive.path) == 2
    assert archive.known_keys(["url:https://example.org/0"]) == set()
    assert archive.db["feeds"].get(FEEDS[0])["etag"] is None  # fetched again next time
    assert [archive.db["feeds"].get(feed)["etag"] for feed in FEEDS[1:3]] == ['"1"', '"2"']


def test_a_feed_alone_in_its_batch_fails_without_a_trace(archive: Archive) -> None:
    broken = failing(archive, FEEDS[0], 0)

    async def run() -> None:
        await Batcher(archive, window=0.01).save(broken)

    with pytest.raises(ValueError):
        asyncio.run(run())
    assert committed(archive.path) == 0
    assert archive.db["feeds"].get(FEEDS[0])["etag"] is None
    assert not archive.conn.in_transaction


def test_only_the_feeds_after_the_first_are_saved_in_savepoints(archive: Archive) -> None:
    """A savepoint copies every page its writes change, to undo them alone: the first feed of a
    transaction has nothing to be kept apart from, and is saved without one."""
    statements: list[str] = []
    archive.conn.set_trace_callback(statements.append)

    async def run(feeds: list[int]) -> None:
        batch = Batcher(archive, window=0.05)
        await asyncio.gather(*(batch.save(saving(archive, FEEDS[n], n)) for n in feeds))

    asyncio.run(run([0]))
    assert not [s for s in statements if s.upper().startswith("SAVEPOINT")]
    assert committed(archive.path) == 1
    statements.clear()
    asyncio.run(run([1, 2, 3]))
    opened = [s for s in statements if s.upper().startswith("SAVEPOINT")]
    # the second and third feeds: a savepoint each (save_update opens none inside it), the first none
    first = next(i for i, s in enumerate(statements) if "insert into articles " in s)
    assert not [s for s in statements[:first] if s.upper().startswith("SAVEPOINT")]
    assert len(opened) == 2
    assert committed(archive.path) == 4


def test_bare_is_for_an_open_transaction(archive: Archive) -> None:
    with pytest.raises(RuntimeError):
        with archive.bare():
            pass


def test_an_archive_that_cannot_be_written_fails_every_feed_of_the_batch(archive: Archive) -> None:
    archive.db.execute(
        "create trigger full before insert on articles when new.title = 'Report 1'"
        " begin select raise(abort, 'database or disk is full'); end"
    )

    async def run() -> list[BaseException | None]:
        batch = Batcher(archive, window=0.05)
        steps = [saving(archive, FEEDS[0], 0), saving(archive, FEEDS[1], 1)]
        return await asyncio.gather(*(batch.save(step) for step in steps), return_exceptions=True)

    outcomes = asyncio.run(run())
    assert all(isinstance(outcome, StorageError) for outcome in outcomes)
    assert committed(archive.path) == 0


def _cancel_a_waiting_save(archive: Archive) -> None:
    """One feed's save waits for its batch (a minute's window) and is cancelled meanwhile."""

    async def run() -> None:
        batch = Batcher(archive, window=60)  # would wait a minute
        task = asyncio.create_task(batch.save(saving(archive, FEEDS[0], 0)))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())


def test_a_cancelled_wait_saves_the_batch_at_once(archive: Archive) -> None:
    """A stop while feeds wait for their commit: what was fetched and read is kept."""

    _cancel_a_waiting_save(archive)
    assert committed(archive.path) == 1


def test_a_cancelled_wait_on_a_batch_that_fails_leaves_no_unread_error(archive: Archive, caplog) -> None:
    """A pass stopped by one feed's StorageError cancels the feeds still waiting: their batch
    then fails too, and asyncio must not print that failure, with a traceback, as a future's
    exception never retrieved (the pass has already said it in one line)."""
    archive.db.execute(
        "create trigger full before insert on articles when new.title = 'Report 0'"
        " begin select raise(abort, 'database or disk is full'); end"
    )

    _cancel_a_waiting_save(archive)
    gc.collect()  # a future's unread exception is reported when the future is collected
    assert committed(archive.path) == 0
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()], caplog.text


def test_a_feed_with_new_articles_does_not_wait_for_the_window(archive: Archive) -> None:
    """`soon`: saved when the loop gets to it, with what else waits (issue 18: a cold pass's loop
    sat idle for the window between batches). Here a window of an hour would never end."""

    async def run() -> tuple[Batcher, int]:
        batch = Batcher(archive, window=3600)
        waiting = asyncio.ensure_future(batch.save(saving(archive, FEEDS[0], 0)))  # a 304's, say
        await asyncio.sleep(0)
        await asyncio.wait_for(batch.save(saving(archive, FEEDS[1], 1), soon=True), 60)
        await asyncio.wait_for(waiting, 60)  # it went with it, in the same commit
        return batch, committed(archive.path)

    batch, saved = asyncio.run(run())
    assert (batch.commits, saved) == (1, 2)


def test_the_event_loop_goes_on_while_a_batch_is_saved(archive: Archive) -> None:
    """A batch is saved in a thread of its own (issue 18: placing a changed feed's stories on the
    loop stopped every fetch in flight), holding the archive's lock through its transaction, so
    a user of the connection on the loop's thread (delivery, a chat command) waits for the
    commit instead of writing inside it. Here the batch's step waits for the loop: on the loop's
    own thread it would wait in vain (until its 30 s guard) and the test fail."""
    started, loop_ran = threading.Event(), threading.Event()
    waited: list[bool] = []

    def write() -> None:
        saving(archive, FEEDS[0], 0)()()
        started.set()
        waited.append(loop_ran.wait(30))

    def step() -> Callable[[], None]:
        return write

    async def run() -> bool:
        batch = Batcher(archive, window=0.01)
        saved = asyncio.ensure_future(batch.save(step, soon=True))
        await asyncio.to_thread(started.wait, 30)
        free = archive.lock.acquire(blocking=False)  # the batch's transaction is open: not free
        if free:
            archive.lock.release()
        loop_ran.set()  # on the loop's thread, while the batch is still being saved
        await saved
        batch.close()
        return free

    assert asyncio.run(run()) is False
    assert waited == [True]
    assert committed(archive.path) == 1


def test_a_saved_batch_keeps_nothing_of_its_feeds(archive: Archive) -> None:
    """Once a feed is saved, nothing of the batch refers to its step (and so to its analysed
    articles) without waiting for the garbage collector: a reference cycle through the writer
    thread's future kept a cold pass's batches alive, 12 MB more at its peak (issue 18)."""

    class Articles:  # stands for a feed's analysed articles, which a step refers to
        pass

    async def run() -> bool:
        batch = Batcher(archive, window=0.01)
        articles = Articles()
        kept = weakref.ref(articles)
        write = saving(archive, FEEDS[0], 0)()

        def step(articles: Articles = articles) -> Callable[[], None]:
            return write

        await batch.save(step, soon=True)
        batch.close()  # its thread gone (it held the step until its task's end)
        del step, articles
        return kept() is not None

    gc.disable()
    try:
        alive = asyncio.run(run())
    finally:
        gc.enable()
    assert not alive
    assert committed(archive.path) == 1


def test_feeds_done_while_a_batch_is_written_join_it(archive: Archive) -> None:
    """The writer's thread takes the feeds done while it writes a batch into the same transaction
    (until max_hold): a cold pass's batch does not end, its index rows written with nothing
    placed beside them (archive/behind.py), each time a feed comes a moment late."""
    started, release = threading.Event(), threading.Event()

    def write() -> None:
        saving(archive, FEEDS[0], 0)()()
        started.set()
        release.wait(30)

    async def run() -> int:
        batch = Batcher(archive, window=0.01, max_hold=30)
        first = asyncio.ensure_future(batch.save(lambda: write, soon=True))
        await asyncio.to_thread(started.wait, 30)  # the batch is being written
        later = [asyncio.ensure_future(batch.save(saving(archive, FEEDS[n], n), soon=True)) for n in (1, 2)]
        await asyncio.sleep(0)
        release.set()
        await asyncio.wait_for(asyncio.gather(first, *later), 30)
        batch.close()
        return batch.commits

    assert asyncio.run(run()) == 1
    assert committed(archive.path) == 3


def test_index_rows_that_cannot_be_written_fail_every_feed_of_the_batch(archive: Archive) -> None:
    """A feed's full-text rows are written behind its placement (archive/behind.py), in the batch's
    transaction: when they cannot be, the archive is at fault, and nothing of the batch commits."""
    archive.db.execute("drop table articles_fts")  # the first feed's index rows will fail

    async def run() -> list[BaseException | None]:
        batch = Batcher(archive, window=0.05)
        steps = [saving(archive, FEEDS[n], n) for n in range(3)]
        return await asyncio.gather(*(batch.save(step) for step in steps), return_exceptions=True)

    outcomes = asyncio.run(run())
    assert all(isinstance(outcome, StorageError) for outcome in outcomes), outcomes
    assert "no such table: articles_fts" in str(outcomes[0])
    assert committed(archive.path) == 0
    assert not archive.conn.in_transaction
