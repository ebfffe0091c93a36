"""Telegram's faults during delivery, through the real outbox, deliverer and notifier.

Alerts are queued by a real pass over a loopback feed (two chats: the desk gets the
semiconductor alerts, the rail desk the shinkansen ones), then delivered in rounds, as the
service's delivery job runs them, against the fake Bot API scripted to fail. A round uses
``deliver_pending`` with a TelegramNotifier of its own, so that a test can give it a short
timeout (``[telegram]`` has no timeout key: the app's notifier waits 10 s) and a sleep that
records flood-control waits instead of waiting them out. What each fault becomes (the
python-telegram-bot exception, as monitor.alerts.notify raises and maps it, and what delivery does):

    429 retry_after           RetryAfter*    -> RetryLater  -> wait it out, the same alert again
    400 can't parse entities  BadRequest     -> Rejected    -> the same alert again, as plain text
    403 bot blocked           Forbidden      -> ChatGone    -> chat disabled, its alerts kept
    502 JSON, 504 nginx page  NetworkError   -> Unavailable -> pending; retried after 30 s
    no answer in time         TimedOut       -> Unavailable -> pending; retried after 30 s
    closed without an answer  NetworkError** -> Unavailable -> pending; retried after 30 s

    *  notify's _Request raises its own _FloodControl in RetryAfter's place (RetryAfter's
       retry_after warns in python-telegram-bot 22); both map to RetryLater.
    ** wrapping httpx.RemoteProtocolError ("Server disconnected without sending a response.").

The two last may leave Telegram with the message while monitor never heard of it: the
retry is then a duplicate, the only one (test_an_alert_telegram_took_without_telling_us_...).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fakes.telegram_api import FakeTelegramAPI, SentMessage
from monitor.alerts.deliver import DeliveryReport, deliver_pending
from monitor.alerts.notify import TelegramNotifier
from monitor.app import open_app
from monitor.archive.sqltime import iso
from monitor.archive.store import Archive
from monitor.cli.demo import Item
from monitor.config.load import load_config
from monitor.errors import RetryLater, Unavailable
from tests.chatkit import items

DESK, RAIL = "1001", "-100200"
CHATS = (
    f'[[chats]]\nid = "{DESK}"\nburst = 100\n\n'
    f'[[chats]]\nid = "{RAIL}"\nname = "rail-desk"\nburst = 100\n'
)  # burst = 100: every alert goes alone, none into a digest
START = datetime(2026, 3, 6, 12, tzinfo=UTC)
TIMED_OUT = "Telegram timed out: Timed out"
DISCONNECTED = "Server disconnected without sending a response."
CANT_PARSE = 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 3'


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Scenario:
    """The config, the feed's items and the fake Bot API of one test, and delivery rounds."""

    def __init__(self, config: Path, feed: list[Item], api: FakeTelegramAPI) -> None:
        self.config, self.feed, self.api = config, feed, api
        self.clock = Clock()
        self.sleeps: list[float] = []  # flood-control waits asked for, in order

    def queue(self) -> None:
        """One pass: the feed is archived and its alerts queued; nothing is delivered."""
        config = load_config(self.config, environ={"TELEGRAM_BOT_TOKEN": self.api.token})

        async def main() -> None:
            async with open_app(config, self.clock) as app:
                await app.pipeline.run_pass(only_due=False)

        asyncio.run(main())
        assert self.outbox() == {"pending": len(self.feed)}

    def deliver(self, after: timedelta = timedelta(0), timeout: float = 10.0) -> DeliveryReport:
        """One delivery round, `after` the previous one, with a notifier of this timeout."""
        self.clock.now += after
        notifier = TelegramNotifier(self.api.token, self.api.bot_url, timeout=timeout)

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        async def main() -> DeliveryReport:
            try:
                with suppress(Unavailable, RetryLater):  # as the app: Telegram down at start is not fatal
                    await notifier.start()
                return await deliver_pending(archive, {}, notifier, self.clock, sleep)
            finally:
                await notifier.close()

        archive = self.archive()
        try:
            return asyncio.run(main())
        finally:
            archive.close()

    def archive(self) -> Archive:
        return Archive.open(load_config(self.config, environ={}).storage_path, create=False)

    def outbox(self) -> dict[str, int]:
        archive = self.archive()
        try:
            return archive.outbox_counts()
        finally:
            archive.close()

    def rows(self) -> dict[str, dict[str, Any]]:
        """Title of the alert's article -> its outbox row."""
        archive = self.archive()
        try:
            query = "select a.*, t.title from alerts a join articles t on t.id = a.article_id order by a.id"
            cursor = archive.db.execute(query)
            names = [column[0] for column in cursor.description]
            return {row[-1]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
        finally:
            archive.close()

    def queued(self, chat: str) -> list[str]:
        """The titles queued for a chat, in the outbox's order."""
        return [title for title, row in self.rows().items() if row["chat_id"] == chat]

    def title(self, text: str) -> str:
        (found,) = [item.title for item in self.feed if item.title in text]
        return found

    def received(self, chat: str) -> list[str]:
        """What the chat's users have seen, in order (a title twice is a duplicate)."""
        return [self.title(m.visible_text) for m in self.api.messages if m.chat_id == chat]

    def attempts(self) -> list[tuple[str, str]]:
        """Every sendMessage the fake saw, failed or not: (chat, title), in order."""
        return [(p["chat_id"], self.title(p["text"])) for m, p in self.api.calls if m == "sendMessage"]


@pytest.fixture
def scenario(chat_config, telegram_api: FakeTelegramAPI) -> Scenario:
    """Three alerts for each chat, interleaved in the feed, queued and not yet delivered."""
    chips, rail = items("semiconductor", 3), items("shinkansen", 3, start=3)
    feed = [item for pair in zip(chips, rail, strict=True) for item in pair]
    config = chat_config(CHATS, rail_chat='chat_id = "rail-desk"', feed=feed)
    found = Scenario(config, feed, telegram_api)
    found.queue()
    return found


def assert_each_delivered_once_in_order(scenario: Scenario) -> None:
    for chat in (DESK, RAIL):
        assert scenario.received(chat) == scenario.queued(chat), f"chat {chat}"
    rows = scenario.rows().values()
    assert {row["status"] for row in rows} == {"sent"}
    # The message id recorded is the one Telegram gave the (last) copy of that alert.
    last_ids = {(m.chat_id, scenario.title(m.visible_text)): str(m.message_id) for m in scenario.api.messages}
    assert {(r["chat_id"], r["title"]): r["message_id"] for r in rows} == last_ids


def assert_each_delivered_once_in_order_but(scenario: Scenario, twice: str) -> None:
    rows = scenario.rows()
    assert {row["status"] for row in rows.values()} == {"sent"}
    copies = [m for m in scenario.api.messages if scenario.title(m.visible_text) == twice]
    assert len(copies) == 2
    assert rows[twice]["message_id"] == str(copies[1].message_id), "the row names the copy it saw"


def test_flood_control_in_several_chats_waits_each_out_and_delivers_each_alert_once_in_order(
    scenario: Scenario, telegram_api: FakeTelegramAPI
) -> None:
    telegram_api.fail_next(1, status=429, retry_after=3, chat_id=RAIL)
    telegram_api.fail_next(2, status=429, retry_after=2, chat_id=DESK)
    telegram_api.fail_next(1, status=429, retry_after=1, chat_id=RAIL)
    report = scenario.deliver()
    assert (report.sent, report.failed, report.deferred, report.errors) == (6, 0, 0, [])
    assert_each_delivered_once_in_order(scenario)
    d, r = scenario.queued(DESK), scenario.queued(RAIL)
    # Each 429 is waited out for its retry_after, then the same alert goes again, before any other.
    assert scenario.attempts() == [
        (DESK, d[0]), (DESK, d[0]), (DESK, d[0]),  # 429 retry_after 2, again 2, sent
        (RAIL, r[0]), (RAIL, r[0]), (RAIL, r[0]),  # 429 retry_after 3, then 1, sent
        (DESK, d[1]), (RAIL, r[1]), (DESK, d[2]), (RAIL, r[2]),
    ]  # fmt: skip
    assert scenario.sleeps == [2.0, 2.0, 3.0, 1.0]


def test_a_flood_wait_too_long_for_the_round_keeps_that_chat_in_order(
    scenario: Scenario, telegram_api: FakeTelegramAPI
) -> None:
    """A retry_after over a minute defers the alert to then; the chat's later alerts must not
    overtake it in the rounds between (the service delivers every 5 s), other chats go on."""
    telegram_api.fail_next(1, status=429, retry_after=120, chat_id=RAIL)
    first = scenario.deliver()
    r = scenario.queued(RAIL)
    assert first.sent == 1 and first.errors == [
        f"alert {scenario.rows()[r[0]]['id']} to chat {RAIL} deferred: Telegram flood control: retry in 120 s"
    ]
    row = scenario.rows()[r[0]]
    assert row["status"] == "pending" and row["next_attempt"] == iso(START + timedelta(seconds=120))
    assert scenario.sleeps == [], "a wait that long is not slept through in the round"

    scenario.deliver(after=timedelta(seconds=5))  # before the retry time, Telegram fine again
    assert scenario.received(DESK) == scenario.queued(DESK)
    assert scenario.received(RAIL) == [], "the rail desk waits for its flood control to end"
    scenario.deliver(after=timedelta(seconds=116))
    assert_each_delivered_once_in_order(scenario)
    assert scenario.attempts().count((RAIL, r[0])) == 2  # once refused, once sent


def test_html_telegram_cannot_parse_in_a_burst_goes_as_plain_text_through_flood_control(
    scenario: Scenario, telegram_api: FakeTelegramAPI
) -> None:
    """The refused alert is re-sent as plain text, still plain after a 429 on the re-send;
    every other alert of the burst goes as HTML, in order."""
    r = scenario.queued(RAIL)
    telegram_api.fail_next(1, status=400, description=CANT_PARSE, chat_id=RAIL)
    telegram_api.fail_next(1, status=429, retry_after=1, chat_id=RAIL)
    report = scenario.deliver()
    assert (report.sent, report.failed) == (6, 0)
    assert_each_delivered_once_in_order(scenario)
    plain = [scenario.title(m.visible_text) for m in telegram_api.messages if m.parse_mode is None]
    assert plain == [r[0]]
    (message,) = [m for m in telegram_api.messages if m.parse_mode is None]
    assert "<" not in message.text and message.entities == []
    assert all(m.parse_mode == "HTML" for m in telegram_api.messages if m is not message)
    sends = [(p["chat_id"], p.get("parse_mode")) for m, p in telegram_api.calls if m == "sendMessage"]
    assert sends[sends.index((RAIL, "HTML")) :][:3] == [(RAIL, "HTML"), (RAIL, None), (RAIL, None)]
    assert scenario.sleeps == [1.0]


def test_a_chat_that_blocks_the_bot_mid_queue_keeps_its_alerts_and_the_other_chat_is_served(
    scenario: Scenario, telegram_api: FakeTelegramAPI
) -> None:
    def block_after_the_first(message: SentMessage) -> None:
        if message.chat_id == RAIL:
            telegram_api.block(RAIL)  # the next send there is a 403

    telegram_api.on_accept = block_after_the_first
    report = scenario.deliver()
    telegram_api.on_accept = None
    r = scenario.queued(RAIL)
    assert scenario.received(DESK) == scenario.queued(DESK)
    assert scenario.received(RAIL) == r[:1]
    assert report.sent == 4 and report.errors == [
        f"chat {RAIL} disabled: Forbidden: bot was blocked by the user"
    ]
    assert scenario.attempts().count((RAIL, r[1])) == 1 and (RAIL, r[2]) not in scenario.attempts()
    rows = scenario.rows()
    assert [rows[t]["status"] for t in r] == ["sent", "pending", "pending"], "kept, not lost"
    archive = scenario.archive()
    (state,) = [s for s in archive.chat_states() if s.chat_id == RAIL]
    archive.close()
    assert state.status == "disabled" and state.reason == "Forbidden: bot was blocked by the user"

    scenario.deliver(after=timedelta(hours=1))
    assert scenario.received(RAIL) == r[:1], "a disabled chat is not tried again"
    telegram_api.unblock(RAIL)  # the bot is added back, which enables the chat (bot.py)
    archive = scenario.archive()
    assert archive.enable_chat(RAIL, scenario.clock())
    archive.close()
    scenario.deliver(after=timedelta(seconds=5))
    assert_each_delivered_once_in_order(scenario)


@pytest.mark.parametrize(
    ("status", "html", "error"),
    [
        (502, False, "Telegram unreachable: Bad Gateway"),
        (504, True, "Telegram unreachable: HTTP 504, not a Bot API answer"),
    ],
    ids=["502-json", "504-nginx-page"],
)
def test_a_gateway_error_keeps_the_alert_pending_until_its_retry_then_sends_it_once(
    scenario: Scenario, telegram_api: FakeTelegramAPI, status: int, html: bool, error: str
) -> None:
    d = scenario.queued(DESK)
    telegram_api.fail_next(1, status=status, html=html)
    first = scenario.deliver()
    row = scenario.rows()[d[0]]
    assert first.sent == 0 and first.errors == [f"alert {row['id']} to chat {DESK} deferred: {error}"]
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, error)
    assert row["next_attempt"] == iso(START + timedelta(seconds=30))  # the first backoff
    assert telegram_api.messages == [], "the round stops: Telegram is down"

    scenario.deliver(after=timedelta(seconds=5))  # Telegram is back before the retry time
    assert scenario.received(DESK) == [], "the desk's later alerts do not overtake the one waiting"
    assert scenario.received(RAIL) == scenario.queued(RAIL)
    scenario.deliver(after=timedelta(seconds=25))
    assert_each_delivered_once_in_order(scenario)
    assert scenario.attempts().count((DESK, d[0])) == 2


def test_a_request_telegram_never_answers_times_out_and_is_sent_once_later(
    scenario: Scenario, telegram_api: FakeTelegramAPI
) -> None:
    """A hung gateway: the request is held unanswered until the client's timeout; Telegram
    never saw it, so the retry after the backoff is its only copy."""
    d = scenario.queued(DESK)
    telegram_api.hang_next(1)
    first = scenario.deliver(timeout=0.3)
    row = scenario.rows()[d[0]]
    assert first.sent == 0 and first.errors == [f"alert {row['id']} to chat {DESK} deferred: {TIMED_OUT}"]
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, TIMED_OUT)
    assert row["next_attempt"] == iso(START + timedelta(seconds=30))
    assert telegram_api.messages == []

    scenario.deliver(after=timedelta(seconds=30))
    assert_each_delivered_once_in_order(scenario)


@pytest.mark.parametrize("fault", ["connection-reset", "slow-answer"])
def test_an_alert_telegram_took_without_telling_us_is_sent_at_most_twice(
    scenario: Scenario, telegram_api: FakeTelegramAPI, fault: str
) -> None:
    """Telegram accepts the message and the answer never arrives (the connection is closed, or
    comes after the client's timeout): the alert stays pending and the retry sends it again,
    one duplicate; nothing is lost and nothing else is doubled."""
    d = scenario.queued(DESK)
    if fault == "connection-reset":

        def hang_up(message: SentMessage) -> None:
            telegram_api.on_accept = None
            raise ConnectionResetError("the answer is lost on the way")

        telegram_api.on_accept = hang_up
        timeout, error = 10.0, f"Telegram unreachable: httpx.RemoteProtocolError: {DISCONNECTED}"
    else:
        telegram_api.delay = 1.0  # longer than the client's timeout; Telegram handles it after
        timeout, error = 0.3, TIMED_OUT
    first = scenario.deliver(timeout=timeout)
    assert telegram_api.wait_for(lambda: len(telegram_api.messages) == 1)
    telegram_api.delay = 0
    assert scenario.received(DESK) == d[:1], "Telegram has it"
    row = scenario.rows()[d[0]]
    assert first.sent == 0 and first.errors == [f"alert {row['id']} to chat {DESK} deferred: {error}"]
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, error)
    assert row["message_id"] is None and row["next_attempt"] == iso(START + timedelta(seconds=30))

    scenario.deliver(after=timedelta(seconds=30))
    assert scenario.received(DESK) == [d[0], *d], "one duplicate, of the alert in flight"
    assert scenario.received(RAIL) == scenario.queued(RAIL)
    assert_each_delivered_once_in_order_but(scenario, d[0])
    assert scenario.deliver(after=timedelta(hours=1)).sent == 0
    assert len(telegram_api.messages) == 7
