"""One pass over the feeds: the whole flow of an article, in one place.

    storage.feeds_for_update(due)          # which feeds, with their ETag/Last-Modified
      | fetch.fetch_feed                    # concurrent GETs → FetchedFeed | FetchError, each
                                            #   handled as soon as it arrives
      | analyse.Analyser                    # in worker processes when the pass is big:
          parse.parse_feed                  #   bytes → EntryData, or ParseError
          dedupe.entry_keys + known keys    #   drop articles already archived
          rules.match                       #   which rules fire, with which terms
          stories.fingerprint               #   what story grouping compares
      | grouping.Grouper.place              # which story (its profile is closest); a new story
                                            #   alerts, a report joining an archived one alerts for
                                            #   rules new to it and is an event (StoryJoined)
      | redraw.story_edits                  # that story's alert drawn again ("also reported by")
      | compose.compose_alert               # one alert per story per chat (channel-neutral)
      | routing.Router.route                # send now, or hold for a digest (mute, quiet, burst)
      | storage.save_update                 # articles + stories + matches + outbox: one transaction,
                                            #   shared by the feeds done within 0.1 s (batching.py);
                                            #   the index rows written behind (archive/behind.py)
    then deliver.deliver_pending sends the outbox, each notifier rendering its own format (deliver.py).

A broken feed is an error value recorded on its row; it never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

import httpx

from monitor.alerts.redraw import story_edits
from monitor.alerts.routing import Router, alerts_for
from monitor.archive.feeds import CHURN_PASSES
from monitor.archive.store import Archive
from monitor.config.values import redact_urls
from monitor.errors import BudgetExceeded, FeedError, FetchError, ParseError, StorageError
from monitor.ingest.fetch import HostLimits, fetch_feed
from monitor.ingest.parse import located
from monitor.ingest.schedule import CheckResult, Decision, plan
from monitor.rules.matcher import RuleSet
from monitor.service.backlog import Backlog
from monitor.service.batching import Batcher
from monitor.service.grouping import Grouper
from monitor.service.memory import release_memory
from monitor.service.workers import Analysed, AnalysedFeed, Analyser, HeldFeed, loaded
from monitor.stories.lookup import FingerprintCache, ProfileCache
from monitor.types import (
    AlertIntent,
    Config,
    FeedForUpdate,
    FetchedFeed,
    NewArticle,
    Notice,
    StoryEdit,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
CHURN_EDIT_EVERY = timedelta(hours=1)  # a churning feed edits one story's alert at most this often
JOIN_EVERY = 1.0  # seconds: how often a following pass looks for feeds come due since it began


@dataclass
class PassReport:
    feeds: int = 0  # feeds fetched
    not_modified: int = 0  # answered 304
    new_articles: int = 0  # archived this pass
    alerts: int = 0  # queued this pass
    matches: int = 0  # rule matches among the new articles
    errors: list[FeedError] = field(default_factory=list)  # one per failed feed
    suspended: list[tuple[str, str]] = field(default_factory=list)  # (feed, why) suspended this pass
    notes: list[tuple[str, str]] = field(default_factory=list)  # (feed, what was left out) this pass
    in_workers: int = 0  # bodies analysed in worker processes (analyse.py), the rest in-process
    cut_short: int = 0  # feeds not handled when the pass was stopped (0 for a pass that ended)
    backfilled: int = 0  # old items of new feeds archived without an alert ([alerts] backfill)
    churning: list[str] = field(default_factory=list)  # feeds found churning this pass (all items new)
    seconds: float = 0.0  # wall time of the pass


@dataclass(frozen=True)
class Pipeline:
    config: Config
    archive: Archive
    rules: RuleSet
    client: httpx.AsyncClient
    clock: Clock
    analyser: Analyser
    rng: random.Random = field(default_factory=random.Random)  # the schedule's jitter
    fingerprints: FingerprintCache = field(default_factory=FingerprintCache)  # archived ones, parsed
    profiles: ProfileCache = field(default_factory=ProfileCache)  # archived story profiles, parsed

    async def run_pass(
        self,
        only_due: bool = False,
        report: PassReport | None = None,
        on_alerts: Callable[[], None] | None = None,
        follow: bool = False,
    ) -> PassReport:
        """Fetch the due feeds (or all), and handle each as soon as its answer arrives.

        With `follow` (the service), a feed that comes due while the pass runs joins it (looked
        for every JOIN_EVERY seconds) instead of waiting for the pass to end: a pass over
        hundreds of feeds, or one slow feed, does not make the next feed late. Feeds join only
        while the pass's own feeds are in flight, so every pass ends.

        Each feed is on its own clock: its articles are archived and its alerts queued (then
        `on_alerts` called) as soon as it is done (with the feeds done within the same 0.1 s:
        batching.py), never after a slower neighbour; the order within a feed stays the feed's.
        Late news waits for the pass's end, then goes in publication order (backlog.py). Bodies
        held at once are bounded (fetches in flight plus those waiting to be analysed), so a
        pass over thousands of feeds needs the memory of a few dozen. Cancelled (a stop), the
        feeds already handled stay archived and `report`, when the caller passed one, counts
        those cut short."""
        started = time.monotonic()
        feeds = self.archive.feeds_for_update(self.clock() if only_due else None)
        report = report if report is not None else PassReport()
        report.feeds = len(feeds)
        report.cut_short = len(feeds)
        settings = self.config.fetch
        limits = HostLimits.from_settings(settings)
        held = asyncio.Semaphore(max(1, settings.concurrency))  # fetches, bodies waiting for `ready`
        pooled = self.analyser.use_workers(len(feeds))
        if pooled:  # a big pass: the story index is read in a thread while the first fetches wait
            self.archive.preload_stories()
        # Feeds analysed or waiting to be saved: a body of 90 KB is ten times that analysed, and
        # placing stories is the slower stage. Enough to keep every process busy, and no more.
        ready = asyncio.Semaphore(self.analyser.in_flight())
        batch = Batcher(self.archive)
        in_workers = self.analyser.in_workers
        saved = partial(self.save_soon, batch, report=report, on_alerts=on_alerts)
        backlog = Backlog(self.clock(), saved, partial(self.fail_unexpectedly, report=report, done=True))

        async def work(feed: FeedForUpdate) -> None:
            async with limits.host(feed.url):
                await held.acquire()
                try:
                    result = await fetch_feed(self.client, feed, settings)
                except BaseException:
                    held.release()
                    raise
            fetching = True  # `held` is ours until the body is in `ready`'s hands (or not needed)
            analysing = False
            try:
                analysed = None
                if isinstance(result, FetchedFeed) and not result.not_modified and result.body is not None:
                    digest = hashlib.blake2b(result.body, digest_size=16).hexdigest()
                    result = replace(result, body_hash=digest, unchanged=digest == feed.body_hash)
                if isinstance(result, FetchedFeed) and not result.not_modified and result.body is not None:
                    key = feed.key or feed.url
                    headers = located(result.headers, result.final_url)  # relative links resolve there
                    await ready.acquire()
                    analysing = True
                    held.release()  # the body is `ready`'s to bound now: the next fetch may start
                    fetching = False
                    analysed = await self.analyser(key, result.body, headers, self.clock(), pooled, feed.name)
                    result = replace(result, body=None)  # read: not held while it waits to be saved
            except BaseException:
                if fetching:
                    held.release()
                if analysing:
                    ready.release()
                raise
            # A 304 (or an error) holds nothing: its slot goes to the next fetch at once. Analysed
            # articles keep their `ready` slot until written (so they do not pile up in memory),
            # not until their batch commits: the batch takes feeds done meanwhile (batching.py).
            if fetching:
                held.release()

            def written() -> None:
                nonlocal analysing
                if analysing:
                    analysing = False
                    ready.release()

            try:
                await backlog.save(feed, result, analysed, written)  # now, or held if late news
            finally:
                written()

        left = [len(feeds)]  # the pass's own feeds not done yet
        done = asyncio.Event()
        in_flight = {feed.url for feed in feeds}

        async def one(feed: FeedForUpdate, own: bool = True) -> None:
            try:
                await work(feed)
            except (StorageError, asyncio.CancelledError):
                raise
            except Exception as exc:
                # A bug one feed's content or answer brings out is that feed's error, never the
                # pass's (issue 20: an OverflowError from a Retry-After cancelled every feed).
                self.fail_unexpectedly(feed.key or feed.url, exc, report, done=True)
            finally:
                in_flight.discard(feed.url)  # after its handling planned its next check
                left[0] -= own
                if not left[0]:
                    done.set()

        # A TaskGroup: what is not one feed's fault (the archive, a cancellation) cancels the
        # rest instead of orphaning them.
        try:
            async with asyncio.TaskGroup() as group:
                for feed in feeds:
                    group.create_task(one(feed))
                while follow and left[0]:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(done.wait(), JOIN_EVERY)
                    if not left[0]:
                        break
                    due = self.archive.feeds_for_update(self.clock())
                    joining = [f for f in due if f.url not in in_flight]
                    in_flight.update(f.url for f in joining)
                    report.feeds += len(joining)
                    report.cut_short += len(joining)
                    for feed in joining:
                        group.create_task(one(feed, own=False))
            await backlog.flush()  # the late news held
        except* StorageError as failed:
            # An archive that cannot be written (locked, full, read-only) is no one feed's fault:
            # the pass stops, as one error. A feed whose save failed kept its old ETag: fetched again.
            raise failed.exceptions[0] from None
        finally:
            batch.close()  # no batch is being saved once the pass is over
            report.in_workers = self.analyser.in_workers - in_workers
            report.seconds = time.monotonic() - started
        release_memory(report.new_articles)
        return report

    async def save_soon(
        self,
        batch: Batcher,
        feed: FeedForUpdate,
        result: FetchedFeed | FetchError,
        analysed: AnalysedFeed | HeldFeed | ParseError | None,
        written: Callable[[], None] | None,
        report: PassReport,
        on_alerts: Callable[[], None] | None,
    ) -> None:
        """Handle the feed with the others done within batching.WINDOW, in one transaction; then
        wake delivery if it queued alerts. `written` is called on the loop once the feed's
        writes are made (before their commit)."""
        queued = 0
        loop = asyncio.get_running_loop()

        def save() -> Callable[[], None]:  # in the archive's thread (batching.py): reads, placement
            write = self.prepare(feed, result, loaded(analysed), report)  # unpickled only now (HeldFeed)

            def writes() -> None:  # then the writes, in the feed's savepoint
                nonlocal queued
                alerts = report.alerts
                write()
                queued = report.alerts - alerts
                if written is not None:
                    with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: nothing waits
                        loop.call_soon_threadsafe(written)

            return writes

        await batch.save(save, soon=isinstance(analysed, AnalysedFeed | HeldFeed) and analysed.articles > 0)
        report.cut_short -= 1  # here, on the loop's thread, as every other change to it
        if on_alerts is not None and queued:
            on_alerts()

    def prepare(
        self,
        feed: FeedForUpdate,
        result: FetchedFeed | FetchError,
        analysed: AnalysedFeed | ParseError | None,
        report: PassReport,
    ) -> Callable[[], None]:
        """A feed's handling in two halves: this one reads the archive and places the articles
        (writing nothing), the one it returns writes them with the feed's new state. The batch
        (batching.py) runs the second in the feed's savepoint, while the previous feed's index
        rows are still being written behind (archive/behind.py)."""
        key = feed.key or feed.url
        now = self.clock()
        if isinstance(result, FetchError):
            check = CheckResult(False, result.status, retry_after=result.retry_after)
            return partial(self.fail, key, result, report, check)
        if analysed is None:  # 304, or the same body again: the schedule treats both as unchanged
            return partial(self.not_modified, key, result, now, report)
        if isinstance(analysed, BudgetExceeded):
            # Kept: the body's hash and validators, so the same body is not read again (and
            # does not hang the next pass, nor the one after a restart); a new body is.
            return partial(
                self.fail, key, analysed, report, CheckResult(False, result.status, result.headers), result
            )
        if isinstance(analysed, ParseError):
            return partial(
                self.fail, key, analysed, report, CheckResult(False, result.status, result.headers)
            )
        parsed = analysed.feed
        if parsed.skipped:
            report.notes.append(
                (key, f"{parsed.skipped:,} older items not read this pass (over [fetch] max_items)")
            )
        decision = self.plan(key, CheckResult(True, result.status, result.headers, ttl=parsed.ttl), now)
        # Every item new, pass after pass: the feed rewrites its GUIDs and links (issue 20, item 13).
        all_new = analysed.items > 0 and len(analysed.fresh) == analysed.items and not feed.new
        churn = feed.churn + 1 if all_new else 0
        # every article has an outlet (its own <source>, else the feed's name, else its title's
        # outlet): credited where the feed was analysed (parsing.describe_fresh)
        articles, edits, held_back, known = self.new_articles(
            analysed.fresh, now, self.backfill_horizon(feed, now)
        )
        if churn >= CHURN_PASSES:
            edits = self.rationed(edits, now)

        def write() -> None:
            report.backfilled += held_back
            report.new_articles += self.archive.save_update(
                key, result, parsed.title, articles, now, decision, edits, parsed.ttl, parsed.warning, known
            )
            report.alerts += sum(len(alerts) for _, alerts in articles)
            report.matches += sum(len(article.matches) for article, _ in articles)
            if churn != feed.churn:
                self.archive.set_churn(key, churn)
            if churn == CHURN_PASSES:
                report.churning.append(key)

        return write

    def not_modified(self, key: str, result: FetchedFeed, now: datetime, report: PassReport) -> None:
        decision = self.plan(key, CheckResult(True, 304, result.headers), now)
        self.archive.feed_not_modified(key, result, now, decision)
        report.not_modified += 1

    def rationed(self, edits: list[StoryEdit], now: datetime) -> list[StoryEdit]:
        """A churning feed's story edits: at most one per alert per CHURN_EDIT_EVERY (the
        newest text), so its endless "new" copies do not redraw a story's alert every pass."""
        latest = {edit.alert_id: edit for edit in edits}
        recent = self.archive.edited_since(list(latest), now - CHURN_EDIT_EVERY)
        return [edit for alert_id, edit in latest.items() if alert_id not in recent]

    def backfill_horizon(self, feed: FeedForUpdate, now: datetime) -> datetime | None:
        """On a feed's first successful fetch, items published before this are not alerted: a new
        feed's back catalogue is archived and searchable, not sent ([alerts] backfill)."""
        backfill = self.config.alerts.backfill
        if not feed.new or backfill is None:
            return None
        return now - timedelta(seconds=backfill)

    def plan(self, key: str, result: CheckResult, now: datetime) -> Decision:
        history = self.archive.feed_history(key, self.config.schedule.interval)
        if result.ok and result.status == 304:
            result = replace(result, ttl=history.ttl)  # unchanged feed, unchanged <ttl>
        return plan(self.config.schedule, history, result, now, self.rng)

    def fail(
        self,
        key: str,
        error: FeedError,
        report: PassReport,
        result: CheckResult,
        fetched: FetchedFeed | None = None,
    ) -> None:
        # Report under the configured URL, whatever address the fetch used; a URL in the
        # message (a redirect's) without its credentials, as stored and shown.
        error.url = key
        error.message = redact_urls(error.message)
        now = self.clock()
        decision = self.plan(key, result, now)
        self.archive.feed_error(key, error.message, now, decision, fetched)
        report.errors.append(error)
        if decision.suspend:
            report.suspended.append((key, decision.suspend))
            admin = self.config.telegram.admin_chat
            if admin and self.config.telegram.token:
                self.archive.queue_notice(admin, Notice(key, error.message, decision.suspend), now)

    def fail_unexpectedly(self, key: str, exc: Exception, report: PassReport, done: bool = False) -> None:
        """An exception nothing expected, as the feed's error: its next check as after any error,
        or, when planning it is what failed, after the default interval (`done`: not cut short)."""
        report.cut_short -= done
        error = FeedError(
            key, f"could not be handled: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        )
        log.warning("event=feed_bug feed=%s error=%r", key, error.message)
        try:
            self.fail(key, error, report, CheckResult(False, None))
        except StorageError:
            raise
        except Exception:
            now = self.clock()
            delay = self.config.schedule.interval
            decision = Decision(now + timedelta(seconds=delay), delay, "error", None)
            self.archive.feed_error(key, error.message, now, decision)
            if error not in report.errors:
                report.errors.append(error)

    def new_articles(
        self, fresh: Sequence[Analysed], now: datetime, horizon: datetime | None = None
    ) -> tuple[list[tuple[NewArticle, list[AlertIntent]]], list[StoryEdit], int, set[str]]:
        """The articles to archive with their alerts, the story alerts to redraw, how many were
        published before `horizon` (archived, grouped, but alerting nothing), and the identity
        keys archived (read once for save_update too: nothing writes keys in between)."""
        # Checked again here: another feed of this pass may have archived the same article.
        known = self.archive.known_keys(k for item in fresh for k in item.keys)
        grouper = Grouper(
            self.archive,
            self.config.stories,
            partial(alerts_for, self.config, self.rules),
            self.fingerprints,
            self.profiles,
        )
        grouper.learn_feed([item.entry.summary for item in fresh])
        placed = []
        held_back = 0
        for item in fresh:
            if known.intersection(item.keys):
                continue
            entry = item.entry
            joins = len(grouper.joins)
            place = grouper.place(entry, entry.outlet, item.matches, *item.for_grouping)
            old = horizon is not None and entry.published is not None and entry.published < horizon
            if old:  # back catalogue: no alert, and no story alert redrawn for it
                held_back += bool(place.alerts) or len(grouper.joins) > joins  # it would have alerted
                del grouper.joins[joins:]
                place = replace(place, alerts=[])
            article = NewArticle(
                entry=entry,
                url=item.url,
                keys=item.keys,
                first_seen=now,
                matches=item.matches,
                story=place.story,
                fingerprint=place.fingerprint,
                story_keys=place.keys,
                joined=place.joined,
            )
            placed.append((article, place.alerts))
        # Holds are decided last: a story's alerts may be redrawn while the batch is placed.
        router = Router(self.archive, self.config, now)
        routed = [(article, [router.route(alert) for alert in alerts]) for article, alerts in placed]
        names = {r.id: r.name for r in self.rules.rules}
        edits = [edit for joined in grouper.joins for edit in story_edits(self.archive, joined, names)]
        return routed, edits, held_back, known
