"""bench/ab.py's attribution of a py-spy profile to stages: by thread, waits dropped."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from ab import RunFigures, read_stacks  # noqa: E402 (bench/ is scripts)

MAIN = 'process 10:"python bench/ab.py --child x.toml\ny.json cold"'
WORKER = f'{MAIN};process 11:"python -c import os; serve_from_command_line() 32 10"'
LOOP = "run (asyncio/runners.py:190);BaseEventLoop._run_once (asyncio/base_events.py:1922)"
STACKS = "\n".join(
    [
        # the child's start, before the pass (dropped): rules compiled in open_app, an import
        f"{MAIN};thread (10): MainThread;_child (bench/ab.py:200);open_app (monitor/app.py:90);"
        "compile (monitor/rules/plans.py:30) 40",
        f"{MAIN};thread (10);_child (bench/ab.py:189);_find_and_load (<frozen importlib._bootstrap>:1176) 9",
        # the writer thread: placing (stories) and saving (archive, its commit)
        f"{MAIN};thread (12): monitor-archive_0;place (monitor/stories/profile.py:9) 30",
        f"{MAIN};thread (12): monitor-archive_0;save (monitor/archive/store.py:5);"
        "write_transaction (monitor/archive/connection.py:7) 10",
        # the event loop: a fetch's socket closed (no monitor frame), epoll's wait (dropped)
        f"{MAIN};thread (10): MainThread;{LOOP};"
        "_SelectorTransport._call_connection_lost (asyncio/selector_events.py:898);"
        "socket._real_close (socket.py:497) 5",
        f"{MAIN};thread (10): MainThread;{LOOP};EpollSelector.select (selectors.py:468) 500",
        # a connection made in a task of anyio's (httpx's), not under a frame of monitor's
        f"{MAIN};thread (10): MainThread;{LOOP};TaskHandle._run_coro (anyio/_core/_tasks.py:327);"
        "BaseSelectorEventLoop._sock_connect (asyncio/selector_events.py:642) 5",
        f"{MAIN};thread (10): MainThread;{LOOP};Handle._run (asyncio/events.py:80) 5",
        # a worker: parsing, sending its answer, waiting for its next task (dropped)
        f"{WORKER};thread (11): MainThread;_serve (monitor/service/serve.py:83);"
        "analyse_in_worker (monitor/service/parsing.py:165);read_entries (monitor/service/parsing.py:80) 20",
        f"{WORKER};thread (11): MainThread;_serve (monitor/service/serve.py:86);"
        "_Channel.send (monitor/service/serve.py:47) 20",
        f"{WORKER};thread (11): MainThread;_serve (monitor/service/serve.py:80);"
        "_Channel._read (monitor/service/serve.py:55) 300",
        # a worker's start, once per pass: its imports (the rules it is sent bring theirs), and
        # in the main process the pool's thread spawning it and pickling the rules for it
        f"{WORKER};thread (11): MainThread;<module> (<string>:1);"
        "_find_and_load (<frozen importlib._bootstrap>:1176) 6",
        f"{WORKER};thread (11): MainThread;_serve (monitor/service/serve.py:71);"
        "_Channel.recv (monitor/service/serve.py:44);_find_and_load (<frozen importlib._bootstrap>:1176) 3",
        f"{MAIN};thread (13): monitor-parser-0;WorkerPool._serve_jobs (monitor/service/stoppable.py:160);"
        "_Worker.__init__ (monitor/service/stoppable.py:80);dumps (multiprocessing/reduction.py:51) 4",
        f"{MAIN};thread (10) 7",  # no Python frame: the interpreter starting
    ]
)


def test_samples_are_counted_by_thread_and_waits_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "pass.stacks"
    path.write_text(STACKS + "\n", encoding="utf-8")
    assert read_stacks(path) == {
        "main monitor-archive|stories": 30,
        "main monitor-archive|archive": 10,
        "main monitor-archive|commit": 10,
        "main MainThread|fetch": 10,
        "main MainThread|other": 5,
        "workers|parse": 20,
        "workers|other": 20,
        "workers|start": 9,
        "main monitor-parser|start": 4,
    }


def profiled(tmp_path: Path, **figures: Any) -> RunFigures:
    """A run of 1,000 articles whose py-spy samples are STACKS, with `figures` (cpu, main_cpu...)."""
    path = tmp_path / "pass.stacks"
    path.write_text(STACKS + "\n", encoding="utf-8")
    run = RunFigures(variant="x", articles=1000, **figures)
    run.samples = dict(read_stacks(path))
    return run


def test_each_thread_is_its_own_cpu_shared_as_its_samples_were(tmp_path: Path) -> None:
    # 1,000 articles; the main process 3 s (the writer 2, the loop 0.5, the pool's thread the
    # 0.5 left), the workers 1 s
    figures = profiled(tmp_path, cpu=4.0, main_cpu=3.0)
    figures.threads = {"monitor-archive": 2.0, "MainThread": 0.5}
    ms = figures.stage_ms()
    assert sum(v for s, v in ms.items() if s != "commit") == pytest.approx(4.0)  # the pass's CPU
    assert ms["stories"] == pytest.approx(1.5)
    assert ms["archive"] == pytest.approx(0.5)
    assert ms["commit"] == pytest.approx(0.5)
    assert ms["fetch"] == pytest.approx(0.5 * 10 / 15)
    assert ms["parse"] == pytest.approx(20 / 49)
    assert ms["other"] == pytest.approx(0.5 * 5 / 15 + 20 / 49)
    assert ms["start"] == pytest.approx(0.5 + 9 / 49)


def test_without_thread_figures_the_pass_cpu_is_shared_by_samples(tmp_path: Path) -> None:
    figures = profiled(tmp_path, cpu=1.0)
    ms = figures.stage_ms()
    assert ms["stories"] == pytest.approx(30 / 108)
    assert ms["other"] == pytest.approx(25 / 108)


def test_the_main_process_split_is_its_own_cpu(tmp_path: Path) -> None:
    figures = profiled(tmp_path, cpu=4.0, main_cpu=3.0)
    figures.threads = {"monitor-archive": 2.0, "MainThread": 0.5}
    main = figures.stage_ms("main ")
    assert sum(v for s, v in main.items() if s != "commit") == pytest.approx(3.0)
    assert main["parse"] == 0.0  # the workers'
    assert main["stories"] == pytest.approx(1.5)
    assert main["fetch"] == pytest.approx(0.5 * 10 / 15)
    assert main["start"] == pytest.approx(0.5)
    writer = figures.stage_ms("main monitor-archive")
    assert writer["stories"] == pytest.approx(1.5) and writer["archive"] == pytest.approx(0.5)


def test_the_suites_row_leaves_the_workers_start_out(tmp_path: Path) -> None:
    """suite.py's row scales a small profiled pass's split to its big pass: a worker's start,
    once per pass, is not a cost per article there."""
    from monitor_cases import PassFigures
    from report import _stage_row

    path = tmp_path / "pass.stacks"
    path.write_text(STACKS + "\n", encoding="utf-8")
    small = RunFigures(variant="x", articles=1000, cpu=4.0, main_cpu=3.0)
    small.threads = {"monitor-archive": 2.0, "MainThread": 0.5}
    small.samples = dict(read_stacks(path))
    big = PassFigures(
        seconds=10.0, cpu=10.0, feeds=100, not_modified=0, new_articles=5000, alerts=0, matches=0
    )
    row = _stage_row(big, small)
    assert row is not None
    assert "start" not in row.figure
    per_article = 4.0 - (0.5 + 9 / 49)  # the small pass's, less its start
    assert f"stories {1.5 * 2.0 / per_article:.2f}" in row.figure, row.figure
