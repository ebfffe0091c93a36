"""Parts of a story profile's text (profile.TEXT_FORMAT) that writing and reading it share. Pure.

    rounded_counts(counts) → the counts as the text holds them     (Profile.written)
    head("COUNT/REPORTS") → (COUNT, REPORTS)                        (Profile.parse, screen.reach)
    iso(when) → a line's time, "-" for none
    signature_blob(published, slots) → a copy signature as the archive stores it (a BLOB)
    by_count(rounded) → the lines of a story of one report      (Profile.written, lookup.rebuild)
    lone(when, lines) → that story's text: lone_head(when), then lone_line(count, terms) each

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


def by_count(rounded: Mapping[str, float]) -> dict[float, list[str]]:
    """The lines of the text of a story of one report (every term's REPORTS is 1): its terms
    grouped by count, in the order of their counts' first term (Profile.written's)."""
    lines: dict[float, list[str]] = {}
    for term, c in rounded.items():
        lines.setdefault(c, []).append(term)
    return lines


def lone(when: datetime, lines: Mapping[float, list[str]]) -> str:
    """Profile.to_text of a story of one report published `when`, its lines by_count's."""
    return "\n".join([lone_head(when), *(lone_line(c, ts) for c, ts in lines.items())])


def lone_head(when: datetime) -> str:
    """The first line of the text of a story of one report published `when`: first, last, 1."""
    at = iso(when)
    return f"{at} {at} 1"


def lone_line(count: float, terms: Sequence[str]) -> str:
    """A line of the text of a story of one report: its terms of one rounded count."""
    return f"{count!r}/1 {' '.join(terms)}"
