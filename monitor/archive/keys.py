"""Identity keys as article_keys holds them: shared by the writer (articles.py) and a parser
worker's read-only snapshot (snapshot.py), which imports this and not the writer's modules
(issue 18: the rest of the archive package was 1.6 MB of every worker's memory).

    key_digest(key)          the 16-byte digest article_keys stores for an identity key
    known_keys(conn, keys)   which of `keys` some archived article already has
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable


def key_digest(key: str) -> bytes:
    """How article_keys stores an identity key since m016: its 16-byte BLAKE2b digest, a fifth
    of the key's bytes (a key is a URL, or a feed URL and a GUID; 88 characters on average)."""
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


def known_keys(conn: sqlite3.Connection, keys: Iterable[str]) -> set[str]:
    """Which of `keys` (identity keys: ingest.dedupe) some archived article already has."""
    wanted = {key_digest(k): k for k in keys}
    digests = list(wanted)
    found: set[str] = set()
    for i in range(0, len(digests), 500):
        chunk = digests[i : i + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            wanted[r[0]] for r in conn.execute(f"select key from article_keys where key in ({marks})", chunk)
        )
    return found
