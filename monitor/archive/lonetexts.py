"""The profile texts of stories of one report, deflated in one ring of bytes (storymemory's).

A story of one report (most open stories: ~50,000 in a 1,000-feed cold pass) keeps in the
archive only a short form of its profile (stories.lookup.alone), made again from its article
when the story is a candidate (lookup.rebuild: an SQL read and the words made again, about
100 µs). The writer's memory held its text (about 500 bytes as a str) among 8,000 profiles, a
dict that forgot it long before the story stopped being a candidate: a 1,000-feed cold pass
rebuilt 29,303 stories 111,150 times (issue 17, h-churn). Here each text a story is written
with is deflated (zlib, raw, level 2, with a preset dictionary of the words of the first texts
kept; its head's time as 8 bytes: about 180 bytes, ~20 µs) into a ring of `capacity` bytes,
newest over oldest, its place an 8-byte entry of an IntMap (no object per story): about 3
times as many texts in the same bytes, each inflated in about 4 µs (the newest RECENT kept as
str only, deflated as they leave). A text made again (rebuild) stays in storymemory's dict, as
before: deflating it cost a third of a placement at 100,000 archived articles, where every
candidate is rebuilt.

Exact: a text read back is the text kept (`get` answers only what `put` was given, or None).
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from monitor.archive.compact import IntMap

LENGTH_BITS = 12  # an entry: (where its bytes start, counted from the ring's first use) << 12 | length
MAX_LENGTH = (1 << LENGTH_BITS) - 1
WBITS = -13  # raw deflate, an 8 KB window: the preset dictionary fits it, and copying the
MEM_LEVEL = 6  # compressor primed with it (rather than priming one per text) costs little
DICTIONARY_BYTES = 8 * 1024
# level 2: as small as 9 with the dictionary (a 300-feed pass's texts: 166 bytes either way), a
# third of its time on longer texts (level 9 searched long chains of the dictionary's matches)
LEVEL = 2
SAMPLE = 256  # texts whose words make the preset dictionary (the first kept)
RECENT = 1024  # the newest texts kept as str (about 550 bytes each), deflated when older
# a text's first byte: deflated with the preset dictionary; its head "A A 1" kept as A's time
# (A as datetime.isoformat writes a UTC time of whole seconds); that head its only line
PRESET, TIMED, HEAD_ONLY = 1, 2, 4
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_DAYS: dict[int, str] = {}  # days since 1970 → their date as isoformat writes it, "YYYY-MM-DDT"


def _time(seconds: int) -> str:
    """datetime.isoformat of a UTC time of whole seconds since 1970: its date looked up by day,
    not a datetime made and written per text (a quarter of inflating a farm text; issue 18)."""
    day, rest = divmod(seconds, 86_400)
    date = _DAYS.get(day)
    if date is None:
        if len(_DAYS) >= 4096:
            _DAYS.clear()
        date = _DAYS[day] = (_EPOCH + timedelta(days=day)).isoformat()[:11]
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{date}{hour:02d}:{minute:02d}:{second:02d}+00:00"


def _seconds(text: str) -> int | None:
    """The time `text` writes as whole seconds since 1970, if _time writes it again the same."""
    if len(text) != 25 or not text.endswith("+00:00"):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    seconds = (when - _EPOCH) // timedelta(seconds=1)
    return seconds if _time(seconds) == text else None


def is_lone(text: str) -> bool:
    """Whether a stored profile is the text (Profile.to_text) of a story of one report: its
    first line "FIRST LAST 1" (not JSON, not lookup.alone's short form "LAST =DIGEST")."""
    if text.startswith("{"):
        return False
    first = text[: text.find("\n")] if "\n" in text else text
    return first.endswith(" 1") and first.count(" ") == 2


class LoneTexts:
    """story → its profile's text (is_lone), the newest `capacity` bytes of them (deflated)."""

    __slots__ = (
        "capacity", "_ring", "_at", "_end", "_sample", "_dictionary", "_compressor", "_prune_at", "_recent",
    )  # fmt: skip

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ring = bytearray()  # made at the first put (not by a preload, nor an idle memory)
        self._at = IntMap()  # story → its entry (-1: discarded)
        self._end = 0  # where the next text goes, counted from the ring's first use
        self._sample: list[str] | None = []  # texts whose words make the dictionary; None: made
        self._dictionary = b""
        self._compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS, MEM_LEVEL)
        self._prune_at = max(1024, capacity // 256)  # entries when those overwritten are let go
        # the newest texts kept as they are (most candidates are recent stories): not inflated
        self._recent: dict[int, str] = {}

    def __len__(self) -> int:
        """How many stories' texts are held (a scan: for tests and benches)."""
        low = (self._end - self.capacity) << LENGTH_BITS
        return len(self._recent) + sum(1 for entry in self._at.values() if entry >= 0 and entry >= low)

    def put(self, story: int, text: str) -> None:
        """Keep `text` as story's (in place of any before it): as it is among the newest RECENT,
        deflated into the ring when it leaves them (a story that takes another report before
        then is never deflated)."""
        recent = self._recent
        recent.pop(story, None)
        if story in self._at:
            self._at[story] = -1
        recent[story] = text
        if len(recent) > RECENT:
            oldest = next(iter(recent))
            self._deflate(oldest, recent.pop(oldest))

    def _deflate(self, story: int, text: str) -> None:
        if self._sample is not None:
            self._sample.append(text)
            if len(self._sample) >= SAMPLE:
                self._prime(self._sample)
        data = self._pack(text)
        size = len(data)
        if size > MAX_LENGTH or size > self.capacity:
            return
        if not self._ring:
            self._ring = bytearray(self.capacity)
        start = self._end
        if start // self.capacity != (start + size - 1) // self.capacity:  # not across the ring's end
            start = (start // self.capacity + 1) * self.capacity
        at = start % self.capacity
        self._ring[at : at + size] = data
        self._end = start + size
        self._at[story] = start << LENGTH_BITS | size
        if len(self._at) > self._prune_at:  # entries overwritten or discarded: let go
            self._at.keep_from((self._end - self.capacity) << LENGTH_BITS)
            self._prune_at = len(self._at) + max(1024, len(self._at) // 4)

    def discard(self, story: int) -> None:
        self._recent.pop(story, None)
        if story in self._at:
            self._at[story] = -1

    def get(self, story: int) -> str | None:
        """The text kept as story's, or None (never kept, discarded, or overwritten since)."""
        if (text := self._recent.get(story)) is not None:
            return text
        entry = self._at.get(story)
        if entry is None or entry < 0:
            return None
        start, size = entry >> LENGTH_BITS, entry & MAX_LENGTH
        if start < self._end - self.capacity:  # overwritten by newer texts
            return None
        at = start % self.capacity
        return self._unpack(self._ring[at : at + size])

    def _pack(self, text: str) -> bytes:
        """A flags byte (PRESET, TIMED, HEAD_ONLY), with TIMED the time of a head "A A 1" (int64
        seconds since 1970: its 51 characters deflated to about 26 bytes), then the text deflated
        (but for a TIMED head)."""
        flags, timed = (PRESET if self._dictionary else 0), b""
        head, newline, lines = text.partition("\n")
        first, _, rest = head.partition(" ")
        if rest == f"{first} 1" and (seconds := _seconds(first)) is not None:
            flags |= TIMED | (0 if newline else HEAD_ONLY)
            timed, text = struct.pack("<q", seconds), lines
        packer = self._compressor.copy()
        return bytes((flags,)) + timed + packer.compress(text.encode()) + packer.flush()

    def _unpack(self, data: bytes | bytearray) -> str:
        flags, at = data[0], 1
        unpacker = (
            zlib.decompressobj(WBITS, self._dictionary) if flags & PRESET else zlib.decompressobj(WBITS)
        )
        head = ""
        if flags & TIMED:
            (seconds,) = struct.unpack_from("<q", data, 1)
            when = _time(seconds)
            head, at = f"{when} {when} 1" + ("" if flags & HEAD_ONLY else "\n"), 9
        return head + (unpacker.decompress(data[at:]) + unpacker.flush()).decode()

    def many(self, stories: Iterable[int]) -> dict[int, str]:
        """story → its text, of those held."""
        return {story: text for story in stories if (text := self.get(story)) is not None}

    def _prime(self, sample: list[str]) -> None:
        """The preset dictionary: the sample's most common words, the commonest last (nearest the
        text, so the cheapest to refer to), at most DICTIONARY_BYTES."""
        words: Counter[str] = Counter()
        for text in sample:
            for line in text.split("\n")[1:]:
                words.update(line.split(" ")[1:])
        chosen, size = [], 0
        for word, _ in words.most_common():
            if size + len(word) + 1 > DICTIONARY_BYTES:
                break
            chosen.append(word)
            size += len(word) + 1
        self._dictionary = " ".join(reversed(chosen)).encode()
        self._sample = None
        if self._dictionary:
            self._compressor = zlib.compressobj(
                LEVEL, zlib.DEFLATED, WBITS, MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, self._dictionary
            )
