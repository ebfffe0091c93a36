"""The archive's articles and their identity keys (article_keys): SQL shared by the writer
(store.Archive) and the workers' read-only snapshot (snapshot.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable


def known_keys(conn: sqlite3.Connection, keys: Iterable[str]) -> set[str]:
    """Which of `keys` (identity keys: ingest.dedupe) some archived article already has."""
    wanted = list(dict.fromkeys(keys))
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            r[0] for r in conn.execute(f"select key from article_keys where key in ({marks})", chunk)
        )
    return found
