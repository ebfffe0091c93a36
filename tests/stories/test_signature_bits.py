"""Copy signatures of 16-bit slots (issue 18; archive m017: 136 bytes a signature, not 264) find
the same copies as the 32-bit slots before them.

Each slot keeps the smallest hash of its shingles; 16 bits of it (15 that vary: the lowest is 0)
make two different smallest hashes look equal once in 32,768, where 32 bits did once in 2**31.
Over every pair of the project's labelled texts (tests/data/stories_eval) and their edited
copies (one to twelve words changed: copies, near-copies and rewrites either side of the copy
threshold), the estimated Jaccard with 16-bit slots is the 32-bit one but for rare pairs, never
by more than one slot, and no pair is on the other side of `near_duplicate`."""

from __future__ import annotations

import random
import tomllib
import zlib
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

from monitor.stories.evidence import folded_words
from monitor.stories.fingerprint import ArticleFingerprint, copy_signature, fingerprint, near_copy
from monitor.stories.lookup import Slots, stored_fingerprint
from monitor.types import StorySettings

EVAL = Path(__file__).resolve().parent.parent / "data" / "stories_eval"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
THRESHOLD = StorySettings().near_duplicate


def signature_32(title: str, summary: str) -> tuple[int, ...]:
    """The signature as stories.fingerprint made it before m017: 32-bit slots (its _signature
    with `(h >> 16) & 0xFFFFFFFE` for a slot's value)."""
    words = folded_words(title, summary)
    shingles = map(" ".join, zip(words, words[1:], words[2:], strict=False)) if len(words) > 2 else words
    sig = [-1] * 64
    for shingle in shingles:
        h = (zlib.crc32(shingle.encode()) * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)
        slot, value = h >> 58, (h >> 16) & 0xFFFFFFFE
        if sig[slot] == -1 or value < sig[slot]:
            sig[slot] = value
    return tuple(sig)


def texts() -> list[tuple[str, str]]:
    found = []
    for path in sorted(EVAL.rglob("*.toml")):
        for pair in tomllib.loads(path.read_text(encoding="utf-8")).get("pair", []):
            found += [(pair["a_title"], pair["a_body"]), (pair["b_title"], pair["b_body"])]
    return list(dict.fromkeys(found))


def edited(rng: random.Random, title: str, body: str, changes: int) -> tuple[str, str]:
    words = body.split()
    for _ in range(changes):
        words[rng.randrange(len(words))] = rng.choice(["said", "reported", "officials", "Tuesday", "new"])
    return title, " ".join(words)


def test_16_bit_slots_estimate_the_same_jaccard_as_32_bit_ones() -> None:
    rng = random.Random(18)
    originals = texts()
    assert len(originals) > 150
    pairs = [(a, edited(rng, *a, rng.randint(1, 12))) for a in originals]
    pairs += list(combinations(originals[:120], 2))  # 7,140 pairs of other reports
    differ = copies = 0
    for a, b in pairs:
        a16, b16 = copy_signature(*a, T0), copy_signature(*b, T0)
        a32, b32 = signature_32(*a), signature_32(*b)
        assert a16.signature == tuple(-1 if v == -1 else (v >> 16) & 0xFFFE for v in a32)  # its bits
        narrow = near_copy(a16, b16)
        wide = near_copy(ArticleFingerprint(T0, a32, ()), ArticleFingerprint(T0, b32, ()))
        looks_equal = sum(
            x == y != -1 and v != w for x, y, v, w in zip(a16.signature, b16.signature, a32, b32, strict=True)
        )
        assert looks_equal <= 1, (a[0], b[0], narrow, wide)  # one slot at most
        assert (narrow >= THRESHOLD) == (wide >= THRESHOLD), (a[0], b[0], narrow, wide)
        differ += narrow != wide
        copies += wide >= THRESHOLD
    assert copies >= 100  # the edited copies: both sides of the threshold are tried
    assert differ <= len(pairs) // 200, (differ, len(pairs))  # rare: about 1 pair in 500 expected


def test_a_stored_signature_compared_as_an_integer_estimates_the_jaccard_near_copy_does() -> None:
    """lookup.Slots (grouping compares archived fingerprints as stored, not parsed) gives the same
    float as near_copy, copies, near-copies, other reports and short texts with empty slots alike;
    a fingerprint it cannot compare (JSON, another number of slots) it leaves to near_copy."""
    rng = random.Random(17)
    originals = texts()
    short = [(title, "") for title, _ in originals[:40]]  # a headline alone: empty slots
    pairs = [(a, edited(rng, *a, rng.randint(0, 12))) for a in originals]
    pairs += list(combinations(originals[:60], 2)) + list(combinations(short, 2))
    pairs += [(a, b) for a in short[:20] for b in originals[:20]]
    empty = 0
    for a, b in pairs:
        fa, fb = copy_signature(*a, T0), copy_signature(*b, T0)
        empty += -1 in fa.signature and -1 in fb.signature
        assert Slots(fa).jaccard(stored_fingerprint(fb)) == near_copy(fa, fb), (a[0], b[0])
    assert empty > 100  # both sides with empty slots: the case that subtracts them
    fp = copy_signature(*originals[0], T0)
    assert Slots(fp).jaccard(stored_fingerprint(fingerprint(*originals[0], T0))) is None  # JSON
    assert Slots(fp).jaccard(stored_fingerprint(ArticleFingerprint(T0, fp.signature[:8], ()))) is None
    wide = ArticleFingerprint(T0, (0x1FFFE, *fp.signature[1:]), ())  # a slot no BLOB holds as it is
    assert Slots(wide).jaccard(stored_fingerprint(fp)) is None
