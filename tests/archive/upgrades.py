"""What the upgrade tests (test_smaller_archive.py, test_archive_m017.py) share: an archive
written by `monitor poll` as a user runs it, and a schema to compare after an upgrade."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def poll(config: Path) -> None:
    """`monitor poll` in a process of its own, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MONITOR_"))}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "poll"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr


def schema(db: Path) -> list[tuple[str, str]]:
    """Every table, index and trigger's SQL, spelled alike (case, quotes, brackets, spaces)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "select name, sql from sqlite_master where sql is not null and name not like '\\_%' escape '\\'"
            " order by name"
        ).fetchall()
    finally:
        conn.close()
    return [
        (name, " ".join(sql.lower().replace('"', "").replace("[", "").replace("]", "").split()))
        for name, sql in rows
    ]


def before_m020(conn: sqlite3.Connection) -> None:
    """Undo m020 (the outbox's index by story) inside an open transaction: what an archive put
    back as an earlier migration left it must not hold a later one's index."""
    conn.execute("drop index if exists alerts_story")
    conn.execute("delete from _sqlite_migrations where name = 'm020_alerts_by_story'")
