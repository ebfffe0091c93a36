"""Every error monitor raises or returns, rooted at MonitorError.

Each family carries the resource it is about, so a one-line message can say
what is wrong and where::

    MonitorError
     ├── ConfigError        (path, line)      bad monitor.toml
     ├── RuleError          (path, rule_id, position)  bad rule file or query
     ├── FeedError          (url)             one feed failed; returned as a value
     │    ├── FetchError                      network, HTTP status, timeout, size cap
     │    └── ParseError                      not a feed, or unreadable
     │         └── BudgetExceeded                 reading it took too long (or killed its worker)
     ├── StorageError       (path)            the archive cannot be opened or written
     └── NotifyError        (chat_id)         one alert could not be delivered
          ├── RetryLater    (retry_after)     429, flood control: wait and retry
          ├── Unavailable                     network error, 5xx, timeout: retry later
          ├── Rejected                        400 for this message: record, do not retry
          ├── ChatGone                        403 / chat not found: the chat is disabled
          └── ChatMoved     (new_chat_id)     group became a supergroup: send to the new id

Third-party exceptions are wrapped at their one boundary: httpx in fetch,
feedparser in parse, sqlite3 in storage, telegram in notify.
"""

from __future__ import annotations

from pathlib import Path


class MonitorError(Exception):
    """Root of every error monitor reports to a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(MonitorError):
    """The configuration file is missing, unreadable or invalid."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = str(self.path) if self.path is not None else "config"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}"


class RuleError(MonitorError):
    """A rule file or a rule query is invalid."""

    def __init__(
        self,
        message: str,
        path: Path | str | None = None,
        rule_id: str | None = None,
        position: int | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.rule_id = rule_id
        self.position = position
        self.line = line

    def __str__(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(str(self.path) + (f":{self.line}" if self.line is not None else ""))
        if self.rule_id is not None:
            parts.append(f"rule {self.rule_id!r}")
        if self.position is not None:
            parts.append(f"position {self.position}")
        prefix = ", ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class FeedError(MonitorError):
    """One feed could not be updated. Returned as a value, stored on the feed row."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url

    def __str__(self) -> str:
        return f"{self.url}: {self.message}"

    def __reduce__(self) -> tuple[object, ...]:
        # pickled from a parser process: the default would call cls(message), missing the URL
        return (_rebuild, (type(self), self.url, self.message, self.__dict__))


class FetchError(FeedError):
    """The feed could not be downloaded (network, HTTP status, timeout, size cap)."""

    def __init__(
        self, url: str, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(url, message)
        self.status = status
        self.retry_after = retry_after


class ParseError(FeedError):
    """The body is not a feed (an HTML page, garbage) or could not be read."""


class BudgetExceeded(ParseError):
    """Parsing and analysing the body took longer than [fetch] analysis_budget, or killed its
    worker process: it was stopped. The body's hash and ETag are kept, so the same body is not
    tried again."""


class StorageError(MonitorError):
    """The archive cannot be opened, migrated or written."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path is not None else self.message


class NotifyError(MonitorError):
    """An alert could not be delivered to a chat."""

    def __init__(self, message: str, chat_id: str | int | None = None) -> None:
        super().__init__(message)
        self.chat_id = chat_id

    def __str__(self) -> str:
        return f"chat {self.chat_id}: {self.message}" if self.chat_id is not None else self.message


class RetryLater(NotifyError):
    """Flood control (HTTP 429): wait retry_after seconds, then send again."""

    def __init__(self, message: str, chat_id: str | int | None = None, retry_after: float = 1.0) -> None:
        super().__init__(message, chat_id)
        self.retry_after = retry_after


class Unavailable(NotifyError):
    """Telegram could not be reached or failed on its side; the alert stays pending."""


class Rejected(NotifyError):
    """Telegram refused this one message (HTTP 400); sending it again will not help."""


class ChatGone(NotifyError):
    """The bot cannot post to this chat any more (blocked, removed, chat not found)."""


class ChatMoved(NotifyError):
    """The group became a supergroup: same chat, new id; send there instead."""

    def __init__(self, message: str, chat_id: str | int | None, new_chat_id: str) -> None:
        super().__init__(message, chat_id)
        self.new_chat_id = new_chat_id


def _rebuild(cls: type[FeedError], url: str, message: str, state: dict[str, object]) -> FeedError:
    error = cls.__new__(cls)
    MonitorError.__init__(error, message)
    error.__dict__.update(state, url=url)
    return error
