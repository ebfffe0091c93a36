"""Benchmark: reading feed text (issue 15, issue 20 item 1) and the CJK search index's cost.

    python bench/text_bench.py [--articles 5000] [--japanese 0.5] [--seed 7] [--html-only | --archive-only]

HTML to text: monitor's tokenizer (monitor/ingest/htmltext.py) against the standard library's
html.parser and lexbor (selectolax, when installed), on generated news summaries and on
inputs built to be hard: "<" a million times (issue 20's feed), unclosed tags, nested blocks,
comments. Each hostile input is run at two sizes: a linear reader takes twice as long on twice
the input, a quadratic one four times. Inputs are cut at 200,000 characters for html.parser
(it would run for minutes on some); monitor cuts every field at RAW_FACTOR x its limit anyway.

Archive: the same articles (generated English and Japanese headlines and summaries) written
with the real Archive, once as before issue 15 (no CJK index: the articles_cjk table dropped
and its writes skipped) and once as now; the file size and the write time of each.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.archive import fulltext
from monitor.archive.store import Archive
from monitor.ingest.htmltext import html_text
from monitor.ingest.schedule import Decision
from monitor.types import EntryData, FeedConfig, FetchedFeed, NewArticle

HOSTILE = {
    "1 MB of '<'": "<" * 1_000_000,
    "unclosed '<a'": "<a" * 500_000,
    "nested '<div>'": "<div>" * 200_000,
    "comment openers": "<!--x" * 200_000,
    "unclosed quotes": '<a title="' * 100_000,
}
WORDS = "India Japan semiconductor pact minister talks Tokyo Delhi supply chain rare earths navy".split()
KANA = "インド日本半導体協力経済安全保障首相会談東京政府企業投資鉄道新幹線防衛海軍"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def stdlib_text(value: str) -> str:
    reader = _Text()
    reader.feed(value[:200_000])
    reader.close()
    return " ".join("".join(reader.parts).split())


def readers() -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {
        "monitor": lambda v: html_text(v, 20_000),
        "html.parser": stdlib_text,
    }
    try:
        from selectolax.lexbor import LexborHTMLParser
    except ImportError:
        return found
    found["lexbor"] = lambda v: LexborHTMLParser(v[:200_000]).text(separator=" ")
    return found


def timed(read: Callable[[str], str], value: str, budget: float = 60.0) -> str:
    start = time.perf_counter()
    read(value)
    took = time.perf_counter() - start
    return f"{took:8.3f}s" if took < budget else f">{budget:.0f}s"


def bench_html(rng: random.Random) -> None:
    summaries = [
        "".join(
            f"<p>{' '.join(rng.choices(WORDS, k=12))} <a href='https://x.test/{i}'>more</a>"
            " &amp; <b>x</b></p>"
            for _ in range(rng.randint(1, 6))
        )
        for i in range(2_000)
    ]
    print("HTML to text, 2,000 generated summaries (about 1 KB each):")
    for name, read in readers().items():
        start = time.perf_counter()
        for summary in summaries:
            read(summary)
        print(f"  {name:12} {2_000 / (time.perf_counter() - start):10,.0f} summaries/s")
    print("hostile inputs (first 40,000 / 80,000 characters; monitor: the whole input, cut as it cuts):")
    for label, value in HOSTILE.items():
        cells = []
        for name, read in readers().items():
            if name == "monitor":
                cells.append(f"{name} {timed(read, value)}")
            else:
                cells.append(f"{name} {timed(read, value[:40_000])} {timed(read, value[:80_000])}")
        print(f"  {label:18} " + " | ".join(cells))


def articles(
    count: int, share: float, rng: random.Random, feed: str, now: datetime
) -> list[tuple[NewArticle, list]]:
    made = []
    for n in range(count):
        japanese = rng.random() < share
        if japanese:
            title = "".join(rng.choices(KANA, k=18))
            summary = "。".join("".join(rng.choices(KANA, k=30)) for _ in range(6))
        else:
            title = " ".join(rng.choices(WORDS, k=9))
            summary = " ".join(rng.choices(WORDS, k=90))
        entry = EntryData(feed, title, summary, f"https://b.test/{n}", None, now - timedelta(minutes=n))
        made.append((NewArticle(entry, entry.link, (f"url:{entry.link}",), now, ()), []))
    return made


def bench_archive(count: int, share: float, rng: random.Random) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    feed = "https://b.test/feed"
    batch = articles(count, share, rng, feed, now)
    decision = Decision(now + timedelta(minutes=15), 900.0, "interval", None)
    fetched = FetchedFeed(url=feed, final_url=feed, status=200, body=b"", headers={})
    print(f"archive, {count:,} articles ({share:.0%} Japanese), written 100 per transaction:")
    for label, with_cjk in (("before (word index only)", False), ("now (+ articles_cjk)", True)):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.db"
            archive = Archive.open(path)
            archive.sync_feeds([FeedConfig(feed, "Bench")], now)
            index = fulltext.index
            if not with_cjk:
                archive.db.execute("drop table articles_cjk")
                fulltext.index = lambda *args: None  # type: ignore[assignment]
            start = time.perf_counter()
            try:
                for first in range(0, count, 100):
                    archive.save_update(feed, fetched, "Bench", batch[first : first + 100], now, decision)
            finally:
                fulltext.index = index  # type: ignore[assignment]
            took = time.perf_counter() - start
            archive.db.execute("vacuum")
            archive.close()
            size = path.stat().st_size
            print(f"  {label:26} {took:7.2f}s  {count / took:8,.0f} articles/s  {size / 1e6:7.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--japanese", type=float, default=0.5, help="share of Japanese articles")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--html-only", action="store_true")
    parser.add_argument("--archive-only", action="store_true")
    args = parser.parse_args()
    if not args.archive_only:
        bench_html(random.Random(args.seed))
    if not args.html_only:
        bench_archive(args.articles, args.japanese, random.Random(args.seed))


if __name__ == "__main__":
    main()
