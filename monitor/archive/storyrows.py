"""How the story tables' rows are written since migrations m015 and m017, and the rewriting of older rows.

    story_profiles.data   stories.profile.Profile.to_text (TEXT_FORMAT in its docstring): a line
                          "LAST FIRST REPORTS", then "COUNT/REPORTS term term ..." lines; JSON
                          before m015 (still read: stories.profile.Profile.parse). For a story of
                          one report (since m017's code), "LAST =DIGEST[:i,j]" instead
                          (stories.lookup.alone): the profile is made again from its article
    fingerprints.data     for an article placed once rarity decides, its copy signature alone, as
                          a BLOB (stories.lookup.stored_fingerprint): published (µs since 1970,
                          int64) then 64 MinHash slots, little-endian: uint16 since m017
                          (fingerprint_16), uint32 before; the whole fingerprint stays JSON

The archive keeps these as given; it reads only a profile's first word (its last report, the
`last` column) and, in m015 and m017, rewrites the rows of older archives into these forms. The
stories package writes and parses them; tests/archive/test_story_rows.py checks both agree.
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def profile_last(profile: str) -> str | None:
    """When the profile's last report was published (ISO), None when it has none."""
    if profile.startswith("{"):
        last: str | None = json.loads(profile).get("l")
        return last
    head = profile[: profile.find(" ")]
    return None if head == "-" else head


def profile_text(data: str) -> str:
    """A profile's JSON (before m015) as Profile.to_text writes it."""
    parsed = json.loads(data)
    shared = parsed.get("d", {})
    groups: dict[tuple[float, int], list[str]] = {}
    for term, c in parsed["c"].items():
        groups.setdefault((round(float(c), 3), int(shared.get(term, 1))), []).append(term)
    head = f"{parsed.get('l') or '-'} {parsed.get('f') or '-'} {int(parsed.get('n', 0))}"
    return "\n".join([head, *(f"{c!r}/{n} {' '.join(ts)}" for (c, n), ts in groups.items())])


def fingerprint_blob(data: str) -> str | bytes:
    """A fingerprint's JSON (before m015) as stored_fingerprint writes it: a BLOB when it is a
    copy signature alone, else unchanged."""
    parsed = json.loads(data)
    if parsed.get("t") or parsed.get("c") or parsed.get("h"):
        return data
    published = datetime.fromisoformat(parsed["p"])
    micros = (published - EPOCH) // _MICROSECOND
    raw = base64.b64decode(parsed["s"])
    return struct.pack("<q", micros) + raw


def fingerprint_16(data: str | bytes) -> str | bytes:
    """A fingerprint as stored before m017 (32-bit slots, FINGERPRINT_VERSION 1) as the stories
    package writes it since (16-bit: bits 16 to 31 of each slot's value, the lowest of them 0,
    the values stories.fingerprint makes now); one in the new form is returned as it is."""
    if isinstance(data, bytes):
        if len(data) != 8 + 4 * SLOTS:
            return data
        values = struct.unpack_from(f"<{SLOTS}I", data, 8)
        return data[:8] + struct.pack(f"<{SLOTS}H", *(_slot_16(v, 0xFFFF) for v in values))
    parsed = json.loads(data)
    if parsed.get("v") != 1:
        return data
    raw = base64.b64decode(parsed["s"])
    values = struct.unpack(f"<{len(raw) // 4}I", raw)
    parsed["v"] = 2
    narrow = struct.pack(f"<{len(values)}I", *(_slot_16(v, v) for v in values))  # JSON packs 32 bits
    parsed["s"] = base64.b64encode(narrow).decode()
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


def _slot_16(value: int, empty: int) -> int:
    """A 32-bit slot's 16-bit value (`empty` for the empty slot, 0xFFFFFFFF)."""
    return empty if value == 0xFFFFFFFF else (value >> 16) & 0xFFFE


SLOTS = 64  # MinHash slots of a signature (stories.fingerprint)
_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - EPOCH
