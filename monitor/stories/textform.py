"""Parts of a story profile's text (profile.TEXT_FORMAT) that writing and reading it share. Pure.

    rounded_counts(counts) → the counts as the text holds them     (Profile.written)
    head("COUNT/REPORTS") → (COUNT, REPORTS)                        (Profile.parse, screen.reach)
    iso(when) → a line's time, "-" for none
    signature_blob(published, slots) → a copy signature as the archive stores it (a BLOB)

A text's lines open with a head, and a head's few values (a report's log-scaled counts, their
sums, rounded to 3 decimals) repeat from text to text: a look-up of the head as written costs
less than float() and int() of it, which reading a profile did for each of its lines (issue 17).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

# A head as written → (COUNT, REPORTS): the first HEADS_KEPT seen are kept (about 150 bytes each)
HEADS: dict[str, tuple[float, int]] = {}
HEADS_KEPT = 4096


def head(value: str) -> tuple[float, int]:
    """(COUNT, REPORTS) of a line's head "COUNT/REPORTS"; the caller asks HEADS first."""
    c, _, n = value.partition("/")
    read = float(c), int(n)
    if len(HEADS) < HEADS_KEPT:
        HEADS[value] = read
    return read


def rounded_counts(counts: Mapping[str, float]) -> dict[str, float]:
    """`counts` as a profile's text holds them, in their order: each of their few values rounded once."""
    values = {c: round(c, 3) for c in set(counts.values())}
    return dict(zip(counts, map(values.__getitem__, counts.values()), strict=True))


def iso(when: datetime | None) -> str:
    return when.isoformat() if when else "-"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def signature_blob(published: datetime, signature: Sequence[int]) -> bytes:
    """A copy signature as stored (stories.lookup.stored_fingerprint): its publication (µs since
    1970, int64) and its 16-bit slots (uint16, the empty slot -1 as 0xFFFF), little-endian. Here,
    not in lookup.py, so that a parser worker makes it without importing the writer's caches."""
    # its slots are below 2**16 and not negative but the empty one, -1
    fits = 0 <= min(signature, default=0) and max(signature, default=0) <= 0xFFFF
    unsigned = signature if fits else [v & 0xFFFF for v in signature]
    micros = (published - EPOCH) // MICROSECOND
    return struct.pack(f"<q{len(unsigned)}H", micros, *unsigned)
