"""The benchmark suite: monitor against its limits and its peers, one table, in one run.

    python bench/suite.py [--quick] [--only cold,warm,changed,memory,latency,archive]
                          [--feeds 1000] [--items 50] [--delay 0.1] [--json out.json] ...

A loopback feed farm (bench/farm.py, in its own process: RSS and Atom feeds of 50 items of
about 1,500 characters, ETag/Last-Modified, 50 loopback hosts, each answer delayed 0.1 s as
on the internet) serves every case and every baseline of one run, so the ratios compare like
with like on a shared machine whose absolute times drift.

Cases (monitor through its public entry points: load_config + open_app + run_pass in this
process, or the `monitor` CLI as a subprocess):

    cold      one pass over FEEDS new feeds into a fresh archive: fetch, parse, dedupe, rules,
              stories, archive with FTS, alerts queued
    warm      the same feeds again, all answering 304
    changed   farm.change(0.1, 5): a tenth of the feeds with 5 new items each, one pass
    memory    `monitor run` (subprocess, Telegram on a loopback fake Bot API) over FEEDS feeds:
              the peak RSS of its process tree over a cold, a warm and a changed pass; with
              --memory-minutes M the service goes on polling for M minutes in all, its tree's
              RSS sampled every minute, and the growth after the first hour is printed
    latency   the same session at [schedule] interval = INTERVAL: from an item appearing in a
              feed to its alert reaching the Bot API (bench/service_session.py)
    archive   the cold archive grown to ARCHIVE articles through run_pass (more farm feeds,
              delay 0), then `monitor search` for three typical queries
    startup   on that archive, `monitor search`, `status`, `feeds list` and `rules check` end to end
              (a fresh interpreter each, as a user types them), against the `sqlite3` shell asked
              the same question; target < 150 ms each

Baselines, on the same farm in the same run (bench/baselines.py): raw httpx GETs at monitor's
default [fetch] concurrency and per_host (the limit of a warm pass, and the fetch half of a
cold one); bare feedparser.parse() on the cold bodies, one core (the limit of a cold pass's
parsing; a sample of the bodies, --parse-feeds); the afternoon loop, sequential
feedparser.parse(url) + sqlite3 (on --loop-feeds feeds, as a rate); reader's update_feeds
with --workers threads; raw sqlite3 for the searches.

Prints progress lines, then the table (markdown); --json writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from ab import profiled_pass, stage_line  # noqa: E402
from baselines import (  # noqa: E402
    Bodies,
    Timing,
    afternoon_loop,
    parse_bodies,
    raw_httpx,
    reader_entries,
    reader_pass,
)
from farm import FarmProcess  # noqa: E402
from monitor_cases import (  # noqa: E402
    QUERIES,
    PassFigures,
    archive_size,
    fetch_defaults,
    file_size,
    monitor_pass,
    search_figures,
    startup_figures,
    write_config,
)
from report import Results, Row, build_rows, hour_line, markdown, rows_json  # noqa: E402
from sampling import Sampling  # noqa: E402
from service_session import run_session  # noqa: E402

CASES = ("cold", "warm", "changed", "memory", "latency", "archive", "startup")
SCALE_FROM = 1000  # more feeds than this: the scale case's defaults (parse_args)
SCALE_ARTICLES = 20_000  # ... items per feed so that a cold pass holds about this many articles
CHANGE = (0.1, 5)  # fraction of the feeds, new items each


class Suite:
    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args, self.folder = args, folder
        self.results = Results()
        self.started = time.monotonic()
        self.concurrency, self.per_host = fetch_defaults(folder)
        if args.workers is None:  # reader's threads: as many as monitor's requests in flight
            args.workers = self.concurrency

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def step(self, name: str, farm: FarmProcess | None, work: Callable[[], Any]) -> Any:
        """Run one measured step, noting its wall time and what the farm answered during it."""
        before = farm.stats() if farm else None
        began = time.monotonic()
        value = work()
        self.results.seconds[name] = time.monotonic() - began
        if farm and before:
            after = farm.stats()
            self.results.farm[name] = {
                "200": after.ok - before.ok,
                "304": after.not_modified - before.not_modified,
                "404": after.not_found - before.not_found,
            }
        return value

    def run(self, selected: set[str]) -> Results:
        """The farm's feeds, in blocks: [0, F) for the passes and the baselines, [F, 2F) for the
        service (cold to it), then as many as the archive still needs to reach --archive."""
        a = self.args
        passes = bool(selected & {"cold", "warm", "changed"})
        service = bool(selected & {"memory", "latency"})
        expected = (a.feeds * a.items if passes else 0) + (a.feeds * a.items if service else 0)
        grown = bool(selected & {"archive", "startup"})
        db = self.folder / "monitor.db"
        held = archive_size(db) if grown and db.exists() else 0  # --folder: an archive kept before
        skip = -(-held // a.items)  # the feeds it was filled from: new feeds for the rest
        fill = -(-max(0, a.archive - expected - held) // a.items) if grown else 0
        total = (a.feeds if passes else 0) + (a.feeds if service else 0) + (skip + fill if fill else 0)
        self.say(f"building the farm: {total} feeds × {a.items} items")
        with FarmProcess(feeds=total, items=a.items, delay=a.delay, hosts=a.hosts) as farm:
            self.say(f"farm ready: {farm.size / 1e6:.0f} MB of feeds built in {farm.built_seconds:.1f}s")
            blocks, at = {}, 0
            for name, size in (("passes", a.feeds if passes else 0), ("service", a.feeds if service else 0)):
                blocks[name], at = range(at, at + size), at + size
            blocks["fill"] = range(at + skip, total)
            if passes:
                self.passes(farm, blocks["passes"], selected)
            if fill:
                self.fill(farm, blocks["fill"])
            if service:
                self.service(farm, blocks["service"])
            if "archive" in selected:
                self.search()
            if "startup" in selected:
                self.startup()
        return self.results

    # --- cold, warm, changed -------------------------------------------------------------

    def passes(self, farm: FarmProcess, feeds: range, selected: set[str]) -> None:
        a = self.args
        urls = [farm.url(i) for i in feeds]
        config = write_config(self.folder / "monitor.toml", self.folder / "monitor.db", urls)
        bodies = Bodies()
        if selected & {"cold", "warm"}:
            bodies = self.baseline(
                "httpx cold", farm, lambda: raw_httpx(urls, self.concurrency, self.per_host)
            )
        if "cold" in selected:
            sample = _spread([bodies.body[u] for u in urls if u in bodies.body], a.parse_feeds)
            self.baseline("feedparser", None, lambda: (parse_bodies(sample), None))
            self.baseline("feedparser fast", None, lambda: (parse_bodies(sample, fast=True), None))
        self.monitor("cold", farm, config)
        if "cold" in selected:
            self.sizes("monitor", self.folder / "monitor.db", "articles")
            if a.stage_feeds:
                self.stages(farm, urls[: a.stage_feeds])
        # Warm passes change nothing, so they are repeated, monitor's and the limit's in turn,
        # and the faster of each kept: a burst of load from elsewhere on the machine spoils one run.
        for _ in range(a.warm_runs if "warm" in selected else 0):
            if selected & {"cold", "warm"}:
                self.baseline(
                    "httpx warm", farm, lambda: raw_httpx(urls, self.concurrency, self.per_host, bodies)
                )
            self.monitor("warm", farm, config)
        reader_db = self.folder / "reader.sqlite"
        # reader's cold pass over thousands of feeds takes longer than the rest of a scale run
        with_reader = bool(selected & {"cold", "changed"}) or a.feeds <= SCALE_FROM
        for kind in ("cold", "warm") if with_reader else ():
            self.baseline(f"reader {kind}", farm, lambda: (reader_pass(urls, reader_db, a.workers), None))
            if kind == "cold" and "cold" in selected:
                self.sizes("reader", reader_db, "entries")
        if selected & {"cold", "warm"}:
            subset = _spread(urls, a.loop_feeds)
            validators: dict[str, tuple[str, str]] = {}  # the loop's own ETag/Last-Modified memory
            loop_db = self.folder / "loop.sqlite"
            for kind in ("cold", "warm"):
                self.baseline(
                    f"loop {kind}", farm, lambda: (afternoon_loop(subset, loop_db, validators), None)
                )
        if "changed" in selected:
            changed = farm.change(*CHANGE, among=feeds)
            self.say(f"farm: {len(changed)} feeds changed, {CHANGE[1]} new items each")
            self.monitor("changed", farm, config)
            self.baseline("reader changed", farm, lambda: (reader_pass(urls, reader_db, a.workers), None))

    def sizes(self, who: str, db: Path, table: str) -> None:
        """The archive's bytes per article after the cold pass (monitor's, and reader's for the
        same feeds), with where they go."""
        size, parts = file_size(db)
        rows = archive_size(db) if table == "articles" else reader_entries(db)
        self.results.sizes[who] = (size, rows)
        top = ", ".join(f"{name} {b / max(rows, 1):,.0f}" for name, b in parts[:6])
        self.say(f"{who} archive: {size / 1e6:.1f} MB, {size / max(rows, 1):,.0f} B per article ({top})")

    def stages(self, farm: FarmProcess, urls: list[str]) -> None:
        """Where a cold pass's CPU goes, by stage: a pass over `urls` into a fresh archive, in a
        child process under py-spy (bench/ab.py)."""
        work = self.folder / "stages"
        work.mkdir()
        config = write_config(work / "monitor.toml", work / "monitor.db", urls)
        figures = self.step(
            "stages",
            farm,
            lambda: profiled_pass(ROOT, config, work / "monitor.db", self.args.items, work / "pass"),
        )
        self.results.stages = figures
        self.say(
            f"cold pass by stage ({len(urls)} feeds under py-spy), CPU ms per article: {stage_line(figures)}"
        )

    def monitor(self, kind: str, farm: FarmProcess, config: Path) -> PassFigures:
        if kind == "cold" and self.args.profile:
            figures = self.step(kind, farm, lambda: _profiled(config, self.args.profile))
        else:
            figures = self.step(kind, farm, lambda: monitor_pass(config))
        best = self.results.passes.get(kind)
        if best is None or figures.seconds < best.seconds:  # a repeated warm pass: the faster
            self.results.passes[kind] = figures
        self.say(
            f"monitor {kind}: {figures.feeds} feeds in {figures.seconds:.2f}s ({figures.rate:.1f} feeds/s), "
            f"{figures.not_modified} 304s, {figures.new_articles} new articles "
            f"({figures.article_rate:.0f}/s), {figures.alerts} alerts; CPU {figures.cpu:.1f}s "
            f"({figures.cpu / max(figures.seconds, 1e-9):.2f} cores)"
        )
        for error in figures.errors[:3]:
            self.say(f"  error: {error}")
        return figures

    def baseline(self, name: str, farm: FarmProcess | None, work: Callable[[], tuple[Timing, Any]]) -> Any:
        timing, extra = self.step(name, farm, work)
        best = self.results.baselines.get(name)
        if best is None or timing.seconds < best.seconds:  # a repeated warm pass: the faster
            self.results.baselines[name] = timing
        answers = self.results.farm.get(name)
        seen = f"; farm: {answers['200']}×200 {answers['304']}×304" if answers else ""
        self.say(f"{name}: {timing.feeds} feeds in {timing.seconds:.2f}s ({timing.rate:.1f} feeds/s){seen}")
        for error in timing.errors[:3]:
            self.say(f"  error: {error}")
        return extra

    # --- archive at scale ----------------------------------------------------------------

    def fill(self, farm: FarmProcess, feeds: range) -> None:
        """More articles through run_pass, the farm answering at once (this is not a timed case)."""
        urls = [farm.url(i) for i in feeds]
        config = write_config(self.folder / "fill.toml", self.folder / "monitor.db", urls)
        farm.set_delay(0)
        try:
            self.monitor("fill", farm, config)
        finally:
            farm.set_delay(self.args.delay)

    def search(self) -> None:
        a, r = self.args, self.results
        db = self.folder / "monitor.db"
        r.archive_articles = archive_size(db)
        self.say(f"archive: {r.archive_articles} articles")
        config = write_config(self.folder / "search.toml", db, [])  # search reads the archive alone
        for query in QUERIES:
            figures = self.step(
                f"search {query.label}",
                None,
                partial(search_figures, config, db, query, a.cli_runs, a.search_runs),
            )
            r.searches.append(figures)
            self.say(
                f"search {query.label!r}: CLI {figures.cli * 1000:.0f} ms, in-process "
                f"{figures.in_process * 1000:.1f} ms, raw sqlite3 {figures.raw * 1000:.1f} ms; "
                f"{figures.cli_hits} hits (raw: {figures.hits})"
            )

    def startup(self) -> None:
        a, r = self.args, self.results
        db = self.folder / "monitor.db"
        r.archive_articles = r.archive_articles or archive_size(db)
        config = write_config(self.folder / "startup.toml", db, [])
        r.startups = self.step("startup", None, lambda: startup_figures(config, db, a.cli_runs))
        for s in r.startups:
            self.say(
                f"monitor {s.key}: {s.cli * 1000:.0f} ms (fastest {s.cli_best * 1000:.0f} ms, CPU "
                f"{s.cpu * 1000:.0f} ms), raw sqlite3 "
                f"{s.raw * 1000:.1f} ms; imports {', '.join(s.imported) or 'no third-party package'}"
            )

    # --- memory and latency --------------------------------------------------------------

    def service(self, farm: FarmProcess, feeds: range) -> None:
        """`monitor run` over feeds new to it, on the archive the passes (if any) left."""
        a = self.args
        folder = self.folder / "service"
        folder.mkdir()
        self.say(
            f"monitor run: {len(feeds)} feeds new to it, on an archive of "
            f"{archive_size(self.folder / 'monitor.db') if (self.folder / 'monitor.db').exists() else 0} "
            f"articles; interval {a.interval:g}s, {a.samples} latency samples over {a.window:g}s"
        )
        lag = LagSampler(self.folder / "monitor.db", folder / "service.log")
        with lag:
            session = self.step(
                "service",
                farm,
                lambda: run_session(
                    farm,
                    folder,
                    feeds,
                    self.folder / "monitor.db",
                    a.interval,
                    a.samples,
                    a.window,
                    a.service_passes,
                    CHANGE,
                    progress=self.say,
                    minutes=a.memory_minutes,
                ),
            )
        self.results.session = session
        self.results.lags = lag.lags
        if lag.lags:
            self.say(
                f"service: tick-to-pass lag (the most overdue feed), "
                f"median {statistics.median(lag.lags):.1f}s, "
                f"max {max(lag.lags):.1f}s over {len(lag.lags)} samples at interval {a.interval:g}s"
            )
        lat = session.latencies
        self.say(
            f"service: peak RSS {session.peak_kb / 1024:.0f} MB over {session.processes} processes; "
            f"{len(lat)}/{len(session.samples)} samples arrived"
            + (f", median {statistics.median(lat):.1f}s, max {lat[-1]:.1f}s" if lat else "")
        )
        if session.handling:
            waits, handling, late = session.waits, session.handling, session.lateness
            joined = sum(1 for sample in session.samples if sample.joined)
            self.say(
                f"latency split at the feed's fetch: waiting for the feed's next check median "
                f"{statistics.median(waits):.1f}s, max {waits[-1]:.1f}s; fetch to alert (the service) "
                f"median {statistics.median(handling):.1f}s, max {handling[-1]:.1f}s"
                + (
                    f"; fetched after the planned check (whole seconds) by median "
                    f"{statistics.median(late):.1f}s, from {late[0]:.1f}s to {late[-1]:.1f}s"
                    if late
                    else ""
                )
                + (f"; {joined} joined another article's story (an edit, not counted)" if joined else "")
            )
        for sample in session.samples:
            if sample.delivered is None:
                self.say(f"  sample {sample.n} ({sample.title[:60]}…) sent no alert: {sample.fate}")
        if session.minutes:
            self.say(f"service: {hour_line(session)}")
        for error in session.errors[:3]:
            self.say(f"  service error: {error[:300]}")


class LagSampler(Sampling):
    """Tick-to-pass lag of `monitor run`: every EVERY seconds, how long ago the most overdue
    active feed came due (now − the smallest feeds.next_check; 0 when none is due), read from
    the archive beside the service (WAL: a reader never blocks it). Samples start once the
    service has logged its first pass: the cold pass's backlog is not lag."""

    EVERY = 2.0

    def __init__(self, db: Path, log: Path) -> None:
        self.db, self.log = db, log
        self.lags: list[float] = []
        super().__init__("lag-sampler")

    def _run(self) -> None:
        while not self._stop.wait(self.EVERY):
            try:
                if "event=pass " not in self.log.read_text(encoding="utf-8", errors="replace"):
                    continue
                conn = sqlite3.connect(f"{self.db.resolve().as_uri()}?mode=ro", uri=True)
                try:
                    row = conn.execute("select min(next_check) from feeds where status = 'active'").fetchone()
                finally:
                    conn.close()
            except (OSError, sqlite3.Error):
                continue
            if row and row[0]:
                due = datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                self.lags.append(max(0.0, (datetime.now(UTC) - due).total_seconds()))


def _spread(items: list[Any], count: int) -> list[Any]:
    """`count` of `items` spread evenly over it (every one when count is 0 or more than there are);
    an odd step, so that a farm's alternating RSS and Atom feeds are both taken."""
    if count <= 0 or count >= len(items):
        return list(items)
    step = max(1, len(items) // count)
    step += 1 - step % 2
    return [items[(k * step) % len(items)] for k in range(count)]


def _profiled(config: Path, out: Path) -> PassFigures:
    """The cold pass under pyinstrument (this process only: the parser workers are not sampled;
    use py-spy record --subprocesses for them); writes out (HTML) and prints the top."""
    from pyinstrument import Profiler  # the bench extra

    profiler = Profiler(interval=0.002)
    profiler.start()
    try:
        return monitor_pass(config)
    finally:
        profiler.stop()
        out.write_text(profiler.output_html(), encoding="utf-8")
        print(profiler.output_text(unicode=True, color=False, show_all=False)[:6000])


# --- the table -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.table:
        return print_saved(args.table)
    selected = set(args.only.split(",")) if args.only else set(CASES)
    unknown = selected - set(CASES)
    if unknown:
        print(f"suite: unknown case(s) {', '.join(sorted(unknown))}; choose from {', '.join(CASES)}")
        return 2
    folder = args.folder or Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    began, date = time.monotonic(), datetime.now(UTC)
    try:
        suite = Suite(args, folder)
        results = suite.run(selected)
    except BaseException:
        print(f"suite: work folder kept: {folder}", file=sys.stderr)
        raise
    elapsed = time.monotonic() - began
    rows = build_rows(results, args)
    document = {
        "date": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "fetch": {"concurrency": suite.concurrency, "per_host": suite.per_host},
        "elapsed_seconds": round(elapsed, 1),
        "rows": rows_json(rows),
        "figures": _figures(results),
    }
    print()
    print(_heading(document))
    print()
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"\nwritten to {args.json}")
    if args.keep or args.folder:
        print(f"work folder kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def _heading(document: dict[str, Any]) -> str:
    settings, fetch = document["settings"], document["fetch"]
    return (
        f"monitor benchmark, {document['date'][:10]}, {document['machine']['cpus']} CPUs, "
        f"Python {document['machine']['python']}: {settings['feeds']} feeds × {settings['items']} items, "
        f"{settings['delay']:g}s per answer, {settings['hosts']} hosts; fetch concurrency "
        f"{fetch['concurrency']}, per host {fetch['per_host']}; suite took {document['elapsed_seconds']:.0f}s"
    )


def print_saved(path: Path) -> int:
    """The heading and table of a run saved with --json, printed again (for the README)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"suite: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        document = json.loads(text)
        rows = [Row(**{k: v for k, v in row.items() if k != "verdict"}) for row in document["rows"]]
        heading = _heading(document)
    except (ValueError, KeyError, TypeError) as exc:
        print(f"suite: {path}: not a file written by --json ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    print(heading)
    print()
    print(markdown(rows))
    return 0


def _figures(r: Results) -> dict[str, Any]:
    session = None
    if r.session is not None:
        s = r.session
        session = asdict(s) | {
            "latencies": s.latencies,
            "waits": s.waits,
            "handling": s.handling,
            "lateness": s.lateness,
        }
    return {
        "passes": {k: asdict(v) for k, v in r.passes.items()},
        "baselines": {k: asdict(v) | {"rate": v.rate} for k, v in r.baselines.items()},
        "farm": r.farm,
        "searches": [asdict(s) for s in r.searches],
        "startups": [asdict(s) for s in r.startups],
        "archive_articles": r.archive_articles,
        "sizes": r.sizes,
        "lags": r.lags,
        "stages": asdict(r.stages) | {"ms_per_article": r.stages.stage_ms()} if r.stages else None,
        "session": session,
        "step_seconds": {k: round(v, 2) for k, v in r.seconds.items()},
    }


QUICK = {
    "feeds": 200,
    "items": 20,
    "archive": 10_000,
    "interval": 20.0,
    "samples": 6,
    "window": 20.0,
    "loop_feeds": 30,
    "parse_feeds": 60,
    "search_runs": 5,
    "cli_runs": 2,
    "stage_feeds": 30,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="monitor against its limits and its peers: one table.")
    p.add_argument("--feeds", type=int, help="feeds in a pass (default 1000)")
    p.add_argument("--items", type=int, help="items per feed (default 50)")
    p.add_argument("--delay", type=float, default=0.1, help="seconds before each answer (default 0.1)")
    p.add_argument("--hosts", type=int, default=50, help="loopback addresses (default 50)")
    p.add_argument("--archive", type=int, help="articles to grow the archive to (default 100000)")
    p.add_argument(
        "--interval", type=float, help="[schedule] interval of `monitor run`, seconds (default 60)"
    )
    p.add_argument("--samples", type=int, help="latency samples (default 24)")
    p.add_argument(
        "--window", type=float, help="seconds over which they are published (default 60: one interval)"
    )
    p.add_argument("--service-passes", type=int, default=3, help="cold, warm..., changed (default 3)")
    p.add_argument(
        "--memory-minutes",
        type=float,
        default=0.0,
        help="keep `monitor run` polling this long in all (e.g. 70), its tree's RSS sampled every "
        "minute, and print the growth after the first hour (default 0: stop after the samples)",
    )
    p.add_argument("--warm-runs", type=int, default=2, help="warm passes, the faster kept (default 2)")
    p.add_argument("--workers", type=int, help="reader's update_feeds workers (default: fetch concurrency)")
    p.add_argument("--loop-feeds", type=int, help="feeds the afternoon loop polls (default 50)")
    p.add_argument("--parse-feeds", type=int, help="bodies bare feedparser parses, 0 for all (default 300)")
    p.add_argument("--search-runs", type=int, help="in-process and raw runs per query (default 20)")
    p.add_argument("--cli-runs", type=int, help="CLI runs per query (default 3)")
    p.add_argument(
        "--stage-feeds",
        type=int,
        help="feeds of a second cold pass under py-spy, for CPU by stage (default 50; 0: none)",
    )
    p.add_argument("--only", help=f"comma-separated cases among {','.join(CASES)} (default: all)")
    p.add_argument("--quick", action="store_true", help="small sizes, for iterating (about a minute or two)")
    p.add_argument("--json", type=Path, help="also write every figure here")
    p.add_argument("--profile", type=Path, help="profile the cold pass with pyinstrument, HTML here")
    p.add_argument("--keep", action="store_true", help="keep the work folder (configs, archives, logs)")
    p.add_argument(
        "--folder",
        type=Path,
        help="work here and keep it; an archive a run left here counts towards --archive, so"
        " `--only startup --folder DIR` again times the commands without growing it anew",
    )
    p.add_argument(
        "--table", type=Path, metavar="JSON", help="only print the table of a run saved with --json"
    )
    args = p.parse_args(argv)
    defaults = {
        "feeds": 1000,
        "items": 50,
        "archive": 100_000,
        "interval": 60.0,
        "samples": 24,
        "window": 60.0,  # one interval: the samples land at every phase of the polling cycle
        "loop_feeds": 50,  # sequential: its rate is per feed, and 50 give it as well as 100
        "parse_feeds": 300,
        "search_runs": 20,
        "cli_runs": 3,
        "stage_feeds": 50,
    }
    if args.feeds is not None and args.feeds > SCALE_FROM and not args.quick:
        # The 10,000-feed case (--feeds 10000 --only warm,memory): what matters is the steady
        # state (304s), so the cold passes that prime it are kept short with few items a feed,
        # and the service's interval leaves room for a whole warm pass.
        defaults["items"] = max(2, SCALE_ARTICLES // args.feeds)
        defaults["interval"] = max(60.0, args.feeds / 50)
    for key, value in (QUICK if args.quick else defaults).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("feeds", "items", "hosts", "samples", "service_passes", "warm_runs"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be at least 1")
    return args


if __name__ == "__main__":
    raise SystemExit(main())
