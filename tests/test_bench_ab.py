"""bench/ab.py's attribution of a py-spy profile to stages: by thread, waits dropped."""

from __future__ import annotations

import sys
from pathlib import Path

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
        f"{WORKER};thread (11): MainThread;read_entries (monitor/service/parsing.py:80) 20",
        f"{WORKER};thread (11): MainThread;_serve (monitor/service/serve.py:86);"
        "_Channel.send (monitor/service/serve.py:47) 20",
        f"{WORKER};thread (11): MainThread;_serve (monitor/service/serve.py:80);"
        "_Channel._read (monitor/service/serve.py:55) 300",
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
    }


def test_each_thread_is_its_own_cpu_shared_as_its_samples_were(tmp_path: Path) -> None:
    path = tmp_path / "pass.stacks"
    path.write_text(STACKS + "\n", encoding="utf-8")
    # 1,000 articles; the main process 3 s (the writer 2, the loop 0.5, 0.5 unsampled), workers 1 s
    figures = RunFigures(variant="x", articles=1000, cpu=4.0, main_cpu=3.0)
    figures.threads = {"monitor-archive": 2.0, "MainThread": 0.5}
    figures.samples = dict(read_stacks(path))
    ms = figures.stage_ms()
    assert sum(v for s, v in ms.items() if s != "commit") == pytest.approx(4.0)  # the pass's CPU
    scale = 4.0 / 3.5  # the 0.5 s no sample is behind, spread over the rest
    assert ms["stories"] == pytest.approx(1.5 * scale)
    assert ms["archive"] == pytest.approx(0.5 * scale)
    assert ms["commit"] == pytest.approx(0.5 * scale)
    assert ms["fetch"] == pytest.approx(0.5 * 10 / 15 * scale)
    assert ms["parse"] == pytest.approx(0.5 * scale)
    assert ms["other"] == pytest.approx((0.5 * 5 / 15 + 0.5) * scale)


def test_without_thread_figures_the_pass_cpu_is_shared_by_samples(tmp_path: Path) -> None:
    path = tmp_path / "pass.stacks"
    path.write_text(STACKS + "\n", encoding="utf-8")
    figures = RunFigures(variant="x", articles=1000, cpu=1.0)
    figures.samples = dict(read_stacks(path))
    ms = figures.stage_ms()
    assert ms["stories"] == pytest.approx(30 / 95)
    assert ms["other"] == pytest.approx(25 / 95)


def test_the_main_process_split_is_its_own_cpu(tmp_path: Path) -> None:
    path = tmp_path / "pass.stacks"
    path.write_text(STACKS + "\n", encoding="utf-8")
    figures = RunFigures(variant="x", articles=1000, cpu=4.0, main_cpu=3.0)
    figures.threads = {"monitor-archive": 2.0, "MainThread": 0.5}
    figures.samples = dict(read_stacks(path))
    main = figures.stage_ms("main ")
    assert sum(v for s, v in main.items() if s != "commit") == pytest.approx(3.0)
    assert main["parse"] == 0.0  # the workers'
    assert main["stories"] == pytest.approx(1.5 * 3.0 / 2.5)
    assert main["fetch"] == pytest.approx(0.5 * 10 / 15 * 3.0 / 2.5)
    writer = figures.stage_ms("main monitor-archive")
    assert writer["stories"] == pytest.approx(1.5) and writer["archive"] == pytest.approx(0.5)
