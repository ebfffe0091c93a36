"""A loopback fake of the Telegram Bot API that python-telegram-bot really talks to.

It rejects what Telegram rejects, with Telegram's JSON error shapes, so a test
that passes here would pass against api.telegram.org::

    def test_x(telegram_api):                       # the fixture (tests/conftest.py): a started one
        bot = telegram.Bot(telegram_api.token, base_url=telegram_api.bot_url)
        ...                                         # bot_url == f"{base_url}/bot"

Methods: ``getMe`` (401 Unauthorized with any other token), ``sendMessage`` and
``editMessageText`` (parse_mode HTML or none; anything else is a 400),
``sendChatAction``, ``getUpdates``, ``deleteWebhook``, ``getWebhookInfo``,
``setMyCommands``, ``getMyCommands`` and ``deleteMyCommands``. Other methods
answer 404 Not Found.

Scripting (all may be set at any time, from the test thread)::

    server.fail_next(n=1, status=429, retry_after=5)  # the next n sendMessage/editMessageText
    server.fail_next(status=500)          # ...fail; also 502, 504, 400, 403, 409; description="..."
    server.fail_next(status=502, methods=("getUpdates", "setMyCommands"))  # any methods
    server.fail_next(status=429, chat_id="42")  # only calls for chat 42; other chats pass meanwhile
    server.fail_next(status=504, html=True)  # nginx's HTML error page (api.telegram.org's front)
    server.hang_next(n=1, chat_id=None)   # read the next n calls and never answer them: each is
                                          # held until the client hangs up (its read timeout) or
                                          # stop(), then closed; Telegram never handled it
    server.known_chats = {"42", "@news"}  # default None: any chat; others 400 chat not found
    server.block("42")                    # 403 "Forbidden: bot was blocked by the user"
    server.unblock("42")                  # the bot is back in the chat: sends go through again
    server.migrate("-5", -1005)           # 400 + parameters.migrate_to_chat_id (ChatMigrated)
    server.down = True                    # 502 Bad Gateway with an HTML body (a proxy), to all
    server.drop = True                    # close every connection without answering
    server.delay = 1.0                    # wait this long, then handle the call as usual: a
                                          # client that timed out meanwhile never hears of it
    server.on_accept = hook               # hook(SentMessage): see "Crashes" below

    # what users do, for the bot to receive with getUpdates; each returns the update_id
    server.push_message("/ping hello")    # a private message from user 1001 (@analyst, "Ana")
    server.push_message("/ping@monitor_test_bot", chat_id=-1001234567890, chat_type="supergroup",
                        title="Desk", user_id=7, username=None, first_name="Bo")
    server.push_update({"my_chat_member": {...}})  # any raw update; update_id added if missing
    server.wait_for(lambda: len(server.messages) >= 2, timeout=5.0)  # -> bool, polls every 10 ms

Scripted failures and hangs queue up in order; each call takes the first queued one whose
methods (and chat, if given) it matches, so a failure for one chat waits for that chat's
next call while other chats' calls go through.

``push_message`` builds the Update Telegram would send: ``message`` (``channel_post`` for
chat_type "channel", with ``sender_chat`` and no ``from``) with ``message_id`` (counting
up per chat, shared with the bot's own messages there), ``date``, ``chat`` (``first_name``
and ``username`` for a private chat, whose id is the user's; ``title`` for the others,
whose ids are negative), ``from`` and ``text``, and the ``bot_command`` entities Telegram
finds (``bot_command_entities(text)``: "/cmd" or "/cmd@botname" not inside a word, at
UTF-16 offsets), so python-telegram-bot's CommandHandler fires. Update ids count up from
FIRST_UPDATE_ID.

getUpdates, as Telegram (telegram-bot-api's Client::do_get_updates) does it: ``offset``
confirms and forgets every update below it (a negative one keeps only the last -offset
updates); ``limit`` 1..100 (default 100); ``timeout`` 0..50 s: with nothing to deliver
the call waits until a push, the timeout or ``stop()`` (which wakes it at once), then
answers what there is, maybe ``[]``. A new long poll arriving while one waits ends the
waiting one with 409 "Conflict: terminated by other getUpdates request; ..." (a
python-telegram-bot Conflict) and takes its place; a call that answers at once leaves
the waiting one alone. ``allowed_updates`` is remembered across calls (absent: the
previous setting; ``[]`` or only unknown names: the default, every type but
chat_member, message_reaction and message_reaction_count). ``deleteWebhook`` answers
true (``drop_pending_updates`` empties the queue); ``getWebhookInfo`` has the queue's
length as ``pending_update_count``.

setMyCommands, as tdlib and Telegram check it: each command is trimmed and loses one
leading "/", then must be 1-32 characters (``command must be non-empty``, ``command
length must not exceed 32``) with a 1-256 character description (``command description
must be non-empty`` / ``... length must not exceed 256``); then more than 100 commands
are ``BOT_COMMANDS_TOO_MUCH`` and a command outside ``[a-z0-9_]`` (a space, an upper-case
letter) ``BOT_COMMAND_INVALID``, all 400 Bad Request. A list is kept per ``scope`` and
``language_code`` (empty or two lower-case letters); ``getMyCommands`` and
``deleteMyCommands`` act on that exact list, as Telegram's do. (python-telegram-bot shows
a 400's description without "Bad Request: " and capitalized, so BOT_COMMAND_INVALID
reads "Bot_command_invalid".)

Records: ``server.requests`` (method names in order, failures and hangs included),
``server.calls`` ((method, params) pairs), ``server.messages`` (SentMessage,
accepted only; an edit updates its record in place), ``server.pushed`` (every update
pushed, delivered or not), ``server.pending_updates`` (queued, not yet confirmed),
``server.updates_confirmed`` (the highest offset a getUpdates confirmed: the bot has
seen every update below it; 0 before any), ``server.waiting_polls`` (long polls waiting
now), ``server.allowed_updates`` (as the bot last set it, None before), ``server.commands``
(the default scope's command list; ``server.commands_for(scope, language_code)`` for
others) and ``server.hook_errors``. Message ids count up per chat.

Crashes: ``server.on_accept(message)`` runs after a sendMessage was accepted and
recorded in ``server.messages`` and before the answer is written, outside the lock (so
it may call the server): kill the client there and Telegram has the message while the
client never learns it. If the hook raises, the exception goes to ``server.hook_errors``
and the connection is closed unanswered, with the message still accepted.

Requests: python-telegram-bot POSTs application/x-www-form-urlencoded, string
values raw and others JSON-encoded (``true``, ``{"is_disabled": true}``);
multipart only when uploading files (not modeled). JSON bodies are read too.
Booleans read as Telegram reads them: "true", "yes" or "1", in any case.

The validator is usable without a server: ``parse_html(text)`` returns the
visible text and the entities, or raises EntityError; ``check_text(text,
parse_mode)`` raises ApiError exactly as sendMessage would.

Not modeled: Markdown parse modes, entities other than text (photos, files),
reply markup, the 100-entity and nesting rules, chat-id/username aliasing, and
inline_message_id edits; in pushed messages, entities other than bot_command (mentions,
links, hashtags); webhooks (setWebhook, and the 409 getUpdates gets while one is set).
A reply (``reply_parameters``) must name a message id the chat has had, nothing more.
Telegram applies allowed_updates when an update is created, so one created before the
setting changed keeps the old verdict; here the setting in force at delivery decides
(an update it excludes is dropped). Telegram also turns a getUpdates that repeats the
previous offset within 3 s with a timeout under 3 into a 3 s long poll (so a
python-telegram-bot shutdown right after a poll can take 3 s longer), and delays a
409 by 3 s when it sent one less than 3 s before; neither is modeled, to keep tests
fast. Stricter than Telegram on purpose: a bare "&" and an ``<a>`` without href are
rejected (Telegram keeps or guesses them), and pushing a malformed update (a private
chat whose id is not the user's, a positive group id, no or several update types, an
update_id that does not increase) raises ValueError.
"""

from __future__ import annotations

import copy
import json
import re
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_TEXT = 4096
DEFAULT_TOKEN = "123456789:AAF-fake-token-for-tests_abcdefghijk"
BOT_ID = 123456789
BOT_USERNAME = "monitor_test_bot"
MESSAGE_METHODS = ("sendMessage", "editMessageText")
_BLOCKED = "Forbidden: bot was blocked by the user"
_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)

FIRST_UPDATE_ID = 100000001
LONG_POLL_MAX_TIMEOUT = 50  # seconds, as telegram-bot-api clamps it
UPDATE_TYPES = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "message_reaction",
    "message_reaction_count", "inline_query", "chosen_inline_result", "callback_query",
    "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer",
    "my_chat_member", "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
    "managed_bot", "guest_message",
)  # fmt: skip
NOT_BY_DEFAULT = ("chat_member", "message_reaction", "message_reaction_count")
_MESSAGE_UPDATES = ("message", "edited_message", "channel_post", "edited_channel_post")
CHAT_ACTIONS = (
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
)  # fmt: skip
_SCOPE_TYPES = (
    "default", "all_private_chats", "all_group_chats", "all_chat_administrators",
    "chat", "chat_administrators", "chat_member",
)  # fmt: skip
_DEFAULT_CHAT_IDS = {"group": -4012345678, "supergroup": -1001234567890, "channel": -1009876543210}
_ASCII_SPACE = " \t\n\r\x0b\x0c"  # what tdlib's trim() strips

# --- the HTML validator ------------------------------------------------------

_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "a": "text_link", "code": "code", "pre": "pre",
    "span": "spoiler", "tg-spoiler": "spoiler", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}  # fmt: skip
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# Telegram's own parser takes "&amp" without ";" and "&#X41;" as text; we refuse them.
_ENTITY = re.compile(r"&(?:#(\d{1,8})|#x([0-9a-fA-F]{1,7})|([a-zA-Z]+));")
_PLAIN = re.compile(r"[^&<]+")
_SPACE = re.compile(r"\s*")
_TAG_NAME = re.compile(r"[^\s>]*")  # as in tdlib: "<br/>" is the tag "br/"
_ATTRIBUTE_NAME = re.compile(r"[^\s=>]*")
_EQUALS = re.compile(r"\s*=\s*")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.\-]*")  # an unquoted attribute value
_QUOTED = {'"': re.compile(r'[^"&]+'), "'": re.compile(r"[^'&]+")}
_LINK_SCHEMES = ("http", "https", "tg", "ftp")  # others are silently not links, as in Telegram


class EntityError(ValueError):
    """HTML Telegram refuses; str() is what follows "can't parse entities: "."""


class _Scanner:
    """A strict one-pass scan modeled on tdlib's parse_html (errors use its wording)."""

    def __init__(self, source: str) -> None:
        self.src, self.pos = source, 0
        self.text: list[str] = []
        self.units = 0  # UTF-16 length of the visible text so far: entity offsets use it
        self.open: list[tuple[str, int, dict[str, str]]] = []  # tag, offset, attributes
        self.entities: list[dict[str, Any]] = []

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        while self.pos < len(self.src):
            if self.peek() == "&":
                self.emit(self.entity())
            elif self.src.startswith("</", self.pos):
                self.end_tag()
            elif self.peek() == "<":
                self.start_tag()
            else:
                self.emit(self.take(_PLAIN))
        if self.open:
            tag = self.open[-1][0]
            raise EntityError(f'Can\'t find end tag corresponding to start tag "{tag}"')
        return "".join(self.text), sorted(self.entities, key=lambda e: e["offset"])

    def peek(self) -> str:
        return self.src[self.pos : self.pos + 1]  # "" at the end

    def take(self, pattern: re.Pattern[str]) -> str:
        match = pattern.match(self.src, self.pos)
        if match is None:
            return ""
        self.pos = match.end()
        return match.group()

    def emit(self, text: str) -> None:
        self.text.append(text)
        self.units += utf16_len(text)

    def at(self, pos: int) -> str:
        return f"at byte offset {len(self.src[:pos].encode('utf-8', 'surrogatepass'))}"

    def entity(self) -> str:
        match = _ENTITY.match(self.src, self.pos)
        decimal, hexadecimal, name = match.groups() if match else (None, None, None)
        char = _NAMED.get(name or "", "")
        if decimal or hexadecimal:
            code = int(decimal) if decimal else int(hexadecimal or "0", 16)
            char = chr(code) if 0 < code < 0x10FFFF and not 0xD800 <= code <= 0xDFFF else ""
        if not match or not char:
            raise EntityError(f'Unsupported character entity or unescaped "&" {self.at(self.pos)}')
        self.pos = match.end()
        return char

    def start_tag(self) -> None:
        begin = self.pos
        self.pos += 1
        name = self.take(_TAG_NAME).lower()
        if not self.peek():
            raise EntityError(f"Unclosed start tag {self.at(begin)}")
        if name not in _TAGS:
            raise EntityError(f'Unsupported start tag "{name}" {self.at(begin)}')
        attributes = self.attributes(name, begin)
        _check_attributes(name, attributes, self.at(begin))
        self.open.append((name, self.units, attributes))
        self.pos += 1  # the ">"

    def attributes(self, tag: str, begin: int) -> dict[str, str]:
        found: dict[str, str] = {}
        while self.take(_SPACE) is not None and self.peek() not in ("", ">"):
            name = self.take(_ATTRIBUTE_NAME).lower()
            if not name:
                raise EntityError(f'Empty attribute name in the tag "{tag}" {self.at(begin)}')
            if self.take(_EQUALS):
                found[name] = self.attribute_value(begin)
            elif tag == "blockquote" and name == "expandable":
                found[name] = ""
            else:
                raise EntityError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" {self.at(begin)}'
                )
        if not self.peek():
            raise EntityError(f"Unclosed start tag {self.at(begin)}")
        return found

    def attribute_value(self, begin: int) -> str:
        quote = self.peek()
        if quote not in _QUOTED:
            start = self.pos
            token = self.take(_NAME_TOKEN)
            if not (self.peek().isspace() or self.peek() == ">"):
                raise EntityError(f"Unexpected end of name token {self.at(start)}")
            return token.lower()
        self.pos += 1
        value: list[str] = []
        while self.peek() not in (quote, ""):
            value.append(self.entity() if self.peek() == "&" else self.take(_QUOTED[quote]))
        if not self.peek():
            raise EntityError(f"Unclosed start tag {self.at(begin)}")
        self.pos += 1
        return "".join(value)

    def end_tag(self) -> None:
        begin = self.pos
        if not self.open:
            raise EntityError(f"Unexpected end tag {self.at(begin)}")
        close = self.src.find(">", begin + 2)
        if close < 0:
            raise EntityError(f"Unclosed end tag {self.at(begin)}")
        name = self.src[begin + 2 : close].lower()
        expected, start, attributes = self.open.pop()
        if name and name != expected:  # tdlib accepts "</>" as closing whatever is open
            raise EntityError(
                f'Unmatched end tag {self.at(begin)}, expected "</{expected}>", found "</{name}>"'
            )
        self.pos = close + 1
        entity = _entity(expected, attributes, start, self.units - start)
        if entity:
            self.entities.append(entity)


def _check_attributes(tag: str, attributes: dict[str, str], where: str) -> None:
    if tag == "a" and "href" not in attributes:
        raise EntityError(f'Tag "a" must have attribute "href" {where}')
    if tag == "span" and attributes.get("class") != "tg-spoiler":
        raise EntityError(f'Tag "span" must have class "tg-spoiler" {where}')
    if tag == "tg-emoji" and not attributes.get("emoji-id", "").isdigit():
        raise EntityError(f'Custom emoji entity must have a valid "emoji-id" {where}')


def _entity(tag: str, attributes: dict[str, str], offset: int, length: int) -> dict[str, Any] | None:
    """The MessageEntity Telegram would store; empty ones and bad links are dropped, not refused."""
    kind = _TAGS[tag]
    entity: dict[str, Any] = {"type": kind, "offset": offset, "length": length}
    if kind == "text_link":
        url = attributes["href"].strip()
        if urlsplit(url).scheme.lower() not in _LINK_SCHEMES:
            return None
        entity["url"] = url
    if kind == "custom_emoji":
        entity["custom_emoji_id"] = attributes["emoji-id"]
    if kind == "blockquote" and "expandable" in attributes:
        entity["type"] = "expandable_blockquote"
    return entity if length > 0 else None


def utf16_len(text: str) -> int:
    """Telegram counts lengths and offsets in UTF-16 code units."""
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Visible text and entities of Telegram HTML, or EntityError."""
    return _Scanner(text).run()


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description, optional parameters; with html=True
    a proxy's HTML page instead of JSON (handle() raises it, for the HTTP side to send)."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None, html: bool = False
    ):
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters
        self.html = html

    def page(self) -> bytes:
        """The error page nginx, in front of the Bot API, answers a gateway failure with."""
        title = f"{self.status} {self.description}"
        return (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        ).encode()

    def body(self) -> dict[str, Any]:
        answer = {"ok": False, "error_code": self.status, "description": self.description}
        return answer | ({"parameters": self.parameters} if self.parameters else {})


def check_text(text: str | None, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """What sendMessage does with text and parse_mode: (visible text, entities) or ApiError."""
    mode = (parse_mode or "").lower()
    if mode not in ("", "html"):
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    visible, entities = text or "", []
    if mode == "html":
        try:
            visible, entities = parse_html(visible)
        except EntityError as error:
            raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
    if not visible.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(visible.strip()) > MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")
    return visible, entities


_COMMAND_WORD = re.compile(r"[A-Za-z0-9_]*")  # ASCII only, as in tdlib


def _is_word_character(char: str) -> bool:
    return char.isalnum() or char == "_"  # tdlib: Unicode letters and numbers, and "_"


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entities Telegram finds in a message text, as tdlib's match_bot_commands:
    "/" + 1-64 of [A-Za-z0-9_], optionally "@" + a 3-32 character bot name, neither preceded
    nor followed by a word character, "/", "<" or ">". Offsets and lengths in UTF-16 units."""
    found: list[dict[str, Any]] = []
    pos = 0
    while (pos := text.find("/", pos)) >= 0:
        if pos and (_is_word_character(text[pos - 1]) or text[pos - 1] in "/<>"):
            pos += 1
            continue
        begin = pos
        pos = end = _COMMAND_WORD.match(text, pos + 1).end()  # type: ignore[union-attr]
        if not 1 <= end - begin - 1 <= 64:
            continue
        if text[pos : pos + 1] == "@":
            pos = _COMMAND_WORD.match(text, pos + 1).end()  # type: ignore[union-attr]
            if not 3 <= pos - end - 1 <= 32:
                continue
            end = pos
        following = text[pos : pos + 1]
        if following and (_is_word_character(following) or following in "/<>"):
            continue
        offset = utf16_len(text[:begin])
        found.append({"type": "bot_command", "offset": offset, "length": utf16_len(text[begin:end])})
    return found


# --- the API -----------------------------------------------------------------

_BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Test", "username": BOT_USERNAME}


@dataclass
class SentMessage:
    chat_id: str  # as the client sent it
    message_id: int  # counts up per chat from 1 (pushed messages in that chat count too)
    text: str  # exactly as sent (the HTML)
    parse_mode: str | None  # as sent
    visible_text: str  # after entity parsing: what the user sees
    entities: list[dict[str, Any]]  # Telegram MessageEntity dicts, UTF-16 offsets
    disable_notification: bool = False
    link_preview_options: dict[str, Any] | None = None
    date: int = field(default_factory=lambda: int(time.time()))
    edits: int = 0  # accepted editMessageText calls
    reply_parameters: dict[str, Any] | None = None  # as sent, when the message is a reply


class _Hangup(Exception):
    """Close the connection without an answer (the on_accept hook raised)."""


class _Hold(Exception):
    """Leave the call unanswered until the client hangs up (hang_next)."""


@dataclass(frozen=True)
class _Scripted:
    error: ApiError | None  # None: a hang
    methods: tuple[str, ...]
    chat_id: str | None  # None: any chat

    def applies(self, method: str, params: dict[str, str]) -> bool:
        return method in self.methods and self.chat_id in (None, params.get("chat_id"))


def _flag(value: str | None) -> bool:
    """A boolean parameter as telegram-bot-api reads it."""
    return (value or "").strip().lower() in ("true", "yes", "1")


def _int_arg(params: dict[str, str], name: str, default: int) -> int:
    """An integer parameter as telegram-bot-api reads it: absent or empty is the default,
    anything else its leading digits (none: 0)."""
    value = params.get(name, "")
    if not value:
        return default
    match = re.match(r"-?\d+", value)
    return int(match.group()) if match else 0


def _update_type(update: dict[str, Any]) -> str:
    kinds = [key for key in update if key != "update_id"]
    return kinds[0] if len(kinds) == 1 else ""


def _scope_key(scope: str | dict[str, Any]) -> str:
    """A BotCommandScope (JSON or parsed) as a canonical key, or ApiError if Telegram can't read it."""
    if isinstance(scope, str):
        if not scope:
            return _scope_key({"type": "default"})
        try:
            scope = json.loads(scope)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse BotCommandScope JSON object") from None
    if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES:
        raise ApiError(400, "Bad Request: can't parse BotCommandScope: unsupported type")
    key: dict[str, Any] = {"type": scope["type"]}
    if scope["type"] in ("chat", "chat_administrators", "chat_member"):
        if scope.get("chat_id") in (None, ""):
            raise ApiError(400, "Bad Request: can't parse BotCommandScope: empty chat_id")
        key["chat_id"] = str(scope["chat_id"])
    if scope["type"] == "chat_member":
        user_id = scope.get("user_id")
        if not isinstance(user_id, int) or user_id <= 0:
            raise ApiError(400, "Bad Request: can't parse BotCommandScope: invalid user_id")
        key["user_id"] = user_id
    return json.dumps(key, sort_keys=True)


def _read_commands(raw: str) -> list[tuple[str, str]]:
    """The (command, description) pairs of setMyCommands' JSON, as telegram-bot-api parses it."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Bad Request: can't parse commands JSON object") from None
    if not isinstance(value, list):
        raise ApiError(400, "Bad Request: expected an Array of BotCommand")
    pairs = []
    for item in value:
        if not isinstance(item, dict):
            raise ApiError(400, "Bad Request: can't parse BotCommand: expected an Object")
        for name in ("command", "description"):
            if name not in item:
                raise ApiError(400, f"Bad Request: can't parse BotCommand: can't find field \"{name}\"")
            if not isinstance(item[name], str):
                raise ApiError(
                    400, f'Bad Request: can\'t parse BotCommand: field "{name}" must be of type String'
                )
        pairs.append((item["command"], item["description"]))
    return pairs


def check_commands(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The command list setMyCommands stores, or ApiError: tdlib's checks, then the server's."""
    commands = []
    for command, description in pairs:
        command = command.strip(_ASCII_SPACE)
        command = command.removeprefix("/")
        if not command:
            raise ApiError(400, "Bad Request: command must be non-empty")
        if len(command) > 32:
            raise ApiError(400, "Bad Request: command length must not exceed 32")
        description = description.strip(_ASCII_SPACE)
        if not description:
            raise ApiError(400, "Bad Request: command description must be non-empty")
        if len(description) > 256:
            raise ApiError(400, "Bad Request: command description length must not exceed 256")
        commands.append({"command": command, "description": description})
    if len(commands) > 100:
        raise ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
    if any(not re.fullmatch(r"[a-z0-9_]+", c["command"]) for c in commands):
        raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
    return commands


class FakeTelegramAPI:
    """The server and its scripted state; see the module docstring."""

    def __init__(self, token: str = DEFAULT_TOKEN, known_chats: set[str] | None = None) -> None:
        self.token = token
        self.known_chats = known_chats
        self.down = self.drop = False
        self.delay = 0.0
        self.on_accept: Callable[[SentMessage], None] | None = None
        self.requests: list[str] = []
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.messages: list[SentMessage] = []
        self.pushed: list[dict[str, Any]] = []
        self.hook_errors: list[Exception] = []
        self.updates_confirmed = 0
        self.allowed_updates: list[str] | None = None
        self._scripted: deque[_Scripted] = deque()  # fail_next and hang_next, in order
        self._blocked: dict[str, str] = {}
        self._migrated: dict[str, int] = {}
        self._queue: list[dict[str, Any]] = []  # pushed, neither confirmed nor dropped
        self._next_update_id = FIRST_UPDATE_ID
        self._long_polls = 0  # long polls begun: a waiting one that is not the last gets a 409
        self._waiting = 0
        self._last_message_id: dict[str, int] = {}  # per chat, sent and pushed alike
        self._chats: dict[str, dict[str, Any]] = {}  # Chat objects of pushed messages
        self._command_lists: dict[tuple[str, str], list[dict[str, str]]] = {}  # (scope, language)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified on a push, a long poll, stop()
        self._stopped = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # scripting

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 429,
        retry_after: int = 1,
        description: str | None = None,
        methods: tuple[str, ...] = MESSAGE_METHODS,
        chat_id: str | int | None = None,
        html: bool = False,
    ) -> None:
        """The next n calls of methods (for chat_id, if given) fail with this status (429
        carries retry_after); html=True answers nginx's HTML page, as a gateway error does."""
        parameters = {"retry_after": retry_after} if status == 429 and not html else None
        default = {
            429: f"Too Many Requests: retry after {retry_after}",
            403: _BLOCKED,
            400: "Bad Request",
            409: _CONFLICT,
            500: "Internal Server Error",
            502: "Bad Gateway",
            504: "Gateway Time-out" if html else "Gateway Timeout",
        }.get(status, f"Error {status}")
        error = ApiError(status, description or default, parameters, html)
        self._script(_Scripted(error, methods, None if chat_id is None else str(chat_id)), n)

    def hang_next(
        self, n: int = 1, *, methods: tuple[str, ...] = MESSAGE_METHODS, chat_id: str | int | None = None
    ) -> None:
        """The next n calls of methods (for chat_id, if given) are read and never answered:
        held until the client hangs up or stop(), then closed. Telegram never handled them."""
        self._script(_Scripted(None, methods, None if chat_id is None else str(chat_id)), n)

    def _script(self, scripted: _Scripted, n: int) -> None:
        with self._lock:
            self._scripted.extend([scripted] * n)

    def block(self, chat_id: str | int, description: str = _BLOCKED) -> None:
        self._blocked[str(chat_id)] = description

    def unblock(self, chat_id: str | int) -> None:
        self._blocked.pop(str(chat_id), None)

    def migrate(self, chat_id: str | int, new_chat_id: int) -> None:
        self._migrated[str(chat_id)] = new_chat_id

    def push_message(
        self,
        text: str,
        *,
        user_id: int = 1001,
        chat_id: int | str | None = None,
        chat_type: str = "private",
        username: str | None = "analyst",
        first_name: str = "Ana",
        title: str | None = None,
    ) -> int:
        """A user writes text in a chat (private: the user's own); returns the update_id."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        user |= {"username": username} if username else {}
        chat: dict[str, Any]
        if chat_type == "private":
            if chat_id is not None and int(chat_id) != user_id:
                raise ValueError(f"a private chat's id is its user's id, {user_id}, not {chat_id}")
            chat = {"id": user_id, "first_name": first_name, "type": "private"}
            chat |= {"username": username} if username else {}
        elif chat_type in _DEFAULT_CHAT_IDS:
            number = _DEFAULT_CHAT_IDS[chat_type] if chat_id is None else int(chat_id)
            if number >= 0:
                raise ValueError(f"a {chat_type}'s id is negative, not {number}")
            chat = {"id": number, "title": title or f"Test {chat_type}", "type": chat_type}
        else:
            raise ValueError(f"chat_type is private, group, supergroup or channel, not {chat_type!r}")
        message: dict[str, Any] = {"message_id": 0, "date": int(time.time()), "chat": chat}
        message |= {"sender_chat": chat} if chat_type == "channel" else {"from": user}
        message["text"] = text
        entities = bot_command_entities(text)
        message |= {"entities": entities} if entities else {}
        with self._lock:
            message["message_id"] = self._last_message_id.get(str(chat["id"]), 0) + 1
            return self._push({"channel_post" if chat_type == "channel" else "message": message})

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw Update (copied; update_id added if missing); returns its update_id."""
        update = copy.deepcopy(update)
        if _update_type(update) not in UPDATE_TYPES:
            raise ValueError(f"an update has one of {UPDATE_TYPES}, not {sorted(update)}")
        with self._lock:
            return self._push(update)

    def _push(self, update: dict[str, Any]) -> int:
        update_id = update.setdefault("update_id", self._next_update_id)
        if not isinstance(update_id, int) or update_id < self._next_update_id:
            raise ValueError(
                f"update_id {update_id!r}: update ids increase, the next is {self._next_update_id}"
            )
        self._next_update_id = update_id + 1
        kind = _update_type(update)
        body = update[kind]
        if kind in _MESSAGE_UPDATES and isinstance(body, dict) and isinstance(body.get("chat"), dict):
            key = str(body["chat"].get("id"))
            self._chats[key] = body["chat"]
            if isinstance(body.get("message_id"), int):
                self._last_message_id[key] = max(self._last_message_id.get(key, 0), body["message_id"])
        self.pushed.append(update)
        self._queue.append(update)
        self._changed.notify_all()
        return update_id

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> bool:
        """Whether predicate() became true within timeout seconds (polled every interval)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)
        return True

    # records

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates pushed and neither confirmed nor dropped, oldest first."""
        with self._lock:
            return list(self._queue)

    @property
    def waiting_polls(self) -> int:
        """getUpdates long polls waiting right now."""
        return self._waiting

    @property
    def commands(self) -> list[dict[str, str]]:
        """The command list of the default scope and no language."""
        return self.commands_for()

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """The command list set for exactly this scope and language ([] if none)."""
        key = (_scope_key(scope or {"type": "default"}), language_code)
        with self._lock:
            return copy.deepcopy(self._command_lists.get(key, []))

    # lifecycle

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def bot_url(self) -> str:
        """What to pass as python-telegram-bot's base_url: the token is appended to it."""
        return f"{self.base_url}/bot"

    def start(self) -> FakeTelegramAPI:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()  # wakes handlers sleeping on self.delay
        with self._changed:
            self._changed.notify_all()  # and long polls, which answer what they have
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def __enter__(self) -> FakeTelegramAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # the methods

    def handle(self, token: str, method: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """One API call: (HTTP status, JSON body). Usable without HTTP (but a scripted
        html failure raises its ApiError, and a hang _Hold, for the HTTP side to act on)."""
        with self._lock:
            self.requests.append(method)
            self.calls.append((method, params))
            sent = len(self.messages)
            try:
                result = self._answer(token, method, params)
            except ApiError as error:
                if error.html:
                    raise
                return error.status, error.body()
            accepted = self.messages[sent:] if method.lower() == "sendmessage" else []
        for message in accepted:  # outside the lock: the hook may use the server
            self._run_hook(message)
        return 200, {"ok": True, "result": result}

    def _run_hook(self, message: SentMessage) -> None:
        hook = self.on_accept
        if hook is None:
            return
        try:
            hook(message)
        except Exception as error:
            self.hook_errors.append(error)
            raise _Hangup from error

    def _answer(self, token: str, method: str, params: dict[str, str]) -> Any:
        if token != self.token:
            raise ApiError(401, "Unauthorized")
        scripted = next((s for s in self._scripted if s.applies(method, params)), None)
        if scripted is not None:
            self._scripted.remove(scripted)  # the first equal one: this one, as they are in order
            if scripted.error is None:
                raise _Hold
            raise scripted.error
        handlers = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "sendchataction": self._send_chat_action,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
        }
        if method.lower() not in handlers:
            raise ApiError(404, "Not Found")
        return handlers[method.lower()](params)

    def _get_me(self, params: dict[str, str]) -> dict[str, Any]:
        return _BOT_USER | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,  # privacy mode, the default
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _send_message(self, params: dict[str, str]) -> dict[str, Any]:
        chat_id = self._chat(params)
        visible, entities = check_text(params.get("text"), params.get("parse_mode"))
        reply = self._reply(chat_id, params)
        message = SentMessage(
            chat_id=chat_id,
            message_id=self._last_message_id.get(chat_id, 0) + 1,
            text=params.get("text", ""),
            parse_mode=params.get("parse_mode"),
            visible_text=visible,
            entities=entities,
            disable_notification=params.get("disable_notification") == "true",
            link_preview_options=json.loads(params.get("link_preview_options") or "null"),
            reply_parameters=reply,
        )
        self._last_message_id[chat_id] = message.message_id
        self.messages.append(message)
        return self._message_json(message)

    def _reply(self, chat_id: str, params: dict[str, str]) -> dict[str, Any] | None:
        """The reply_parameters of a sendMessage, if the message they name exists."""
        raw = params.get("reply_parameters")
        if not raw:
            return None
        try:
            reply = json.loads(raw)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise ApiError(400, "Bad Request: can't parse reply parameters JSON object")
        message_id = reply.get("message_id")
        last = self._last_message_id.get(str(reply.get("chat_id", chat_id)), 0)
        found = isinstance(message_id, int) and 0 < message_id <= last
        if not found and not reply.get("allow_sending_without_reply"):
            raise ApiError(400, "Bad Request: message to be replied not found")
        return reply

    def _edit_message_text(self, params: dict[str, str]) -> dict[str, Any]:
        chat_id = self._chat(params)
        wanted = params.get("message_id", "")
        found = [m for m in self.messages if m.chat_id == chat_id and str(m.message_id) == wanted]
        if not found:
            raise ApiError(400, "Bad Request: message to edit not found")
        visible, entities = check_text(params.get("text"), params.get("parse_mode"))
        message = found[0]
        if (visible, entities) == (message.visible_text, message.entities):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        message.text, message.parse_mode = params.get("text", ""), params.get("parse_mode")
        message.visible_text, message.entities = visible, entities
        message.edits += 1
        return self._message_json(message) | {"edit_date": int(time.time())}

    def _send_chat_action(self, params: dict[str, str]) -> bool:
        if params.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self._chat(params)
        return True

    def _get_updates(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """Called with the lock held; a long poll waits on self._changed, whose wait()
        releases the lock, so the server goes on answering (and pushes go on) meanwhile."""
        offset = _int_arg(params, "offset", 0)
        limit = min(max(_int_arg(params, "limit", 100), 1), 100)
        timeout = min(max(_int_arg(params, "timeout", 0), 0), LONG_POLL_MAX_TIMEOUT)
        self._set_allowed_updates(params.get("allowed_updates", ""))
        ready = self._deliverable(offset, limit)
        if ready or timeout == 0 or self._stopped.is_set():
            return ready
        self._long_polls += 1
        mine = self._long_polls
        self._changed.notify_all()  # a long poll waiting already ends with 409
        deadline = time.monotonic() + timeout
        self._waiting += 1
        try:
            while True:
                self._changed.wait(max(deadline - time.monotonic(), 0))
                if self._long_polls != mine:
                    raise ApiError(409, _CONFLICT)
                ready = self._deliverable(offset, limit)
                if ready or self._stopped.is_set() or time.monotonic() >= deadline:
                    return ready
        finally:
            self._waiting -= 1

    def _deliverable(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """Forget what offset confirms and what allowed_updates excludes; the first limit left."""
        if offset < 0 and self._queue:
            offset += self._next_update_id  # -n: the last n updates
        if offset > 0:
            self._queue = [update for update in self._queue if update["update_id"] >= offset]
            self.updates_confirmed = max(self.updates_confirmed, offset)
        chosen = {kind for kind in self.allowed_updates or () if kind in UPDATE_TYPES}
        allowed = chosen or {kind for kind in UPDATE_TYPES if kind not in NOT_BY_DEFAULT}
        self._queue = [update for update in self._queue if _update_type(update) in allowed]
        return self._queue[:limit]

    def _set_allowed_updates(self, raw: str) -> None:
        """Remember a readable allowed_updates; an absent or unreadable one changes nothing."""
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            return
        if isinstance(value, list) and all(isinstance(kind, str) for kind in value):
            self.allowed_updates = [kind.lower() for kind in value]

    def _delete_webhook(self, params: dict[str, str]) -> bool:
        if _flag(params.get("drop_pending_updates")):
            self._queue.clear()
        return True

    def _get_webhook_info(self, params: dict[str, str]) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._queue)}

    def _command_key(self, params: dict[str, str]) -> tuple[str, str]:
        scope = _scope_key(params.get("scope", ""))
        language = params.get("language_code", "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise ApiError(400, "Bad Request: invalid language code specified")
        return scope, language

    def _set_my_commands(self, params: dict[str, str]) -> bool:
        pairs = _read_commands(params.get("commands", ""))
        key = self._command_key(params)
        commands = check_commands(pairs)
        if commands:
            self._command_lists[key] = commands
        else:
            self._command_lists.pop(key, None)
        return True

    def _get_my_commands(self, params: dict[str, str]) -> list[dict[str, str]]:
        return copy.deepcopy(self._command_lists.get(self._command_key(params), []))

    def _delete_my_commands(self, params: dict[str, str]) -> bool:
        self._command_lists.pop(self._command_key(params), None)
        return True

    def _chat(self, params: dict[str, str]) -> str:
        chat_id = params.get("chat_id", "")
        if not chat_id:
            raise ApiError(400, "Bad Request: chat_id is empty")
        if chat_id in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_id]},
            )
        if chat_id in self._blocked:
            raise ApiError(403, self._blocked[chat_id])
        if self.known_chats is not None and chat_id not in {str(c) for c in self.known_chats}:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _message_json(self, message: SentMessage) -> dict[str, Any]:
        chat: dict[str, Any]
        if message.chat_id in self._chats:  # a chat a pushed message came from
            chat = dict(self._chats[message.chat_id])
        elif re.fullmatch(r"-?\d+", message.chat_id):
            number = int(message.chat_id)
            chat = {"id": number, "type": "private" if number > 0 else "supergroup"}
        else:  # "@channel": Telegram answers with the channel's numeric id
            chat = {"id": -1001000000000 - len(message.chat_id), "type": "channel"}
            chat["username"] = message.chat_id.lstrip("@")
        answer = {
            "message_id": message.message_id,
            "date": message.date,
            "chat": chat,
            "from": dict(_BOT_USER),
            "text": message.visible_text,
        }
        return answer | ({"entities": message.entities} if message.entities else {})


# --- HTTP --------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeTelegramAPI


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        api = self.server.api
        if api.delay:
            api._stopped.wait(api.delay)
        if api.drop:
            self.close_connection = True  # no status line: the client sees a dropped connection
            return
        if api.down:
            self._answer(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
            return
        route = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", urlsplit(self.path).path)
        if route is None:
            body: dict[str, Any] = {"ok": False, "error_code": 404, "description": "Not Found"}
            self._answer(404, json.dumps(body).encode(), "application/json")
            return
        try:
            status, body = api.handle(unquote(route[1]), route[2], self._params())
        except _Hangup:
            self.close_connection = True  # accepted, but the client never hears of it
            return
        except _Hold:
            self._wait_for_hangup(api)
            self.close_connection = True
            return
        except ApiError as error:  # a scripted gateway error: the proxy's HTML page
            self._answer(error.status, error.page(), "text/html")
            return
        self._answer(status, json.dumps(body).encode(), "application/json")

    def _wait_for_hangup(self, api: FakeTelegramAPI) -> None:
        """Until the client closes the connection (or writes to it) or the server stops."""
        while not api._stopped.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.02)
            if readable:
                return

    do_GET = do_POST

    def _params(self) -> dict[str, str]:
        """Query and body parameters, all strings (see "Requests" in the module docstring)."""
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = self.headers.get_content_type()
        if kind == "application/json":
            decoded = json.loads(body or b"{}")
            params |= {k: v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()}
        else:
            params |= dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return params

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean
