"""Read monitor.toml once into a frozen Config.

Relative paths resolve against the config file's folder. Unknown keys are an
error naming the key and its line (in the right one of several [[feeds]] or
[[chats]] tables); the bot token may come from the environment (which wins)
and is never echoed in an error. Quiet hours and digest schedules of
[[chats]] are parsed by monitor.config.values, time zones checked with zoneinfo.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor.config.source import TomlSource, header, toml_error_line
from monitor.config.values import (
    MAX_COUNT,
    known_zone,
    parse_backfill,
    parse_digest_spec,
    parse_network,
    parse_quiet_hours,
    valid_listen,
)
from monitor.errors import ConfigError
from monitor.types import (
    AlertSettings,
    ChatConfig,
    Config,
    DigestSchedule,
    FeedConfig,
    FetchSettings,
    QuietHours,
    ScheduleSettings,
    ServiceSettings,
    StorySettings,
    TelegramConfig,
)

DEFAULT_PATH = "monitor.toml"
TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
CHAT_ENV = "TELEGRAM_CHAT_ID"

_SECTIONS = {
    "storage": {"path"},
    "rules": {"paths"},
    "schedule": {"interval", "min_interval", "max_interval", "jitter", "adaptive", "suspend_after"},
    "service": {"listen", "feed_metrics"},
    "alerts": {"backfill"},
    "telegram": {"token", "token_file", "chat_id", "api_url", "allowed_users", "admin_chat"},
    "fetch": {
        "concurrency",
        "per_host",
        "timeout",
        "deadline",
        "max_bytes",
        "workers",
        "block_private_redirects",
        "allow_private",
        "max_items",
        "analysis_budget",
    },
    "feeds": {"url", "name", "interval"},
    "stories": {"window", "near_duplicate", "min_points", "min_similarity", "quiet"},
    "chats": {
        "id",
        "name",
        "timezone",
        "low",
        "burst",
        "burst_window",
        "quiet_hours",
        "quiet_allow_high",
        "digest",
        "digest_rules",
    },
}
_USER_ID = re.compile(r"^\s*\d+\s*$")
# "host:port" or "[IPv6]:port"
_ALLOW_ENTRY = re.compile(r"^\[?[0-9A-Za-z.:_-]+\]?(/[0-9]{1,3})?$")  # a name, an address, a network
_SCHEDULE_DEFAULTS = {"interval": "15m", "min_interval": "1m", "max_interval": "1d"}
_SCHEDULE_ORDER = (
    ("min_interval", "max_interval"),
    ("min_interval", "interval"),
    ("interval", "max_interval"),
)


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
        raise ConfigError(f"invalid TOML: {exc}", path, toml_error_line(exc)) from None
    return _Reader(path, text).build(data, environ)


class _Reader(TomlSource):
    """Turns parsed TOML into a Config, reporting errors with their line."""

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
            for index, table in enumerate(self.tables(data, name)):
                for key in table:
                    if key not in allowed:
                        raise self.error(f"unknown key {key!r} in {header(name)}", key, name, index)
        storage = self.table(data, "storage")
        rules = self.table(data, "rules")
        schedule, alerts = self.schedule(self.table(data, "schedule")), self.table(data, "alerts")
        return Config(
            path=self.path,
            storage_path=self.resolve(storage.get("path", "monitor.db"), "path", "storage"),
            rule_paths=self.rule_paths(rules),
            interval=schedule.interval,
            telegram=self.telegram(self.table(data, "telegram"), environ),
            feeds=self.feeds(self.tables(data, "feeds")),
            fetch=self.fetch(self.table(data, "fetch")),
            stories=self.stories(self.table(data, "stories")),
            chats=self.chats(self.tables(data, "chats")),
            schedule=schedule,
            service=self.service(self.table(data, "service")),
            alerts=AlertSettings(
                self.parsed(alerts.get("backfill", "24h"), parse_backfill, "backfill", "alerts")
            ),
        )

    def schedule(self, table: dict[str, Any]) -> ScheduleSettings:
        intervals = self.schedule_intervals(table)
        jitter = table.get("jitter", 0.1)
        if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter < 1:
            raise self.error(
                f"[schedule] jitter must be a number from 0 up to (not including) 1, got {jitter!r}",
                "jitter",
                "schedule",
            )
        adaptive = table.get("adaptive", False)
        if not isinstance(adaptive, bool):
            raise self.error("[schedule] adaptive must be true or false", "adaptive", "schedule")
        suspend_after = table.get("suspend_after")
        if suspend_after is not None and (
            isinstance(suspend_after, bool) or not isinstance(suspend_after, int) or suspend_after < 1
        ):
            raise self.error(
                "[schedule] suspend_after must be a positive whole number (leave it out for a day's worth)",
                "suspend_after",
                "schedule",
            )
        return ScheduleSettings(
            **intervals, jitter=float(jitter), adaptive=adaptive, suspend_after=suspend_after
        )

    def schedule_intervals(self, table: dict[str, Any]) -> dict[str, float]:
        """interval, min_interval, max_interval in seconds; they must nest: min <= interval <= max."""
        written = {key: table.get(key, default) for key, default in _SCHEDULE_DEFAULTS.items()}
        seconds = {key: self.duration(value, key, "schedule") for key, value in written.items()}
        for low, high in _SCHEDULE_ORDER:
            if seconds[low] > seconds[high]:
                # the line of a key the operator wrote: interval's when it is one of the two
                wrote = [k for k in (low, high) if k in table]
                key = "interval" if "interval" in wrote else next(iter(wrote), None)
                shown = {k: repr(written[k]) + ("" if k in table else " (the default)") for k in (low, high)}
                raise self.error(
                    f"[schedule] {low} {shown[low]} is longer than {high} {shown[high]}", key, "schedule"
                )
        return seconds

    def service(self, table: dict[str, Any]) -> ServiceSettings:
        listen, per_feed = table.get("listen"), table.get("feed_metrics")
        if not isinstance(per_feed, bool | None):
            raise self.error("[service] feed_metrics must be true or false", "feed_metrics", "service")
        if listen is not None and (not isinstance(listen, str) or not valid_listen(listen.strip())):
            wanted = '"host:port" (port 1-65535; IPv6 as "[::1]:9108")'
            raise self.error(f"[service] listen must be {wanted}, got {listen!r}", "listen", "service")
        return ServiceSettings(listen=listen.strip() if listen else None, feed_metrics=per_feed)

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
        admin_chat = table.get("admin_chat")
        if admin_chat is not None and (
            isinstance(admin_chat, bool)
            or not isinstance(admin_chat, int | str)
            or not str(admin_chat).strip()
        ):
            raise self.error(
                "[telegram] admin_chat must be a number or an @channel name", "admin_chat", "telegram"
            )
        return TelegramConfig(
            token=token or None,
            chat_id=str(chat) if chat not in (None, "") else None,
            api_url=api_url,
            allowed_users=self.allowed_users(table.get("allowed_users", [])),
            admin_chat=str(admin_chat).strip() if admin_chat is not None else None,
        )

    def allowed_users(self, value: object) -> tuple[int, ...]:
        """[telegram] allowed_users: user ids (numbers or strings of digits), in order, once each."""
        message = "[telegram] allowed_users must be a list of Telegram user ids (positive whole numbers)"
        if not isinstance(value, list):
            raise self.error(message, "allowed_users", "telegram")
        users: list[int] = []
        for item in value:
            user = int(item) if isinstance(item, str) and _USER_ID.match(item) else item
            if isinstance(user, bool) or not isinstance(user, int) or user <= 0:
                raise self.error(f"{message}, got {item!r}", "allowed_users", "telegram")
            if user not in users:
                users.append(user)
        return tuple(users)

    def feeds(self, tables: list[dict[str, Any]]) -> tuple[FeedConfig, ...]:
        feeds: list[FeedConfig] = []
        seen: set[str] = set()
        for index, table in enumerate(tables):
            url = table.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise self.error(f"[[feeds]] url must be an http(s) URL, got {url!r}", "url", "feeds", index)
            if url in seen:
                raise self.error(f"feed listed twice: {url}", "url", "feeds", index)
            seen.add(url)
            name = table.get("name")
            if name is not None and not isinstance(name, str):
                raise self.error(f"[[feeds]] name must be a string ({url})", "name", "feeds", index)
            interval = table.get("interval")
            feeds.append(
                FeedConfig(
                    url=url,
                    name=name,
                    interval=None
                    if interval is None
                    else self.duration(interval, "interval", "feeds", index),
                )
            )
        return tuple(feeds)

    def chats(self, tables: list[dict[str, Any]]) -> tuple[ChatConfig, ...]:
        """[[chats]] tables; ids and names share one namespace, since rules' chat_id may hold either."""
        chats: list[ChatConfig] = []
        seen: dict[str, tuple[str, int | None]] = {}  # id or name → (which key, its line)
        for index, table in enumerate(tables):
            chat = self.chat(table, index)
            for key, value in (("id", chat.id), ("name", chat.name)):
                if value is None or (key == "name" and value == chat.id):
                    continue
                if value in seen:
                    other, line = seen[value]
                    raise self.error(
                        f"[[chats]] {key} {value!r} is already the {other} of the chat at line {line}",
                        key,
                        "chats",
                        index,
                    )
                seen[value] = (key, self.line_of(key, "chats", index))
            chats.append(chat)
        return tuple(chats)

    def chat(self, table: dict[str, Any], index: int) -> ChatConfig:
        def fail(message: str, key: str | None) -> ConfigError:
            return self.error(f"[[chats]] {message}", key, "chats", index)

        chat_id = table.get("id")
        if chat_id is None:
            raise fail("id is required (a numeric chat id or an @channel name)", None)
        if isinstance(chat_id, bool) or not isinstance(chat_id, int | str) or not str(chat_id).strip():
            raise fail("id must be a numeric chat id or an @channel name", "id")
        name = table.get("name")
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise fail("name must be a non-empty string", "name")
            if re.fullmatch(r"-?\d+|@.*", name.strip()):
                raise fail(f"name {name!r} looks like a chat id; a name is a word rules use instead", "name")
        timezone = table.get("timezone", "UTC")
        if not known_zone(timezone):
            raise fail(
                f"timezone: unknown time zone {timezone!r} (use an IANA name such as 'Europe/Berlin')",
                "timezone",
            )
        low = table.get("low", "silent")
        if low not in ("silent", "digest"):
            raise fail(f'low must be "silent" or "digest", got {low!r}', "low")
        burst = table.get("burst", 5)
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise fail("burst must be a positive whole number", "burst")
        window = self.duration(table.get("burst_window", "10m"), "burst_window", "chats", index)
        allow_high = table.get("quiet_allow_high", True)
        if not isinstance(allow_high, bool):
            raise fail("quiet_allow_high must be true or false", "quiet_allow_high")
        quiet = None
        if "quiet_hours" in table:
            try:
                start, end = parse_quiet_hours(table["quiet_hours"])
            except ValueError as exc:
                raise fail(f"quiet_hours: {exc}", "quiet_hours") from None
            quiet = QuietHours(start, end, allow_high)
        digest = None
        if "digest" in table:
            try:
                every, at, day = parse_digest_spec(table["digest"])
            except ValueError as exc:
                raise fail(f"digest: {exc}", "digest") from None
            digest = DigestSchedule(every, at, day, self.digest_rules(table, fail))
        elif "digest_rules" in table:
            raise fail('digest_rules needs a digest schedule (e.g. digest = "daily 08:00")', "digest_rules")
        if low == "digest" and digest is None:
            raise fail('low = "digest" needs a digest schedule (e.g. digest = "daily 08:00")', "low")
        return ChatConfig(
            id=str(chat_id).strip(),
            name=name.strip() if name is not None else None,
            timezone=timezone,
            low=low,
            burst=burst,
            burst_window=window,
            quiet=quiet,
            digest=digest,
        )

    def digest_rules(self, table: dict[str, Any], fail: Callable[[str, str], ConfigError]) -> tuple[str, ...]:
        value = table.get("digest_rules", [])
        if "digest_rules" in table and (
            not isinstance(value, list)
            or not value
            or not all(isinstance(r, str) and r.strip() for r in value)
        ):
            raise fail(
                "digest_rules must be a non-empty list of rule ids (leave it out for every rule)",
                "digest_rules",
            )
        return tuple(r.strip() for r in value)

    def stories(self, table: dict[str, Any]) -> StorySettings:
        values: dict[str, Any] = {}
        if "window" in table:
            values["window_hours"] = self.duration(table["window"], "window", "stories") / 3600
        if "quiet" in table:
            values["quiet_hours"] = self.duration(table["quiet"], "quiet", "stories") / 3600
        for key in ("near_duplicate", "min_points", "min_similarity"):
            if key in table:
                value = table[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1e9:
                    raise self.error(f"[stories] {key} must be a positive number", key, "stories")
                values[key] = float(value)
        return replace(StorySettings(), **values)

    def fetch(self, table: dict[str, Any]) -> FetchSettings:
        defaults = FetchSettings()
        values: dict[str, Any] = {}
        for key in ("concurrency", "per_host", "max_bytes", "max_items"):
            if key in table:
                value = table[key]
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
                    raise self.error(f"[fetch] {key} must be a positive whole number ≤ 10^9", key, "fetch")
                values[key] = value
        if "timeout" in table:
            timeout = self.duration(table["timeout"], "timeout", "fetch")
            values["connect_timeout"] = values["read_timeout"] = timeout
        for key in ("deadline", "analysis_budget"):
            if key in table:
                values[key] = self.duration(table[key], key, "fetch")
        if "workers" in table:
            value = table["workers"]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
                raise self.error("[fetch] workers must be a whole number from 0 to 64", "workers", "fetch")
            values["workers"] = value
        if "block_private_redirects" in table:
            if not isinstance(table["block_private_redirects"], bool):
                key = "block_private_redirects"
                raise self.error(f"[fetch] {key} must be true or false", key, "fetch")
            values["block_private_redirects"] = table["block_private_redirects"]
        if "allow_private" in table:
            entries = table["allow_private"]
            if not isinstance(entries, list) or not all(
                isinstance(e, str)
                and _ALLOW_ENTRY.match(e.strip())
                and ("/" not in e or parse_network(e) is not None)
                for e in entries
            ):
                raise self.error(
                    "[fetch] allow_private must be a list of host names, addresses or networks"
                    ' such as ["rsshub.lan", "10.0.0.0/8"]',
                    "allow_private",
                    "fetch",
                )
            values["allow_private"] = tuple(e.strip() for e in entries)
        return FetchSettings(**{**defaults.__dict__, **values})
