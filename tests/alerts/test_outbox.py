"""The outbox holds channel-neutral messages (types.Alert, Digest, Notice), rendered by each
notifier when it sends them; an archive written before that (m010) still sends what it queued."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from monitor.alerts.compose import compose_alert
from monitor.alerts.deliver import deliver_pending
from monitor.alerts.notify import TelegramNotifier
from monitor.alerts.render import render_alert
from monitor.archive.store import Archive, migrations
from monitor.errors import Unavailable
from monitor.ingest.schedule import Decision
from monitor.types import (
    Alert,
    AlertIntent,
    Digest,
    DigestItem,
    EntryData,
    FeedConfig,
    FetchedFeed,
    Message,
    NewArticle,
    RenderedText,
    RuleMatch,
    StoryEdit,
)

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
FEED = "https://feed.example/rss"
CHAT = "1001"
OLD_ALERT = '<b>Chip plant opens in Gujarat</b>\nThe Gazette\n\n<a href="https://gazette.example/1">x</a>'
OLD_DIGEST = ["<b>More matches (1/2)</b>\n2 articles in 1 topic", "<b>More matches (2/2)</b>\n• second"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """A channel of its own (a webhook, say), registered for the chat id "hook": it keeps the
    records it is given and renders each digest item as a message of its own."""

    def __init__(self) -> None:
        self.rendered: list[Message] = []
        self.sent: list[str] = []
        self.edited: list[tuple[str, str]] = []
        self.refuse: set[str] = set()  # texts refused once, as a webhook answering 503 would

    async def start(self) -> None:
        return None

    def render(self, message: Message) -> list[str]:
        self.rendered.append(message)
        if isinstance(message, Alert):
            return [f"{message.title} <{message.link}> [{', '.join(r.rule_id for r in message.rules)}]"]
        if isinstance(message, Digest):
            return [f"{message.heading}: {item.title}" for item in message.items]
        raise AssertionError(f"not queued in these tests: {message!r}")

    async def send(self, chat_id: str, text: str, *, plain: bool = False, silent: bool = False) -> str | None:
        if text in self.refuse:
            self.refuse.discard(text)
            raise Unavailable("the webhook answered 503", chat_id)
        self.sent.append(text)
        return f"m{len(self.sent)}"

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        self.edited.append((message_id, text))

    async def close(self) -> None:
        return None


def entry(n: int, title: str = "Chip plant opens in Gujarat") -> EntryData:
    return EntryData(
        feed_url=FEED,
        title=f"{title} {n}",
        summary="The semiconductor plant opened on Friday.",
        link=f"https://gazette.example/{n}",
        guid=None,
        published=NOW - timedelta(hours=n),
        outlet="The Gazette",
    )


def save(archive: Archive, n: int, chat: str, also: tuple[tuple[str | None, str | None], ...] = ()) -> Alert:
    """Archive article n with its alert to `chat`, as the pipeline does; the alert queued."""
    match = RuleMatch("chips", ("semiconductor",), ("semiconductor",))
    alert = compose_alert(entry(n), None, [match], {"chips": "Chips"}, also)
    article = NewArticle(entry(n), f"https://gazette.example/{n}", (f"url:{n}",), NOW, (match,))
    fetched = FetchedFeed(url=FEED, final_url=FEED, status=200, body=b"", headers={})
    decision = Decision(NOW + timedelta(minutes=15), 900.0, "interval")
    archive.save_update(
        FEED, fetched, None, [(article, [AlertIntent(chat, ("chips",), alert)])], NOW, decision
    )
    return alert


def deliver(
    archive: Archive, notifiers: dict[str, Recorder], telegram: TelegramNotifier | None = None
) -> None:
    async def main() -> None:
        if telegram is not None:
            await telegram.start()
        try:
            await deliver_pending(archive, notifiers, telegram, Clock(NOW))
        finally:
            if telegram is not None:
                await telegram.close()

    asyncio.run(main())


def old_archive(path: Path) -> None:
    """An archive as monitor wrote it before m010: alerts and a digest's parts as Telegram HTML."""
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m010_outbox_payload")
    db["feeds"].insert({"url": FEED, "name": "The Gazette", "added": "2026-03-01T00:00:00Z"})
    db["articles"].insert({"id": 1, "title": "Chip plant opens in Gujarat", "feed": FEED})
    common = {"chat_id": CHAT, "status": "pending", "created": "2026-03-06T11:00:00Z", "attempts": 0}
    db["alerts"].insert({**common, "article_id": 1, "kind": "send", "rules": '["chips"]', "text": OLD_ALERT})
    for part in OLD_DIGEST:
        db["alerts"].insert({**common, "kind": "digest", "rules": "[]", "text": part, "silent": 1})
    db.close()


def test_an_archive_from_before_m010_sends_the_alerts_it_had_rendered(tmp_path, telegram_api) -> None:
    path = tmp_path / "monitor.db"
    old_archive(path)
    archive = Archive.open(path)  # applies m010
    assert [a.message for a in archive.pending_alerts(NOW)] == [
        RenderedText(t) for t in [OLD_ALERT, *OLD_DIGEST]
    ]

    deliver(archive, {}, TelegramNotifier(telegram_api.token, telegram_api.bot_url))
    assert [(m.chat_id, m.text) for m in telegram_api.messages] == [
        (CHAT, t) for t in [OLD_ALERT, *OLD_DIGEST]
    ]
    assert archive.outbox_counts() == {"sent": 3}

    # A report joining the old alert's story later: the edit is stored neutral, rendered at send.
    (sent_id,) = [r["id"] for r in archive.db["alerts"].rows_where("kind = 'send'")]
    also = (("The Tribune", "https://tribune.example/1"),)
    match = RuleMatch("chips", ("semiconductor",), ("semiconductor",))
    redrawn = compose_alert(entry(1), None, [match], {"chips": "Chips"}, also)
    fetched = FetchedFeed(url=FEED, final_url=FEED, status=304, body=None, headers={})
    decision = Decision(NOW + timedelta(minutes=15), 900.0, "interval")
    archive.save_update(FEED, fetched, None, [], NOW, decision, [StoryEdit(sent_id, redrawn)])
    deliver(archive, {}, TelegramNotifier(telegram_api.token, telegram_api.bot_url))
    first = telegram_api.messages[0]
    assert (first.text, first.edits) == (render_alert(redrawn), 1)
    assert "Also reported by: The Tribune" in first.visible_text
    archive.close()


def test_another_channel_gets_the_neutral_record_and_renders_it(tmp_path) -> None:
    archive = Archive.open(tmp_path / "monitor.db")
    archive.sync_feeds([FeedConfig(FEED, "The Gazette")], NOW)
    hook = Recorder()
    queued = save(archive, 1, "hook", also=(("The Tribune", "https://tribune.example/1"),))
    deliver(archive, {"hook": hook})
    assert hook.rendered == [queued]  # the record as composed, back from the outbox's JSON
    assert queued.rules[0].name == "Chips" and queued.also == (("The Tribune", "https://tribune.example/1"),)
    assert hook.sent == ["Chip plant opens in Gujarat 1 <https://gazette.example/1> [chips]"]
    assert archive.outbox_counts() == {"sent": 1}
    archive.close()


def test_a_digest_in_several_messages_goes_on_from_the_first_one_not_sent(tmp_path) -> None:
    archive = Archive.open(tmp_path / "monitor.db")
    items = tuple(DigestItem(f"Story {n}", "The Gazette", None, NOW, "Chips") for n in range(3))
    archive.queue_digest("hook", Digest("More matches", items), [], NOW)
    hook = Recorder()
    hook.refuse = {"More matches: Story 1"}
    deliver(archive, {"hook": hook})  # the first message goes, the second is refused: retry later
    assert hook.sent == ["More matches: Story 0"]
    (row,) = archive.db["alerts"].rows
    assert (row["status"], row["parts_sent"]) == ("pending", 1)

    archive.db.execute("update alerts set next_attempt = null")  # its retry time has come
    deliver(archive, {"hook": hook})
    assert hook.sent == [f"More matches: Story {n}" for n in range(3)]  # none twice
    assert archive.outbox_counts() == {"sent": 1}
    archive.close()
