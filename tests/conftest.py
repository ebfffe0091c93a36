"""Shared fixtures: the loopback feed server, the fake Bot API, and config files."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fakes.feed_server import FeedServer
from fakes.telegram_api import FakeTelegramAPI
from monitor.archive.store import Archive
from monitor.cli.demo import Item, build_rss, seed_items
from monitor.types import FeedConfig

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


@pytest.fixture(autouse=True, scope="session")
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`rules check` keeps the rules it loaded in $XDG_CACHE_HOME/monitor (rules/loadcache.py):
    the tests' in a folder of their own (commands they start inherit it), not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@contextmanager
def archive_with_feed(path: Path, feed: str, now: datetime) -> Iterator[Archive]:
    """A real archive file that holds one configured feed ("Example"), closed after."""
    archive = Archive.open(path)
    archive.sync_feeds([FeedConfig(feed, "Example")], now)
    try:
        yield archive
    finally:
        archive.close()


def run_bench(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run bench/<script> from the repository root, as a user would: tests import nothing from
    bench/ (it is scripts, not a package); they read what a script prints and its exit code."""
    return subprocess.run(
        [sys.executable, f"bench/{script}", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def printed_rate(output: str, label: str) -> tuple[float, int, int]:
    """(value, hits, total) of a line "<label>: 0.967 (29/30)" as bench/rates.py prints a Rate."""
    found = re.search(rf"^{re.escape(label)}:\s+([\d.]+) \((\d+)/(\d+)\)$", output, re.MULTILINE)
    assert found, f"no {label!r} line in:\n{output}"
    return float(found[1]), int(found[2]), int(found[3])


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started loopback feed server (fakes/feed_server.py), stopped after the test."""
    with FeedServer() as server:
        yield server


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegramAPI]:
    """A started fake Bot API on 127.0.0.1 (fakes/telegram_api.py), stopped after the test."""
    with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def seeds() -> list[Item]:
    """The five seed reports as feed items (title, body, date from the text)."""
    return seed_items(SEEDS)


def rss(title: str, items: Sequence[Item]) -> bytes:
    return build_rss(title, items)


_FETCH_DEFAULTS = {"deadline": '"3s"', "timeout": '"2s"', "max_bytes": "1048576"}


def _fetch_table(extra: str) -> str:
    """The tests' [fetch] keys, with `extra` lines ("key = value") added or replacing them."""
    given = dict(line.split("=", 1) for line in extra.splitlines() if line.strip())
    given = {key.strip(): value.strip() for key, value in given.items()}
    return "\n".join(f"{key} = {value}" for key, value in {**_FETCH_DEFAULTS, **given}.items())


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
        fetch: str = "",
    ) -> Path:
        lines = [
            f'[storage]\npath = "{tmp_path / "monitor.db"}"',
            f'[rules]\npaths = ["{rules}"]',
            "[fetch]\n" + _fetch_table(fetch),
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
