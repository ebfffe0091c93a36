"""notify: real python-telegram-bot against the loopback fake Bot API."""

from __future__ import annotations

import asyncio
import io
import socket
import ssl
import traceback
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import pytest
from telegram import Bot

from fakes.telegram_api import FakeTelegramAPI
from monitor.alerts.notify import CONSOLE_SEPARATOR, ConsoleNotifier, TelegramNotifier
from monitor.errors import ChatGone, ChatMoved, NotifyError, Rejected, RetryLater, Unavailable
from monitor.ingest.fetch import make_client
from monitor.ingest.netguard import GuardedTransport, tls_context
from monitor.types import FetchSettings, RenderedText

T = TypeVar("T")
ALERT = '<b>Storm &amp; rain</b>\n\n<a href="https://x.example/?a=1&amp;b=2">link</a>'


def run_with(
    server: FakeTelegramAPI,
    scenario: Callable[[TelegramNotifier], Awaitable[T]],
    timeout: float = 2.0,
) -> T:
    """Start a notifier on the fake, run scenario, always close it."""

    async def main() -> T:
        notifier = TelegramNotifier(server.token, server.bot_url, timeout=timeout)
        await notifier.start()
        try:
            return await scenario(notifier)
        finally:
            await notifier.close()

    return asyncio.run(main())


def send_error(server: FakeTelegramAPI, html: str = ALERT, chat_id: str = "42", **kw: float) -> NotifyError:
    """The NotifyError send() raised; no part of its traceback may show the token."""

    async def scenario(notifier: TelegramNotifier) -> NotifyError:
        with pytest.raises(NotifyError) as caught:
            await notifier.send(chat_id, html)
        return caught.value

    error = run_with(server, scenario, **kw)
    assert server.token not in "".join(traceback.format_exception(error))
    return error


def test_send_returns_the_message_id_and_the_server_has_the_exact_text(
    telegram_api: FakeTelegramAPI,
) -> None:
    async def scenario(notifier: TelegramNotifier) -> list[str | None]:
        return [await notifier.send(chat, ALERT) for chat in ("42", "42", "@news")]

    assert run_with(telegram_api, scenario) == ["1", "2", "1"]
    first = telegram_api.messages[0]
    assert (first.chat_id, first.text, first.parse_mode) == ("42", ALERT, "HTML")
    assert first.visible_text == "Storm & rain\n\nlink"
    assert first.link_preview_options == {"is_disabled": True}
    assert telegram_api.requests == ["getMe", "sendMessage", "sendMessage", "sendMessage"]


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<b>unclosed", "Bad Request: can't parse entities: Can't find end tag"),
        ("AT&T <script>", "Bad Request: can't parse entities: Unsupported character entity"),
        ("x" * 4097, "Bad Request: message is too long"),
        ("<b> </b>", "Bad Request: message text is empty"),
    ],
    ids=["unclosed-tag", "unescaped", "too-long", "empty"],
)
def test_refused_messages_are_rejected(telegram_api: FakeTelegramAPI, html: str, expected: str) -> None:
    error = send_error(telegram_api, html)
    assert type(error) is Rejected
    assert expected in str(error) and error.chat_id == "42"  # Telegram's words, untouched
    assert telegram_api.messages == []


def test_flood_control_is_retry_later(telegram_api: FakeTelegramAPI) -> None:
    telegram_api.fail_next(1, status=429, retry_after=7)
    error = send_error(telegram_api)
    assert isinstance(error, RetryLater)
    assert error.retry_after == 7.0 and error.chat_id == "42"
    assert run_with(telegram_api, lambda n: n.send("42", ALERT)) == "1"  # only the next one failed


@pytest.mark.parametrize("status", [500, 502], ids=["500", "502"])
def test_server_errors_are_unavailable(telegram_api: FakeTelegramAPI, status: int) -> None:
    telegram_api.fail_next(1, status=status)
    assert type(send_error(telegram_api)) is Unavailable


@pytest.mark.parametrize("switch", ["down", "drop"])
def test_a_server_that_is_down_is_unavailable(telegram_api: FakeTelegramAPI, switch: str) -> None:
    async def scenario(notifier: TelegramNotifier) -> NotifyError:
        setattr(telegram_api, switch, True)
        with pytest.raises(Unavailable) as caught:
            await notifier.send("42", ALERT)
        return caught.value

    error = run_with(telegram_api, scenario)
    assert telegram_api.token not in str(error)


def test_a_slow_server_is_unavailable(telegram_api: FakeTelegramAPI) -> None:
    async def scenario(notifier: TelegramNotifier) -> None:
        telegram_api.delay = 1.0
        with pytest.raises(Unavailable, match="timed out"):
            await notifier.send("42", ALERT)

    run_with(telegram_api, scenario, timeout=0.2)


def test_blocked_bot_is_chat_gone(telegram_api: FakeTelegramAPI) -> None:
    telegram_api.block("42")
    error = send_error(telegram_api)
    assert type(error) is ChatGone and "blocked" in str(error)


def test_unknown_chat_is_chat_gone(telegram_api: FakeTelegramAPI) -> None:
    telegram_api.known_chats = {"7"}
    error = send_error(telegram_api)
    assert type(error) is ChatGone and "Bad Request: chat not found" in str(error)


def test_migrated_chat_is_chat_moved_with_the_new_id(telegram_api: FakeTelegramAPI) -> None:
    telegram_api.migrate("-5", -1001234)
    error = send_error(telegram_api, chat_id="-5")
    assert type(error) is ChatMoved and error.new_chat_id == "-1001234" and "-1001234" in str(error)


def test_wrong_token_fails_at_start_without_showing_it(telegram_api: FakeTelegramAPI) -> None:
    token = "999:wrong-secret-token"

    async def main() -> NotifyError:
        notifier = TelegramNotifier(token, telegram_api.bot_url, timeout=2)
        with pytest.raises(NotifyError) as caught:
            await notifier.start()
        await notifier.close()
        return caught.value

    error = asyncio.run(main())
    assert type(error) is NotifyError
    assert "Unauthorized" in str(error)
    assert token not in "".join(traceback.format_exception(error))
    assert telegram_api.requests == ["getMe"]


def test_telegram_down_at_start_is_transient(telegram_api: FakeTelegramAPI) -> None:
    async def main() -> str | None:
        notifier = TelegramNotifier(telegram_api.token, telegram_api.bot_url, timeout=2)
        telegram_api.down = True
        with pytest.raises(Unavailable):
            await notifier.start()
        telegram_api.down = False
        try:
            return await notifier.send("42", ALERT)  # usable without a second start()
        finally:
            await notifier.close()

    assert asyncio.run(main()) == "1"


def test_empty_token_is_a_notify_error() -> None:
    with pytest.raises(NotifyError, match="empty"):
        TelegramNotifier("")


def test_unreachable_server_fails_at_start() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main() -> None:
        notifier = TelegramNotifier("1:secret", f"http://127.0.0.1:{port}/bot", timeout=1)
        with pytest.raises(Unavailable) as caught:
            await notifier.start()
        await notifier.close()
        assert "secret" not in "".join(traceback.format_exception(caught.value))

    asyncio.run(main())


def test_fake_edits_messages_like_telegram(telegram_api: FakeTelegramAPI) -> None:
    """editMessageText, for the issue that edits alerts: validated like sendMessage."""

    async def main() -> None:
        async with Bot(telegram_api.token, base_url=telegram_api.bot_url) as bot:
            sent = await bot.send_message("42", "<b>v1</b>", parse_mode="HTML")
            edit = partial(bot.edit_message_text, chat_id="42", message_id=sent.message_id)
            edited = await edit("<b>v2</b>", parse_mode="HTML")
            assert edited.text == "v2"
            for bad in ("<b>v2</b>", "<b>v3"):  # unchanged, then broken HTML
                with pytest.raises(Exception, match="(?i)not modified|can't parse entities"):
                    await edit(bad, parse_mode="HTML")

    asyncio.run(main())
    (message,) = telegram_api.messages
    assert (message.text, message.visible_text, message.edits) == ("<b>v2</b>", "v2", 1)


def test_console_prints_plain_text() -> None:
    stream = io.StringIO()

    async def main() -> str | None:
        console = ConsoleNotifier(stream)
        await console.start()
        (text,) = console.render(RenderedText(ALERT))  # the console renders its own format
        message_id = await console.send("42", text)
        await console.close()
        return message_id

    assert asyncio.run(main()) is None
    assert stream.getvalue() == (
        "Storm & rain\n\nlink (https://x.example/?a=1&b=2)\n" + CONSOLE_SEPARATOR + "\n"
    )


def test_the_feeds_client_and_telegrams_share_one_tls_context() -> None:
    """httpx gives each client a TLS context of its own, with its own copy of the CA store
    (0.8 MB): the service's four (two feed pools, Telegram's two) hold one (issue 18)."""
    notifier = TelegramNotifier("123:abc")
    client = make_client(FetchSettings())
    transport = client._transport
    assert isinstance(transport, GuardedTransport) and transport.checked is not None
    pools = [transport.plain._pool, transport.checked._pool]
    pools += [request._client._transport._pool for request in notifier.bot._request]
    contexts = {id(pool._ssl_context) for pool in pools}
    assert contexts == {id(tls_context())}
    assert tls_context().verify_mode == ssl.CERT_REQUIRED and tls_context().check_hostname
