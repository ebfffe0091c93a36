"""What monitor is measured against in bench/suite.py, each on the same loopback feed farm.

    raw_httpx        the limit for a pass's fetching: httpx.AsyncClient GETs with monitor's
                     [fetch] concurrency and per-host limits, nothing else (cold: 200s with their
                     bodies read; warm: conditional GETs with the cold pass's validators, 304s)
    parse_bodies     the limit for a cold pass's parsing: bare feedparser.parse() on those
                     bodies, in this process, one core (with its defaults, or with
                     sanitize_html=False, resolve_relative_uris=False)
    afternoon_loop   what one writes in an afternoon: for each feed in turn feedparser.parse(url)
                     (with etag= and modified= from the last pass), then sqlite3 inserts
    reader_pass      the peer: lemon24/reader's update_feeds(workers=N) with its defaults
                     (but scheduled=False, or a second pass within the hour updates nothing)

Each returns a Timing: seconds, how many feeds, what the server answered.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import feedparser
import httpx

__all__ = ["Bodies", "Timing", "afternoon_loop", "parse_bodies", "raw_httpx", "reader_pass"]


@dataclass
class Timing:
    seconds: float
    feeds: int  # feeds fetched or parsed
    ok: int = 0  # 200s (or feeds parsed)
    not_modified: int = 0  # 304s
    entries: int = 0  # entries parsed or stored
    errors: list[str] = field(default_factory=list)  # one line per failed feed
    cpu: float = 0.0  # this process's CPU seconds over the pass, every thread (reader's only)

    @property
    def rate(self) -> float:
        """Feeds per second."""
        return self.feeds / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Bodies:
    """What a cold raw_httpx pass got: per URL its body and validators."""

    body: dict[str, bytes] = field(default_factory=dict)
    etag: dict[str, str] = field(default_factory=dict)
    last_modified: dict[str, str] = field(default_factory=dict)


# --- raw httpx -----------------------------------------------------------------------------


async def _raw_pass(
    urls: Sequence[str], concurrency: int, per_host: int, bodies: Bodies | None
) -> tuple[Timing, Bodies]:
    everyone = asyncio.Semaphore(concurrency)
    hosts: dict[str, asyncio.Semaphore] = {}
    seen = Bodies()
    timing = Timing(0.0, len(urls))

    async def get(client: httpx.AsyncClient, url: str) -> None:
        host = httpx.URL(url).host
        headers = {}
        if bodies is not None:  # a warm pass: ask whether it changed since the cold one
            if url in bodies.etag:
                headers["If-None-Match"] = bodies.etag[url]
            if url in bodies.last_modified:
                headers["If-Modified-Since"] = bodies.last_modified[url]
        async with hosts.setdefault(host, asyncio.Semaphore(per_host)), everyone:  # host first, as monitor
            try:
                response = await client.get(url, headers=headers)  # reads the whole body
            except httpx.HTTPError as exc:
                timing.errors.append(f"{url}: {type(exc).__name__}: {exc}")
                return
        if response.status_code == 304:
            timing.not_modified += 1
        elif response.status_code == 200:
            timing.ok += 1
            seen.body[url] = response.content
            if "etag" in response.headers:
                seen.etag[url] = response.headers["etag"]
            if "last-modified" in response.headers:
                seen.last_modified[url] = response.headers["last-modified"]
        else:
            timing.errors.append(f"{url}: HTTP {response.status_code}")

    async with httpx.AsyncClient(timeout=30.0) as client:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for url in urls:
                group.create_task(get(client, url))
        timing.seconds = time.perf_counter() - started
    return timing, seen


def raw_httpx(
    urls: Sequence[str], concurrency: int, per_host: int, since: Bodies | None = None
) -> tuple[Timing, Bodies]:
    """A cold pass (since=None: plain GETs) or a warm one (conditional GETs with `since`'s
    validators); returns the timing and, for a cold pass, what was fetched."""
    timing, seen = asyncio.run(_raw_pass(urls, concurrency, per_host, since))
    return timing, (seen if since is None else since)


# --- feedparser alone ----------------------------------------------------------------------


def parse_bodies(bodies: Sequence[bytes], fast: bool = False) -> Timing:
    """feedparser.parse() on each body in turn, in this process (one core); fast=True turns off
    HTML sanitizing and relative-URI resolution."""
    options = {"sanitize_html": False, "resolve_relative_uris": False} if fast else {}
    timing = Timing(0.0, len(bodies))
    started = time.perf_counter()
    for body in bodies:
        parsed = feedparser.parse(body, **options)
        timing.entries += len(parsed.entries)
        if parsed.bozo and not parsed.entries:
            timing.errors.append(f"not parsed: {parsed.get('bozo_exception')}")
    timing.seconds = time.perf_counter() - started
    timing.ok = timing.feeds - len(timing.errors)
    return timing


# --- the afternoon loop --------------------------------------------------------------------

_LOOP_SCHEMA = """
create table if not exists entries (
    id text primary key, feed text, title text, link text, summary text, published text
)
"""


def afternoon_loop(urls: Sequence[str], db_path: Path, validators: dict[str, tuple[str, str]]) -> Timing:
    """One pass of the loop anyone writes first. `validators` (url → (etag, modified)) is read
    and updated: pass the same dict to the next pass to make it conditional."""
    conn = sqlite3.connect(db_path)
    conn.execute(_LOOP_SCHEMA)
    timing = Timing(0.0, len(urls))
    started = time.perf_counter()
    for url in urls:
        etag, modified = validators.get(url, (None, None))
        parsed = feedparser.parse(url, etag=etag, modified=modified)
        status = parsed.get("status")
        if status == 304:
            timing.not_modified += 1
            continue
        if status != 200:
            timing.errors.append(f"{url}: {status or parsed.get('bozo_exception')}")
            continue
        timing.ok += 1
        validators[url] = (parsed.get("etag"), parsed.get("modified"))
        rows = [
            (
                e.get("id") or e.get("link"),
                url,
                e.get("title"),
                e.get("link"),
                e.get("summary"),
                e.get("published"),
            )
            for e in parsed.entries
        ]
        timing.entries += conn.executemany(
            "insert or ignore into entries values (?, ?, ?, ?, ?, ?)", rows
        ).rowcount
        conn.commit()
    timing.seconds = time.perf_counter() - started
    conn.close()
    return timing


# --- reader --------------------------------------------------------------------------------


def reader_pass(urls: Sequence[str], db_path: Path, workers: int) -> Timing:
    """reader.update_feeds(workers=...) over `urls` (added on the first pass), all of them:
    scheduled=False, since reader otherwise waits an hour before updating a feed again."""
    from reader import make_reader  # the bench extra; imported here so the rest works without it

    with make_reader(str(db_path)) as reader:
        known = {feed.url for feed in reader.get_feeds()}
        for url in urls:
            if url not in known:
                reader.add_feed(url)
        before = reader.get_entry_counts().total or 0
        started, cpu = time.perf_counter(), time.process_time()
        reader.update_feeds(workers=workers, scheduled=False)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        entries = (reader.get_entry_counts().total or 0) - before
        timing = Timing(seconds, len(urls), entries=entries, cpu=cpu)
        broken = list(reader.get_feeds(broken=True))
        timing.errors = [
            f"{f.url}: {f.last_exception.value_str if f.last_exception else '?'}" for f in broken[:20]
        ]
    return timing


def reader_entries(db_path: Path) -> int:
    """Entries in reader's database (its documented `entries` table)."""
    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute("select count(*) from entries").fetchone()[0])
    finally:
        conn.close()
