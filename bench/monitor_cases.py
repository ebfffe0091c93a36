"""monitor's side of bench/suite.py, through its public entry points only.

    write_config       a monitor.toml for farm URLs: console alerts, the shipped rules
    monitor_pass       load_config → open_app → app.pipeline.run_pass(), timed (the wall time
                       of run_pass alone, and the CPU time of this process and its children)
    archive_size       articles in the archive (the documented `articles` table)
    search_*           `monitor search` three ways: the CLI in a fresh interpreter (what a user
                       waits for), monitor.cli.main.main in this process (no start-up), and the same
                       FTS5 MATCH written by hand in raw sqlite3 over the documented schema

A pass runs in a fresh open_app, as `monitor poll` does, so each starts from the archive
alone; the time of open_app itself (rules, archive migrations check) is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.app import open_app
from monitor.cli.main import main as monitor_main
from monitor.config.load import load_config
from monitor.service.workers import tune_gc

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
# Never hand monitor a real bot, chat or config from the environment.
ENV_DROP = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "MONITOR_CONFIG")


def write_config(path: Path, db: Path, urls: Sequence[str], extra: str = "") -> Path:
    """A config watching `urls`; without [telegram], so alerts are queued for the console."""
    head = f"[storage]\npath = {json.dumps(str(db))}\n\n[rules]\npaths = [{json.dumps(str(RULES))}]\n\n"
    feeds = "".join(f"[[feeds]]\nurl = {json.dumps(url)}\n\n" for url in urls)
    path.write_text(head + extra + ("\n\n" if extra else "") + feeds, encoding="utf-8")
    return path


def fetch_defaults(folder: Path) -> tuple[int, int]:
    """monitor's default [fetch] concurrency and per_host, read through its own config loader."""
    config = load_config(write_config(folder / "defaults.toml", folder / "unused.db", []), environ={})
    return config.fetch.concurrency, config.fetch.per_host


@dataclass
class PassFigures:
    seconds: float  # wall time of run_pass
    cpu: float  # CPU seconds of this process and its children (parser workers) during it
    feeds: int
    not_modified: int
    new_articles: int
    alerts: int
    matches: int
    errors: list[str] = field(default_factory=list)  # "url: message", the first few
    # CPU seconds of this process alone (every thread: the event loop, the archive's writer, the
    # worker pool's): the pass's bottleneck on a cold pass, whatever the parser workers spend
    main_cpu: float = 0.0
    threads: dict[str, float] = field(default_factory=dict)  # of main_cpu, by thread (ThreadClock)

    @property
    def rate(self) -> float:
        return self.feeds / self.seconds if self.seconds > 0 else 0.0

    @property
    def article_rate(self) -> float:
        return self.new_articles / self.seconds if self.seconds > 0 else 0.0


def monitor_pass(config_path: Path) -> PassFigures:
    """One pass over every configured feed, in this process, as `monitor poll` runs it: with
    its garbage-collector tuning (undone after, for the baselines that follow)."""
    threshold = gc.get_threshold()
    tune_gc()
    try:
        return asyncio.run(_monitor_pass(config_path))
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def _monitor_pass(config_path: Path) -> PassFigures:
    config = load_config(config_path, environ={})
    async with open_app(config) as app:
        cpu_before, main_before = tree_cpu(os.getpid()), time.process_time()
        started = time.perf_counter()
        with ThreadClock() as clock:
            report = await app.pipeline.run_pass()
        seconds = time.perf_counter() - started
        # before open_app ends: the parser workers are still alive, their CPU time readable
        cpu, main_cpu = tree_cpu(os.getpid()) - cpu_before, time.process_time() - main_before
    return PassFigures(
        seconds=seconds,
        cpu=cpu,
        feeds=report.feeds,
        not_modified=report.not_modified,
        new_articles=report.new_articles,
        alerts=report.alerts,
        matches=report.matches,
        errors=[f"{e.url}: {e.message}" for e in report.errors[:20]],
        main_cpu=main_cpu,
        threads=clock.by_name(),
    )


class ThreadClock:
    """CPU seconds of each thread of this process while the block runs, by thread name (its
    number dropped: `monitor-archive` is the batches' writer, `MainThread` the event loop,
    `monitor-parser` the worker pool's hand-off, `asyncio` in-process analysis), read from
    /proc/self/task/<tid>/stat every `every` seconds: a thread that ended keeps its last reading
    (at most `every` short). Linux only; elsewhere, nothing."""

    def __init__(self, every: float = 0.1) -> None:
        self.every = every
        self.first: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-thread-clock", daemon=True)

    def __enter__(self) -> ThreadClock:
        self.first = {tid: cpu for tid, (_, cpu) in self._read().items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.last.update(self._read())

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.last.update(self._read())

    @staticmethod
    def _read() -> dict[int, tuple[str, float]]:
        ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        read = {}
        for thread in threading.enumerate():
            try:
                stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            read[thread.native_id or 0] = (thread.name, (int(fields[11]) + int(fields[12])) / ticks)
        return read

    def by_name(self) -> dict[str, float]:
        spent: dict[str, float] = {}
        for tid, (name, cpu) in self.last.items():
            if name == self._thread.name:
                continue
            base = re.sub(r"[-_]\d+$", "", name)
            spent[base] = spent.get(base, 0.0) + cpu - self.first.get(tid, 0.0)
        return dict(sorted(spent.items(), key=lambda item: -item[1]))


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its living descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            # every thread's children: the parser workers are started by the pool's threads
            children = [
                child
                for task in Path(f"/proc/{current}/task").iterdir()
                for child in (task / "children").read_text().split()
            ]
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        todo += [int(c) for c in children]
    return total / ticks


def archive_size(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("select count(*) from articles").fetchone()[0])
    finally:
        conn.close()


def file_size(db: Path) -> tuple[int, list[tuple[str, int]]]:
    """Bytes of an SQLite file once its WAL is checkpointed into it, and its largest tables and
    indexes (dbstat), for "where the bytes go"."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("pragma wal_checkpoint(truncate)")
        try:
            parts = conn.execute(
                "select name, sum(pgsize) from dbstat group by name order by 2 desc limit 6"
            ).fetchall()
        except sqlite3.Error:  # an SQLite built without dbstat
            parts = []
    finally:
        conn.close()
    return db.stat().st_size, [(str(n), int(b)) for n, b in parts]


# --- search --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    key: str  # for scripts
    label: str  # for the table
    text: str  # the FTS5 query
    since_days: int | None = None
    rule: str | None = None

    def cli_args(self) -> list[str]:
        args = ["search", "--json"]
        if self.since_days is not None:
            args += ["--since", f"{self.since_days}d"]
        if self.rule is not None:
            args += ["--rule", self.rule]
        return [*args, self.text]


QUERIES = (
    Query("phrase", 'phrase: "rare earth"', '"rare earth"'),
    Query(
        "boolean",
        "boolean, --since 1d",
        "(chip* OR semiconductor*) AND (India OR Japan) NOT cricket",
        since_days=1,
    ),
    Query("rule", "--rule critical-minerals Japan", "Japan", rule="critical-minerals"),
)


@dataclass
class SearchFigures:
    query: Query
    cli: float  # seconds, median: `python -m monitor search` as a subprocess
    in_process: float  # seconds, median: monitor.cli.main.main in this process
    raw: float  # seconds, median: sqlite3.connect + the hand-written query
    hits: int  # results of the raw query (limit 20)
    cli_hits: int  # results monitor printed (must equal hits)


def search_figures(config_path: Path, db: Path, query: Query, cli_runs: int, runs: int) -> SearchFigures:
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    command = [sys.executable, "-m", "monitor", "--config", str(config_path), *query.cli_args()]
    cli_times = []
    for _ in range(cli_runs):
        started = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        cli_times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(f"monitor search failed ({result.returncode}): {result.stderr.strip()}")
    printed, in_process = _timed(lambda: _search_in_process(config_path, query), runs)
    hits, raw = _timed(lambda: _search_raw(db, query), runs)
    return SearchFigures(query, statistics.median(cli_times), in_process, raw, hits, printed)


def _timed(run: Callable[[], int], runs: int) -> tuple[int, float]:
    """(the last result, the median seconds) of `runs` calls after one warm-up call."""
    result = run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return result, statistics.median(times)


def _search_in_process(config_path: Path, query: Query) -> int:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = monitor_main(["--config", str(config_path), *query.cli_args()])
    if code != 0:
        raise RuntimeError(f"monitor search exited {code}")
    return len(out.getvalue().splitlines())


def _search_raw(db: Path, query: Query) -> int:
    """The query by hand, over the schema the README documents."""
    where, args = ["articles_fts match ?"], [query.text]
    if query.since_days is not None:
        since = datetime.now(UTC) - timedelta(days=query.since_days)
        where.append("a.published >= ?")
        args.append(since.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if query.rule is not None:
        where.append("exists (select 1 from matches m where m.article_id = a.id and m.rule_id = ?)")
        args.append(query.rule)
    sql = (
        "select a.id, a.title, a.link, a.outlet, a.published from articles a"
        " join articles_fts on articles_fts.rowid = a.id"
        f" where {' and '.join(where)} order by a.published desc limit 20"
    )
    conn = sqlite3.connect(db)
    try:
        return len(conn.execute(sql, args).fetchall())
    finally:
        conn.close()


# --- start-up ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Startup:
    key: str  # for scripts
    args: tuple[str, ...]  # after `monitor --config CONFIG`
    sql: str  # what raw sqlite3 runs for the same answer (its baseline)


STARTUPS = (
    Startup(
        "search",
        ("search", '"rare earth"'),
        "select a.id, a.title, a.link from articles a join articles_fts on articles_fts.rowid = a.id"
        " where articles_fts match '\"rare earth\"' order by a.published desc limit 20",
    ),
    Startup(
        "status",
        ("status",),
        "select f.url, f.last_checked, f.last_error, (select count(*) from articles a where a.feed = f.url)"
        " from feeds f; select status, count(*) from alerts group by status",
    ),
    Startup(
        "feeds list",
        ("feeds", "list"),
        "select url, name, status, next_check, (select count(*) from articles a where a.feed = feeds.url)"
        " from feeds",
    ),
    Startup("rules check", ("rules", "check"), "select 1"),  # no SQL to it: sqlite3's own start
)


@dataclass
class StartupFigures:
    key: str
    cli: float  # seconds, median: the `monitor ...` console script end to end, a fresh interpreter
    cli_best: float  # seconds, the fastest run (the machine's noise left out)
    raw: float  # seconds, median: the `sqlite3` command-line shell, the same question
    imported: list[str] = field(default_factory=list)  # top-level packages it imported (not stdlib)
    cpu: float = 0.0  # seconds, median: user + system CPU of the command (its wall time on an idle machine)


def startup_figures(config_path: Path, db: Path, runs: int) -> list[StartupFigures]:
    """Each command as a user types it, against raw `sqlite3 DB SQL`. A first run of each writes
    the bytecode caches (an installed package has them), so only start-up and work are timed."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP and k != "PYTHONDONTWRITEBYTECODE"}
    figures = []
    for case in STARTUPS:
        command = [*monitor_command(), "--config", str(config_path), *case.args]
        subprocess.run(command, env=env, capture_output=True, check=False)  # bytecode, page cache
        timed = [_run_timed(command, env) for _ in range(runs)]
        times, cpu = [t for t, _ in timed], [c for _, c in timed]
        raw = [_run_timed(["sqlite3", str(db), case.sql], env)[0] for _ in range(runs)]
        figures.append(
            StartupFigures(
                case.key,
                statistics.median(times),
                min(times),
                statistics.median(raw),
                _imported(case),
                statistics.median(cpu),
            )
        )
    return figures


def monitor_command() -> list[str]:
    """The `monitor` console script as pip installed it beside this Python (what a user types);
    `python -m monitor` where there is none (a checkout run without installing)."""
    script = Path(sys.executable).with_name("monitor")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "monitor"]


def _run_timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run: on a busy shared machine the CPU time is what the
    command itself cost, the wall time that plus its wait for a core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])}… failed ({result.returncode}): {result.stderr[-300:]!r}")
    return seconds, cpu


def _imported(case: Startup) -> list[str]:
    """The third-party packages a command's module brings in (what its start-up pays for)."""
    module = {"search": "archive", "status": "archive", "feeds list": "feeds", "rules check": "rules"}[
        case.key
    ]
    probe = (
        f"import sys, monitor.cli.main, monitor.cli.{module}; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names))))"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    return [
        m for m in found.stdout.split() if not m.startswith("_") and m not in ("monitor", "sitecustomize")
    ]
