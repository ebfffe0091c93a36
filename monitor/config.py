"""Read monitor.toml once into a frozen Config.

Relative paths resolve against the config file's folder. Unknown keys are an
error naming the key and its line; the bot token may come from the
environment (which wins) and is never echoed in an error.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError
from monitor.types import Config, FeedConfig, FetchSettings, StorySettings, TelegramConfig

DEFAULT_PATH = "monitor.toml"
TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
CHAT_ENV = "TELEGRAM_CHAT_ID"

_SECTIONS = {
    "storage": {"path"},
    "rules": {"paths"},
    "schedule": {"interval"},
    "telegram": {"token", "token_file", "chat_id", "api_url"},
    "fetch": {"concurrency", "per_host", "timeout", "deadline", "max_bytes"},
    "feeds": {"url", "name", "interval"},
    "stories": {"window", "near_duplicate", "min_points"},
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as "90s", "15m", "1h", "30d"."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (use a number of seconds or e.g. '90s', '15m', '1h')")
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    return seconds


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """--config wins, then $MONITOR_CONFIG, then ./monitor.toml."""
    return Path(cli_value or environ.get("MONITOR_CONFIG") or DEFAULT_PATH)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found (pass --config PATH or set MONITOR_CONFIG)", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config: {exc}", path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path, _toml_error_line(exc)) from None
    return _Reader(path, text).build(data, environ)


def _toml_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    m = re.search(r"at line (\d+)", str(exc))
    return int(m.group(1)) if m else None


class _Reader:
    """Turns parsed TOML into a Config, reporting errors with their line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.base = path.resolve().parent

    def error(self, message: str, key: str | None = None, section: str | None = None) -> ConfigError:
        return ConfigError(message, self.path, self.line_of(key, section))

    def line_of(self, key: str | None, section: str | None = None) -> int | None:
        """Best-effort line of `key = ...` (after the [section] header, if given)."""
        start = 0
        if section is not None:
            header = re.compile(r"^\s*\[\[?\s*" + re.escape(section) + r"\s*\]\]?")
            start = next((i for i, line in enumerate(self.lines) if header.match(line)), 0)
        if key is None:
            return start + 1 if section is not None else None
        pattern = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for i in range(start, len(self.lines)):
            if pattern.match(self.lines[i]):
                return i + 1
        return None

    def build(self, data: dict[str, Any], environ: Mapping[str, str]) -> Config:
        for section in data:
            if section not in _SECTIONS:
                line = (
                    self.line_of(None, section)
                    if isinstance(data[section], dict | list)
                    else self.line_of(section)
                )
                raise ConfigError(f"unknown section or key {section!r}", self.path, line)
        for name, allowed in _SECTIONS.items():
            for table in self.tables(data, name):
                for key in table:
                    if key not in allowed:
                        raise self.error(f"unknown key {key!r} in [{name}]", key, name)
        storage = self.table(data, "storage")
        rules = self.table(data, "rules")
        schedule = self.table(data, "schedule")
        return Config(
            path=self.path,
            storage_path=self.resolve(storage.get("path", "monitor.db"), "path", "storage"),
            rule_paths=self.rule_paths(rules),
            interval=self.duration(schedule.get("interval", "15m"), "interval", "schedule"),
            telegram=self.telegram(self.table(data, "telegram"), environ),
            feeds=self.feeds(data.get("feeds", [])),
            fetch=self.fetch(self.table(data, "fetch")),
            stories=self.stories(self.table(data, "stories")),
        )

    def tables(self, data: dict[str, Any], name: str) -> list[dict[str, Any]]:
        value = data.get(name)
        if value is None:
            return []
        if name == "feeds":
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise self.error("feeds must be written as [[feeds]] tables", None, name)
            return value
        if not isinstance(value, dict):
            raise self.error(f"[{name}] must be a table", name)
        return [value]

    def table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        tables = self.tables(data, name)
        return tables[0] if tables else {}

    def resolve(self, value: object, key: str, section: str) -> Path:
        if not isinstance(value, str) or not value:
            raise self.error(f"[{section}] {key} must be a path string", key, section)
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base / path

    def duration(self, value: object, key: str, section: str) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.error(f"[{section}] {key}: {exc}", key, section) from None

    def rule_paths(self, rules: dict[str, Any]) -> tuple[Path, ...]:
        paths = rules.get("paths", ["rules"])
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not paths:
            raise self.error("[rules] paths must be a list of files or folders", "paths", "rules")
        return tuple(self.resolve(p, "paths", "rules") for p in paths)

    def telegram(self, table: dict[str, Any], environ: Mapping[str, str]) -> TelegramConfig:
        token = environ.get(TOKEN_ENV) or table.get("token")
        if not token and "token_file" in table:
            token_path = self.resolve(table["token_file"], "token_file", "telegram")
            try:
                token = token_path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise self.error(
                    f"[telegram] token_file: cannot read {token_path}: {exc.strerror}",
                    "token_file",
                    "telegram",
                ) from None
        if token is not None and not isinstance(token, str):
            raise self.error("[telegram] token must be a string", "token", "telegram")
        chat = environ.get(CHAT_ENV) or table.get("chat_id")
        if chat is not None and (isinstance(chat, bool) or not isinstance(chat, int | str)):
            raise self.error("[telegram] chat_id must be a number or an @channel name", "chat_id", "telegram")
        api_url = table.get("api_url")
        if api_url is not None and not (
            isinstance(api_url, str) and api_url.startswith(("http://", "https://"))
        ):
            raise self.error("[telegram] api_url must be an http(s) URL", "api_url", "telegram")
        return TelegramConfig(
            token=token or None,
            chat_id=str(chat) if chat not in (None, "") else None,
            api_url=api_url,
        )

    def feeds(self, tables: list[dict[str, Any]]) -> tuple[FeedConfig, ...]:
        feeds: list[FeedConfig] = []
        seen: set[str] = set()
        for table in tables:
            url = table.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise self.error(f"[[feeds]] url must be an http(s) URL, got {url!r}", "url", "feeds")
            if url in seen:
                raise ConfigError(f"feed listed twice: {url}", self.path, self.line_of_value(url))
            seen.add(url)
            name = table.get("name")
            if name is not None and not isinstance(name, str):
                raise ConfigError(
                    f"[[feeds]] name must be a string ({url})", self.path, self.line_of_value(url)
                )
            interval = table.get("interval")
            feeds.append(
                FeedConfig(
                    url=url,
                    name=name,
                    interval=None if interval is None else self.duration(interval, "interval", "feeds"),
                )
            )
        return tuple(feeds)

    def line_of_value(self, value: str) -> int | None:
        return next((i + 1 for i, line in enumerate(self.lines) if value in line), None)

    def stories(self, table: dict[str, Any]) -> StorySettings:
        values: dict[str, Any] = {}
        if "window" in table:
            values["window_hours"] = self.duration(table["window"], "window", "stories") / 3600
        for key in ("near_duplicate", "min_points"):
            if key in table:
                value = table[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise self.error(f"[stories] {key} must be a positive number", key, "stories")
                values[key] = float(value)
        return replace(StorySettings(), **values)

    def fetch(self, table: dict[str, Any]) -> FetchSettings:
        defaults = FetchSettings()
        values: dict[str, Any] = {}
        for key in ("concurrency", "per_host", "max_bytes"):
            if key in table:
                value = table[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise self.error(f"[fetch] {key} must be a positive whole number", key, "fetch")
                values[key] = value
        if "timeout" in table:
            timeout = self.duration(table["timeout"], "timeout", "fetch")
            values["connect_timeout"] = values["read_timeout"] = timeout
        if "deadline" in table:
            values["deadline"] = self.duration(table["deadline"], "deadline", "fetch")
        return FetchSettings(**{**defaults.__dict__, **values})
