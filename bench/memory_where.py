"""Where a cold pass's memory goes, per process: tracemalloc at the main process's peak.

    python bench/memory_where.py [--feeds 300] [--items 50] [--top 25] [--workers N]

One `monitor poll`-like cold pass (monitor.app.poll_once, in this process) over a loopback
farm (bench/farm.py, its own process) into a fresh archive, with tracemalloc on in this
process only (the parser workers run untraced). A thread watches the traced total every
0.25 s and takes a snapshot whenever it passes the last one's by 5%: the last snapshot is
the pass's peak. Printed:

* RSS (this process, and each parser worker's VmHWM) at the steps of start-up and at the end;
* at the peak: traced MB by package (monitor.<stage>, a third-party package, the standard
  library), then the top allocation sites (file:line).

tracemalloc costs memory of its own (about 2x the traced total, not counted in "traced") and
slows the pass; RSS figures are therefore upper bounds, and the shares are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from farm import FarmProcess  # noqa: E402 (a sibling script)
from monitor_cases import write_config  # noqa: E402
from sampling import Sampling  # noqa: E402
from service_memory import _status, _tree  # noqa: E402


def rss_mb(pid: int) -> tuple[float, float]:
    status = _status(pid)
    return status.get("VmRSS", 0) / 1024, status.get("VmHWM", 0) / 1024


class PeakWatch(Sampling):
    """Snapshots of this process's traced memory, the last at its peak."""

    def __init__(self) -> None:
        self.snapshot: tracemalloc.Snapshot | None = None
        self.peak = 0
        self.children: dict[int, float] = {}  # worker pid → VmHWM MB
        super().__init__("peak-watch")

    def _run(self) -> None:
        import os

        me = os.getpid()
        while not self._stop.wait(0.25):
            for pid in _tree(me)[1:]:
                self.children[pid] = max(self.children.get(pid, 0.0), rss_mb(pid)[1])
            current, _ = tracemalloc.get_traced_memory()
            if current > self.peak * 1.05:
                self.peak = current
                self.snapshot = tracemalloc.take_snapshot()


def package_of(filename: str) -> str:
    path = Path(filename)
    parts = path.parts
    if "monitor" in parts and "site-packages" not in parts:
        at = len(parts) - 1 - parts[::-1].index("monitor")
        return ".".join(parts[at : at + 2]).removesuffix(".py")
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    return "stdlib" if "python3" in filename else path.name


def trim() -> None:
    """Collect, and hand glibc's free memory back to the system (malloc_trim)."""
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


async def released(config_path: Path) -> None:
    """The pass untraced, then each holder of memory emptied in turn: its share is the RSS that
    goes with it (after a garbage collection and malloc_trim)."""
    import gc
    import os

    from monitor.app import open_app
    from monitor.config.load import load_config
    from monitor.stories import stems

    me = os.getpid()
    steps: list[tuple[str, float]] = []

    def note(name: str) -> None:
        steps.append((name, rss_mb(me)[0]))
        print(f"  {name:55s} RSS {steps[-1][1]:6.1f} MB", flush=True)

    note("before open_app")
    async with open_app(load_config(config_path, environ={})) as app:
        note("open_app (rules, archive, clients)")
        report = await app.pipeline.run_pass()
        print(f"pass: {report.feeds} feeds, {report.new_articles} new articles, {len(report.errors)} errors")
        note(f"after the pass (VmHWM {rss_mb(me)[1]:.1f} MB)")
        trim()
        note("gc.collect + malloc_trim")
        pipeline = app.pipeline
        pipeline.fingerprints.__init__()  # type: ignore[misc]
        pipeline.profiles.__init__()  # type: ignore[misc]
        trim()
        note("parsed fingerprints + profiles caches emptied")
        stems.forget()
        trim()
        note("stems._WORDS and _NAMES emptied")
        app.pipeline.archive.__dict__.pop("_story_memory", None)
        trim()
        note("archive's StoryMemory dropped")
        app.pipeline.archive.db.conn.execute("pragma shrink_memory")
        note("sqlite shrink_memory (page cache)")
        gc.collect()
    trim()
    note("open_app closed")
    for (_, before), (name, after) in zip(steps, steps[1:], strict=False):
        print(f"{before - after:+7.1f} MB freed by: {name}")


def deep_size(root: object, seen: set[int]) -> int:
    """Bytes of `root` and of everything it reaches that `seen` does not hold yet (modules,
    classes and functions not followed): what emptying it could free."""
    import gc
    import types

    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    total, stack = 0, [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


async def sizes(config_path: Path) -> None:
    """The pass untraced, then the bytes each long-lived holder reaches (sys.getsizeof summed
    over what it alone reaches, in the order printed): what is live at the end of the pass."""
    import functools
    import gc

    from monitor.app import open_app
    from monitor.config.load import load_config
    from monitor.stories import stems

    async with open_app(load_config(config_path, environ={})) as app:
        report = await app.pipeline.run_pass()
        hwm = rss_mb(os.getpid())[1]
        print(f"pass: {report.feeds} feeds, {report.new_articles} new articles; VmHWM {hwm:.1f} MB")
        pipeline = app.pipeline
        seen: set[int] = set()
        deep_size((pipeline.rules, sys.modules), seen)  # start-up's: not counted below
        holders: list[tuple[str, object]] = [
            ("parsed fingerprints (stories.lookup)", pipeline.fingerprints),
            ("parsed profiles (stories.lookup)", pipeline.profiles),
            ("StoryMemory (archive.storymemory)", pipeline.archive.__dict__.get("_story_memory")),
            ("stems._WORDS, _NAMES", (stems._WORDS, stems._NAMES)),
        ]
        for module in list(sys.modules.values()):
            for name, value in list(vars(module).items()) if module is not None else ():
                if isinstance(value, functools._lru_cache_wrapper) and value.cache_info().currsize > 100:
                    holders.append((f"lru {module.__name__}.{name} ({value.cache_info().currsize})", value))
        for name, holder in holders:
            print(f"  {deep_size(holder, seen) / 1e6:7.2f} MB  {name}")
        memory = pipeline.archive.__dict__.get("_story_memory")
        if memory is not None:
            inner: set[int] = set()
            for name, value in sorted(vars(memory).items()):
                size = deep_size(value, inner)
                if size > 100_000:
                    print(f"      {size / 1e6:7.2f} MB  StoryMemory.{name}")
        gc.collect()
        seen.add(id(seen))  # this measurement's own
        rest = [obj for obj in gc.get_objects() if id(obj) not in seen]
        print(f"  {deep_size(rest, seen) / 1e6:7.2f} MB  everything else the collector tracks, by type:")
        by_type: Counter[str] = Counter()
        for obj in rest:
            by_type[type(obj).__qualname__] += sys.getsizeof(obj)
        for name, size in by_type.most_common(12):
            print(f"      {size / 1e6:7.2f} MB  {name} (the objects alone)")


async def cold_pass(config_path: Path) -> None:
    """The pass alone (its alerts stay queued: no console output)."""
    from monitor.app import open_app
    from monitor.config.load import load_config

    async with open_app(load_config(config_path, environ={})) as app:
        report = await app.pipeline.run_pass()
    print(f"pass: {report.feeds} feeds, {report.new_articles} new articles, {len(report.errors)} errors")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Where a cold pass's memory goes (tracemalloc at its peak).")
    p.add_argument("--feeds", type=int, default=300)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--workers", type=int, help="[fetch] workers (default: the service's default)")
    p.add_argument("--release", action="store_true", help="no tracemalloc: RSS freed by each holder")
    p.add_argument("--sizes", action="store_true", help="no tracemalloc: bytes each holder reaches")
    p.add_argument("--frames", type=int, default=1, help="frames kept per allocation (callers shown)")
    args = p.parse_args(argv)
    import os

    me = os.getpid()
    print(f"bare interpreter: {rss_mb(me)[0]:.1f} MB")
    import monitor.app  # noqa: F401 (what `monitor run` imports before its first pass)
    from monitor.service.workers import tune_gc

    print(f"after importing monitor.app: {rss_mb(me)[0]:.1f} MB")
    folder = Path(tempfile.mkdtemp(prefix="memory-where-"))
    with FarmProcess(feeds=args.feeds, items=args.items, delay=0.1, hosts=50) as farm:
        urls = [farm.url(i) for i in range(args.feeds)]
        extra = f"[fetch]\nworkers = {args.workers}" if args.workers is not None else ""
        config = write_config(folder / "monitor.toml", folder / "monitor.db", urls, extra)
        tune_gc()
        if args.release:
            asyncio.run(released(config))
            return 0
        if args.sizes:
            asyncio.run(sizes(config))
            return 0
        tracemalloc.start(args.frames)
        started = time.monotonic()
        with PeakWatch() as watch:
            asyncio.run(cold_pass(config))
        took = time.monotonic() - started
    rss, hwm = rss_mb(me)
    print(f"took {took:.0f}s; this process: RSS {rss:.1f} MB now, VmHWM {hwm:.1f} MB (with tracemalloc)")
    for pid, peak in watch.children.items():
        print(f"parser worker {pid}: VmHWM {peak:.1f} MB")
    snap = watch.snapshot
    if snap is None:
        return 1
    snap = snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    stats = snap.statistics("lineno")
    if args.frames > 1:
        print("\nlargest by whole traceback:")
        for s in snap.statistics("traceback")[: args.top // 2]:
            print(f"  {s.size / 1e6:7.2f} MB  {s.count:8d}")
            for line in s.traceback.format()[::2][: args.frames]:
                print(f"      {line.strip().replace(str(ROOT) + '/', '')}")
    total = sum(s.size for s in stats)
    print(f"\ntraced at the peak: {total / 1e6:.1f} MB (allocated during the pass, still held)")
    by_package: Counter[str] = Counter()
    for s in stats:
        by_package[package_of(s.traceback[0].filename)] += s.size
    for name, size in by_package.most_common(15):
        print(f"  {size / 1e6:7.1f} MB  {name}")
    print(f"\ntop {args.top} sites:")
    for s in stats[: args.top]:
        frame = s.traceback[0]
        where = frame.filename.replace(str(ROOT) + "/", "")
        print(f"  {s.size / 1e6:7.2f} MB  {s.count:8d}  {where}:{frame.lineno}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
