"""Wall time and peak memory of `monitor poll` over one hostile feed and a good neighbour (issue 20).

    python bench/hostile_feeds.py [--case items|lt|near|all] [--limit-mib 0]

Cases (each served from loopback by tests/fakes/feed_server.py, next to a one-item feed):

    items   100,000 items in 8.6 MB (under the 10 MiB cap)
    lt      one description of 1 MB of '<' inside CDATA
    near    5 items whose 20,000-character summaries repeat the shipped rules' NEAR operands

Runs `monitor --config ... poll` as a subprocess (this checkout's code, the shipped rules,
[fetch] max_bytes 10 MiB, the other settings default) under /usr/bin/time -v, and prints the
wall time, the peak RSS of the largest process (GNU time's "Maximum resident set size": the
monitor or one of its workers, not their sum), whether the neighbour was archived, and poll's
own lines. With --limit-mib N the poll runs under an address-space limit of N MiB (the unit's
MemoryMax=512M, roughly). No timing target: the figures go in the README's "Faults it survives".
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.feed_server import FeedServer  # noqa: E402

GOOD = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Good</title>'
    b"<item><title>Good news</title><link>https://good.test/1</link></item></channel></rss>"
)


def body(case: str) -> bytes:
    if case == "items":
        items = "".join(
            f"<item><title>Item {i}</title><link>http://e.x/{i}</link><guid>g{i}</guid></item>"
            for i in range(100_000)
        )
    elif case == "lt":
        items = "<item><title>lt</title><link>http://e.x/lt</link><description><![CDATA[" + "<" * 1_000_000
        items += "]]></description></item>"
    else:
        unit = "India Japan chips semiconductor supply chain Beijing dependence diversification production "
        items = "".join(
            f"<item><title>India and Japan {i}</title><link>http://e.x/near{i}</link>"
            f"<description>{(unit * 250)[:20_000]}</description></item>"
            for i in range(5)
        )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>'
    return f"{head}{items}</channel></rss>".encode()


def run(case: str, limit_mib: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hostile-"))
    with FeedServer() as server:
        hostile, good = server.add("/hostile.xml", body(case)), server.add("/good.xml", GOOD)
        config = folder / "monitor.toml"
        config.write_text(
            f'[storage]\npath = "{folder / "monitor.db"}"\n[rules]\npaths = ["{ROOT / "rules"}"]\n'
            f'[fetch]\nmax_bytes = 10485760\n[[feeds]]\nurl = "{hostile}"\n[[feeds]]\nurl = "{good}"\n'
        )

        def limited() -> None:
            if limit_mib:
                resource.setrlimit(resource.RLIMIT_AS, (limit_mib << 20, limit_mib << 20))

        started = time.monotonic()
        done = subprocess.run(
            ["/usr/bin/time", "-v", sys.executable, "-m", "monitor", "--config", str(config), "poll"],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            preexec_fn=limited,  # noqa: PLW1509 (this script starts no threads)
        )
        wall = time.monotonic() - started
    peak = next(
        (line.split(":")[1].strip() for line in done.stderr.splitlines() if "Maximum resident" in line), "?"
    )
    archived = False
    if (folder / "monitor.db").exists():
        with sqlite3.connect(folder / "monitor.db") as db:
            archived = bool(db.execute("select count(*) from articles where feed = ?", [good]).fetchone()[0])
    mib = int(peak) // 1024 if peak.isdigit() else peak
    print(f"{case}: exit {done.returncode}, {wall:.1f} s, peak RSS {mib} MB, neighbour archived: {archived}")
    for line in done.stderr.splitlines():
        if line.startswith(("monitor:", "polled")):
            print("   ", line[:200])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["items", "lt", "near", "all"], default="all")
    parser.add_argument("--limit-mib", type=int, default=0)
    args = parser.parse_args()
    for case in ["items", "lt", "near"] if args.case == "all" else [args.case]:
        run(case, args.limit_mib)


if __name__ == "__main__":
    main()
