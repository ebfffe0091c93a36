"""Shared fixtures: the loopback feed server, the fake Bot API, and config files."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from monitor.cli.demo import Item, build_rss, seed_items

pytest_plugins = ["tests.fakes.feed_server", "tests.fakes.telegram_api"]

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
RULES = ROOT / "rules"


# Plausible publication times of the seeds (by file-name prefix): each event's reports
# within a day of each other, and the Jaishankar–Motegi report (004) between the two
# Misri–Oue reports (000, 002), so that time alone cannot separate the events.
SEED_TIMES = {
    "000": datetime(2026, 3, 6, 10, 30, tzinfo=UTC),
    "002": datetime(2026, 3, 6, 19, 0, tzinfo=UTC),
    "004": datetime(2026, 3, 6, 14, 0, tzinfo=UTC),
    "001": datetime(2024, 11, 27, 12, 0, tzinfo=UTC),
    "003": datetime(2024, 11, 28, 5, 0, tzinfo=UTC),
}


def import_bench(name: str) -> ModuleType:
    """A script of bench/ as a module (bench/ is scripts, not a package). It goes into
    sys.modules before it runs, because dataclasses look their module up there."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def seeds() -> list[Item]:
    """The five seed reports as feed items (title, body, date from the text)."""
    return seed_items(SEEDS)


def rss(title: str, items: Sequence[Item]) -> bytes:
    return build_rss(title, items)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a monitor.toml in tmp_path: feeds, optional Telegram, shipped rules by default."""

    def write(
        feeds: Sequence[str],
        *,
        telegram: str | None = None,
        chat_id: str = "1001",
        extra: str = "",
        rules: Path = RULES,
    ) -> Path:
        lines = [
            f'[storage]\npath = "{tmp_path / "monitor.db"}"',
            f'[rules]\npaths = ["{rules}"]',
            '[fetch]\ndeadline = "3s"\ntimeout = "2s"\nmax_bytes = 1048576',
        ]
        if "[alerts]" not in extra:  # the seeds are old news: alert them as the tests expect
            lines.append('[alerts]\nbackfill = "all"')
        if telegram:
            lines.append(f'[telegram]\nchat_id = "{chat_id}"\napi_url = "{telegram}"')
        lines.append(extra)
        lines += [f'[[feeds]]\nurl = "{url}"' for url in feeds]
        path = tmp_path / "monitor.toml"
        path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def chat_config(tmp_path: Path, feed_server, telegram_api) -> Callable[..., Path]:
    """make(extra, rail_chat, feed, telegram) → a config with the chat tests' rules (tests/chatkit.py),
    the fake Bot API, and one loopback feed serving `feed`."""
    from tests.chatkit import feed_of, write_chat_config

    def make(extra: str = "", rail_chat: str = "", feed: Sequence[Item] = (), telegram: str = "") -> Path:
        url = feed_server.add("/feed.xml", feed_of(list(feed)))
        return write_chat_config(tmp_path, url, telegram_api.bot_url, extra, rail_chat, telegram)

    return make
