"""Live config: `monitor run` follows its config and rule files without a restart.

    ConfigWatch.changed()      the config file or a rule file was written, added or removed
                               (a stat of each, about once a second; SIGHUP forces a look)
    | ConfigWatch.load()       load_config + load_rules + check_routing, as at start
    | Service.apply_config     feeds synced (new ones due at once, removed ones stop, a lowered
                               interval counts from the last check), rules swapped for the
                               next articles, one log line saying what changed

A file that no longer parses is one line (its file and line) and the service runs on
the last good version; it is read again when it changes next. What the running
process holds open (the archive, the Telegram bot, the health port) stays as it was
started: a change there is logged as needing a restart.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from monitor.alerts.routing import check_routing
from monitor.config.load import load_config
from monitor.rules.rulefile import load_rules
from monitor.rules.ruleset import RuleSet
from monitor.types import Config

Stamp = tuple[tuple[str, int, int], ...]  # (path, mtime ns, size) of every watched file


@dataclass
class ConfigWatch:
    """The files one config reads, and whether they changed since the last load."""

    path: Path  # the config file
    rule_paths: tuple[Path, ...]  # rule files and folders, as the config names them
    environ: Callable[[], Mapping[str, str]] = lambda: os.environ
    _seen: Stamp = ()

    def __post_init__(self) -> None:
        self._seen = self.stamp()

    def stamp(self) -> Stamp:
        found = []
        for path in (self.path, *self.rule_paths):
            files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
            for file in files:
                try:
                    st = file.stat()
                except OSError:
                    found.append((str(file), -1, -1))  # gone: a change too
                    continue
                found.append((str(file), st.st_mtime_ns, st.st_size))
        return tuple(found)

    def changed(self) -> bool:
        now = self.stamp()
        if now == self._seen:
            return False
        self._seen = now
        return True

    def load(self) -> tuple[Config, RuleSet]:
        """The config and rules as they are on disk now; ConfigError or RuleError (one line)."""
        config = load_config(self.path, self.environ())
        rules = load_rules(config.rule_paths)
        check_routing(rules, config)
        self.rule_paths = config.rule_paths
        self._seen = self.stamp()
        return config, rules


def describe_change(old: Config, new: Config, old_rules: RuleSet, new_rules: RuleSet) -> str:
    """ "config reloaded: +2 feeds, -1 feed, rules: 8 -> 9" (and what else changed)."""
    before, after = {f.url for f in old.feeds}, {f.url for f in new.feeds}
    parts = []
    if added := len(after - before):
        parts.append(f"+{added} feed{'s' if added != 1 else ''}")
    if removed := len(before - after):
        parts.append(f"-{removed} feed{'s' if removed != 1 else ''}")
    changed = sum(1 for f in new.feeds for g in old.feeds if f.url == g.url and f != g)
    if changed:
        parts.append(f"{changed} feed{'s' if changed != 1 else ''} changed")
    if old.schedule != new.schedule:
        parts.append("[schedule] changed")
    parts.append(f"rules: {len(old_rules.rules)} -> {len(new_rules.rules)}")
    return "config reloaded: " + ", ".join(parts)


def needs_restart(old: Config, new: Config) -> list[str]:
    """What a reload cannot change in a running process: the archive, the bot, the health port."""
    held = {
        "[storage] path": (old.storage_path, new.storage_path),
        "[telegram] token or api_url": (
            (old.telegram.token, old.telegram.api_url),
            (new.telegram.token, new.telegram.api_url),
        ),
        "[service] listen": (old.service.listen, new.service.listen),
        "[fetch] timeout and address checks": (
            (old.fetch.connect_timeout, old.fetch.block_private_redirects),
            (new.fetch.connect_timeout, new.fetch.block_private_redirects),
        ),
    }
    return [name for name, (was, now) in held.items() if was != now]
