"""Where a parser worker's memory goes: one real worker process, fed the farm's feeds.

    python bench/worker_memory.py [--feeds 1000] [--items 50] [--every 100] [--release]
                                  [--archive DB --skip N]

Builds the feed farm's bodies (bench/farm.py, not served: the bodies are handed over as
fetched), an empty archive (or a copy of DB, fed the farm's feeds from the N-th on: new to
it) and the shipped rules, then starts one parser worker exactly as the service does
(stoppable.WorkerPool with parsing.start_worker) and has it analyse every feed
(parsing.analyse_in_worker), one after another. Printed: the worker's RSS and high-water
mark (VmHWM) before its first feed and every --every feeds, split into anonymous memory and
mapped files. With --release, at the end, the worker empties each cache in turn (a collection
and glibc's malloc_trim after each) and the RSS each gives back is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent


def status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of a process, in KiB."""
    wanted = ("VmRSS", "VmHWM", "RssAnon", "RssFile")
    with open(f"/proc/{pid}/status", encoding="ascii") as lines:
        return {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in lines) if k in wanted}


def show(label: str, pid: int) -> None:
    s = status(pid)
    print(
        f"  {label:34s} RSS {s['VmRSS'] / 1024:6.1f} MB (anon {s['RssAnon'] / 1024:5.1f}, files "
        f"{s['RssFile'] / 1024:5.1f})   VmHWM {s['VmHWM'] / 1024:6.1f} MB",
        flush=True,
    )


# --- run in the worker (this module is importable there: bench/ is on its sys.path) -----


def worker_pid() -> int:
    import os

    return os.getpid()


def release(step: str) -> None:
    """Empty one holder of memory in the worker, then collect and trim."""
    import ctypes
    import gc

    if step == "words":
        from monitor.stories import stems

        stems.forget()
    elif step == "lru caches":
        import functools

        for module in list(sys.modules.values()):
            for value in list(vars(module).values()) if module is not None else ():
                if isinstance(value, functools._lru_cache_wrapper):
                    value.cache_clear()
    elif step == "rules":
        from monitor.service import parsing

        if parsing._worker is not None:
            parsing._worker.rules = None  # type: ignore[assignment]
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def trace_start() -> None:
    import tracemalloc

    tracemalloc.start()


def trace_top(top: int) -> list[str]:
    """What is allocated since trace_start and still held, by site."""
    import tracemalloc

    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    stats = snapshot.statistics("lineno")
    lines = [f"traced, held: {sum(s.size for s in stats) / 1e6:.1f} MB"]
    for s in stats[:top]:
        frame = s.traceback[0]
        where = frame.filename.replace(str(ROOT) + "/", "")
        lines.append(f"  {s.size / 1e6:7.2f} MB {s.count:8d}  {where}:{frame.lineno}")
    return lines


async def run(
    feeds: int, items: int, every: int, releases: bool, trace: int, archive: Path | None = None, skip: int = 0
) -> None:
    sys.path.insert(0, str(BENCH))
    import worker_memory as here  # this file as a module the worker can import
    from farm import Farm

    from monitor.archive.store import Archive
    from monitor.rules.rulefile import load_rules
    from monitor.service import parsing
    from monitor.service.stoppable import WorkerPool
    from monitor.types import StorySettings

    started = time.perf_counter()
    farm = Farm(feeds=skip + feeds, items=items)
    print(f"farm: {feeds} feeds × {items} items built in {time.perf_counter() - started:.1f}s", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="worker-memory-"))
    db = folder / "monitor.db"
    if archive is not None:  # its identity keys looked up as the service's workers do
        shutil.copyfile(archive, db)
    Archive.open(db).db.conn.close()
    rules = load_rules(sorted((ROOT / "rules").glob("*.toml")))
    pool = WorkerPool(1, parsing.start_worker, (rules, StorySettings(), str(db)))
    try:
        pid = await pool.run(here.worker_pid, (), 120.0)
        show("set up (imports, rules)", pid)
        if trace:
            await pool.run(here.trace_start, (), 60.0)
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        articles = 0
        started = time.perf_counter()
        for i in range(skip, skip + feeds):
            result = await pool.run(
                parsing.analyse_in_worker, (farm.url(i), farm.body(i), {}, now, 200), 60.0
            )
            articles += len(getattr(result, "fresh", ()))
            if (i + 1 - skip) % every == 0 or i + 1 - skip == feeds:
                show(f"after {i + 1 - skip} feeds ({articles} articles)", pid)
        took = time.perf_counter() - started
        print(f"  {articles} articles analysed in {took:.1f}s ({1000 * took / max(articles, 1):.2f} ms each)")
        if trace:
            print("\n".join(await pool.run(here.trace_top, (trace,), 60.0)))
        if releases:
            for step in ("none", "words", "lru caches", "rules"):
                await pool.run(here.release, (step,), 60.0)
                show(f"released: {step}", pid)
    finally:
        pool.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="A parser worker's memory, feed by feed.")
    p.add_argument("--feeds", type=int, default=1000)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--every", type=int, default=100, help="print the worker's memory every N feeds")
    p.add_argument("--release", action="store_true", help="then empty each cache in turn")
    p.add_argument("--archive", type=Path, help="start from a copy of this archive (default: an empty one)")
    p.add_argument("--skip", type=int, default=0, help="feed the farm's feeds from this one on (default 0)")
    p.add_argument("--trace", type=int, default=0, help="tracemalloc in the worker: top N sites at the end")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    asyncio.run(run(args.feeds, args.items, args.every, args.release, args.trace, args.archive, args.skip))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
