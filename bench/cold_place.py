"""Story placement in a cold pass, profiled: cProfile (or counts) around each Grouper.place.

    python bench/cold_place.py [--feeds 300] [--items 50] [--profile OUT.prof] [--top 40]

One cold pass (monitor_cases.monitor_pass) of the farm's feeds (served from a child process)
into a fresh archive, in this process: each Grouper.place (on the writer thread) runs under one
cProfile.Profile, enabled for the call alone, so its figures are placement's inclusive costs.
Printed: the pass's figures, the writer thread's CPU inside place (thread_time), the main
process's peak RSS (VmHWM) and, with --profile, the top functions by inclusive time.

Instructions per placement (deterministic; --reduce runs each place inside functools.reduce, as
bench/placement_callgrind.py does, so callgrind counts placement alone):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --toggle-collect=functools_reduce \
        python bench/cold_place.py --feeds 40 --reduce
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))


def vm_hwm() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feeds", type=int, default=300)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--profile", type=Path, help="cProfile around each Grouper.place; stats written here")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--reduce", action="store_true", help="each place inside functools.reduce (callgrind)")
    args = p.parse_args(argv)
    from farm import FarmProcess
    from monitor_cases import monitor_pass, write_config

    from monitor.service.grouping import Grouper

    place = Grouper.place
    spent = [0.0, 0]
    profiler = cProfile.Profile() if args.profile else None

    def timed(self: Grouper, *rest: Any, **named: Any) -> Any:
        began = time.thread_time()
        if profiler is not None:
            profiler.enable()
        try:
            if args.reduce:
                made: list[Any] = []
                functools.reduce(lambda _a, _b: made.append(place(self, *rest, **named)) or 0, (0, 0))
                return made[0]
            return place(self, *rest, **named)
        finally:
            if profiler is not None:
                profiler.disable()
            spent[0] += time.thread_time() - began
            spent[1] += 1

    Grouper.place = timed  # type: ignore[method-assign]
    farm = FarmProcess(feeds=args.feeds, items=args.items, delay=0.1)
    with tempfile.TemporaryDirectory() as folder, farm:
        db = Path(folder) / "monitor.db"
        config = write_config(Path(folder) / "monitor.toml", db, farm.urls)
        figures = monitor_pass(config)
    n = max(spent[1], 1)
    print(
        f"{figures.new_articles} articles, {figures.seconds:.1f} s; main process CPU "
        f"{1000 * figures.main_cpu / max(figures.new_articles, 1):.3f} ms/article; threads "
        + ", ".join(f"{k} {1000 * v / max(figures.new_articles, 1):.3f}" for k, v in figures.threads.items())
    )
    print(f"placements {spent[1]}: {1000 * spent[0] / n:.3f} ms each (thread CPU); VmHWM {vm_hwm():.1f} MB")
    if profiler is not None:
        profiler.dump_stats(args.profile)
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
