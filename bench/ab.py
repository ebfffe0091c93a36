"""A/B: the same cold pass on two (or more) source trees, back to back, CPU ms per article by stage.

    python bench/ab.py [--feeds 200] [--items 50] [--runs 2] [--kind cold|warm|changed|floor] A [B ...]

Each variant is a source tree (a folder holding monitor/) or a git ref of this repository (exported
with `git archive` into a temporary folder): `python bench/ab.py main .` compares main with the
working tree. One loopback farm (farm.py) serves every run, and runs alternate A B A B ..., so a
burst of load from elsewhere on a shared machine falls on every variant alike.

A run is one cold pass (`run_pass` over every farm feed into a fresh archive) in a child process
whose monitor comes from the variant's tree, under `py-spy record --subprocesses` (the parser
workers are sampled too). Its samples, each put in the stage whose frame is outermost on the
stack (stage_of), give the CPU time by stage: each thread's CPU time shared out as its own
samples were (RunFigures.stage_ms), samples of a thread waiting dropped (IDLE); FTS5's share
of the archive write is measured apart (fts_cost: the pass's articles inserted again into an FTS5
table alone, a feed per transaction),
because SQLite's C code is invisible to py-spy. Printed per variant: wall and CPU time, feeds/s,
and CPU ms per article in total and by stage, the median of its runs.

--kind warm times a second pass (all 304s) and --kind changed a pass after farm.change(0.1, 5),
both without py-spy: CPU ms per feed is their figure. For --kind changed one cold pass (the first
variant's) primes an archive that each variant's changed pass starts from, a copy each; after a
run the first variant's archive is the next run's start (the farm changes again).

--kind floor (a bench-only switch, never in the product's config) measures what the cold pass would
be if story placement cost nothing: in the child, one cold pass records every article's placement
(`Grouper.place`'s answer: story, fingerprint, keys, alerts, profile), then a second cold pass of the
same feeds into a fresh archive gets each placement from that record instead of placing it. Both
passes are unprofiled; both are printed (feeds/s, CPU ms per article, the main process and its
writer thread). The second writes the same kinds of rows (a report joins the story it joined in the
first pass, by that pass's story id), but no story alert is redrawn (the joins are not replayed).

suite.py uses profiled_pass for its "CPU ms per article by stage" row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

# Outermost first: the first frame (from the root of the stack) that matches decides its stage.
# A frame reads "function (path:line)".
STAGE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "parse",
        re.compile(
            r"^(read_entries|_timed_read) |monitor/ingest/(parse|encoding|htmltext|dedupe)\.py"
            r"|\((\S*/)?feedparser/"
        ),
    ),
    # The fetches' sockets: connected (anyio), read and closed by asyncio's transports, in
    # callbacks of the event loop with no frame of monitor's or httpx's above them. py-spy
    # names a library's file from its folder on sys.path ("httpx/_client.py"), a frame as
    # "function (path:line)".
    (
        "fetch",
        re.compile(
            r"monitor/ingest/(fetch|body|netguard)\.py|\((\S*/)?(httpx|httpcore|h11|anyio)/"
            r"|^_Selector(Socket)?Transport\."
        ),
    ),
    ("rules", re.compile(r"monitor/rules/")),
    (
        "stories",
        re.compile(r"monitor/stories/|monitor/service/(grouping|storyfix)\.py|monitor/alerts/redraw\.py"),
    ),
    ("keys", re.compile(r"^known_keys ")),
    ("archive", re.compile(r"monitor/archive/")),
    ("alerts", re.compile(r"monitor/alerts/")),
)
# "start": a parser worker's start (spawned, its imports, the rules it is sent), once per pass: a share
# of a small pass's CPU, nothing of a big one's (suite.py's row, scaled to 1,000 feeds, leaves it out)
STAGES = ("parse", "rules", "stories", "keys", "archive", "alerts", "fetch", "other", "start")
# A sample in COMMIT or RELEASE (SQLite's C code under these frames): also counted as "commit".
COMMIT = re.compile(r"^(write_transaction|atomic) \(")
# A thread blocked waiting (for a socket, a task, a timer) is not using a core, but py-spy
# --nonblocking reads its state without stopping the process and now and then takes it as busy
# (the event loop in epoll, the pool's thread polling its worker, a worker waiting for its next
# task, the bench's ThreadClock): a sample whose innermost frame is one of these waits is dropped.
IDLE = re.compile(
    r"^(\w*Selector\.select \(|Condition\.wait \(|_worker \(\S*concurrent/futures/thread\.py:"
    r"|_Channel\._read \(\S*monitor/service/serve\.py:)"
)
# The child's own start and end (imports, open_app: rules compiled, the archive opened; its
# close), before and after run_pass: outside the CPU time measured, so its samples are dropped.
OUTSIDE = re.compile(r"^(open_app|load_config|_find_and_load) \(")
# A worker's start: in the worker (else its frames without _serve), and in the main process
# (_Worker.__init__: the process spawned, the rules pickled for it)
WORKER_START = re.compile(r"^(_find_and_load|start_worker|_Worker\.__init__) \(")
SAMPLE_RATE = 200  # per second, per process
WORKERS = "workers"  # the sample group of the parser processes; the main process's: "main <thread>"


@dataclass
class RunFigures:
    variant: str
    feeds: int = 0
    articles: int = 0
    seconds: float = 0.0  # wall time of run_pass
    cpu: float = 0.0  # CPU seconds of the child and its workers during run_pass
    main_cpu: float = 0.0  # of the child alone (all its threads): the cold pass's bottleneck
    threads: dict[str, float] = field(default_factory=dict)  # main_cpu by thread (ThreadClock)
    samples: dict[str, int] = field(default_factory=dict)  # py-spy samples by stage
    fts_ms: float = 0.0  # FTS5 insert, CPU ms per article (fts_cost)
    errors: list[str] = field(default_factory=list)
    placed: dict[str, float] = field(default_factory=dict)  # --kind floor: the recording pass's figures

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.articles if self.articles else 0.0

    @property
    def main_ms(self) -> float:
        return 1000 * self.main_cpu / self.articles if self.articles else 0.0

    def stage_ms(self, within: str = "") -> dict[str, float]:
        """CPU ms per article by stage (`within`: of the groups whose name starts so, e.g. "main ":
        the main process's; "main monitor-archive": its writer thread's). Samples are counted by
        thread (read_stacks: "group|stage"): each main-process thread's CPU time (ThreadClock) is
        shared out as that thread's samples were, the rest of the main process's CPU over its
        other threads' samples, the workers' (the pass's less the main process's) over theirs;
        then scaled to the pass's CPU (time whose thread left no sample). Not the pass's CPU
        shared by all samples alike: py-spy samples a thread ready to run but kept off a core (or
        waiting for the GIL) as busy, so samples per CPU second differ by thread (a 300-feed
        cold pass: 3.0 the writer, 2.8 the worker, 3.9 the pool's hand-off thread)."""
        groups: dict[str, Counter[str]] = {}
        for key, n in self.samples.items():
            group, _, stage = key.rpartition("|")
            groups.setdefault(group, Counter())[stage] += n
        if not groups or not self.articles:
            return {}
        cpu = self._group_cpu(groups)
        ms: Counter[str] = Counter()
        for group, stages in groups.items():
            busy = sum(n for s, n in stages.items() if s != "commit")  # commit: in its stage too
            for s, n in stages.items():
                ms[s] += cpu.get(group, 0.0) * n / busy if busy and group.startswith(within) else 0.0
        total = sum(n for s, n in ms.items() if s != "commit")
        whole = self.cpu_ms
        if within:  # the groups' own CPU (the main process's: all of it), none without its figures
            whole = 1000 * sum(cpu[g] for g in groups if g.startswith(within)) / self.articles
            whole = (self.main_ms if within == "main " else whole) * self._by_thread(groups)
        return {s: whole * ms[s] / total if total else 0.0 for s in (*STAGES, "commit")}

    def _by_thread(self, groups: dict[str, Counter[str]]) -> bool:
        return bool(self.main_cpu) and any(g.startswith("main ") for g in groups)

    def _group_cpu(self, groups: dict[str, Counter[str]]) -> dict[str, float]:
        """CPU seconds behind each group of samples (see stage_ms); without the main process's
        figures (or samples by thread), the pass's CPU shared by samples alone."""
        if not self._by_thread(groups):
            return {g: sum(n for s, n in c.items() if s != "commit") for g, c in groups.items()}
        cpu = {WORKERS: max(self.cpu - self.main_cpu, 0.0)}
        own = {f"main {name}": spent for name, spent in self.threads.items()}
        cpu |= {g: own[g] for g in groups if g in own}
        others = [g for g in groups if g.startswith("main ") and g not in own]
        rest = max(self.main_cpu - sum(v for g, v in cpu.items() if g != WORKERS), 0.0)
        sampled = sum(groups[g][s] for g in others for s in groups[g] if s != "commit")
        for g in others:
            cpu[g] = rest * sum(n for s, n in groups[g].items() if s != "commit") / max(sampled, 1)
        return cpu


def stage_of(frames: list[str]) -> str:
    for frame in frames:
        for stage, pattern in STAGE_RULES:
            if pattern.search(frame):
                return stage
    return "other"


def read_stacks(path: Path) -> Counter[str]:
    """py-spy's raw (collapsed) output (`--threads`) → samples by thread and stage, keyed
    "group|stage": group "workers" for a parser process's, "main <thread>" for the main
    process's (the thread's name without its number, as ThreadClock names it). A record is
    `frame;frame;... count`; its first "frames" name the process (a worker's: the main process,
    then its own; a command line may span lines) and the thread. Samples in a wait (IDLE), and
    the main process's before or after the pass (OUTSIDE), are dropped."""
    by_stage: Counter[str] = Counter()
    pending = ""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        pending += line
        m = re.search(r" (\d+)$", pending)
        if not m or ";" not in pending:
            pending += "\n"
            continue
        frames = pending[: m.start()].split(";")
        pending = ""
        processes = sum(1 for f in frames if f.startswith("process "))
        thread = next((f for f in frames if f.startswith("thread (")), "")
        frames = [f for f in frames if not f.startswith(("process ", "thread ("))]
        if processes == 1 and (not frames or any(map(OUTSIDE.search, frames))):
            continue  # no Python frame (the interpreter starting or ending), or not the pass
        if frames and IDLE.search(frames[-1]):
            continue
        name = re.sub(r"[-_]\d+$", "", re.sub(r"^thread \(\d+\):? ?", "", thread))
        group = WORKERS if processes > 1 else f"main {name}"
        stage = stage_of(frames)
        if any(map(WORKER_START.search, frames)) or (
            processes > 1 and not any(f.startswith("_serve (") for f in frames)
        ):
            stage = "start"
        by_stage[f"{group}|{stage}"] += int(m.group(1))
        if frames and COMMIT.search(frames[-1]):
            by_stage[f"{group}|commit"] += int(m.group(1))
    return by_stage


def fts_cost(db: Path, per_transaction: int) -> float:
    """CPU ms per article of inserting the archive's articles into an FTS5 table (as the archive's
    articles_fts: porter, summary first) alone, `per_transaction` rows a commit, as a pass writes a feed."""
    with sqlite3.connect(db) as source:
        rows = source.execute("select id, title, summary from articles order by id").fetchall()
    if not rows:
        return 0.0
    with tempfile.TemporaryDirectory() as folder:
        conn = sqlite3.connect(Path(folder) / "fts.db", isolation_level=None)
        conn.execute("pragma journal_mode = wal")
        conn.execute("pragma synchronous = normal")
        conn.execute("create virtual table t using fts5(summary, title, tokenize='porter')")  # as m017
        began = time.process_time()
        for at in range(0, len(rows), per_transaction):
            conn.execute("begin")
            conn.executemany(
                "insert into t (rowid, title, summary) values (?, ?, ?)", rows[at : at + per_transaction]
            )
            conn.execute("commit")
        spent = time.process_time() - began
        conn.close()
    return 1000 * spent / len(rows)


def profiled_pass(
    root: Path, config: Path, db: Path, items: int, out: Path, variant: str = "", kind: str = "cold"
) -> RunFigures:
    """One cold pass of the monitor in `root` (a child process) under py-spy; its figures. A
    warm pass (kind "warm": a cold pass first, then one timed pass, all 304s) is not profiled."""
    stacks = out.with_suffix(".stacks")
    figures_file = out.with_suffix(".json")
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "MONITOR_CONFIG")}
    env["PYTHONPATH"] = str(root)
    child = [sys.executable, str(BENCH / "ab.py"), "--child", str(config), str(figures_file), kind]
    spy = shutil.which("py-spy") or Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "--subprocesses", "--threads", "--nonblocking", "-r", str(SAMPLE_RATE)]
    command += ["-f", "raw"]
    # Without py-spy (the bench extra), the pass is run all the same: its CPU, not by stage.
    profiled = kind == "cold" and Path(spy).exists()
    command = [*command, "-o", str(stacks), "--", *child] if profiled else child
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if not figures_file.exists():
        raise SystemExit(f"ab: the pass in {root} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    figures = RunFigures(variant=variant, **json.loads(figures_file.read_text(encoding="utf-8")))
    figures.samples = dict(read_stacks(stacks)) if stacks.exists() else {}
    figures.fts_ms = fts_cost(db, items) if kind == "cold" else 0.0
    return figures


def _child(config: Path, out: Path, kind: str) -> None:
    """In the child: one pass (bench/monitor_cases.monitor_pass), its figures as JSON."""
    from monitor_cases import monitor_pass

    placed: dict[str, float] = {}
    if kind == "floor":
        record, place = _record_placements()
        first = monitor_pass(config)
        placed = {"seconds": first.seconds, "cpu": first.cpu, "main_cpu": first.main_cpu}
        placed |= {f"thread {name}": cpu for name, cpu in first.threads.items()}
        placed["articles"] = first.new_articles
        _fresh_archive(config)
        missed = _replay_placements(record, place)
    figures = monitor_pass(config)
    if kind == "floor":
        placed["missed"] = missed[0]  # reports the record lacked: placed after all
    if kind == "warm":
        figures = monitor_pass(config)
    out.write_text(
        json.dumps(
            {
                "feeds": figures.feeds,
                "articles": figures.new_articles,
                "seconds": figures.seconds,
                "cpu": figures.cpu,
                "main_cpu": figures.main_cpu,
                "threads": figures.threads,
                "errors": figures.errors,
                "placed": placed,
            }
        ),
        encoding="utf-8",
    )


PlacementKey = tuple[str, str | None, str | None, str]


def _placement_key(entry: object) -> PlacementKey:
    return (entry.feed_url, entry.link, entry.guid, entry.title)  # type: ignore[attr-defined]


def _record_placements() -> tuple[dict[PlacementKey, object], Callable[..., object]]:
    """--kind floor, first pass: every Grouper.place answer kept, by its entry; and
    Grouper.place as the tree has it."""
    from monitor.service.grouping import Grouper

    record: dict[PlacementKey, object] = {}
    place = Grouper.place

    def recording(self: Grouper, entry: object, *args: object, **kwargs: object) -> object:
        placement = place(self, entry, *args, **kwargs)  # type: ignore[arg-type]
        record[_placement_key(entry)] = placement
        return placement

    Grouper.place = recording  # type: ignore[assignment,method-assign]
    return record, place


def _replay_placements(record: dict[PlacementKey, object], place: Callable[..., object]) -> list[int]:
    """--kind floor, second pass: Grouper.place answers from `record` (placing only what it
    lacks, with `place`); returns a one-item list counting those, filled in as the pass runs."""
    from monitor.service.grouping import Grouper

    missed = [0]
    recorded = record.get

    def replaying(self: Grouper, entry: object, *args: object, **kwargs: object) -> object:
        found = recorded(_placement_key(entry))
        if found is None:
            missed[0] += 1
            return place(self, entry, *args, **kwargs)
        return found

    Grouper.place = replaying  # type: ignore[assignment,method-assign]
    return missed


def _fresh_archive(config: Path) -> None:
    """--kind floor: the archive the first pass wrote, removed (the second starts from none)."""
    from monitor.config.load import load_config

    db = load_config(config, environ={}).storage_path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def stage_line(f: RunFigures, within: str = "") -> str:
    ms = f.stage_ms(within)
    parts = ", ".join(f"{s} {ms[s]:.2f}" for s in STAGES if ms.get(s, 0) >= 0.005)
    if within:
        return parts
    inside = f"FTS5 insert {f.fts_ms:.2f}, commits {ms.get('commit', 0):.2f}"
    return f"{parts} ({inside} of archive)" if parts else "no samples"


def thread_line(f: RunFigures) -> str:
    return ", ".join(
        f"{name} {1000 * cpu / f.articles:.2f}" for name, cpu in f.threads.items() if f.articles and cpu > 0
    )


def placed_line(f: RunFigures) -> str:
    """--kind floor: the recording pass (placement as it costs), against which the run's figures
    (placement free) are read."""
    p = f.placed
    articles = p.get("articles") or 1
    writer = p.get("thread monitor-archive", 0.0)
    free = f.threads.get("monitor-archive", 0.0) / max(f.articles, 1)
    return (
        f"with placement as it costs: {f.feeds / max(p.get('seconds', 0.0), 1e-9):.1f} feeds/s, "
        f"{1000 * p.get('cpu', 0.0) / articles:.2f} CPU ms/article (main process "
        f"{1000 * p.get('main_cpu', 0.0) / articles:.2f}, its writer {1000 * writer / articles:.2f}); "
        f"placement free (above): writer {1000 * free:.2f}"
        f", {int(p.get('missed', 0))} reports not in the record"
    )


def _primed_once(trees: dict[str, Path], folder: Path, urls: list[str], items: int) -> Path:
    """--kind changed: one cold pass (the first variant's) into an archive that every variant's
    changed pass then starts from, a copy each: no cold pass per variant and run (its WAL
    checkpointed into the file, so that the file alone is the archive)."""
    from monitor_cases import write_config

    work = folder / "primed"
    work.mkdir()
    db = work / "monitor.db"
    first = next(iter(trees))
    config = write_config(work / "monitor.toml", db, urls)
    profiled_pass(trees[first], config, db, items, work / "cold", first, "prime")
    _checkpoint(db)
    return db


def _checkpoint(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("pragma wal_checkpoint(truncate)")


def _tree(variant: str, folder: Path) -> Path:
    path = Path(variant)
    if (path / "monitor").is_dir():
        return path.resolve()
    target = folder / re.sub(r"[^\w.-]", "_", variant)
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", variant], capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"ab: {variant!r} is neither a source tree nor a git ref: {archive.stderr.decode()}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def _median(runs: list[RunFigures]) -> RunFigures:
    """A run whose every figure is the median of the runs' (samples: summed, then scaled)."""
    first = runs[0]
    samples: Counter[str] = Counter()
    for r in runs:
        samples.update(r.samples)
    return RunFigures(
        variant=first.variant,
        feeds=first.feeds,
        articles=int(statistics.median(r.articles for r in runs)),
        seconds=statistics.median(r.seconds for r in runs),
        cpu=statistics.median(r.cpu for r in runs),
        main_cpu=statistics.median(r.main_cpu for r in runs),
        threads={
            name: statistics.median(r.threads.get(name, 0.0) for r in runs)
            for name in dict.fromkeys(name for r in runs for name in r.threads)
        },
        samples=dict(samples),
        fts_ms=statistics.median(r.fts_ms for r in runs),
        errors=[e for r in runs for e in r.errors],
        placed={
            name: statistics.median(r.placed.get(name, 0.0) for r in runs)
            for name in dict.fromkeys(name for r in runs for name in r.placed)
        },
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="A/B of a cold pass between source trees, CPU ms per article by stage."
    )
    p.add_argument("variants", nargs="*", help="source trees (folders holding monitor/) or git refs")
    p.add_argument("--feeds", type=int, default=200)
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--delay", type=float, default=0.1, help="seconds before each answer")
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--runs", type=int, default=2, help="cold passes per variant, alternating")
    p.add_argument("--json", type=Path, help="also write every run's figures here")
    p.add_argument(
        "--kind",
        choices=("cold", "warm", "changed", "floor"),
        default="cold",
        help="warm: all 304s; changed: 10%% of the feeds with 5 new items; floor: a cold pass with"
        " story placement costing nothing, beside the pass that recorded it (none profiled)",
    )
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(Path(args.child[0]), Path(args.child[1]), args.child[2])
        return 0
    if not args.variants:
        p.error("give at least one variant")
    from farm import FarmProcess
    from monitor_cases import write_config

    folder = Path(tempfile.mkdtemp(prefix="monitor-ab-"))
    runs: dict[str, list[RunFigures]] = {v: [] for v in args.variants}
    try:
        trees = {v: _tree(v, folder) for v in args.variants}
        with FarmProcess(feeds=args.feeds, items=args.items, delay=args.delay, hosts=args.hosts) as farm:
            urls = farm.urls
            snapshot = _primed_once(trees, folder, urls, args.items) if args.kind == "changed" else None
            for n in range(args.runs):
                primed = {}
                if snapshot is not None:  # the same archive for every variant, then the change
                    farm.change(0.1, 5)
                for v in args.variants:
                    work = folder / f"run{n}-{len(runs[v])}-{abs(hash(v))}"
                    work.mkdir()
                    db = work / "monitor.db"
                    primed[v] = (work, db, write_config(work / "monitor.toml", db, urls))
                    if snapshot is not None:
                        shutil.copyfile(snapshot, db)
                for v in args.variants:
                    work, db, config = primed[v]
                    kind = "prime" if args.kind == "changed" else args.kind
                    figures = profiled_pass(trees[v], config, db, args.items, work / "pass", v, kind)
                    runs[v].append(figures)
                    print(
                        f"{v}: run {n + 1}: {figures.articles} articles in {figures.seconds:.1f}s "
                        f"({figures.feeds / max(figures.seconds, 1e-9):.1f} feeds/s), "
                        f"CPU {figures.cpu:.1f}s = "
                        f"{figures.cpu_ms:.2f} ms/article (main process {figures.main_ms:.2f}): "
                        f"{stage_line(figures)}"
                        + (
                            f"; {1000 * figures.cpu / figures.feeds:.2f} CPU ms per feed"
                            if figures.feeds
                            else ""
                        ),
                        f"(load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
                    if figures.placed:
                        print(f"  {placed_line(figures)}")
                    for error in figures.errors[:3]:
                        print(f"  error: {error}")
                if snapshot is not None:  # the next run's start: this run's changes archived
                    _checkpoint(primed[args.variants[0]][1])
                    shutil.copyfile(primed[args.variants[0]][1], snapshot)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"\n{args.feeds} feeds × {args.items} items, delay {args.delay:g}s; median of {args.runs} runs each"
    )
    base = None
    for v, rs in runs.items():
        m = _median(rs)
        base = base or m
        per_feed = 1000 * m.cpu / max(m.feeds, 1)
        base_feed = 1000 * base.cpu / max(base.feeds, 1)
        ratio = (
            f", CPU {per_feed / base_feed:.2f}x of {base.variant}'s" if base is not m and base_feed else ""
        )
        print(
            f"{v}: {m.feeds / max(m.seconds, 1e-9):.1f} feeds/s, {m.cpu_ms:.2f} CPU ms/article "
            f"(main process {m.main_ms:.2f}), "
            f"{per_feed:.2f} CPU ms/feed{ratio}\n"
            f"    by stage (ms/article): {stage_line(m)}"
            + (f"\n    main process by thread (ms/article): {thread_line(m)}" if m.threads else "")
            + (f"\n    main process by stage (ms/article): {stage_line(m, 'main ')}" if m.threads else "")
            + (f"\n    {placed_line(m)}" if m.placed else "")
        )
    if args.json:
        args.json.write_text(
            json.dumps({v: [asdict(r) for r in rs] for v, rs in runs.items()}, indent=2), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
