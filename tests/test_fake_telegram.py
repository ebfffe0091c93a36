"""The fake Bot API's updates, commands and hooks, against the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from telegram import Bot, BotCommand, BotCommandScopeChat, ReplyParameters, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError
from telegram.ext import Application, CommandHandler, ContextTypes

from fakes.telegram_api import BOT_ID, BOT_USERNAME, FakeTelegramAPI, bot_command_entities

T = TypeVar("T")
GROUP = -1001234567890


def with_bot(server: FakeTelegramAPI, scenario: Callable[[Bot], Awaitable[T]]) -> T:
    """Run scenario with an initialized Bot on the fake (initializing calls getMe)."""

    async def main() -> T:
        async with Bot(server.token, base_url=server.bot_url) as bot:
            return await scenario(bot)

    return asyncio.run(main())


async def until(server: FakeTelegramAPI, predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """server.wait_for from async code, without blocking the event loop."""
    assert await asyncio.to_thread(server.wait_for, predicate, timeout)


def member_update(kind: str, status: str, user: dict[str, Any]) -> dict[str, Any]:
    """A my_chat_member or chat_member update: user's status in a group became status."""
    return {
        kind: {
            "chat": {"id": GROUP, "title": "Desk", "type": "supergroup"},
            "from": {"id": 7, "is_bot": False, "first_name": "Bo"},
            "date": int(time.time()),
            "old_chat_member": {"user": user, "status": "left"},
            "new_chat_member": {"user": user, "status": status},
        }
    }


BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Test", "username": BOT_USERNAME}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("/ping hello", [(0, 5)]),
        ("/ping@monitor_test_bot now", [(0, 22)]),
        ("hi /start and /help.", [(3, 6), (14, 5)]),
        ("👍 /x", [(3, 2)]),  # the emoji is two UTF-16 units
        ("/ping,", [(0, 5)]),
        ("a/b and /a/b", []),  # inside a word, or followed by "/"
        ("/start@ab", []),  # a bot name has 3-32 characters
        ("/команда", []),  # ASCII only
        ("/" + "a" * 65, []),  # 64 at most
    ],
)
def test_bot_commands_are_found_as_telegram_finds_them(text: str, found: list[tuple[int, int]]) -> None:
    entities = bot_command_entities(text)
    assert [(e["offset"], e["length"]) for e in entities] == found
    assert all(e["type"] == "bot_command" for e in entities)


def test_pushed_messages_are_updates_until_an_offset_confirms_them(telegram_api: FakeTelegramAPI) -> None:
    first = telegram_api.push_message("/ping hello")
    second = telegram_api.push_message(
        "/ping@monitor_test_bot now",
        chat_id=GROUP,
        chat_type="supergroup",
        title="Desk",
        user_id=7,
        username=None,
        first_name="Bo",
    )

    async def scenario(bot: Bot) -> tuple[tuple[Update, ...], ...]:
        started = time.monotonic()
        updates = await bot.get_updates(timeout=30)
        assert time.monotonic() - started < 10  # there was something: no waiting out the 30 s poll
        again = await bot.get_updates()  # not confirmed yet: delivered again
        assert telegram_api.updates_confirmed == 0
        confirmed = await bot.get_updates(offset=second + 1)
        forgotten = await bot.get_updates(offset=first)  # a confirmed update is gone for good
        return updates, again, confirmed, forgotten

    updates, again, confirmed, forgotten = with_bot(telegram_api, scenario)
    assert (
        [u.update_id for u in updates]
        == [u.update_id for u in again]
        == [first, second]
        == [
            first,
            first + 1,
        ]
    )
    private, group = updates
    assert private.message is not None and group.message is not None
    assert private.message.text == "/ping hello"
    assert private.effective_user is not None and private.effective_user.id == 1001
    assert private.effective_user.username == "analyst" and not private.effective_user.is_bot
    assert private.effective_chat is not None
    assert (private.effective_chat.id, private.effective_chat.type) == (1001, "private")
    assert private.message.parse_entities(["bot_command"]) == {private.message.entities[0]: "/ping"}
    assert group.effective_chat is not None and group.effective_user is not None
    assert (group.effective_chat.id, group.effective_chat.type) == (GROUP, "supergroup")
    assert group.effective_chat.title == "Desk" and group.effective_user.id == 7
    assert group.effective_user.username is None
    assert list(group.message.parse_entities().values()) == ["/ping@monitor_test_bot"]
    assert confirmed == forgotten == ()
    assert telegram_api.updates_confirmed == second + 1 and telegram_api.pending_updates == []


def test_a_long_poll_with_nothing_to_deliver_answers_empty_after_its_timeout(
    telegram_api: FakeTelegramAPI,
) -> None:
    async def scenario(bot: Bot) -> tuple[tuple[Update, ...], float]:
        started = time.monotonic()
        updates = await bot.get_updates(timeout=1)
        return updates, time.monotonic() - started

    updates, elapsed = with_bot(telegram_api, scenario)
    assert updates == ()
    assert 0.9 <= elapsed < 2
    assert telegram_api.calls[-1] == ("getUpdates", {"timeout": "1"})


def test_a_push_ends_a_long_poll_at_once(telegram_api: FakeTelegramAPI) -> None:
    async def scenario(bot: Bot) -> tuple[tuple[Update, ...], float]:
        poll = asyncio.create_task(bot.get_updates(timeout=10))
        await until(telegram_api, lambda: telegram_api.waiting_polls == 1)
        started = time.monotonic()
        telegram_api.push_message("news")
        updates = await poll
        return updates, time.monotonic() - started

    updates, elapsed = with_bot(telegram_api, scenario)
    assert [u.message.text for u in updates if u.message] == ["news"]
    assert elapsed < 1
    assert telegram_api.waiting_polls == 0


def test_stop_wakes_a_waiting_long_poll() -> None:
    server = FakeTelegramAPI().start()
    try:

        async def scenario(bot: Bot) -> tuple[tuple[Update, ...], float]:
            poll = asyncio.create_task(bot.get_updates(timeout=30))
            await until(server, lambda: server.waiting_polls == 1)
            started = time.monotonic()
            await asyncio.to_thread(server.stop)
            return await poll, time.monotonic() - started

        updates, elapsed = with_bot(server, scenario)
    finally:
        server.stop()
    assert updates == ()
    assert elapsed < 1


def test_a_second_long_poll_ends_the_waiting_one_with_a_conflict(telegram_api: FakeTelegramAPI) -> None:
    async def scenario() -> tuple[float, tuple[Update, ...]]:
        # two bot processes with the same token
        async with (
            Bot(telegram_api.token, base_url=telegram_api.bot_url) as first,
            Bot(telegram_api.token, base_url=telegram_api.bot_url) as second,
        ):
            older = asyncio.create_task(first.get_updates(timeout=10))
            await until(telegram_api, lambda: telegram_api.waiting_polls == 1)
            started = time.monotonic()
            newer = asyncio.create_task(second.get_updates(timeout=10))
            with pytest.raises(Conflict, match="terminated by other getUpdates request"):
                await older
            conflict_after = time.monotonic() - started
            assert telegram_api.waiting_polls == 1  # the newer one took its place
            telegram_api.push_message("hello")
            return conflict_after, await newer

    conflict_after, updates = asyncio.run(scenario())
    assert conflict_after < 1
    assert [u.message.text for u in updates if u.message] == ["hello"]


def test_allowed_updates_filter_deliveries_and_are_remembered(telegram_api: FakeTelegramAPI) -> None:
    async def scenario(bot: Bot) -> list[list[str]]:
        seen = [await bot.get_updates(allowed_updates=["my_chat_member"])]
        telegram_api.push_message("not asked for")
        telegram_api.push_update(member_update("my_chat_member", "member", BOT_USER))
        seen.append(await bot.get_updates())  # the previous setting holds
        seen.append(await bot.get_updates(offset=seen[-1][-1].update_id + 1, allowed_updates=[]))
        user = {"id": 7, "is_bot": False, "first_name": "Bo"}
        telegram_api.push_update(member_update("chat_member", "member", user))  # not by default
        telegram_api.push_message("asked for")
        seen.append(await bot.get_updates())
        return [[str(next(k for k in u.to_dict() if k != "update_id")) for u in got] for got in seen]

    kinds = with_bot(telegram_api, scenario)
    assert kinds == [[], ["my_chat_member"], [], ["message"]]
    assert telegram_api.allowed_updates == []
    assert len(telegram_api.pushed) == 4


def test_offsets_limits_and_dropped_pending_updates(telegram_api: FakeTelegramAPI) -> None:
    ids = [telegram_api.push_message(f"m{i}") for i in range(4)]

    async def scenario(bot: Bot) -> dict[str, Any]:
        found: dict[str, Any] = {"limited": await bot.get_updates(limit=2)}
        found["last"] = await bot.get_updates(offset=-1)  # forgets all but the last one
        found["pending"] = telegram_api.pending_updates
        telegram_api.push_message("m4")
        telegram_api.push_message("m5")
        found["info"] = await bot.get_webhook_info()
        found["deleted"] = await bot.delete_webhook(drop_pending_updates=True)
        found["after"] = (await bot.get_webhook_info()).pending_update_count
        found["updates"] = await bot.get_updates()
        return found

    found = with_bot(telegram_api, scenario)
    assert [u.update_id for u in found["limited"]] == ids[:2]
    assert [u.update_id for u in found["last"]] == ids[3:]
    assert [u["update_id"] for u in found["pending"]] == ids[3:]
    assert telegram_api.updates_confirmed == ids[3]
    assert found["info"].url == "" and found["info"].pending_update_count == 3
    assert found["deleted"] is True and found["after"] == 0 and found["updates"] == ()


async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text("pong " + " ".join(context.args or []))


def test_an_application_answers_commands_in_private_and_group_chats(telegram_api: FakeTelegramAPI) -> None:
    def in_group(text: str) -> int:
        return telegram_api.push_message(text, chat_id=GROUP, chat_type="supergroup", user_id=7)

    async def scenario() -> float:
        app = Application.builder().token(telegram_api.token).base_url(telegram_api.bot_url).build()
        app.add_handler(CommandHandler("ping", ping))
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=1, poll_interval=0)
        try:
            telegram_api.push_message("/ping hello")
            telegram_api.push_message("hello there")  # no command: no answer
            in_group("/ping@monitor_test_bot desk")
            last = in_group("/ping@other_bot x")  # another bot's command: no answer
            await until(telegram_api, lambda: telegram_api.updates_confirmed > last)
            await until(telegram_api, lambda: len(telegram_api.messages) >= 2)
            await asyncio.sleep(0.05)  # room for a wrong third answer
        finally:
            started = time.monotonic()
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
        return time.monotonic() - started

    shutdown = asyncio.run(scenario())
    assert [(m.chat_id, m.text) for m in telegram_api.messages] == [
        ("1001", "pong hello"),
        (str(GROUP), "pong desk"),
    ]
    group_message_id = telegram_api.pushed[2]["message"]["message_id"]
    assert telegram_api.messages[1].reply_parameters == {"message_id": group_message_id}  # a quote
    assert telegram_api.messages[1].message_id == group_message_id + 2  # after "/ping@other_bot"
    assert shutdown < 1
    method, params = telegram_api.calls[-1]  # the shutdown's confirming call, not a long poll
    after_last = str(telegram_api.pushed[-1]["update_id"] + 1)
    assert (method, params["timeout"], params["offset"]) == ("getUpdates", "0", after_last)
    assert telegram_api.pending_updates == []


def test_set_my_commands_stores_a_list_per_scope(telegram_api: FakeTelegramAPI) -> None:
    async def scenario(bot: Bot) -> dict[str, Any]:
        found: dict[str, Any] = {}
        found["set"] = await bot.set_my_commands(
            [BotCommand("ping", "Check the bot"), ("status", " Status ")]
        )
        await bot.set_my_commands([("/help", "Help")], scope=BotCommandScopeChat(GROUP))
        found["default"] = telegram_api.commands
        found["got"] = await bot.get_my_commands()
        found["german"] = await bot.get_my_commands(language_code="de")
        await bot.delete_my_commands()
        return found

    found = with_bot(telegram_api, scenario)
    assert found["set"] is True
    assert found["default"] == [
        {"command": "ping", "description": "Check the bot"},
        {"command": "status", "description": "Status"},  # trimmed, as tdlib does
    ]
    assert [(c.command, c.description) for c in found["got"]] == [
        ("ping", "Check the bot"),
        ("status", "Status"),
    ]
    assert found["german"] == ()
    assert telegram_api.commands == []  # deleted
    chat_scope = {"type": "chat", "chat_id": GROUP}
    assert telegram_api.commands_for(chat_scope) == [{"command": "help", "description": "Help"}]


@pytest.mark.parametrize(
    ("commands", "language_code", "error"),
    [
        ([("Bad Cmd", "x")], None, "BOT_COMMAND_INVALID"),
        ([("Ping", "x")], None, "BOT_COMMAND_INVALID"),
        ([("ping-pong", "x")], None, "BOT_COMMAND_INVALID"),
        ([("/", "x")], None, "command must be non-empty"),
        ([("a" * 33, "x")], None, "command length must not exceed 32"),
        ([("ping", " ")], None, "command description must be non-empty"),
        ([("ping", "d" * 257)], None, "command description length must not exceed 256"),
        ([(f"c{i}", "x") for i in range(101)], None, "BOT_COMMANDS_TOO_MUCH"),
        ([("ping", "x")], "eng", "invalid language code specified"),
    ],
)
def test_set_my_commands_refuses_what_telegram_refuses(
    telegram_api: FakeTelegramAPI, commands: list[tuple[str, str]], language_code: str | None, error: str
) -> None:
    before = [("ping", "Check the bot")]

    async def scenario(bot: Bot) -> None:
        await bot.set_my_commands(before)
        with pytest.raises(BadRequest, match=error_text(error)):
            await bot.set_my_commands(commands, language_code=language_code)

    with_bot(telegram_api, scenario)
    assert telegram_api.commands == [{"command": "ping", "description": "Check the bot"}]


def error_text(text: str) -> str:
    """A pattern for a Bot API error's description as python-telegram-bot shows it: without
    "Bad Request: " and capitalized, which lowercases the rest ("Bot_command_invalid")."""
    return f"(?i)^{re.escape(text)}$"


def test_on_accept_runs_after_recording_and_before_the_answer(telegram_api: FakeTelegramAPI) -> None:
    answered = threading.Event()
    seen: list[tuple[str, bool, bool, bool]] = []

    def hook(message: Any) -> None:
        unlocked = telegram_api._lock.acquire(timeout=1)  # the hook runs outside the lock
        if unlocked:
            telegram_api._lock.release()
        seen.append((message.text, message in telegram_api.messages, unlocked, answered.wait(0.3)))

    telegram_api.on_accept = hook

    async def scenario(bot: Bot) -> int:
        sent = await bot.send_message(42, "hello")
        answered.set()
        await bot.edit_message_text("edited", chat_id=42, message_id=sent.message_id)  # no hook
        return sent.message_id

    assert with_bot(telegram_api, scenario) == 1
    assert seen == [("hello", True, True, False)]  # the client had no answer while the hook ran


def test_a_failing_on_accept_hook_hangs_up_on_an_accepted_message(telegram_api: FakeTelegramAPI) -> None:
    def hook(message: Any) -> None:
        raise RuntimeError("crash")

    telegram_api.on_accept = hook

    async def scenario(bot: Bot) -> None:
        with pytest.raises(NetworkError):
            await bot.send_message(42, "hello")

    with_bot(telegram_api, scenario)
    assert [m.text for m in telegram_api.messages] == ["hello"]
    assert [str(e) for e in telegram_api.hook_errors] == ["crash"]


CLIENT = """
import asyncio, sys
from telegram import Bot

async def main():
    async with Bot(sys.argv[1], base_url=sys.argv[2]) as bot:
        print((await bot.send_message(42, "hello")).message_id, flush=True)

asyncio.run(main())
"""


def test_a_client_killed_in_on_accept_never_learns_of_its_message(telegram_api: FakeTelegramAPI) -> None:
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, telegram_api.token, telegram_api.bot_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def kill(message: Any) -> None:
        os.kill(client.pid, signal.SIGKILL)
        client.wait(5)

    telegram_api.on_accept = kill
    out, _ = client.communicate(timeout=20)
    assert client.returncode == -signal.SIGKILL and out == ""
    assert [m.text for m in telegram_api.messages] == ["hello"]
    telegram_api.on_accept = None
    sent = with_bot(telegram_api, lambda bot: bot.send_message(42, "again"))  # the server lives on
    assert sent.message_id == 2 and telegram_api.hook_errors == []


def test_get_me_and_chat_actions(telegram_api: FakeTelegramAPI) -> None:
    telegram_api.block("43")

    async def scenario(bot: Bot) -> Any:
        me = await bot.get_me()
        assert await bot.send_chat_action(42, ChatAction.TYPING) is True
        with pytest.raises(BadRequest, match=error_text("wrong parameter action in request")):
            await bot.send_chat_action(42, "dancing")
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_chat_action(43, ChatAction.TYPING)
        return me

    me = with_bot(telegram_api, scenario)
    assert (me.id, me.username, me.is_bot) == (BOT_ID, BOT_USERNAME, True)
    assert me.can_join_groups is True and me.can_read_all_group_messages is False
    assert me.supports_inline_queries is False
    assert me.api_kwargs == {}  # python-telegram-bot knows every field


def test_scripted_failures_reach_get_updates_and_set_my_commands(telegram_api: FakeTelegramAPI) -> None:
    async def scenario(bot: Bot) -> None:
        telegram_api.fail_next(status=502, methods=("getUpdates",))
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.get_updates()
        telegram_api.fail_next(status=409, methods=("getUpdates",))
        with pytest.raises(Conflict, match="only one bot instance"):
            await bot.get_updates()
        # (not a 429: python-telegram-bot 22.8's RetryAfter warns as it is made, unless
        # PTB_TIMEDELTA is set)
        telegram_api.fail_next(status=500, methods=("setMyCommands",))
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.set_my_commands([("ping", "Check")])
        assert await bot.get_updates() == ()
        telegram_api.down = True
        with pytest.raises(NetworkError):
            await bot.get_updates()

    with_bot(telegram_api, scenario)
    assert telegram_api.commands == []


def test_pushed_messages_share_message_ids_with_the_bot_and_can_be_replied_to(
    telegram_api: FakeTelegramAPI,
) -> None:
    telegram_api.push_message("hi")
    channel = telegram_api.push_message("news", chat_type="channel", title="Wire")

    async def scenario(bot: Bot) -> tuple[Any, ...]:
        (_, post) = await bot.get_updates()
        reply = await bot.send_message(1001, "hello", reply_parameters=ReplyParameters(1))
        with pytest.raises(BadRequest, match=error_text("message to be replied not found")):
            await bot.send_message(1001, "hello", reply_parameters=ReplyParameters(99))
        lenient = ReplyParameters(99, allow_sending_without_reply=True)
        unattached = await bot.send_message(1001, "hello", reply_parameters=lenient)
        return post, reply, unattached

    post, reply, unattached = with_bot(telegram_api, scenario)
    assert post.update_id == channel and post.channel_post.text == "news"
    assert post.effective_chat.type == "channel" and post.channel_post.from_user is None
    assert post.channel_post.sender_chat.title == "Wire"
    assert (reply.message_id, unattached.message_id) == (2, 3)  # the user's "hi" was 1
    assert reply.chat.first_name == "Ana" and reply.chat.username == "analyst"  # the chat as pushed


@pytest.mark.parametrize(
    "push",
    [
        lambda server: server.push_message("x", chat_id=5),  # a private chat is its user's
        lambda server: server.push_message("x", chat_type="group", chat_id=5),
        lambda server: server.push_message("x", chat_type="secret"),
        lambda server: server.push_update({"messages": {}}),
        lambda server: server.push_update({"message": {}, "edited_message": {}}),
        lambda server: server.push_update({"update_id": 1, "message": {}}),  # ids increase
    ],
    ids=["private-id", "positive-group-id", "chat-type", "unknown-type", "two-types", "old-id"],
)
def test_malformed_pushes_are_refused(telegram_api: FakeTelegramAPI, push: Callable[[Any], Any]) -> None:
    with pytest.raises(ValueError):
        push(telegram_api)
    assert telegram_api.pushed == []


def test_wait_for(telegram_api: FakeTelegramAPI) -> None:
    assert telegram_api.wait_for(lambda: True, timeout=0)
    started = time.monotonic()
    assert not telegram_api.wait_for(lambda: False, timeout=0.1)
    assert 0.1 <= time.monotonic() - started < 0.5
