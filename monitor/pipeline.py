"""One pass over the feeds: the whole flow of an article, in one place.

    storage.feeds_for_update(due)          # which feeds, with their ETag/Last-Modified
      | fetch.fetch_all                     # concurrent GETs → FetchedFeed | FetchError
      | parse.parse_feed                    # bytes → EntryData, or ParseError
      | dedupe.entry_keys + known_keys      # drop articles already archived
      | rules.match                         # which rules fire, with which terms
      | grouping.Grouper.place              # which story; a new story alerts, a joining
                                            #   report redraws its story's alert ("also reported by")
      | render.render_alert                 # one alert per story per chat
      | routing.Router.route                # send now, or hold for a digest (mute, quiet, burst)
      | storage.save_update                 # articles + stories + matches + outbox: one transaction
    then deliver.deliver_pending sends the outbox (see deliver.py).

A broken feed is an error value recorded on its row; it never stops the others.
"""

from __future__ import annotations

import html
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import httpx

from monitor import chats
from monitor.dedupe import entry_keys
from monitor.errors import FeedError, FetchError
from monitor.fetch import fetch_all
from monitor.grouping import Grouper
from monitor.parse import parse_feed
from monitor.render import render_alert
from monitor.routing import CONSOLE, Router, chats_for, top_priority
from monitor.rules import RuleSet
from monitor.schedule import CheckResult, Decision, plan
from monitor.storage import Archive
from monitor.types import (
    AlertIntent,
    Config,
    EntryData,
    FeedForUpdate,
    FetchedFeed,
    NewArticle,
    RuleMatch,
    StoryEdit,
)

Clock = Callable[[], datetime]
__all__ = ["CONSOLE", "PassReport", "Pipeline"]


@dataclass
class PassReport:
    feeds: int = 0  # feeds fetched
    not_modified: int = 0  # answered 304
    new_articles: int = 0  # archived this pass
    alerts: int = 0  # queued this pass
    matches: int = 0  # rule matches among the new articles
    errors: list[FeedError] = field(default_factory=list)  # one per failed feed
    suspended: list[tuple[str, str]] = field(default_factory=list)  # (feed, why) suspended this pass
    seconds: float = 0.0  # wall time of the pass


@dataclass(frozen=True)
class Pipeline:
    config: Config
    archive: Archive
    rules: RuleSet
    client: httpx.AsyncClient
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)  # the schedule's jitter

    async def run_pass(self, only_due: bool = False) -> PassReport:
        started = time.monotonic()
        feeds = self.archive.feeds_for_update(self.clock() if only_due else None)
        report = PassReport(feeds=len(feeds))
        results = await fetch_all(self.client, feeds, self.config.fetch)
        for feed, result in zip(feeds, results, strict=True):
            self.handle(feed, result, report)
        report.seconds = time.monotonic() - started
        return report

    def handle(self, feed: FeedForUpdate, result: FetchedFeed | FetchError, report: PassReport) -> None:
        key = feed.key or feed.url
        now = self.clock()
        if isinstance(result, FetchError):
            self.fail(key, result, report, CheckResult(False, result.status, retry_after=result.retry_after))
            return
        if result.not_modified or result.body is None:
            decision = self.plan(key, CheckResult(True, result.status, result.headers), now)
            self.archive.feed_not_modified(key, result, now, decision)
            report.not_modified += 1
            return
        parsed = parse_feed(key, result.body, result.headers)
        if isinstance(parsed, FeedError):
            self.fail(key, parsed, report, CheckResult(False, result.status, result.headers))
            return
        decision = self.plan(key, CheckResult(True, result.status, result.headers, ttl=parsed.ttl), now)
        articles, edits = self.new_articles(parsed.entries, feed.name or parsed.title, now)
        report.new_articles += self.archive.save_update(
            key, result, parsed.title, articles, now, decision, edits, parsed.ttl
        )
        report.alerts += sum(len(alerts) for _, alerts in articles)
        report.matches += sum(len(article.matches) for article, _ in articles)

    def plan(self, key: str, result: CheckResult, now: datetime) -> Decision:
        history = self.archive.feed_history(key, self.config.schedule.interval)
        if result.ok and result.status == 304:
            result = replace(result, ttl=history.ttl)  # unchanged feed, unchanged <ttl>
        return plan(self.config.schedule, history, result, now, self.rng)

    def fail(self, key: str, error: FeedError, report: PassReport, result: CheckResult) -> None:
        # Report under the configured URL, whatever address the fetch used.
        error.url = key
        now = self.clock()
        decision = self.plan(key, result, now)
        self.archive.feed_error(key, error.message, now, decision)
        report.errors.append(error)
        if decision.suspend:
            report.suspended.append((key, decision.suspend))
            admin = self.config.telegram.admin_chat
            if admin and self.config.telegram.token:
                self.archive.queue_notice(admin, suspension_notice(key, error.message, decision.suspend), now)

    def new_articles(
        self, entries: Sequence[EntryData], feed_name: str | None, now: datetime
    ) -> tuple[list[tuple[NewArticle, list[AlertIntent]]], list[StoryEdit]]:
        keyed = [(entry, *entry_keys(entry)) for entry in entries]
        known = self.archive.known_keys(k for _, _, keys in keyed for k in keys)
        grouper = Grouper(self.archive, self.config.stories, self.alerts_for, self.rule_names())
        fresh = []
        for entry, url, keys in keyed:
            if known.intersection(keys):
                continue
            known.update(keys)  # the same article twice in one feed is one article
            matches = self.rules.match(entry.title, entry.summary)
            place = grouper.place(entry, entry.outlet or feed_name, matches, entry.published or now)
            article = NewArticle(
                entry=entry,
                url=url,
                keys=keys,
                first_seen=now,
                matches=matches,
                story=place.story,
                fingerprint=place.fingerprint,
                story_keys=place.keys,
            )
            fresh.append((article, place.alerts))
        # Holds are decided last: a story's alerts may be redrawn while the batch is placed.
        router = Router(self.archive, self.config, now)
        routed = [(article, [router.route(alert) for alert in alerts]) for article, alerts in fresh]
        return routed, grouper.edits

    def rule_names(self) -> dict[str, str]:
        return {r.id: r.name for r in self.rules.rules}

    def alerts_for(
        self,
        entry: EntryData,
        outlet: str | None,
        matches: Sequence[RuleMatch],
        also: Sequence[tuple[str | None, str | None]] = (),
    ) -> list[AlertIntent]:
        """One alert per chat, listing every rule that sent the article there."""
        by_chat: dict[str, list[RuleMatch]] = {}
        for match in matches:
            for chat in chats_for(self.rules.get(match.rule_id), self.config):
                by_chat.setdefault(chat, []).append(match)
        names = self.rule_names()
        alerts = []
        for chat, ms in by_chat.items():
            priority = top_priority([self.priority(m.rule_id) for m in ms])
            alerts.append(
                AlertIntent(
                    chat_id=chat,
                    rule_ids=tuple(m.rule_id for m in ms),
                    text=render_alert(entry, outlet, ms, names, also),
                    silent=chats.is_silent(self.config.chat(chat), priority),
                    priority=priority,
                )
            )
        return alerts

    def priority(self, rule_id: str) -> str:
        rule = self.rules.get(rule_id)
        return rule.priority if rule else "normal"


def suspension_notice(feed: str, error: str, why: str) -> str:
    """The admin chat's message about a suspended feed (Telegram HTML)."""
    return (
        f"<b>Feed suspended</b>\n{html.escape(feed[:500])}\n{html.escape(why[:300])}\n"
        f"Last error: {html.escape(error[:500])}\n"
        f"<code>monitor feeds resume {html.escape(feed[:500])}</code> brings it back."
    )
