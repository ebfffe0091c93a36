"""The fault catalogue's harness: one fault, the real pipeline, and the invariants it must keep.

Every fault test does the same thing, so it is written once here::

    def test_x(faults, feed_server):
        url = feed_server.misbehave("/x.xml", "status", code=500)
        outcome = faults.run([url])              # a pass with the fault among good feeds
        outcome.failed_once(url, "HTTP 500")     # the fault, on that feed, in one line

``faults.run(urls, extra=...)``:

1. before the fault, a first pass archives a *witness* feed (seed 000) while the Bot API is
   down, so its alert is queued and waits in the outbox;
2. then the feeds under test join a *bystander* feed (seed 001) in a second pass, which
   must complete;
3. every invariant is checked on the way out: the witness article and its queued alert are
   still there, the bystander was archived and its alert queued, nothing is in the outbox
   twice, and every error is one line without a traceback, stored on its feed's row.

``Outcome.failed_once(url, *words)`` then asserts that the feed under test, and no other,
was reported, with each of ``words`` in its message (case-insensitive), and returns it.
``Outcome.ok(url)`` asserts that the feed was not reported and returns its articles' titles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.app import poll_once
from monitor.archive.store import Archive
from monitor.cli.demo import Item
from monitor.config.load import load_config
from monitor.service.pipeline import PassReport
from tests.conftest import rss

TOKEN = "123456:fault-catalogue-token"


@dataclass(frozen=True)
class Outcome:
    report: PassReport  # the pass with the fault in it
    errors: dict[str, str]  # feed URL -> its one-line error, as the pass reported it
    stored_errors: dict[str, str]  # feed URL -> feeds.last_error, as `monitor status` shows it
    titles: dict[str, list[str]]  # feed URL -> titles of its archived articles
    outbox: dict[str, int]  # alert status -> count, after the pass
    config: Path  # the config file, for a further pass or a CLI call

    def failed_once(self, url: str, *words: str) -> str:
        assert set(self.errors) == {url}, f"expected only {url} to fail: {self.errors}"
        message = self.errors[url]
        for word in words:
            assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
        return message

    def ok(self, url: str) -> list[str]:
        assert url not in self.errors, f"{url} failed: {self.errors[url]}"
        return self.titles.get(url, [])


class Faults:
    def __init__(self, feed_server, telegram_api, write_config, seeds: list[Item]) -> None:
        self.server, self.telegram, self.write_config = feed_server, telegram_api, write_config
        self.witness = feed_server.add("/faults/witness.xml", rss("Witness", seeds[0:1]))
        self.bystander_body = rss("Bystander", seeds[1:2])
        self.seeds = seeds

    def config(self, urls: Sequence[str], extra: str = "", fetch: str = "") -> Path:
        return self.write_config(
            [self.witness, *urls], telegram=self.telegram.bot_url, extra=extra, fetch=fetch
        )

    def poll(self, path: Path) -> PassReport:
        config = load_config(path, environ={"TELEGRAM_BOT_TOKEN": TOKEN})
        report, _delivery = asyncio.run(poll_once(config))
        return report

    def run(self, urls: Sequence[str], extra: str = "", fetch: str = "") -> Outcome:
        """`extra`: more config tables; `fetch`: more [fetch] keys."""
        self.telegram.down = True  # alerts queue and wait: the outbox must keep them
        self.poll(self.config([], extra, fetch))
        before = _snapshot(self.config([], extra, fetch))
        assert before.titles[self.witness] and before.outbox.get("pending") == 1, before

        bystander = self.server.add("/faults/bystander.xml", self.bystander_body)
        path = self.config([*urls, bystander], extra, fetch)
        report = self.poll(path)
        after = _snapshot(path)
        errors = {e.url: e.message for e in report.errors}
        for url, message in errors.items():
            assert "\n" not in message and "Traceback" not in message, message
            assert message in after.stored_errors.get(url, ""), (url, after.stored_errors)
        assert after.titles[self.witness] == before.titles[self.witness]
        assert after.titles.get(bystander), "the bystander feed was not archived"
        assert after.outbox.get("pending", 0) >= 2, after.outbox
        return Outcome(report, errors, after.stored_errors, after.titles, after.outbox, path)


@dataclass(frozen=True)
class _Snapshot:
    titles: dict[str, list[str]]
    stored_errors: dict[str, str]
    outbox: dict[str, int]


def _snapshot(config_path: Path) -> _Snapshot:
    archive = Archive.open(load_config(config_path, environ={}).storage_path, create=False)
    try:
        titles: dict[str, list[str]] = {}
        for row in archive.db.execute("select feed, title from articles order by id"):
            titles.setdefault(row[0], []).append(row[1])
        stored = {r["url"]: r["last_error"] for r in archive.db["feeds"].rows if r["last_error"]}
        # An alert in the outbox twice would be a double send in waiting.
        doubled = archive.db.execute(
            "select article_id, chat_id, count(*) from alerts group by 1, 2 having count(*) > 1"
        ).fetchall()
        assert not doubled, f"alerts queued twice: {doubled}"
        return _Snapshot(titles, stored, archive.outbox_counts())
    finally:
        archive.close()


@pytest.fixture
def faults(feed_server, telegram_api, write_config, seeds) -> Faults:
    return Faults(feed_server, telegram_api, write_config, seeds)
