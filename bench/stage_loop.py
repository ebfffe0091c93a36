"""Parse, rules and the archive write, each timed alone in a loop: CPU ms per article, with a
digest of what each stage made, so two source trees can be compared for speed *and* sameness.

    python bench/stage_loop.py [--feeds 300] [--rounds 3] [--archive] A [B ...]

A variant is a source tree or a git ref, as for ab.py (`python bench/stage_loop.py main .`).
Rounds alternate A B A B ..., each in a fresh child process whose monitor comes from the
variant's tree; the median of the rounds is printed per variant, and its digests.

    parse     parse_feed + distinct_entries over the farm's bodies (farm.py, built in-process,
              never served): entries and identity keys digested
    rules     the shipped rules' RuleSet.match over every entry (one warm-up pass first, as a
              parser worker is warm after its first feeds): every RuleMatch digested
    archive   (--archive) every save_update of one cold pass of the first variant, captured
              once (a farm served from a child process, monitor_pass), replayed into a fresh
              archive, a feed per transaction as a cold pass mostly commits (as batching.py saves
              a transaction's first feed: Archive.bare, where the variant has it): every table's
              rows digested (the full-text index by a MATCH count and FTS5's vocabulary); the
              writer's StoryMemory loaded first, as a pass's first placement loads it;
              with --statements, the CPU time of each SQL statement of the replay too

Loops without a pass leave out what ab.py's stages include besides (the event loop, worker
hand-offs, stories), so their figures are smaller; they are steadier on a shared machine,
and the digests say whether a change kept the stage's output byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import pickle
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

HEADERS = {"content-type": "application/xml; charset=utf-8"}
FARM_NOW = datetime(2026, 12, 5, 6, tzinfo=UTC)  # the farm's clock: the same bodies every run


def _child(stage: str, data: Path, out: Path) -> None:
    """In a child whose PYTHONPATH is a variant's tree: one stage, timed; figures as JSON."""
    if stage in ("archive", "statements"):
        figures = _replay(data, statements=stage == "statements")
    else:
        bodies = pickle.loads(data.read_bytes())
        figures = _parse_and_rules(bodies)
    out.write_text(json.dumps(figures), encoding="utf-8")


def _parse_and_rules(bodies: list[tuple[str, bytes]]) -> dict[str, object]:
    from monitor.ingest.dedupe import distinct_entries
    from monitor.ingest.parse import parse_feed
    from monitor.rules.rulefile import load_rules

    rules = load_rules([Path(os.environ["PYTHONPATH"]) / "rules"])
    began = time.process_time()
    keyed = []
    for url, body in bodies:
        parsed = parse_feed(url, body, HEADERS)
        assert not isinstance(parsed, Exception), parsed
        keyed.extend(distinct_entries(parsed.entries))
    parse = time.process_time() - began
    entries = [entry for entry, _, _ in keyed]
    [rules.match(e.title, e.summary) for e in entries]  # warm-up: the prefix memo, the caches
    began = time.process_time()
    matches = [rules.match(e.title, e.summary) for e in entries]
    rules_cpu = time.process_time() - began
    return {
        "articles": len(entries),
        "parse": 1000 * parse / len(entries),
        "rules": 1000 * rules_cpu / len(entries),
        "parse digest": _digest(repr(keyed)),
        "rules digest": _digest(repr(matches)),
        "matches": sum(map(len, matches)),
    }


def _replay(capture: Path, statements: bool = False) -> dict[str, object]:
    from monitor.archive.store import Archive

    timed: dict[str, list[float]] = {}
    if statements:  # every statement of the archive's connection timed (its thread's CPU)
        sqlite3.connect = functools.partial(sqlite3.connect, factory=_timed_connection(timed))
    feeds, interval, calls = pickle.loads(capture.read_bytes())
    folder = Path(tempfile.mkdtemp(prefix="stage-loop-"))
    try:
        archive = Archive.open(folder / "monitor.db")
        archive.sync_feeds(feeds, FARM_NOW, interval)
        with contextlib.suppress(ImportError):  # the writer's StoryMemory loaded, as a pass's first
            from monitor.archive.stories import memory_of  # placement loads it: told of every row after

            memory_of(archive).refresh()
        timed.clear()
        articles = sum(len(args[3]) for args, _ in calls)
        bare = getattr(archive, "bare", contextlib.nullcontext)  # a variant before Archive.bare
        began = time.process_time()
        for args, kwargs in calls:
            with archive.transaction("replay a feed"), bare():
                archive.save_update(*args, **kwargs)
        spent = time.process_time() - began
        replayed = {sql: list(entry) for sql, entry in timed.items()}  # not the digest's reads below
        conn, rows = archive.conn, []
        names = conn.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
            " and name not like '%fts%' and name not like '%cjk%' and name != '_sqlite_migrations'"
            " order by name"
        ).fetchall()
        for (name,) in names:
            rows.append(repr(conn.execute(f"select * from {name} order by 1, 2").fetchall()))
        rows.append(
            repr(
                conn.execute("select count(*) from articles_fts where articles_fts match 'india'").fetchall()
            )
        )
        conn.execute("insert into articles_fts (articles_fts, rank) values ('integrity-check', 1)")
        conn.execute("create virtual table temp.vocabulary using fts5vocab(main, 'articles_fts', 'row')")
        rows.append(repr(conn.execute("select * from temp.vocabulary order by term").fetchall()))
        archive.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures: dict[str, object] = {
        "articles": articles,
        "archive": 1000 * spent / articles,
        "archive digest": _digest("".join(rows)),
    }
    if statements:
        figures["statements"] = {sql: [n, 1000 * cpu / articles] for sql, (n, cpu) in replayed.items()}
    return figures


def _timed_connection(timed: dict[str, list[float]]) -> type[sqlite3.Connection]:
    """A sqlite3.Connection that adds each statement's count and CPU time (its thread's) to
    `timed`, by the statement's first 80 characters."""
    clock = time.thread_time

    def note(sql: str, began: float) -> None:
        entry = timed.setdefault(" ".join(sql.split())[:80], [0, 0.0])
        entry[0] += 1
        entry[1] += clock() - began

    class Timed(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            began = clock()
            try:
                return super().execute(sql, *args)
            finally:
                note(sql, began)

        def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
            began = clock()
            try:
                return super().executemany(sql, *args)
            finally:
                note("(many) " + sql, began)

    return Timed


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _capture(root: Path, feeds: int, out: Path) -> None:
    """Every save_update of one cold pass of the monitor in `root`, pickled (a child process)."""
    script = (
        "import pickle, sys\n"
        "from pathlib import Path\n"
        "from farm import FarmProcess\n"
        "from monitor_cases import write_config, monitor_pass\n"
        "from monitor.archive.store import Archive\n"
        "from monitor.config.load import load_config\n"
        "calls, save = [], Archive.save_update\n"
        "def spy(self, *args, **kwargs):\n"
        "    # known (the 10th): save_update adds the update's keys to it; kept as it was read\n"
        "    kept = (*args[:9], set(args[9]), *args[10:]) if len(args) > 9 else args\n"
        "    known = {'known': set(kwargs['known'])} if 'known' in kwargs else {}\n"
        "    calls.append((kept, {**kwargs, **known}))\n"
        "    return save(self, *args, **kwargs)\n"
        "Archive.save_update = spy\n"
        "out, feeds = Path(sys.argv[1]), int(sys.argv[2])\n"
        "with FarmProcess(feeds=feeds, items=50, delay=0.05) as farm:\n"
        "    config = write_config(out.with_suffix('.toml'), out.with_suffix('.db'), farm.urls)\n"
        "    monitor_pass(config)\n"
        "loaded = load_config(config, environ={})\n"
        "out.write_bytes(pickle.dumps((loaded.feeds, loaded.schedule.interval, calls)))\n"
    )
    # The variant's own bench/ (its farm.py puts its tree first on sys.path): the pass captured
    # is the variant's, not the tree this script runs from.
    bench = root / "bench" if (root / "bench" / "farm.py").exists() else BENCH
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{bench}"}
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "MONITOR_CONFIG"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-c", script, str(out), str(feeds)], env=env, check=True, cwd=bench)


def _run(root: Path, stage: str, data: Path, folder: Path) -> dict[str, object]:
    out = folder / f"figures-{time.monotonic_ns()}.json"
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", stage, str(data), str(out)]
    subprocess.run(command, env=env, check=True)
    return dict(json.loads(out.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Parse, rules and the archive write timed alone, per variant.")
    p.add_argument("variants", nargs="*", help="source trees (folders holding monitor/) or git refs")
    p.add_argument("--feeds", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3, help="runs per variant, alternating")
    p.add_argument("--archive", action="store_true", help="also replay a captured cold pass's archive writes")
    p.add_argument(
        "--statements",
        action="store_true",
        help="with --archive: each variant's replay once more, its CPU per SQL statement printed",
    )
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0
    if not args.variants:
        p.error("give at least one variant")
    from ab import _tree
    from farm import Farm

    folder = Path(tempfile.mkdtemp(prefix="stage-loop-"))
    try:
        trees = {v: _tree(v, folder) for v in args.variants}
        farm = Farm(feeds=args.feeds, items=50, now=FARM_NOW)
        bodies = folder / "bodies.pickle"
        bodies.write_bytes(
            pickle.dumps([(f"http://127.0.0.1:1/feed/{i}.xml", farm.body(i)) for i in range(args.feeds)])
        )
        capture = folder / "capture.pickle"
        if args.archive:
            _capture(trees[args.variants[0]], args.feeds, capture)
        runs: dict[str, list[dict[str, object]]] = {v: [] for v in args.variants}
        for n in range(args.rounds):
            for v in args.variants:
                figures = _run(trees[v], "parse", bodies, folder)
                if args.archive:
                    figures.update(_run(trees[v], "archive", capture, folder))
                runs[v].append(figures)
                stages = ", ".join(
                    f"{s} {figures[s]:.3f}" for s in ("parse", "rules", "archive") if s in figures
                )
                print(
                    f"{v}: round {n + 1}: {stages} CPU ms/article (load {os.getloadavg()[0]:.1f})", flush=True
                )
        if args.archive and args.statements:
            _print_statements(trees, capture, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{args.feeds} feeds × 50 items; median of {args.rounds} rounds each, CPU ms per article")
    for v, rs in runs.items():
        stages = [s for s in ("parse", "rules", "archive") if s in rs[0]]
        medians = ", ".join(f"{s} {statistics.median(float(r[s]) for r in rs):.3f}" for s in stages)  # type: ignore[arg-type]
        digests = {k: {str(r[k]) for r in rs} for k in rs[0] if k.endswith("digest")}
        print(f"{v}: {medians}; {rs[0]['articles']} articles, {rs[0]['matches']} rule matches")
        print("    " + ", ".join(f"{k} {'/'.join(sorted(d))}" for k, d in digests.items()))
    return 0


def _print_statements(trees: dict[str, Path], capture: Path, folder: Path) -> None:
    """One more replay per variant, each SQL statement timed: CPU ms per article, the costliest
    first (the statements' sum is the archive write less its Python)."""
    for v, root in trees.items():
        figures = _run(root, "statements", capture, folder)
        timed = dict(figures["statements"])  # type: ignore[call-overload]
        total = sum(ms for _, ms in timed.values())
        print(f"\n{v}: archive write {figures['archive']:.3f} CPU ms/article, of which SQL {total:.3f}:")
        for sql, (count, ms) in sorted(timed.items(), key=lambda item: -item[1][1])[:12]:
            print(f"  {ms:6.3f}  {count:6d}x  {sql}")


if __name__ == "__main__":
    raise SystemExit(main())
