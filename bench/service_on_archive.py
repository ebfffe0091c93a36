"""`monitor run`'s memory on an archive already holding a cold pass, as the default suite runs it.

    python bench/service_on_archive.py --template DB [--feeds 1000] [--items 50] [--passes 3]
                                       [--interval 60] [--samples 24] [--window 60] [--delay 0.1]

In the default `bench/suite.py` the memory case's service starts on the archive its in-process
passes left (about 50,500 articles of the farm's feeds 0 .. F-1) and polls feeds F .. 2F-1, new
to it; `--only memory` starts it on an empty archive. This runs that situation alone, without
the suite's baselines: the first run makes TEMPLATE (one in-process cold pass over feeds
0 .. F-1, monitor_cases.monitor_pass, as the suite's cold case), every run then starts
`monitor run` (service_session.run_session: Telegram on the fake Bot API, its latency samples,
a changed pass) on a copy of it over feeds F .. 2F-1 and prints the peak RSS of each process
(VmHWM). Run it from two trees with one TEMPLATE (A B A B) to compare their memory.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sqlite3
import statistics
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from farm import FarmProcess  # noqa: E402 (sibling scripts)
from monitor_cases import archive_size, monitor_pass, write_config  # noqa: E402
from service_session import run_session  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="monitor run's memory on an archive of a cold pass.")
    p.add_argument("--template", type=Path, required=True, help="the archive to start from (made if absent)")
    p.add_argument("--feeds", type=int, default=1000, help="feeds of the template, and of the service")
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--passes", type=int, default=3, help="the service's passes: cold, warm..., changed")
    p.add_argument("--samples", type=int, default=24, help="latency samples (as the suite)")
    p.add_argument("--interval", type=float, default=60.0, help="[schedule] interval, seconds (as the suite)")
    p.add_argument("--window", type=float, default=60.0, help="seconds the samples are published over")
    p.add_argument("--delay", type=float, default=0.1, help="the farm's seconds before each answer")
    args = p.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="service-on-archive-"))
    try:
        # The template's farm again (its build time: the same bodies, ETags and times), so that
        # its feeds answer the service 304s, as the suite's farm answers the feeds of its passes.
        now = _built(args.template) if args.template.exists() else None
        with FarmProcess(feeds=2 * args.feeds, items=args.items, delay=args.delay, hosts=50, now=now) as farm:
            if not args.template.exists():
                urls = [farm.url(i) for i in range(args.feeds)]
                made = folder / "template.db"
                figures = monitor_pass(write_config(folder / "template.toml", made, urls))
                print(f"template: {figures.new_articles} articles in {figures.seconds:.0f}s", flush=True)
                shutil.copyfile(made, args.template)
            db = folder / "monitor.db"
            shutil.copyfile(args.template, db)
            _moved(db, farm.port)
            print(f"monitor run from {ROOT}: on an archive of {archive_size(db)} articles", flush=True)
            service = folder / "service"
            service.mkdir()
            feeds = range(args.feeds, 2 * args.feeds)
            s = run_session(
                farm,
                service,
                feeds,
                db,
                args.interval,
                args.samples,
                args.window,
                args.passes,
                progress=print,
            )
        lat = s.latencies
        peaks = " + ".join(f"{kb / 1024:.0f}" for kb in s.process_peaks_kb)
        print(
            f"peak RSS {s.peak_kb / 1024:.0f} MB ({peaks}), {s.start_kb / 1024:.0f} MB at start; "
            f"{len(lat)}/{len(s.samples)} samples"
            + (f", median {statistics.median(lat):.1f}s, max {lat[-1]:.1f}s" if lat else "")
            + (f"; errors: {s.errors[:2]}" if s.errors else "")
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def _built(db: Path) -> str:
    """The build time of the farm a template was made from: an hour after its newest item."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        newest = conn.execute("select max(published) from articles").fetchone()[0]
    return (datetime.fromisoformat(newest) + timedelta(hours=1)).isoformat()


def _moved(db: Path, port: int) -> None:
    """The template's feeds on this farm's port: the service polls them too (mostly 304s), as
    the suite's does the feeds of its passes."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        url = conn.execute("select url from feeds limit 1").fetchone()[0]
        old, new = f":{urlsplit(url).port}/", f":{port}/"
        if old != new:
            with conn:
                conn.execute(
                    "update feeds set url = replace(url, ?, ?), fetch_url = replace(fetch_url, ?, ?)",
                    [old, new, old, new],
                )
                conn.execute("update articles set feed = replace(feed, ?, ?)", [old, new])


if __name__ == "__main__":
    raise SystemExit(main())
