"""Commands from the chat, end to end: `run_service` with python-telegram-bot's Application
long-polling the fake Bot API, which serves scripted updates from allowed and unknown users."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from html import escape
from pathlib import Path

import pytest

from fakes.telegram_api import FakeTelegramAPI, check_text
from monitor.app import run_service
from monitor.archive.store import Archive
from monitor.chat import bot
from monitor.chat.commands import COMMANDS
from monitor.config.load import load_config
from tests.chatkit import items

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
ANALYST = 4242  # on the allow-list
STRANGER = 666
DESK = "-100200"  # a configured group chat


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(bot, "POLL_TIMEOUT", 0.5)
    monkeypatch.setattr(bot, "START_RETRY", (0.2, 0.5))


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def serve(config_path: Path, token: str, steps: Callable[[], Awaitable[None]]) -> None:
    """Run the real service until steps() is done, then stop it as SIGTERM would."""
    config = load_config(config_path, environ={TOKEN_ENV: token})

    async def main() -> None:
        stop = asyncio.Event()
        service = asyncio.ensure_future(run_service(config, stop))
        try:
            await steps()
        finally:
            stop.set()
            await asyncio.wait_for(service, 20)

    asyncio.run(main())


def replies_to(api: FakeTelegramAPI, chat: int | str) -> list[str]:
    return [m.text for m in api.messages if m.chat_id == str(chat)]


@pytest.fixture
def desk_config(chat_config):
    feed = items("semiconductor", 3) + items("shinkansen", 2, 3)
    return feed, chat_config(
        f'[[chats]]\nid = "{DESK}"\nname = "desk"\n',
        rail_chat='chat_id = "desk"',
        feed=feed,
        telegram=f"allowed_users = [{ANALYST}]",
    )


def test_commands_are_registered_and_answered_with_valid_html(desk_config, telegram_api):
    feed, config = desk_config
    answers: dict[str, str] = {}

    async def steps() -> None:
        await until(lambda: len(telegram_api.messages) >= 5)  # the first pass's alerts
        for command in ("/help", "/status", "/rules", "/search semiconductor since:365d rule:chips"):
            before = len(telegram_api.messages)
            telegram_api.push_message(command, user_id=ANALYST)
            await until(lambda before=before: len(telegram_api.messages) > before)
            answers[command.split()[0]] = telegram_api.messages[-1].text

    serve(config, telegram_api.token, steps)
    assert [c["command"] for c in telegram_api.commands] == [c for c, _ in COMMANDS]
    for text in answers.values():
        check_text(text, "HTML")  # the fake accepted it already; this is the same check, visible
    assert "/search QUERY" in answers["/help"]
    assert "Semiconductors" in answers["/rules"] and "High-speed rail" in answers["/rules"]
    assert "Feeds: 1 ok, 0 failing" in answers["/status"] and "Last pass: just now" in answers["/status"]
    hits = [item.title for item in feed if item.title in answers["/search"]]
    assert hits and set(hits) <= {item.title for item in feed[:3]}  # only rule:chips
    assert '<a href="https://news.example.com/' in answers["/search"]


def test_a_stranger_gets_no_archive_data_and_is_logged(desk_config, telegram_api, caplog):
    feed, config = desk_config
    caplog.set_level(logging.INFO, logger="monitor")

    async def steps() -> None:
        await until(lambda: len(telegram_api.messages) >= 5)
        telegram_api.push_message("/search semiconductor", user_id=STRANGER)
        telegram_api.push_message("/status", user_id=STRANGER, chat_id=DESK, chat_type="supergroup")
        telegram_api.push_message(
            "/search semiconductor", user_id=ANALYST, chat_id=-100999, chat_type="group"
        )
        await until(lambda: replies_to(telegram_api, STRANGER))
        await asyncio.sleep(0.5)  # time for any wrong answer in the groups to arrive

    serve(config, telegram_api.token, steps)
    (refusal,) = replies_to(telegram_api, STRANGER)
    assert str(STRANGER) in refusal and "allowed_users" in refusal
    assert not any(item.title in refusal for item in feed)
    assert replies_to(telegram_api, -100999) == []  # an allowed user, but not a chat we serve
    assert len(replies_to(telegram_api, DESK)) == 2  # the two rail alerts, no /status answer
    refused = [r.getMessage() for r in caplog.records if "event=command_refused" in r.getMessage()]
    assert len(refused) == 3 and any(f"user={STRANGER}" in line and DESK in line for line in refused)


@pytest.mark.slow
def test_mute_and_digest_from_the_chat(desk_config, telegram_api, feed_server):
    feed, config = desk_config

    async def steps() -> None:
        await until(lambda: len(telegram_api.messages) >= 5)
        telegram_api.push_message("/mute rail 8h", user_id=ANALYST, chat_id=DESK, chat_type="supergroup")
        await until(lambda: "muted" in telegram_api.messages[-1].text.lower())
        telegram_api.push_message("/rules", user_id=ANALYST, chat_id=DESK, chat_type="supergroup")
        await until(lambda: "High-speed rail" in telegram_api.messages[-1].text)
        telegram_api.push_message("/digest", user_id=ANALYST, chat_id=DESK, chat_type="supergroup")
        await until(lambda: telegram_api.messages[-1].visible_text.startswith("Digest"))

    serve(config, telegram_api.token, steps)
    mute_reply, rules_reply, digest = (m.text for m in telegram_api.messages[-3:])
    assert "rail" in mute_reply and "until" in mute_reply
    assert "muted until" in rules_reply
    assert [item.title for item in feed if item.title in digest] == [item.title for item in feed[3:]]
    archive = Archive.open(load_config(config, environ={}).storage_path, create=False)
    mutes = archive.db.execute("select chat_id, rule_id from mutes").fetchall()
    archive.close()
    assert mutes == [(DESK, "rail")]


def test_the_bot_removed_from_a_chat_disables_it(desk_config, telegram_api):
    feed, config = desk_config
    removed = {
        "my_chat_member": {
            "chat": {"id": int(DESK), "type": "supergroup", "title": "Desk"},
            "from": {"id": ANALYST, "is_bot": False, "first_name": "Ana"},
            "date": 1,
            "old_chat_member": {
                "user": {"id": 123456789, "is_bot": True, "first_name": "Test"},
                "status": "member",
            },
            "new_chat_member": {
                "user": {"id": 123456789, "is_bot": True, "first_name": "Test"},
                "status": "kicked",
                "until_date": 0,
            },
        }
    }

    async def steps() -> None:
        await until(lambda: len(telegram_api.messages) >= 5)
        telegram_api.push_update(removed)
        telegram_api.push_message("/status", user_id=ANALYST)
        await until(
            lambda: "Desk" in telegram_api.messages[-1].text or DESK in telegram_api.messages[-1].text
        )

    serve(config, telegram_api.token, steps)
    assert "disabled" in telegram_api.messages[-1].text.lower()
    archive = Archive.open(load_config(config, environ={}).storage_path, create=False)
    (state,) = [s for s in archive.chat_states() if s.chat_id == DESK]
    archive.close()
    assert state.status == "disabled"


def test_commands_start_once_telegram_is_back(desk_config, telegram_api):
    feed, config = desk_config
    telegram_api.down = True

    async def steps() -> None:
        await asyncio.sleep(1.0)  # the service runs; commands cannot start yet
        assert telegram_api.commands == []
        telegram_api.down = False
        await until(lambda: telegram_api.commands)
        telegram_api.push_message("/help", user_id=ANALYST)
        await until(lambda: any("/search" in m.text for m in telegram_api.messages))

    serve(config, telegram_api.token, steps)


def test_story_and_split_from_the_chat(desk_config, telegram_api):
    feed, config = desk_config
    answers: list[str] = []

    async def steps() -> None:
        await until(lambda: len(telegram_api.messages) >= 5)
        for command in ("/story 1", "/split 1", "/split x", "/story 999"):
            before = len(telegram_api.messages)
            telegram_api.push_message(command, user_id=ANALYST)
            await until(lambda before=before: len(telegram_api.messages) > before)
            answers.append(telegram_api.messages[-1].text)
        telegram_api.push_message("/split 1", user_id=STRANGER)
        await until(lambda: replies_to(telegram_api, STRANGER))

    serve(config, telegram_api.token, steps)
    story, alone, usage, missing = answers
    for text in answers:
        check_text(text, "HTML")
    assert "story 1: 1 report" in story and escape(feed[0].title) in story
    assert alone == "article 1 is the only report of story 1: nothing to split"
    assert "/split ARTICLE_ID" in usage
    assert missing == "no story 999"
    (refusal,) = replies_to(telegram_api, STRANGER)
    assert "allowed_users" in refusal
