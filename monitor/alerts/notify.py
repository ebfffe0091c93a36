"""The alert channels: Telegram (python-telegram-bot) and the console.

A notifier renders the outbox's channel-neutral messages (types.Message: an alert, a digest,
a notice) in its own format when they are sent (render()), then sends the texts. A new
channel (e-mail, a webhook) is a class with these five methods in a module of its own,
registered in app.py.

This is the one place telegram's exceptions are caught; they leave as
monitor.errors, and no message may carry the bot token::

    429 / RetryAfter                  -> RetryLater(retry_after in seconds)
    400 BadRequest                    -> Rejected, or ChatGone for "chat not found"
    403 Forbidden                     -> ChatGone
    ChatMigrated                      -> ChatMoved, with the supergroup's new chat id
    401/404 InvalidToken              -> NotifyError
    TimedOut, closed before answering -> OutcomeUnknown (Telegram may have taken it)
    5xx, NetworkError, other          -> Unavailable

python-telegram-bot does not retry by itself (its HTTPXRequest makes one httpx
request per call), so retrying is left to the delivery job and its outbox.
Error answers are read by _Request, which keeps Telegram's descriptions intact.
"""

from __future__ import annotations

import json
import sys
import warnings
from datetime import timedelta
from typing import Any, Protocol, TextIO
from urllib.parse import quote

# isort: off
import monitor.alerts._telegram  # noqa: F401 (first: telegram without cryptography, issue 18)

# isort: on
from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from monitor.alerts.digest import render_digest_message
from monitor.alerts.render import render_alert, render_notice, to_plain_text
from monitor.errors import ChatGone, ChatMoved, NotifyError, OutcomeUnknown, Rejected, RetryLater, Unavailable
from monitor.ingest.netguard import tls_context
from monitor.types import Alert, Digest, Message, Notice

DEFAULT_API_URL = "https://api.telegram.org/bot"  # python-telegram-bot appends the token
CONSOLE_SEPARATOR = "-" * 40
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class Notifier(Protocol):
    async def start(self) -> None:
        """Connect and check credentials; raises NotifyError."""

    def render(self, message: Message) -> list[str]:
        """The texts that carry `message` on this channel, in order (a digest may need several).
        Pure; called at send time, so every channel gets its own format from one outbox row."""

    async def send(self, chat_id: str, text: str, *, plain: bool = False, silent: bool = False) -> str | None:
        """Deliver one text of render(); the message id, or None when there is none. Raises NotifyError.

        With plain=True the text is sent without markup (the fallback when Telegram
        cannot parse an alert's HTML); silent=True sends it without sound."""

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        """Replace the text of a message sent earlier (a story's alert). Raises NotifyError."""

    async def close(self) -> None:
        """Release connections; safe to call twice or without start()."""


class TelegramNotifier:
    """Sends Telegram HTML through python-telegram-bot's Bot."""

    def __init__(self, token: str, api_url: str | None = None, *, timeout: float = 10.0) -> None:
        self._token = token
        try:
            self._bot = Bot(
                token,
                base_url=api_url or DEFAULT_API_URL,
                request=_request(timeout),
                # Long polls for chat commands: python-telegram-bot adds the poll's timeout.
                get_updates_request=_request(timeout, pool=1),
            )
        except InvalidToken:  # raised for an empty token
            raise NotifyError("the Telegram bot token is empty") from None

    @property
    def bot(self) -> Bot:
        """The python-telegram-bot Bot, shared with the chat-command Application (bot.py)."""
        return self._bot

    def wrap(self, error: TelegramError, chat_id: str | None = None) -> NotifyError:
        """A telegram error as a monitor error with a one-line message free of the token."""
        return self._wrap(error, chat_id)

    async def start(self) -> None:
        """Calls getMe, so a wrong token or api_url fails here and not at the first alert.

        Unavailable or RetryLater here is transient: the notifier stays usable, so a
        caller may log it, keep alerts in the outbox and send later (close() it anyway).
        """
        try:
            await self._bot.initialize()
        except TelegramError as error:
            failure = self._wrap(error, None)
            if not isinstance(failure, Unavailable | RetryLater):
                await self._bot.shutdown()  # a bad token will not get better
            raise failure from None

    def render(self, message: Message) -> list[str]:
        return telegram_html(message)

    async def send(self, chat_id: str, html: str, *, plain: bool = False, silent: bool = False) -> str | None:
        try:
            message = await self._bot.send_message(
                chat_id,
                html,
                parse_mode=None if plain else ParseMode.HTML,
                link_preview_options=_NO_PREVIEW,
                disable_notification=silent,
            )
        except TelegramError as error:
            # "from None": telegram's own messages may embed the token (InvalidToken, httpx URLs)
            raise self._wrap(error, chat_id) from None
        return str(message.message_id)

    async def edit(self, chat_id: str, message_id: str, html: str) -> None:
        try:
            await self._bot.edit_message_text(
                html,
                chat_id=chat_id,
                message_id=int(message_id),
                parse_mode=ParseMode.HTML,
                link_preview_options=_NO_PREVIEW,
            )
        except BadRequest as error:
            if "message is not modified" in error.message:
                return  # already says this: an edit re-sent after a crash, say
            raise self._wrap(error, chat_id) from None
        except TelegramError as error:
            raise self._wrap(error, chat_id) from None

    async def close(self) -> None:
        await self._bot.shutdown()

    def _wrap(self, error: TelegramError, chat_id: str | None) -> NotifyError:
        """The monitor error for a telegram error; order matters (BadRequest is a NetworkError)."""
        text = self._scrub(error.message)
        if isinstance(error, _FloodControl | RetryAfter):
            seconds = _retry_seconds(error)
            return RetryLater(f"Telegram flood control: retry in {seconds:g} s", chat_id, seconds)
        if isinstance(error, ChatMigrated):
            message = f"the group became a supergroup with chat id {error.new_chat_id}"
            return ChatMoved(message, chat_id, str(error.new_chat_id))
        if isinstance(error, InvalidToken):
            return NotifyError(f"Telegram rejected the bot token ({self._token_reason(error)})")
        if isinstance(error, Forbidden):
            return ChatGone(text, chat_id)
        if isinstance(error, BadRequest):
            gone = "chat not found" in text
            return (ChatGone if gone else Rejected)(text, chat_id)
        if isinstance(error, TimedOut):
            return OutcomeUnknown(f"Telegram timed out: {text}", chat_id)
        if isinstance(error, NetworkError) and "disconnected without sending a response" in text:
            return OutcomeUnknown(f"Telegram unreachable: {text}", chat_id)  # after the request went out
        if isinstance(error, NetworkError):
            return Unavailable(f"Telegram unreachable: {text}", chat_id)
        return Unavailable(f"Telegram error: {text}", chat_id)

    def _token_reason(self, error: InvalidToken) -> str:
        # Bot.initialize() re-raises as "The token `<token>` was rejected"; the cause has the why.
        cause = error.__cause__
        reason = cause.message if isinstance(cause, TelegramError) else "Unauthorized"
        return f"{self._scrub(reason)}; check the token and api_url"

    def _scrub(self, text: str) -> str:
        """One short line without the token (httpx errors may quote the URL, which holds it)."""
        for secret in {self._token, quote(self._token, safe="")}:
            text = text.replace(secret, "<token>")
        text = " ".join(text.split())
        return text if len(text) <= 300 else text[:299] + "…"


def _request(timeout: float, pool: int = 4) -> _Request:
    return _Request(
        connection_pool_size=pool,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        pool_timeout=timeout,
        httpx_kwargs={"verify": tls_context()},  # one CA store for every client (issue 18)
    )


class _FloodControl(TelegramError):
    """A 429 read by _Request; carries retry_after as float seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Flood control exceeded. Retry in {retry_after:g} seconds")
        self.retry_after = retry_after


class _Request(HTTPXRequest):
    """HTTPXRequest that turns error answers into telegram errors itself, because PTB 22

    * rewrites Telegram's descriptions ("Bad Request: message is too long" becomes
      "Message is too long", the rest lower-cased), and we record and match on them;
    * builds RetryAfter through a property that emits PTBDeprecationWarning (int vs
      timedelta unless PTB_TIMEDELTA is set): noise, and an error under filterwarnings=error;
    * logs a body that is not JSON (a proxy's 502 page) whole, with a traceback.
    """

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, payload = await super().do_request(*args, **kwargs)
        if status >= 400:
            raise _error_for(status, payload)
        return status, payload


# As python-telegram-bot maps statuses; 401 and 404 (a malformed token) both mean a bad token.
_ERRORS: dict[int, type[TelegramError]] = {
    400: BadRequest,
    401: InvalidToken,
    403: Forbidden,
    404: InvalidToken,
    409: Conflict,
}


def _error_for(status: int, payload: bytes) -> TelegramError:
    """The exception python-telegram-bot would raise, with Telegram's own description."""
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return _ERRORS.get(status, NetworkError)(f"HTTP {status}, not a Bot API answer")
    parameters = answer.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    if isinstance(parameters.get("migrate_to_chat_id"), int):
        return ChatMigrated(parameters["migrate_to_chat_id"])
    if isinstance(parameters.get("retry_after"), int | float):
        return _FloodControl(float(parameters["retry_after"]))
    description = str(answer.get("description") or f"HTTP {status}")
    error = _ERRORS.get(status, NetworkError)(description)
    error.message = description  # undo the constructor's rewriting (see _Request)
    return error


def _retry_seconds(error: _FloodControl | RetryAfter) -> float:
    if isinstance(error, _FloodControl):
        return error.retry_after
    # _Request raises _FloodControl instead; reading RetryAfter warns (see _Request).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def telegram_html(message: Message) -> list[str]:
    """A message as Telegram HTML texts, each under 4096 UTF-16 units."""
    if isinstance(message, Alert):
        return [render_alert(message)]
    if isinstance(message, Digest):
        return render_digest_message(message)
    if isinstance(message, Notice):
        return [render_notice(message)]
    return [message.html]  # RenderedText: queued, already rendered, before m013


class ConsoleNotifier:
    """Prints alerts as plain text: for a dry run, or when Telegram is not configured."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def start(self) -> None:
        return None

    def render(self, message: Message) -> list[str]:
        """Plain text: the Telegram rendering without markup, a link as "text (address)"."""
        return [to_plain_text(html) for html in telegram_html(message)]

    async def send(self, chat_id: str, text: str, *, plain: bool = False, silent: bool = False) -> str | None:
        stream = self._stream or sys.stdout  # looked up late, so redirection still applies
        print(text, file=stream)
        print(CONSOLE_SEPARATOR, file=stream, flush=True)
        return None

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        stream = self._stream or sys.stdout
        print("(update to an earlier alert)\n" + text, file=stream)
        print(CONSOLE_SEPARATOR, file=stream, flush=True)

    async def close(self) -> None:
        return None
