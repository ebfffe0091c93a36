"""Placement CPU with the writer's document frequencies held in two orders, in one process.

    python bench/df_order.py [--db /tmp/placement-100k.db] [--new 1000] [--only running|restarted]

Places --new articles as bench/stories_archive_bench.py does (on a copy of --db, an archive it
filled), the memory's term → df dicts (StoryMemory.df) swapped placement by placement between
two copies of term_df: one in the table's key order (terms by name, as StoryMemory loaded them
before h-rarity) and one commonest first (as it loads them now), each term's string made in its
copy's order. Both copies are told every update's counts, so both give the same answers. Printed:
the median thread CPU of a placement with each. One process and alternate placements: the load
of a shared machine falls on both alike (two runs of the bench, minutes apart, differ by more
than the effect), and each copy is as cold as the other when a placement reads it.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import stories_archive_bench as bench  # noqa: E402 (a sibling script)

from monitor.archive.stories import memory_of  # noqa: E402
from monitor.archive.storymemory import StoryMemory  # noqa: E402
from monitor.service.grouping import Grouper  # noqa: E402

ORDERS = {"by name": "lang, term", "commonest first": "df desc"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/placement-100k.db"))
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--only", choices=("running", "restarted"), default="running")
    parser.add_argument("--recent", type=Path, help="bench/placement_callgrind.py --prepare's pickle")
    args = parser.parse_args(argv)
    if args.recent is not None:
        recent = pickle.loads(args.recent.read_bytes())
    else:
        archived = bench.generate(1, 100_000)
        end = max(published for _, _, published in archived)
        recent = [a for a in archived if a[2] > end - timedelta(hours=12)]  # measure's `recent`
    copies: dict[str, dict[str, dict[str, int]]] = {}
    times: dict[str, list[int]] = {name: [] for name in ORDERS}
    counted, place = StoryMemory.counted, Grouper.place

    def counted_in_both(
        memory: StoryMemory, terms: Mapping[str, Mapping[str, int]], documents: Mapping[str, int]
    ) -> None:
        size = None
        for copy in copies.values():
            memory.df = copy
            memory._writes -= 1  # once, below
            counted(memory, terms, {})
            size = memory._df_size if size is None else size  # each copy's new terms counted once
            memory._df_size = size
        counted(memory, {}, documents)

    def placed(grouper: Grouper, *rest: Any, **named: Any) -> Any:
        name = list(ORDERS)[sum(map(len, times.values())) % len(ORDERS)]
        memory_of(grouper.archive).df = copies[name]
        started = time.thread_time_ns()
        made = place(grouper, *rest, **named)
        times[name].append(time.thread_time_ns() - started)
        return made

    StoryMemory.counted = counted_in_both  # type: ignore[method-assign]
    Grouper.place = placed  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        shutil.copyfile(args.db, path)
        archive = bench.Archive.open(path)
        memory = memory_of(archive)
        memory.refresh()
        for name, order in ORDERS.items():
            copy = copies[name] = {}
            for lang, term, df in archive.db.execute(f"select lang, term, df from term_df order by {order}"):
                copy.setdefault(lang, {})[term] = df  # its string made in this order
        bench.measure(archive, recent, args.new, warm=args.only == "running")
        archive.close()
    for name, spent in times.items():
        print(
            f"{name}: placement CPU median {statistics.median(spent) / 1e6:.3f} ms,"
            f" mean {statistics.mean(spent) / 1e6:.3f} ms ({len(spent)} placements)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
