"""Where Archive.save_update's time goes at archive scale: each statement family, the writer's
StoryMemory calls and the commit, in wall time (perf_counter) and this thread's CPU (thread_time).

Runs bench/stories_archive_bench.py's measurement (new articles placed and archived 25 an update)
on a copy of an archive it filled (--db), with the connection wrapped so that every statement
save_update runs is timed; the rest of save_update is its Python. With --commits, each commit's
time and the WAL frames it wrote (the WAL's growth: exact until a checkpoint starts it again;
`--pragma "pragma wal_autocheckpoint = 0"` keeps it growing). --skip PREFIX leaves a statement
family out (an ablation: the archive is no longer the same). /proc/self/io says what was read and
written meanwhile.

    python bench/save_where.py [--db /tmp/placement-100k.db] [--articles 100000] [--new 1000]
                               [--only running]
                               [--pragma SQL]... [--skip PREFIX]... [--commits] [--keep PATH]
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import stories_archive_bench as bench  # noqa: E402 (a sibling script: its generator and measurement)

from monitor.archive import stories as storystore  # noqa: E402
from monitor.archive.store import Archive  # noqa: E402

WALL: defaultdict[str, float] = defaultdict(float)
CPU: defaultdict[str, float] = defaultdict(float)
CALLS: defaultdict[str, int] = defaultdict(int)
COMMITS: list[tuple[float, float, int]] = []  # (wall ms, CPU ms, WAL size after)


@functools.cache
def family(sql: str) -> str:
    """A statement's family: its text, spaces folded, multi-row VALUES as one (cached: its
    regexes, a few µs a statement, would be counted in the rest of save_update)."""
    text = re.sub(r"\s+", " ", sql.strip())
    return re.sub(r"(,\s*\(\?(, \?)*\))+", " ...", text)[:72]


class Timed:
    """The connection, its execute and executemany timed while `on` (inside save_update)."""

    def __init__(self, conn: Any, wal: Path, skip: list[str]) -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_wal", wal)
        object.__setattr__(self, "_skip", skip)
        object.__setattr__(self, "on", False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "on":
            object.__setattr__(self, name, value)
        else:
            setattr(self._conn, name, value)

    def _run(self, method: str, sql: str, *args: Any) -> Any:
        if not self.on:
            return getattr(self._conn, method)(sql, *args)
        if any(sql.startswith(prefix) for prefix in self._skip):
            return None
        wall, cpu = time.perf_counter(), time.thread_time()
        result = getattr(self._conn, method)(sql, *args)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        key = family(sql)
        WALL[key] += wall
        CPU[key] += cpu
        CALLS[key] += 1
        if sql == "COMMIT":
            size = self._wal.stat().st_size if self._wal.exists() else 0
            COMMITS.append((wall * 1000, cpu * 1000, size))
        return result

    def execute(self, sql: str, *args: Any) -> Any:
        return self._run("execute", sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        return self._run("executemany", sql, *args)


def timed_call(name: str, call: Callable[..., Any], conn: Timed) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        if not conn.on:
            return call(*args, **kwargs)
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return call(*args, **kwargs)
        finally:
            WALL[name] += time.perf_counter() - wall
            CPU[name] += time.thread_time() - cpu
            CALLS[name] += 1

    return run


def io() -> dict[str, int]:
    with open("/proc/self/io") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/placement-100k.db"))
    parser.add_argument("--articles", type=int, default=100_000, help="as the archive was filled")
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--only", choices=("restarted", "running"), default="restarted")
    parser.add_argument("--pragma", action="append", default=[], help="run on the copy before measuring")
    parser.add_argument("--skip", action="append", default=[], help="leave out statements starting so")
    parser.add_argument("--commits", action="store_true", help="each commit's time and WAL frames")
    parser.add_argument("--keep", type=Path, help="copy the archive here after the run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "save.db"
        shutil.copyfile(args.db, path)
        archive = Archive.open(path)
        for sql in args.pragma:
            print(sql, archive.conn.execute(sql).fetchall())
            archive.conn.commit()
        conn = Timed(archive.conn, Path(f"{path}-wal"), args.skip)
        archive.conn = conn  # type: ignore[assignment]
        archive.db.conn = conn  # type: ignore[assignment]
        memory = storystore.memory_of(archive)
        for name in ("indexed", "joined", "counted"):
            setattr(memory, name, timed_call(f"StoryMemory.{name}", getattr(memory, name), conn))
        save, total = archive.save_update, [0.0, 0.0]

        def timed_save(*a: Any, **k: Any) -> int:
            conn.on = True
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return save(*a, **k)
            finally:
                total[0] += time.perf_counter() - wall
                total[1] += time.thread_time() - cpu
                conn.on = False

        archive.save_update = timed_save  # type: ignore[method-assign]
        before = io()
        articles = bench.generate(1, args.articles)
        timings = bench.measure(archive, articles, args.new, warm=args.only == "running")[0]
        after = io()
        archive.close()
        if args.keep:
            shutil.copyfile(path, args.keep)
    n = len(timings)
    print(
        f"save_update: wall {total[0] * 1000 / n:.3f} ms, CPU {total[1] * 1000 / n:.3f} ms per article ({n})"
    )
    print(
        f"io: read {(after['read_bytes'] - before['read_bytes']) / 2**20:.1f} MiB,"
        f" written {(after['write_bytes'] - before['write_bytes']) / 2**20:.1f} MiB,"
        f" {after['syscr'] - before['syscr']} reads, {after['syscw'] - before['syscw']} writes (system calls)"
    )
    print("   wall     CPU  (ms per article)   calls  part")
    for key in sorted(WALL, key=WALL.__getitem__, reverse=True):
        print(f"{WALL[key] * 1000 / n:7.3f} {CPU[key] * 1000 / n:7.3f}  {CALLS[key]:27d}  {key}")
    rest = total[0] - sum(WALL.values()), total[1] - sum(CPU.values())
    print(f"{rest[0] * 1000 / n:7.3f} {rest[1] * 1000 / n:7.3f}  {'':27}  the rest of save_update (Python)")
    if args.commits:
        last = 0
        for wall, cpu, size in COMMITS:
            frames = (size - last) // 4120  # a frame: its 24-byte header and a 4 KiB page
            print(f"commit {wall:6.1f} ms, CPU {cpu:6.1f} ms; WAL {size / 2**20:5.1f} MiB (+{frames} frames)")
            last = size
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
