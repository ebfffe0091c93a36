"""bench/rules_bench.py runs, small, and prints its rate lines (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rules_bench_runs_small() -> None:
    result = subprocess.run(
        [sys.executable, "bench/rules_bench.py", "--articles", "50", "--rules", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("one-pass:", "baseline:", "speed-up:", "results:   identical", "articles/s"):
        assert line in result.stdout, result.stdout


def test_stories_archive_bench_runs_small() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "bench/stories_archive_bench.py",
            "--articles",
            "300",
            "--new",
            "20",
            "--workers",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("archive:  300 articles", "grouping: 20 new articles, median", "joins:", "target:"):
        assert line in result.stdout, result.stdout


def test_service_memory_runs_small() -> None:
    """`monitor run` over the feed farm: a cold and a warm pass of 20 feeds, then SIGTERM."""
    result = subprocess.run(
        [sys.executable, "bench/service_memory.py", "--feeds", "20", "--passes", "2", "--delay", "0.01"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning:" not in result.stdout, result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("result: "))
    fields = dict(part.split("=", 1) for part in line.removeprefix("result: ").split())
    assert (fields["feeds"], fields["passes"]) == ("20", "2"), line
    assert float(fields["peak_rss_mb"]) > 0, line
