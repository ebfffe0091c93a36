"""A loopback fake of the Telegram Bot API that python-telegram-bot really talks to.

It rejects what Telegram rejects, with Telegram's JSON error shapes, so a test
that passes here would pass against api.telegram.org::

    from tests.fakes.telegram_api import telegram_api  # noqa: F401  (the fixture)

    def test_x(telegram_api):                       # a started FakeTelegramAPI
        bot = telegram.Bot(telegram_api.token, base_url=telegram_api.bot_url)
        ...                                         # bot_url == f"{base_url}/bot"

Methods: ``getMe`` (401 Unauthorized with any other token), ``sendMessage`` and
``editMessageText`` (parse_mode HTML or none; anything else is a 400). Other
methods answer 404 Not Found.

Scripting (all may be set at any time, from the test thread)::

    server.fail_next(n=1, status=429, retry_after=5)  # the next n sendMessage/editMessageText
    server.fail_next(status=500)          # ...fail; also 502, 400, 403; description="..."
    server.known_chats = {"42", "@news"}  # default None: any chat; others 400 chat not found
    server.block("42")                    # 403 "Forbidden: bot was blocked by the user"
    server.migrate("-5", -1005)           # 400 + parameters.migrate_to_chat_id (ChatMigrated)
    server.down = True                    # 502 Bad Gateway with an HTML body (a proxy), to all
    server.drop = True                    # close every connection without answering
    server.delay = 1.0                    # wait this long before answering (client timeouts)

Records: ``server.requests`` (method names in order, failures included),
``server.calls`` ((method, params) pairs), ``server.messages`` (SentMessage,
accepted only; an edit updates its record in place). Message ids count up per chat.

Requests: python-telegram-bot POSTs application/x-www-form-urlencoded, string
values raw and others JSON-encoded (``true``, ``{"is_disabled": true}``);
multipart only when uploading files (not modeled). JSON bodies are read too.

The validator is usable without a server: ``parse_html(text)`` returns the
visible text and the entities, or raises EntityError; ``check_text(text,
parse_mode)`` raises ApiError exactly as sendMessage would.

Not modeled: Markdown parse modes, entities other than text (photos, files),
reply markup, the 100-entity and nesting rules, chat-id/username aliasing, and
inline_message_id edits. Stricter than Telegram on purpose: a bare "&" and an
``<a>`` without href are rejected (Telegram keeps or guesses them).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

MAX_TEXT = 4096
DEFAULT_TOKEN = "123456789:AAF-fake-token-for-tests_abcdefghijk"
BOT_ID = 123456789
MESSAGE_METHODS = ("sendMessage", "editMessageText")
_BLOCKED = "Forbidden: bot was blocked by the user"

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
    """A Bot API error answer: HTTP status, description, optional parameters."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

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


# --- the API -----------------------------------------------------------------


@dataclass
class SentMessage:
    chat_id: str  # as the client sent it
    message_id: int  # counts up per chat from 1
    text: str  # exactly as sent (the HTML)
    parse_mode: str | None  # as sent
    visible_text: str  # after entity parsing: what the user sees
    entities: list[dict[str, Any]]  # Telegram MessageEntity dicts, UTF-16 offsets
    disable_notification: bool = False
    link_preview_options: dict[str, Any] | None = None
    date: int = field(default_factory=lambda: int(time.time()))
    edits: int = 0  # accepted editMessageText calls


class FakeTelegramAPI:
    """The server and its scripted state; see the module docstring."""

    def __init__(self, token: str = DEFAULT_TOKEN, known_chats: set[str] | None = None) -> None:
        self.token = token
        self.known_chats = known_chats
        self.down = self.drop = False
        self.delay = 0.0
        self.requests: list[str] = []
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.messages: list[SentMessage] = []
        self._failures: deque[tuple[ApiError, tuple[str, ...]]] = deque()
        self._blocked: dict[str, str] = {}
        self._migrated: dict[str, int] = {}
        self._lock = threading.Lock()
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
    ) -> None:
        """The next n calls of methods fail with this status (429 carries retry_after)."""
        parameters = {"retry_after": retry_after} if status == 429 else None
        default = {
            429: f"Too Many Requests: retry after {retry_after}",
            403: _BLOCKED,
            400: "Bad Request",
            500: "Internal Server Error",
            502: "Bad Gateway",
        }.get(status, f"Error {status}")
        error = ApiError(status, description or default, parameters)
        with self._lock:
            self._failures.extend([(error, methods)] * n)

    def block(self, chat_id: str | int, description: str = _BLOCKED) -> None:
        self._blocked[str(chat_id)] = description

    def migrate(self, chat_id: str | int, new_chat_id: int) -> None:
        self._migrated[str(chat_id)] = new_chat_id

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
        """One API call: (HTTP status, JSON body). Usable without HTTP."""
        with self._lock:
            self.requests.append(method)
            self.calls.append((method, params))
            try:
                return 200, {"ok": True, "result": self._answer(token, method, params)}
            except ApiError as error:
                return error.status, error.body()

    def _answer(self, token: str, method: str, params: dict[str, str]) -> Any:
        if token != self.token:
            raise ApiError(401, "Unauthorized")
        if self._failures and method in self._failures[0][1]:
            raise self._failures.popleft()[0]
        handlers = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
        }
        if method.lower() not in handlers:
            raise ApiError(404, "Not Found")
        return handlers[method.lower()](params)

    def _get_me(self, params: dict[str, str]) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Test", "username": "monitor_test_bot"}

    def _send_message(self, params: dict[str, str]) -> dict[str, Any]:
        chat_id = self._chat(params)
        visible, entities = check_text(params.get("text"), params.get("parse_mode"))
        previous = [m.message_id for m in self.messages if m.chat_id == chat_id]
        message = SentMessage(
            chat_id=chat_id,
            message_id=max(previous, default=0) + 1,
            text=params.get("text", ""),
            parse_mode=params.get("parse_mode"),
            visible_text=visible,
            entities=entities,
            disable_notification=params.get("disable_notification") == "true",
            link_preview_options=json.loads(params.get("link_preview_options") or "null"),
        )
        self.messages.append(message)
        return self._message_json(message)

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
        if re.fullmatch(r"-?\d+", message.chat_id):
            number = int(message.chat_id)
            chat = {"id": number, "type": "private" if number > 0 else "supergroup"}
        else:  # "@channel": Telegram answers with the channel's numeric id
            chat = {"id": -1001000000000 - len(message.chat_id), "type": "channel"}
            chat["username"] = message.chat_id.lstrip("@")
        answer = {
            "message_id": message.message_id,
            "date": message.date,
            "chat": chat,
            "from": self._get_me({}),
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
        status, body = api.handle(unquote(route[1]), route[2], self._params())
        self._answer(status, json.dumps(body).encode(), "application/json")

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


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegramAPI]:
    """A started FakeTelegramAPI on 127.0.0.1, stopped after the test."""
    with FakeTelegramAPI() as server:
        yield server
