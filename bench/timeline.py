"""Where a pass's wall time goes when it is not CPU: a timeline of one pass (issue 18).

    python bench/timeline.py [--feeds 300] [--items 50] [--kind changed|cold] [--runs 1]

One loopback farm (farm.py); a cold pass primes a fresh archive (for --kind changed), the farm
changes 10% of its feeds (5 new items each), then the timed pass runs in this process with the
pipeline's steps wrapped to note when each happens: every feed's request start and end (and
its wait for a fetch slot), its analysis start and end (in a worker or in-process), every
batch's commit (saved in the archive's thread: batching.py), the parser worker's start-up, and
how late the event loop runs (a 5 ms ticker: the loop blocked, by story placement in a batch
before batches had a thread of their own, or by the GIL, keeps fetch slots idle). Printed: the pass's
wall and CPU time, then the span of each phase and where the loop stalled.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from farm import FarmProcess  # noqa: E402
from monitor_cases import monitor_pass, tree_cpu, write_config  # noqa: E402
from sampling import Sampling  # noqa: E402

from monitor import app as app_module  # noqa: E402
from monitor.config.load import load_config  # noqa: E402
from monitor.service import batching, pipeline, stoppable, workers  # noqa: E402

PROFILE: cProfile.Profile | None = None  # --profile: cProfile of the batches (the loop held)
BATCH_CPU = [0.0]  # CPU seconds of the loop's thread in batches
EVENTS: list[tuple[float, str, str]] = []  # (monotonic, what, feed)


def note(what: str, feed: str = "") -> None:
    EVENTS.append((time.monotonic(), what, feed))


def instrument() -> None:
    fetch = pipeline.fetch_feed

    async def fetch_feed(client: Any, feed: Any, settings: Any) -> Any:
        note("fetch-start", feed.url)
        try:
            return await fetch(client, feed, settings)
        finally:
            note("fetch-end", feed.url)

    pipeline.fetch_feed = fetch_feed  # type: ignore[assignment]

    call = workers.Analyser.__call__

    async def analyse(self: Any, url: str, *args: Any) -> Any:
        note("analyse-start", url)
        try:
            return await call(self, url, *args)
        finally:
            note("analyse-end", url)

    workers.Analyser.__call__ = analyse  # type: ignore[method-assign]

    write = batching.Batcher._write

    def _write(self: Any, steps: Any, *args: Any) -> Any:  # the feeds it starts with (it may take more)
        note("batch-start", str(len(steps)))
        cpu = time.thread_time()
        if PROFILE is not None:
            PROFILE.enable()
        try:
            return write(self, steps, *args)
        finally:
            if PROFILE is not None:
                PROFILE.disable()
            BATCH_CPU[0] += time.thread_time() - cpu
            note("batch-end")

    batching.Batcher._write = _write  # type: ignore[method-assign]

    start = stoppable.WorkerPool._start

    def _start(self: Any) -> Any:
        note("worker-spawn")
        return start(self)

    stoppable.WorkerPool._start = _start  # type: ignore[method-assign]
    wcall = stoppable._Worker.call

    def worker_call(self: Any, *args: Any) -> Any:
        if not self.ready:
            note("worker-wait-ready")
            began = time.monotonic()
            self.conn.poll(stoppable.READY_TIMEOUT)
            note("worker-ready", f"{time.monotonic() - began:.3f}")
        return wcall(self, *args)

    stoppable._Worker.call = worker_call  # type: ignore[method-assign]


async def ticker(lags: list[tuple[float, float]]) -> None:
    while True:
        before = time.monotonic()
        await asyncio.sleep(0.005)
        lag = time.monotonic() - before - 0.005
        if lag > 0.02:
            lags.append((before, lag))


class BusySampler(Sampling):
    """Every `every` seconds, each process's CPU seconds (this one and its descendants, from
    /proc): how busy each was over the pass, and how much of it each spent idle."""

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.samples: list[tuple[float, dict[int, float]]] = []
        self.names: dict[int, str] = {}
        super().__init__("busy-sampler")

    def _run(self) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        while not self._stop.is_set():
            at, cpu, todo = time.monotonic(), {}, [os.getpid()]
            while todo:
                pid = todo.pop()
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                    todo += [
                        int(c)
                        for task in Path(f"/proc/{pid}/task").iterdir()
                        for c in (task / "children").read_text().split()
                    ]
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[1].split()
                cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
                self.names.setdefault(pid, "main" if pid == os.getpid() else f"worker {pid}")
            self.samples.append((at, cpu))
            self._stop.wait(self.every)

    def report(self, t0: float, t1: float) -> list[str]:
        """Per process: CPU over the pass, its busy fraction, and the share of 0.2 s windows
        in which it was under 20% busy (idle gaps)."""
        inside = [(at, cpu) for at, cpu in self.samples if t0 <= at <= t1]
        if len(inside) < 2:
            return []
        lines = []
        for pid, name in self.names.items():
            points = [(at, cpu[pid]) for at, cpu in inside if pid in cpu]
            if len(points) < 2:
                continue
            used = points[-1][1] - points[0][1]
            span = points[-1][0] - points[0][0]
            windows = idle = 0
            start = 0
            for i in range(1, len(points)):
                if points[i][0] - points[start][0] >= 0.2:
                    windows += 1
                    busy = (points[i][1] - points[start][1]) / (points[i][0] - points[start][0])
                    idle += busy < 0.2
                    start = i
            lines.append(
                f"  {name}: CPU {used:.2f}s over {span:.2f}s alive in the pass"
                f" ({used / max(t1 - t0, 1e-9):.0%} of the pass), idle (<20%) in {idle} of {windows}"
                " 0.2 s windows"
            )
        return lines


async def timed_pass(config_path: Path) -> dict[str, Any]:
    config = load_config(config_path, environ={})
    opened = time.monotonic()
    async with app_module.open_app(config) as app:
        note("open-app-done")
        lags: list[tuple[float, float]] = []
        tick = asyncio.create_task(ticker(lags))
        with BusySampler() as busy:
            cpu0, own0 = tree_cpu(os.getpid()), time.process_time()
            t0 = time.monotonic()
            note("pass-start")
            report = await app.pipeline.run_pass()
            note("pass-end")
            t1 = time.monotonic()
            cpu, own = tree_cpu(os.getpid()) - cpu0, time.process_time() - own0
        tick.cancel()
    note("closed")
    return {
        "t0": t0,
        "t1": t1,
        "cpu": cpu,
        "own": own,
        "report": report,
        "lags": lags,
        "open": t0 - opened,
        "busy": busy.report(t0, t1),
    }


def summarise(result: dict[str, Any]) -> None:
    t0, t1 = result["t0"], result["t1"]
    report = result["report"]
    print(
        f"pass: {report.feeds} feeds, {report.not_modified} 304, {report.new_articles} new, "
        f"wall {t1 - t0:.2f}s, CPU {result['cpu']:.2f}s (main process {result['own']:.2f}s),"
        f" in workers {report.in_workers}"
    )
    by: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    batches = []
    for at, what, feed in EVENTS:
        if at < t0 - 0.001:
            continue
        by[what][feed].append(at - t0)
        if what == "batch-start":
            batches.append((at - t0, int(feed)))
    fs = sorted(v[0] for v in by["fetch-start"].values())
    fe = sorted(v[-1] for v in by["fetch-end"].values())
    print(f"  fetch starts: first {fs[0]:.3f}s, median {statistics.median(fs):.3f}s, last {fs[-1]:.3f}s")
    print(f"  fetch ends:   first {fe[0]:.3f}s, median {statistics.median(fe):.3f}s, last {fe[-1]:.3f}s")
    durations = [by["fetch-end"][u][-1] - by["fetch-start"][u][0] for u in by["fetch-start"]]
    print(f"  fetch durations: median {statistics.median(durations):.3f}s, max {max(durations):.3f}s")
    if by["analyse-start"]:
        a_s = {u: v[0] for u, v in by["analyse-start"].items()}
        a_e = {u: v[-1] for u, v in by["analyse-end"].items()}
        d = [a_e[u] - a_s[u] for u in a_s if u in a_e]
        print(
            f"  analyses: {len(a_s)}, first start {min(a_s.values()):.3f}s,"
            f" last end {max(a_e.values()):.3f}s,"
            f" duration median {statistics.median(d):.3f}s, max {max(d):.3f}s"
        )
    for what in ("worker-spawn", "worker-wait-ready", "worker-ready"):
        for feed, ats in by[what].items():
            print(f"  {what} {feed}: at {', '.join(f'{a:.3f}s' for a in ats)}")
    bs = by["batch-start"]
    be = sorted(a for v in by["batch-end"].values() for a in v)
    starts = sorted(a for v in bs.values() for a in v)
    held = sum(e - s for s, e in zip(starts, be, strict=False))
    print(
        f"  batches: {len(batches)}, {held:.3f}s in them (CPU {BATCH_CPU[0]:.3f}s),"
        f" last ends {be[-1] if be else 0:.3f}s;"
        f" sizes {sorted(n for _, n in batches)[-5:]} (largest)"
    )
    lags = result["lags"]
    print(
        f"  loop stalls > 20 ms: {len(lags)}, {sum(lag for _, lag in lags):.3f}s in all, "
        f"largest {max((lag for _, lag in lags), default=0):.3f}s"
    )
    for at, lag in sorted(lags, key=lambda x: -x[1])[:5]:
        inside = [n for s, n in batches if s <= at - t0 + lag and s >= at - t0 - 0.05]
        print(f"    stall {lag:.3f}s at {at - t0:.3f}s; batches starting then: {inside}")
    spans = sorted(((e - s), s, n) for (s, n), e in zip(batches, be, strict=False))[-5:]
    print("    longest batches: " + ", ".join(f"{d:.3f}s at {s:.2f}s ({n} feeds)" for d, s, n in spans))
    print(f"  after the last batch to pass end: {t1 - t0 - (be[-1] if be else 0):.3f}s")
    print(f"  open_app before the pass: {result['open']:.3f}s")
    print("  processes (CPU sampled every 50 ms from /proc):")
    for line in result["busy"]:
        print(line)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feeds", type=int, default=300)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--delay", type=float, default=0.1)
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--kind", choices=("changed", "cold"), default="changed")
    p.add_argument("--profile", action="store_true", help="print a cProfile of the batches")
    args = p.parse_args()
    global PROFILE
    folder = Path(tempfile.mkdtemp(prefix="monitor-timeline-"))
    with FarmProcess(feeds=args.feeds, items=args.items, delay=args.delay, hosts=args.hosts) as farm:
        config = write_config(folder / "monitor.toml", folder / "monitor.db", farm.urls)
        if args.kind == "changed":
            primed = monitor_pass(config)
            print(f"primed: {primed.new_articles} articles in {primed.seconds:.1f}s")
            farm.change(0.1, 5)
        instrument()
        if args.profile:
            PROFILE = cProfile.Profile()
        threshold = gc.get_threshold()
        workers.tune_gc()
        try:
            result = asyncio.run(timed_pass(config))
        finally:
            gc.unfreeze()
            gc.set_threshold(*threshold)
        summarise(result)
        if args.profile and PROFILE is not None:
            pstats.Stats(PROFILE).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
