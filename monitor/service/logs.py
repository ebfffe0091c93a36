"""Logging: one line per event, key=value, and no secret in any line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from monitor.config.values import redact_urls

FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


class Redact(logging.Filter):
    """Replaces every secret (the bot token) in a record's final text with '***', and the
    credentials of every URL in it (user:password@, ?apikey=...; config.values.redact_urls)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        text = redact_urls(record.getMessage())
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self.secrets:
            text = text.replace(secret, "***")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "***")
        if record.exc_text:
            record.exc_text = redact_urls(record.exc_text)
        record.msg, record.args = text, None
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, "%Y-%m-%dT%H:%M:%S%z"))
    handler.addFilter(Redact(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO, and Telegram's URLs contain the token.
    for noisy in ("httpx", "httpcore", "telegram", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
