"""How the story tables' rows are written since migration m015, and the rewriting of older rows.

    story_profiles.data   stories.profile.Profile.to_text (TEXT_FORMAT in its docstring): a line
                          "LAST FIRST REPORTS", then "COUNT/REPORTS term term ..." lines; JSON
                          before m015 (still read: stories.profile.Profile.parse)
    fingerprints.data     for an article placed once rarity decides, its copy signature alone, as
                          a BLOB (stories.lookup.stored_fingerprint): published (µs since 1970,
                          int64) then 64 MinHash slots (uint32), little-endian; the whole
                          fingerprint stays JSON

The archive keeps these as given; it reads only a profile's first word (its last report, the
`last` column) and, in m015, rewrites the JSON rows of older archives into these forms. The
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


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - EPOCH
