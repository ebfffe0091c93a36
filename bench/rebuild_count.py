"""Rebuilds (stories.lookup.rebuild) in a cold pass, per story, and placement's thread CPU.

    python bench/rebuild_count.py [--feeds 1000] [--check]

One cold pass (monitor_cases.monitor_pass) of the farm's feeds into a fresh archive, in this
process (the tree this script is in: farm.py puts it first on sys.path), counting each story's
profile made again from its article (issue 17, h-churn; after the lead's exp_rebuild.py), the
ids asked of SQL for profiles and articles, the story memory's loads, the main process's peak
RSS, and what the writer's memory holds of profile texts at the end. --check: each story of
one report made again from its article (lookup.rebuild) is the text whose digest its stored
short form keeps, the text the writer kept when it wrote the story (its ring's, lonetexts.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))


from cold_place import vm_hwm  # noqa: E402 (a sibling script)


def held_bytes(memory: Any) -> str:
    """What the writer's StoryMemory holds of profile texts: its dict, and its ring if any."""
    texts = memory.profiles
    held = sys.getsizeof(texts) + sum(sys.getsizeof(t) for t in texts.values() if t is not None)
    held += 32 * sum(1 for k in texts if k > 256)  # their keys (ints)
    out = f"profiles {len(texts)} entries {held / 1e6:.2f} MB"
    ring = getattr(memory, "lone", None)
    if ring is not None:
        recent = sys.getsizeof(ring._recent) + sum(sys.getsizeof(t) + 32 for t in ring._recent.values())
        at = 16 * len(ring._at)
        out += (
            f"; ring {len(ring._ring) / 1e6:.2f} MB ({len(ring)} texts), newest as str {recent / 1e6:.2f} MB,"
            f" entries {at / 1e6:.2f} MB: {(held + len(ring._ring) + recent + at) / 1e6:.2f} MB"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feeds", type=int, default=1000)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--check", action="store_true", help="rebuilt texts against their stored digests")
    args = p.parse_args(argv)
    from farm import FarmProcess
    from monitor_cases import monitor_pass, write_config

    from monitor.archive import storyindex, storymemory
    from monitor.service.grouping import Grouper
    from monitor.stories import lookup

    counts: Counter[int] = Counter()
    rebuild = lookup.rebuild

    def counted(story: int, *rest: Any) -> Any:
        counts[story] += 1
        return rebuild(story, *rest)

    lookup.rebuild = counted  # type: ignore[assignment]
    sql_reads = Counter[str]()
    for name in ("profiles", "lone_reports"):
        read = getattr(storyindex, name)

        def reading(conn: Any, ids: Any, read: Any = read, name: str = name) -> Any:
            sql_reads[name] += len(ids)
            return read(conn, ids)

        setattr(storyindex, name, reading)
    memories: list[Any] = []
    init = storymemory.StoryMemory.__init__

    def noted(self: Any, *rest: Any) -> None:
        init(self, *rest)
        memories.append(self)

    storymemory.StoryMemory.__init__ = noted  # type: ignore[method-assign]
    loads = Counter[str]()
    for name in ("_load", "_adopt", "reset"):
        method = getattr(storymemory.StoryMemory, name)

        def logged(self: Any, *rest: Any, method: Any = method, name: str = name) -> Any:
            done = method(self, *rest)
            loads[name if name != "_adopt" else f"_adopt {done}"] += 1
            return done

        setattr(storymemory.StoryMemory, name, logged)
    place = Grouper.place
    spent = [0.0, 0]

    def timed(self: Grouper, *rest: Any, **named: Any) -> Any:
        began = time.thread_time()
        try:
            return place(self, *rest, **named)
        finally:
            spent[0] += time.thread_time() - began
            spent[1] += 1

    Grouper.place = timed  # type: ignore[method-assign]
    with (
        tempfile.TemporaryDirectory() as folder,
        FarmProcess(feeds=args.feeds, items=args.items, delay=0.1) as farm,
    ):
        config = write_config(Path(folder) / "m.toml", Path(folder) / "m.db", farm.urls)
        figures = monitor_pass(config)
        if args.check:
            check(Path(folder) / "m.db", rebuild)
    n = max(figures.new_articles, 1)
    print(
        f"{figures.new_articles} articles, {figures.seconds:.1f} s; main CPU "
        f"{1000 * figures.main_cpu / n:.3f} ms/article; placement "
        f"{1000 * spent[0] / max(spent[1], 1):.3f} ms (thread CPU)"
    )
    print(f"rebuilds {sum(counts.values())} of {len(counts)} stories; SQL ids read {dict(sql_reads)}")
    print(f"story memory loads: {dict(loads)}; VmHWM {vm_hwm():.1f} MB")
    for memory in memories:
        if memory.conn is not None:  # the writer's
            print("story memory's profile texts:", held_bytes(memory))
    print("rebuilds per story:", sorted(Counter(counts.values()).items())[:12])
    return 0


def check(db: Path, rebuild: Any) -> None:
    """Every story of one report: its article made into a profile text again (lookup.rebuild)
    is the text whose digest its stored short form (lookup.alone) keeps, i.e. the text the
    writer kept (in its ring) when it wrote the story."""
    import hashlib
    import sqlite3

    conn = sqlite3.connect(db)
    rows = conn.execute(
        "select p.story_id, p.data, a.title, a.summary from story_profiles p"
        " join articles a on a.story_id = p.story_id where p.data like '% =%'"
    ).fetchall()
    wrong = 0
    for story, data, title, summary in rows:
        _, text = rebuild(story, data, title or "", summary or "")
        digest = data.partition(" =")[2].partition(":")[0]
        wrong += hashlib.blake2b(text.encode(), digest_size=4).hexdigest() != digest
    print(f"check: {len(rows)} stories of one report made again, {wrong} differ from the text written")


if __name__ == "__main__":
    raise SystemExit(main())
