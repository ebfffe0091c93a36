"""Do two source trees write the same archive? One cold pass each over the same farm, then every
table's rows compared, times excluded.

    python bench/archive_rows.py [--feeds 50] [--items 50] A B

A and B are source trees (folders holding monitor/). Each pass is bench/ab.py's child (one cold
pass of `run_pass` into a fresh archive) with [fetch] concurrency = 1, so that feeds are archived
in the same order by both: ids are then comparable, and the order story placement sees is the
same. Compared: every table's rows (the full-text indexes through their content), with the columns
that hold the time of the pass left out (first_seen, created, ...): the wall clock differs; what
an article's own dates make (published, a profile's times) does not. Prints each table's rows and
whether they are the same; exits 1 when a table differs.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

# Columns holding when the pass ran (the wall clock), not what the feeds said.
TIME_COLUMNS = frozenset(
    {
        "first_seen",
        "created",
        "updated",
        "next_check",
        "last_checked",
        "last_success",
        "added",
        "next_attempt",
        "sent_at",
        "suspended_at",
        "applied_at",
        "changed",
        "first_error",
        "last_new",
        "last_digest",
    }
)
# SQLite's own tables and FTS5's shadow tables (their content is compared through the FTS tables)
SKIPPED = ("sqlite_", "articles_fts_", "articles_cjk_")
FULLTEXT = {"articles_fts": "rowid, title, summary", "articles_cjk": "rowid, text"}


def cold_pass(tree: Path, folder: Path, urls: list[str]) -> Path:
    from monitor_cases import write_config

    folder.mkdir()
    db = folder / "monitor.db"
    config = write_config(folder / "monitor.toml", db, urls, "[fetch]\nconcurrency = 1")
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "MONITOR_CONFIG")}
    env["PYTHONPATH"] = str(tree)
    child = [sys.executable, str(BENCH / "ab.py"), "--child", str(config), str(folder / "pass.json"), "cold"]
    done = subprocess.run(child, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"archive_rows: the pass in {tree} failed:\n{done.stderr[-2000:]}")
    return db


def rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows without its time columns, sorted."""
    out: dict[str, list[tuple[object, ...]]] = {}
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            if table.startswith(SKIPPED):
                continue
            if table in FULLTEXT:
                columns = FULLTEXT[table]
            else:
                names = [r[1] for r in conn.execute(f'pragma table_info("{table}")')]
                columns = ", ".join(f'"{n}"' for n in names if n not in TIME_COLUMNS)
            found = conn.execute(f'select {columns} from "{table}"').fetchall()
            out[table] = sorted(found, key=repr)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Compare the archives two trees write in a cold pass.")
    p.add_argument("trees", nargs=2, type=Path)
    p.add_argument("--feeds", type=int, default=50)
    p.add_argument("--items", type=int, default=50)
    args = p.parse_args(argv)
    from farm import FarmProcess

    folder = Path(tempfile.mkdtemp(prefix="monitor-rows-"))
    with FarmProcess(feeds=args.feeds, items=args.items, delay=0.0, hosts=10) as farm:
        dbs = [cold_pass(tree.resolve(), folder / f"tree{i}", farm.urls) for i, tree in enumerate(args.trees)]
    a, b = rows(dbs[0]), rows(dbs[1])
    differ = 0
    for table in sorted(set(a) | set(b)):
        left, right = a.get(table), b.get(table)
        same = left == right
        differ += not same
        print(f"{table}: {len(left or ())} rows vs {len(right or ())}: {'same' if same else 'DIFFERENT'}")
        if not same and left is not None and right is not None:
            only = [r for r in left if r not in set(right)][:2]
            print(f"    e.g. only in the first: {only!r:.600}")
    print(f"archives in {folder}: {'the same' if not differ else f'{differ} tables differ'}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
