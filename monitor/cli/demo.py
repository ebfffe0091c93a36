"""`monitor demo`: the whole pipeline, offline.

Serves RSS feeds built from the seed articles (and a few off-topic items) on
a loopback port, polls them once into a temporary archive with the shipped
rules, and prints the alerts to the console.

The seeds and the starter rules ship inside the package (monitor/_data/, put there by the
wheel build: pyproject.toml's force-include), so `pip install` anywhere can run the demo; in a
checkout, the checkout's seeds/ and rules/ are used.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from monitor.app import open_app
from monitor.cli.context import Context
from monitor.config.load import config_path, load_config
from monitor.errors import ConfigError
from monitor.types import AlertSettings, Config, FeedConfig, TelegramConfig

_HERE = Path(__file__).resolve().parent.parent  # the package folder
_DATE_PATTERNS = [
    (re.compile(r"\bdate (\d{4})-(\d{2})-(\d{2})"), "ymd"),
    (
        re.compile(
            r"\b(January|February|March|April|May|June|July|August|September|October|November|December)"
            r" (\d{1,2}), (\d{4})"
        ),
        "mdy",
    ),
]
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
# Off-topic items: archived, never alerted.
NOISE = [
    (
        "US and Australia sign critical minerals deal",
        "Washington and Canberra agreed a framework on critical minerals and rare earths processing.",
    ),
    (
        "India beat Japan at hockey",
        "India defeated Japan 3-1 in the Asian Champions Trophy hockey semi-final on Tuesday.",
    ),
    (
        "Shinkansen delayed by snow in Niigata",
        "Heavy snow delayed bullet train services on the Joetsu Shinkansen line for several hours.",
    ),
]


@dataclass(frozen=True)
class Item:
    title: str  # first line of the seed (first sentence when the line is a paragraph)
    body: str  # the rest
    published: datetime  # from the text when it names a date, else a fixed default
    link: str  # where the demo server says it lives


def seed_items(folder: Path, base_link: str = "https://demo.invalid/seed/") -> list[Item]:
    """Seed files (first line the title, the rest the body) as feed items."""
    items = []
    for i, path in enumerate(sorted(folder.glob("*.txt"))):
        text = path.read_text(encoding="utf-8").strip()
        first, _, body = text.partition("\n")
        title = first.strip()
        if len(title) > 200:  # a lead paragraph, not a headline: its first sentence is
            title = re.sub(r"^date \d{4}-\d{2}-\d{2}\s*", "", title).split(". ")[0]
            body = text
        items.append(
            Item(
                title=title,
                body=body.strip(),
                published=_date_in(text, i),
                link=f"{base_link}{path.stem}",
            )
        )
    return items


def _date_in(text: str, index: int) -> datetime:
    for pattern, kind in _DATE_PATTERNS:
        m = pattern.search(text)
        if m and kind == "ymd":
            return datetime(int(m[1]), int(m[2]), int(m[3]), 9, 0, tzinfo=UTC)
        if m and kind == "mdy":
            return datetime(int(m[3]), _MONTHS.index(m[1].lower()) + 1, int(m[2]), 9, 0, tzinfo=UTC)
    return datetime(2026, 1, 1, 9, 0, tzinfo=UTC) + timedelta(hours=index)


def build_rss(title: str, items: Sequence[Item]) -> bytes:
    entries = "".join(
        f"<item><title>{escape(it.title)}</title><link>{escape(it.link)}</link>"
        f'<guid isPermaLink="false">{escape(it.link)}</guid>'
        f"<pubDate>{format_datetime(it.published)}</pubDate>"
        f"<description>{escape(it.body)}</description></item>"
        for it in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://demo.invalid/</link>"
        f"<description>monitor demo</description>{entries}</channel></rss>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    feeds: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.feeds.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(feeds: dict[str, bytes]) -> Iterator[str]:
    """Serve {path: body} on 127.0.0.1; yields the base URL."""
    handler = type("DemoHandler", (_Handler,), {"feeds": feeds})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _find(name: str, config_arg: str | None) -> Path:
    candidates = [Path.cwd() / name, _HERE.parent / name, _HERE / "_data" / name]
    if config_arg:
        candidates.insert(0, Path(config_arg).resolve().parent / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"cannot find the {name}/ folder (looked in {', '.join(str(c) for c in candidates)})")


def demo_feeds(seeds: Path) -> dict[str, bytes]:
    """Three 'outlets': two report the seeds' three events (so stories gather outlets), the
    third carries off-topic items."""
    items = seed_items(seeds)
    noise = [
        Item(t, b, datetime(2026, 3, 7, 8, tzinfo=UTC), f"https://demo.invalid/noise/{i}")
        for i, (t, b) in enumerate(NOISE)
    ]
    first, second = (
        [items[i] for i in (0, 1, 4) if i < len(items)],
        [items[i] for i in (2, 3) if i < len(items)],
    )
    return {
        "/wire.xml": build_rss("Demo Wire", first),
        "/gazette.xml": build_rss("Demo Gazette", second + noise[:1]),
        "/sports-and-more.xml": build_rss("Demo Sports & More", noise[1:]),
    }


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.service.logs import setup_logging

    setup_logging("WARNING" if ctx.log_level == "INFO" else ctx.log_level)
    return run_demo(ctx.config_arg)


def run_demo(config_arg: str | None) -> int:
    rule_paths: tuple[Path, ...]
    path = config_path(config_arg, {})
    rule_paths = load_config(path).rule_paths if path.exists() else (_find("rules", config_arg),)
    feeds = demo_feeds(_find("seeds", config_arg))
    with serve(feeds) as base, tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp:
        config = Config(
            path=Path(tmp) / "monitor.toml",
            storage_path=Path(tmp) / "demo.db",
            rule_paths=rule_paths,
            interval=900.0,
            telegram=TelegramConfig(),
            feeds=tuple(FeedConfig(url=base + p, name=None) for p in feeds),
            # The seeds are old news, and every demo feed is new: without "all" ([alerts]
            # backfill) the demo would archive them and alert nothing.
            alerts=AlertSettings(backfill=None),
        )
        print(f"monitor demo: serving {len(feeds)} feeds on {base}, archive {config.storage_path}\n")
        report, delivery, total = asyncio.run(_demo_pass(config))
    print(
        f"\nmonitor demo: polled {report.feeds} feeds in {report.seconds:.2f}s: {report.new_articles} "
        f"articles archived ({total} in the archive), {delivery.sent} alerts printed above, "
        f"{len(report.errors)} feed errors.",
        file=sys.stderr,
    )
    return 0 if not report.errors else 1


async def _demo_pass(config: Config):  # type: ignore[no-untyped-def]
    async with open_app(config) as app:
        report = await app.pipeline.run_pass()
        delivery = await app.deliver()
        total = app.pipeline.archive.db["articles"].count
    return report, delivery, total
