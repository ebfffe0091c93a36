"""A pass's late news is placed in the order it was published, not the order its feeds answered.

    backlog = Backlog(since=the pass's start, save=handle one feed)
    await backlog.save(feed, result, analysed)   # fresh news, or a first fetch: handled now;
                                                 # late news: held (flushed at HOLD_ARTICLES)
    await backlog.flush()                        # at the end of the pass: the held feeds, by
                                                 # their earliest new article's publication

Stories are decided report by report, and the first report of an event placed starts its
story and sends its alert. When news arrives as it is published (a service polling every few
minutes), that is the first report published. When a pass brings hours of news at once
(`monitor poll` from cron once a day, a service back after a night down), the feeds answer
in whatever order the network gives, and which report came "first" was chance: the same day
grouped in one order joined the reaction pieces to the news, and in another joined the news
to a reaction piece that happened to answer first, hiding the news's own alert
(bench/stories_real.py --orders: pair precision 0.944–0.957 and 0 to 4 events hidden over
three orders of one corpus). So a feed whose new articles were all published more than LATE
before the pass began waits until the pass's other feeds are done, and the waiting feeds are
then handled in the order of their earliest new article: the grouping of a backlog no longer
depends on the order feeds answer.

Fresh news never waits: a feed with an article published within LATE is handled as soon as it
is done (issue 14's latency). A feed's first fetch does not wait either (its items are its back
catalogue, and a cold pass of a thousand new feeds must not hold them all in memory), nor
does more than HOLD_ARTICLES articles at once: the feeds held are then handled at once, in
order. A pass stopped before its end saves no held feed: their validators were not recorded,
so they are fetched and read again by the next pass (nothing is lost).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from monitor.errors import FetchError, ParseError, StorageError
from monitor.service.workers import AnalysedFeed, HeldFeed
from monitor.types import FeedForUpdate, FetchedFeed

LATE = timedelta(hours=1)  # an article published this long before its pass began is late news
HOLD_ARTICLES = 1_000  # late articles held at most (about 20 KB each, analysed), then handled

Analysis = AnalysedFeed | HeldFeed | ParseError | None  # a feed's (HeldFeed: pickled until saved)
Written = Callable[[], None]  # told (on the loop) once a feed's articles are written, before its commit
Save = Callable[[FeedForUpdate, FetchedFeed | FetchError, Analysis, Written | None], Awaitable[None]]
Failed = Callable[[str, Exception], None]  # (feed key, error): a held feed's unexpected error


class Backlog:
    """Holds the feeds of late news until flush(), then saves them in publication order."""

    def __init__(self, since: datetime, save: Save, failed: Failed) -> None:
        self.since = since - LATE  # published before this: late
        self._save, self._failed = save, failed
        self._held: list[tuple[datetime, str, FeedForUpdate, FetchedFeed, AnalysedFeed | HeldFeed]] = []
        self._articles = 0
        self._flushing = asyncio.Lock()  # one flush at a time: the held feeds in one order
        self.held = 0  # feeds held this pass (for tests and the report)

    def late(self, feed: FeedForUpdate, analysed: Analysis) -> datetime | None:
        """The earliest publication of the feed's new articles if all are late news, else None."""
        if feed.new or not isinstance(analysed, AnalysedFeed | HeldFeed):
            return None
        span = analysed.span  # None: no new article, or one undated
        if span is None or span[1] >= self.since:
            return None
        return span[0]

    async def save(
        self,
        feed: FeedForUpdate,
        result: FetchedFeed | FetchError,
        analysed: Analysis,
        written: Written | None = None,
    ) -> None:
        """`written`: called once the feed is written, if it is saved now (not held)."""
        earliest = self.late(feed, analysed)
        if (
            earliest is None
            or not isinstance(result, FetchedFeed)
            or not isinstance(analysed, AnalysedFeed | HeldFeed)
        ):
            await self._save(feed, result, analysed, written)
            return
        self._held.append((earliest, feed.key or feed.url, feed, result, analysed))
        self._articles += analysed.articles
        self.held += 1
        if self._articles >= HOLD_ARTICLES:
            await self.flush()

    async def flush(self) -> None:
        """Save the held feeds, earliest news first (ties: by feed URL). They are handed to
        `save` in that order at once, so that they share transactions (batching.py keeps the
        order it is given)."""
        async with self._flushing:
            while self._held:
                held = sorted(self._held, key=lambda h: (h[0], h[1]))
                self._held, self._articles = [], 0
                saves = [self._save(feed, result, analysed, None) for _, _, feed, result, analysed in held]
                outcomes = await asyncio.gather(*saves, return_exceptions=True)
                for (_, key, *_), outcome in zip(held, outcomes, strict=True):
                    if isinstance(outcome, StorageError | asyncio.CancelledError):
                        raise outcome  # the pass's
                    if isinstance(outcome, Exception):  # a bug this feed brings out: its error
                        self._failed(key, outcome)
