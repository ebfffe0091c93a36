"""Peak memory of `monitor run` over several passes of many loopback feeds.

    python bench/service_memory.py [--feeds 1000] [--passes 3] [--delay 0.1] [--hosts 50] [--items 50]
                                   [--keep]

Starts the feed farm (bench/farm.py: N generated RSS/Atom feeds of --items items, on 50 loopback
addresses so that the per-host limit of 2 is realistic, each answer delayed by --delay
seconds), writes a temporary config (console alerts, which go to a file; no Telegram;
[fetch] concurrency 20), runs `monitor --config ... run` as a subprocess and samples the RSS
of it and its children from /proc every 0.2 s.

Passes, told apart by the service's `event=pass feeds=N ...` log lines:

    1          cold     every feed new: N × 200, N × 50 articles through the whole pipeline
    2          warm     nothing changed: N × 304
    3          changed  farm.change(0.1, 5) first: a tenth of the feeds 200 with 5 new items
    4, 5, ...  warm

How the passes are triggered: the service checks a feed when its `next_check` (in the SQLite
archive) has come, looking every 10 s (monitor.service.scheduler.TICK_SECONDS), and no interval may be
below a minute. Rather than wait 15 minutes per pass, or patch the service, this script ends
each wait itself: once a pass is logged and the service has gone quiet (its alerts printed),
it sets every feed's `next_check` to now in the archive (`update feeds set next_check = ?`,
what `monitor feeds resume` does to one feed: due at once), so the next tick, at most 10 s
later, starts the next pass over all N feeds. The configured interval is an hour
(min_interval 1m, jitter 0), so no feed falls due on its own in between even when the cold
pass takes more than a minute: every pass is one whole pass, N feeds. That write comes from
outside the service, as `monitor feeds resume` would; the script waits for quiet because a
write landing inside one of the service's transactions can fail that job with "database is
locked" (it would show in the closing note, which counts the log's ERROR lines and failed jobs).

Then SIGTERM, and a table: per pass its kind, the service's own counts and seconds, the most
RSS sampled during it and the RSS once it was logged; then the peak (VmHWM, the kernel's
high-water mark, of the service and the children alive with it, summed, read at each sample and
just before SIGTERM: parser workers that lived one after another are not added), the RSS at the
end, how long the service took to exit after SIGTERM, and the whole run's wall time. The last
line, `result: ...`, is for scripts; --trace writes every sample (CSV) with the passes marked.

Time: the cold pass dominates. Every one of the N × 50 articles goes through parse, rules,
story grouping and the archive, about 6-7 ms each on one core here, so the default run
(50,000 articles) takes about 6 minutes; `--items 10` cuts the cold pass to a fifth.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from farm import Farm, feed_toml  # noqa: E402 (a sibling script)

SAMPLE_SECONDS = 0.2
PASS_TIMEOUT = (
    1800.0  # seconds to wait for one pass before giving up (a shared machine: 1,000 feeds took 13 min)
)
STOP_TIMEOUT = 60.0  # seconds to wait for the service to exit after SIGTERM
CHANGE_FRACTION, CHANGE_ITEMS = 0.1, 5
QUIET_SECONDS = 1.0  # the service's output still this long before the archive is touched
_PASS = re.compile(r"event=pass (.*)$")
_FIELD = re.compile(r"(\w+)=(\S+)")
# Never hand the service a real bot, chat or config of the environment: alerts go to the console.
_ENV_DROP = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "MONITOR_CONFIG")


@dataclass
class Pass:
    number: int
    kind: str  # cold, warm, changed
    fields: dict[str, float]  # the log line's feeds, not_modified, new_articles, ... seconds
    max_rss: int  # kB, the most sampled between the trigger and the log line
    rss_after: int  # kB, sampled when the log line arrived
    farm_ok: int  # 200s the farm sent during the pass
    farm_304: int


@dataclass
class Sampler:
    """RSS of a process tree from /proc, every SAMPLE_SECONDS, on a thread."""

    pid: int
    rss: int = 0  # kB, the latest sample, the whole tree
    window_max: int = 0  # kB, the most since reset_window()
    max_rss: int = 0  # kB, the most sampled in the whole run
    hwm: dict[int, int] = field(default_factory=dict)  # pid → VmHWM kB, latest read
    # the processes alive together: the most their VmHWMs summed to at one sample (read again at
    # the next, a process gone by then with its last), those VmHWMs (largest first), and the
    # most processes alive at once. sum(hwm.values()) adds every process the run ever
    # had: parser workers that stopped when idle and the ones started after them, never together.
    together: int = 0
    together_kb: list[int] = field(default_factory=list)
    at_once: int = 0
    samples: int = 0
    trace: list[tuple[float, int, str]] = field(default_factory=list)  # (monotonic, kB, event or "")
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _alive: set[int] = field(default_factory=set)  # the processes of the latest sample

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def reset_window(self) -> None:
        self.window_max = self.rss

    def sample(self, event: str = "") -> None:
        """Read the tree's RSS now (from the sampling thread, or at an event of the run)."""
        with self._lock:
            total, alive = 0, set()
            for pid in _tree(self.pid):
                status = _status(pid)
                if "VmRSS" in status:
                    total += status["VmRSS"]
                    self.hwm[pid] = max(self.hwm.get(pid, 0), status.get("VmHWM", 0))
                    alive.add(pid)
            # the processes of this sample, and those of the one before with their marks now (one
            # gone since may have grown after it was read): each set lived together at a sample
            for group in (alive, self._alive):
                marks = [self.hwm[pid] for pid in group]
                if sum(marks) > self.together:
                    self.together, self.together_kb = sum(marks), sorted(marks, reverse=True)
            self.at_once, self._alive = max(self.at_once, len(alive)), alive
            if total:
                self.rss = total
                self.window_max = max(self.window_max, total)
                self.max_rss = max(self.max_rss, total)
                self.samples += 1
                self.trace.append((time.monotonic(), total, event))

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def peak_at(self) -> tuple[float, str]:
        """(seconds since the first sample, the last event before) when RSS first reached 90% of the
        most sampled: when the bulk of the peak arrived, not the slow creep after it."""
        if not self.trace:
            return 0.0, ""
        last_event, first = "", self.trace[0][0]
        for when, rss, event in self.trace:
            last_event = event or last_event
            if rss >= 0.9 * self.max_rss:
                return when - first, last_event
        return 0.0, ""

    def write_trace(self, path: Path) -> None:
        first = self.trace[0][0] if self.trace else 0.0
        lines = ["seconds,rss_mb,event"]
        lines += [f"{when - first:.2f},{rss / 1024:.1f},{event}" for when, rss, event in self.trace]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _status(pid: int) -> dict[str, int]:
    """The kB fields of /proc/PID/status ({} once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[name] = int(value.split()[0])
    return out


def _tree(pid: int) -> list[int]:
    """pid and its descendants (from /proc/PID/task/TID/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                todo += [int(c) for c in Path(f"/proc/{current}/task/{tid}/children").read_text().split()]
            except OSError:
                pass
    return found


class LogReader:
    """Reads the service's stderr on a thread into service.log; counts pass lines and errors.

    `on_line(event)` runs on this thread for "started" and "pass" before anyone waiting hears of it.
    """

    def __init__(self, stream: IO[str], path: Path, on_line: Callable[[str], None]) -> None:
        self.tail: deque[str] = deque(maxlen=40)
        self.passes: list[dict[str, float]] = []
        self.last_pass_at = 0.0  # monotonic
        self.job_errors = 0  # event=job_error / job_crash lines: a job failed, the service went on
        self.errors: list[str] = []  # every level=ERROR line (tracebacks follow them in the log)
        self._on_line = on_line
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(stream, path), name="log-reader", daemon=True)
        self._thread.start()

    def _run(self, stream: IO[str], path: Path) -> None:
        with path.open("w", encoding="utf-8") as log:
            for line in stream:
                log.write(line)
                log.flush()  # wait_quiet() watches the file's size
                self.tail.append(line.rstrip())
                if "level=ERROR" in line:
                    self.errors.append(line.strip())
                if "event=job_error" in line or "event=job_crash" in line:
                    self.job_errors += 1
                if "event=started" in line:
                    self._on_line("started")
                if m := _PASS.search(line):
                    fields = {k: float(v) for k, v in _FIELD.findall(m.group(1))}
                    self._on_line("pass")
                    self.last_pass_at = time.monotonic()
                    with self._cond:
                        self.passes.append(fields)
                        self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_pass(self, count: int, timeout: float, proc: subprocess.Popen[str]) -> dict[str, float]:
        """The count-th pass line (1-based); RuntimeError if the service exits or time runs out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.passes) < count:
                if proc.poll() is not None:
                    raise RuntimeError(f"the service exited with {proc.returncode}:\n" + "\n".join(self.tail))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"no pass {count} within {timeout:.0f}s:\n" + "\n".join(self.tail))
                self._cond.wait(min(left, 1.0))
            return self.passes[count - 1]

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def write_config(folder: Path, urls: list[str]) -> Path:
    lines = [
        f"[storage]\npath = {json.dumps(str(folder / 'monitor.db'))}",
        f"[rules]\npaths = [{json.dumps(str(ROOT / 'rules'))}]",
        # An hour, so that no feed is due on its own: this script starts every pass (see above).
        '[schedule]\ninterval = "1h"\nmin_interval = "1m"\njitter = 0',
        "[fetch]\nconcurrency = 20",
    ]
    path = folder / "monitor.toml"
    path.write_text("\n\n".join(lines) + "\n\n" + feed_toml(urls), encoding="utf-8")
    return path


def make_all_due(db: Path) -> int:
    """Every feed due at the next tick (`monitor feeds resume`: next_check = now); rows changed."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # monitor.archive.sqltime.iso
    conn = sqlite3.connect(db, timeout=60, isolation_level=None)
    try:
        conn.execute("begin immediate")
        changed = conn.execute("update feeds set next_check = ?", [now]).rowcount
        conn.execute("commit")
        return changed
    finally:
        conn.close()


def wait_quiet(files: list[Path], since: float, quiet: float = QUIET_SECONDS) -> None:
    """Until `quiet` seconds have passed since `since` (monotonic) with none of `files` growing."""
    sizes = [f.stat().st_size for f in files]
    still = max(since, time.monotonic())
    while time.monotonic() - still < quiet:
        time.sleep(0.1)
        now = [f.stat().st_size for f in files]
        if now != sizes:
            sizes, still = now, time.monotonic()


def kind_of(number: int) -> str:
    return "cold" if number == 1 else "changed" if number == 3 else "warm"


@dataclass
class Run:
    passes: list[Pass]
    start_rss: int  # kB, when the service logged event=started
    peak: int  # kB, the VmHWMs of the processes alive together, summed (Sampler.together), before SIGTERM
    most_sampled: int  # kB
    end_rss: int  # kB, just before SIGTERM
    samples: int
    stop_seconds: float  # SIGTERM to exit
    exit_code: int
    job_errors: int
    errors: list[str]  # level=ERROR lines of the service's log
    sampler: Sampler


def start_monitor_run(config: Path, folder: Path) -> subprocess.Popen[str]:
    """`python -m monitor --config CONFIG run` in `folder`, this checkout's code, no token or
    config from the environment; console alerts to folder/console.txt, the log on its stderr."""
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    with (folder / "console.txt").open("w", encoding="utf-8") as console:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )


def run_service(farm: Farm, folder: Path, passes: int) -> Run:
    """Run `monitor run` on the farm's feeds for `passes` passes, then SIGTERM it."""
    proc = start_monitor_run(write_config(folder, farm.urls), folder)
    try:
        sampler = Sampler(proc.pid).start()
        marks: dict[str, list[tuple[int, int]]] = {"started": [], "pass": []}  # (RSS now, window max)

        def on_line(event: str) -> None:
            label = f"pass {len(marks['pass']) + 1} logged" if event == "pass" else event
            sampler.sample(label)
            marks[event].append((sampler.rss, sampler.window_max))

        assert proc.stderr is not None
        reader = LogReader(proc.stderr, folder / "service.log", on_line)
        results = []
        for number in range(1, passes + 1):
            kind = kind_of(number)
            if number > 1:
                wait_quiet([folder / "console.txt", folder / "service.log"], reader.last_pass_at)
                if kind == "changed":
                    farm.change(CHANGE_FRACTION, CHANGE_ITEMS)
                sampler.reset_window()
                before = farm.stats()
                make_all_due(folder / "monitor.db")
                sampler.sample(f"pass {number} due")
            else:
                before = farm.stats()
            fields = reader.wait_pass(number, PASS_TIMEOUT, proc)
            after = farm.stats()
            rss_after, window = marks["pass"][number - 1]
            ok, not_modified = after.ok - before.ok, after.not_modified - before.not_modified
            results.append(Pass(number, kind, fields, window, rss_after, ok, not_modified))
            print(f"  pass {number} ({kind}): {_pass_line(fields)}", flush=True)
        sampler.sample()
        end_rss, peak = sampler.rss, sampler.together
        stop_started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STOP_TIMEOUT)
        stop_seconds = time.perf_counter() - stop_started
        sampler.stop()
        reader.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Run(
        passes=results,
        start_rss=marks["started"][0][0] if marks["started"] else 0,
        peak=peak,
        most_sampled=sampler.max_rss,
        end_rss=end_rss,
        samples=sampler.samples,
        stop_seconds=stop_seconds,
        exit_code=code,
        job_errors=reader.job_errors,
        errors=reader.errors,
        sampler=sampler,
    )


def measure(
    feeds: int, passes: int, delay: float, hosts: int, items: int, keep: bool, trace: Path | None = None
) -> int:
    started = time.perf_counter()
    farm = Farm(feeds=feeds, items=items, delay=delay, hosts=hosts)
    built = time.perf_counter() - started
    folder = Path(tempfile.mkdtemp(prefix="service-memory-"))
    print(
        f"service_memory: {feeds} feeds × {items} items on {min(hosts, feeds)} loopback hosts, "
        f"delay {delay:g}s, {passes} passes; farm built in {built:.1f}s",
        flush=True,
    )
    try:
        with farm:
            run = run_service(farm, folder, passes)
    except BaseException:
        print(f"kept {folder} (monitor.toml, monitor.db, service.log, console.txt)", file=sys.stderr)
        raise
    with (folder / "console.txt").open(encoding="utf-8", errors="replace") as console:
        console_lines = sum(1 for _ in console)
    elapsed = time.perf_counter() - started
    print_table(run.passes)
    mb = 1024
    print(
        f"peak RSS (VmHWM): {run.peak / mb:.1f} MB   most sampled: {run.most_sampled / mb:.1f} MB   "
        f"at start: {run.start_rss / mb:.1f} MB   at end: {run.end_rss / mb:.1f} MB   ({run.samples} samples)"
    )
    parts = " + ".join(f"{kb / mb:.1f}" for kb in run.sampler.hwm.values())
    print(f"peak RSS by process (VmHWM, the service first): {parts} MB")
    every = sum(run.sampler.hwm.values())
    if every != run.peak:  # parser workers that lived one after another
        print(f"  (every process's VmHWM summed, never together: {every / mb:.1f} MB)")
    when, after = run.sampler.peak_at()
    print(f"RSS reached 90% of its most {when:.1f}s after the service started (last event before: {after})")
    print(
        f"stop after SIGTERM: {run.stop_seconds:.2f}s (exit {run.exit_code})   "
        f"console output: {console_lines} lines   elapsed: {elapsed:.1f}s"
    )
    problems = _check(run.passes, feeds)
    if run.exit_code != 0:
        problems.append(f"the service exited with {run.exit_code} after SIGTERM")
    for problem in problems:
        print(f"warning: {problem}")
    if run.errors:
        print(
            f"note: {len(run.errors)} ERROR lines in the service's log ({run.job_errors} failed jobs); first:"
        )
        print(f"  {run.errors[0][:300]}")
    print(
        f"result: feeds={feeds} passes={len(run.passes)} peak_rss_mb={run.peak / mb:.1f} "
        f"end_rss_mb={run.end_rss / mb:.1f} stop_s={run.stop_seconds:.2f} elapsed_s={elapsed:.1f} "
        "pass_s=" + ",".join(f"{p.fields.get('seconds', 0):.2f}" for p in run.passes)
    )
    if trace:
        run.sampler.write_trace(trace)
        print(f"RSS samples written to {trace}")
    if keep:
        print(f"kept {folder} (monitor.toml, monitor.db, service.log, console.txt)")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if problems else 0


def _pass_line(fields: dict[str, float]) -> str:
    return " ".join(f"{k}={v:g}" for k, v in fields.items())


_COLUMNS = (  # header, width, value of a Pass
    ("pass", 4, lambda p: p.number),
    ("kind", -7, lambda p: p.kind),
    ("feeds", 5, lambda p: f"{p.fields.get('feeds', 0):.0f}"),
    ("304s", 5, lambda p: f"{p.fields.get('not_modified', 0):.0f}"),
    ("new", 6, lambda p: f"{p.fields.get('new_articles', 0):.0f}"),
    ("alerts", 6, lambda p: f"{p.fields.get('alerts_queued', 0):.0f}"),
    ("errors", 6, lambda p: f"{p.fields.get('errors', 0):.0f}"),
    ("seconds", 7, lambda p: f"{p.fields.get('seconds', 0):.2f}"),
    ("farm 200/304", 12, lambda p: f"{p.farm_ok}/{p.farm_304}"),
    ("max RSS MB", 10, lambda p: f"{p.max_rss / 1024:.1f}"),
    ("RSS after MB", 12, lambda p: f"{p.rss_after / 1024:.1f}"),
)


def print_table(results: list[Pass]) -> None:
    """One row per pass; "max RSS" is the most sampled during the pass, "RSS after" at its log line."""
    print("  ".join(f"{h:<{-w}}" if w < 0 else f"{h:>{w}}" for h, w, _ in _COLUMNS))
    for p in results:
        print("  ".join(f"{v(p)!s:<{-w}}" if w < 0 else f"{v(p)!s:>{w}}" for _, w, v in _COLUMNS))


def _check(results: list[Pass], feeds: int) -> list[str]:
    """What did not go as designed (each pass over every feed; cold all 200, warm all 304)."""
    problems = []
    for p in results:
        f = p.fields
        if f.get("feeds") != feeds:
            problems.append(f"pass {p.number} covered {f.get('feeds'):g} feeds, not {feeds}")
        if f.get("errors"):
            problems.append(f"pass {p.number}: {f['errors']:g} feeds failed (see service.log with --keep)")
        expected_304 = {"cold": 0, "warm": feeds, "changed": feeds - round(CHANGE_FRACTION * feeds)}[p.kind]
        if f.get("not_modified") != expected_304:
            problems.append(
                f"pass {p.number} ({p.kind}): {f.get('not_modified'):g} 304s, expected {expected_304}"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Peak RSS of `monitor run` over passes of loopback feeds.")
    parser.add_argument("--feeds", type=int, default=1000, help="feeds in the farm (default 1000)")
    parser.add_argument(
        "--passes", type=int, default=3, help="passes: cold, warm, changed, warm... (default 3)"
    )
    parser.add_argument("--delay", type=float, default=0.1, help="seconds before each answer (default 0.1)")
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses (default 50)")
    parser.add_argument("--items", type=int, default=50, help="items per feed (default 50)")
    parser.add_argument("--trace", type=Path, help="write every RSS sample here (CSV: seconds,rss_mb,event)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (config, archive, logs)")
    args = parser.parse_args(argv)
    if min(args.feeds, args.passes, args.items, args.hosts) < 1:
        parser.error("--feeds, --passes, --items and --hosts must be at least 1")
    return measure(args.feeds, args.passes, args.delay, args.hosts, args.items, args.keep, args.trace)


if __name__ == "__main__":
    raise SystemExit(main())
