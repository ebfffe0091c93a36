"""Compact containers for the long-lived story index (storymemory.py), issue 18.

A dict of 50,000 ints to ISO strings costs about 180 bytes an entry in separate small objects
(the dict's slot, an int, a 20-character str), scattered over the heap among a pass's garbage:
those objects outlive the pass and keep CPython's arenas from going back to the system. Here a
map is two arrays of 64-bit integers (16 bytes an entry, in two blocks), and a time is an
integer: seconds since 0001-01-01 UTC, ordered as the archive's ISO text is.

    IntMap          int → int, sorted arrays and a small dict of recent out-of-order writes
    time_key(text)  ISO time as the archive writes it → seconds; iso_of(key) back, the same text
    pack(t, id)     one sortable integer for a posting: (time, article) ordered as story_keys is
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import compress, islice
from typing import Any, Protocol, TypeVar

ID_BITS = 28  # article ids below 2**28 (268 million) fit a posting beside their time
ID_MASK = (1 << ID_BITS) - 1
TIME_LIMIT = 1 << (64 - ID_BITS)  # seconds since year 1: up to about year 2178
_YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)
EPOCH_KEY = (datetime(1970, 1, 1, tzinfo=UTC) - _YEAR_ONE).days * 86_400  # time_key = epoch seconds + this


def time_key(text: str) -> int:
    """Seconds since 0001-01-01 UTC of an ISO time ("2026-12-05T04:45:00Z", as sqltime.iso writes):
    for such text, one time is before another exactly when its text sorts before."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _YEAR_ONE
    return delta.days * 86_400 + delta.seconds


def iso_of(key: int) -> str:
    """The archive's text of a time_key (sqltime.iso's format)."""
    return (_YEAR_ONE + timedelta(seconds=key)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pack(time: int, article: int) -> int:
    """A posting as one unsigned 64-bit integer: sorted by time, then article id."""
    return (time << ID_BITS) | article


def packable(time: int, article: int) -> bool:
    return 0 <= time < TIME_LIMIT and 0 <= article <= ID_MASK


_Row = TypeVar("_Row")


class Cache(Protocol[_Row]):
    """What storymemory's caches answer: a dict of them, or a TimeTable."""

    def __contains__(self, key: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __getitem__(self, key: int, /) -> _Row | None: ...
    def __setitem__(self, key: int, value: _Row | None, /) -> None: ...
    def clear(self) -> None: ...


def fill(
    table: Cache[_Row], wanted: Sequence[int], read: Callable[[list[int]], dict[int, _Row]], limit: int
) -> None:
    """What a cache of storymemory lacks of `wanted`, read and kept (None: no row), making room
    for it when full (forget_oldest)."""
    missing = [i for i in wanted if i not in table]
    if missing:
        if len(table) + len(missing) > limit:
            forget_oldest(table, len(table) + len(missing) - limit)
            missing = [i for i in dict.fromkeys(wanted) if i not in table]
        found = read(missing)
        for i in missing:
            table[i] = found.get(i)


def forget_oldest(table: Cache[Any], at_least: int) -> None:
    """Make room in a full cache of storymemory: a dict loses its oldest entries (in the order
    they came: the newest are the likeliest candidates), a quarter of it or `at_least` if more,
    a quarter at a time so that finding them costs little each; any other table is emptied."""
    if not isinstance(table, dict):
        table.clear()
        return
    for key in list(islice(table, max(at_least, len(table) // 4))):
        del table[key]


class IntMap:
    """int → int in sorted arrays. A write of a key above every other appends; a write of a key
    already present updates in place; any other waits in a dict, merged in when it grows."""

    __slots__ = ("_keys", "_values", "_recent")

    def __init__(self, items: Iterable[tuple[int, int]] | dict[int, int] = ()) -> None:
        # From a dict, without a copy of it or a list of pairs: StoryMemory's load hands over
        # 50,000 articles, and those two were 10 MB at the load's peak (issue 18).
        mapping = items if isinstance(items, dict) else dict(items)
        self._keys = array("q", sorted(mapping))
        self._values = array("q", map(mapping.__getitem__, self._keys))
        self._recent: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._keys) + len(self._recent)

    def _at(self, key: int) -> int:
        """The index of `key` in the arrays, or -1."""
        keys = self._keys
        i = bisect_left(keys, key)
        return i if i < len(keys) and keys[i] == key else -1

    def get(self, key: int, default: int | None = None) -> int | None:
        if (value := self._recent.get(key)) is not None:
            return value
        i = self._at(key)
        return self._values[i] if i >= 0 else default

    def __getitem__(self, key: int) -> int:
        """get(key), inlined (a look-up per candidate of every report), or KeyError."""
        if (value := self._recent.get(key)) is not None:
            return value
        keys = self._keys
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            return self._values[i]
        raise KeyError(key)

    def many(self, keys: Iterable[int]) -> list[int]:
        """[self[key] for key in keys] in one call (the stories of a report's 16 candidates, the
        last reports of their stories), or KeyError. A key is looked for first where it would
        be if the keys below it came one after another, as articles and stories are numbered
        (in a cold pass every key is there: a bisection of 60,000 made an int of each of its 16
        probes), then bisected."""
        if self._recent:
            return [self[key] for key in keys]
        ordered, values = self._keys, self._values
        size, found = len(ordered), []
        first = ordered[0] if size else 0
        for key in keys:
            i = key - first
            if not (0 <= i < size and ordered[i] == key):
                i = bisect_left(ordered, key)
                if i == size or ordered[i] != key:
                    raise KeyError(key)
            found.append(values[i])
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self.get(key) is not None

    def __setitem__(self, key: int, value: int) -> None:
        keys = self._keys
        if not keys or key > keys[-1]:  # above every key (a key waiting in _recent is below one)
            keys.append(key)
            self._values.append(value)
            return
        if (i := self._at(key)) >= 0:
            self._values[i] = value
            return
        self._recent[key] = value
        if len(self._recent) > max(1024, len(keys) // 8):
            self._merge()

    def setdefault(self, key: int, value: int) -> int:
        found = self.get(key)
        if found is not None:
            return found
        self[key] = value
        return value

    def items(self) -> Iterator[tuple[int, int]]:
        self._merge()
        return zip(self._keys, self._values, strict=True)

    def values(self) -> Iterator[int]:
        self._merge()
        return iter(self._values)

    def keep_from(self, low: int) -> array[int]:
        """Keep only the entries whose value is at least `low`; their keys, in order. No object
        per entry is made (issue 18: the set and the pairs list of 60,000 articles were 8 MB on
        top of StoryMemory's peak each time its horizon moved)."""
        self._merge()
        self._keep_mask(bytes(map(low.__le__, self._values)))
        return self._keys

    def keep_keys(self, wanted: array[int]) -> None:
        """Keep only the keys in `wanted`, a sorted array (keep_from's)."""
        self._merge()
        size = len(wanted)

        def held(key: int) -> bool:
            i = bisect_left(wanted, key)
            return i < size and wanted[i] == key

        self._keep_mask(bytes(map(held, self._keys)))

    def rank(self, at: int) -> int:
        """The `at`-th smallest value (0 the smallest), without a sorted copy of them all: values
        counted by 4,096 seconds, then the few of that span sorted."""
        self._merge()
        spans = Counter(value >> 12 for value in self._values)
        for span in sorted(spans):
            if at < spans[span]:
                return sorted(v for v in self._values if v >> 12 == span)[at]
            at -= spans[span]
        raise IndexError(at)

    def _keep_mask(self, mask: bytes) -> None:
        self._keys = array("q", compress(self._keys, mask))
        self._values = array("q", compress(self._values, mask))

    def clear(self) -> None:
        self._keys, self._values, self._recent = array("q"), array("q"), {}

    def _merge(self) -> None:
        if not self._recent:
            return
        merged = dict(zip(self._keys, self._values, strict=True))
        merged.update(self._recent)
        pairs = sorted(merged.items())
        self._keys = array("q", [k for k, _ in pairs])
        self._values = array("q", [v for _, v in pairs])
        self._recent = {}


SIGNATURE = 136  # bytes of a copy signature as stored (stories.lookup.stored_fingerprint)


class Signatures:
    """article → its fingerprint as stored, or None (storymemory's cache), the copy signatures
    (136-byte BLOBs, all but the first few of a language) in one block of slots, not an
    object each: an article's slot is its id modulo their number, so the newest articles (ids
    come in order) never push each other out, and an older one read back never pushes out a
    newer one. Anything else (JSON, or no fingerprint) waits in a small dict (issue 18: a dict
    of 8,000 bytes objects took about 1.9 MB, and a 300-feed cold pass still asked SQL for
    11,577 fingerprints; 12,288 slots hold the last 12,288 articles in 1.8 MB)."""

    __slots__ = ("_block", "_held", "_other")

    def __init__(self, slots: int) -> None:
        self._held = array("q", [-1]) * slots  # the article in each slot; -1: none
        self._block = bytearray()  # the slots' bytes, made when the first is kept (not by a preload)
        self._other: dict[int, str | bytes | None] = {}

    def __len__(self) -> int:
        return len(self._held) - self._held.count(-1) + len(self._other)

    def __contains__(self, article: object) -> bool:
        held = self._held
        return article in self._other or (isinstance(article, int) and held[article % len(held)] == article)

    def __setitem__(self, article: int, data: str | bytes | None) -> None:
        held = self._held
        slot = article % len(held)
        if isinstance(data, bytes) and len(data) == SIGNATURE:
            self._other.pop(article, None)
            if held[slot] <= article:  # a newer article's is kept: the likelier candidate
                held[slot] = article
                if not self._block:
                    self._block = bytearray(len(held) * SIGNATURE)
                self._block[slot * SIGNATURE : (slot + 1) * SIGNATURE] = data
            return
        if held[slot] == article:
            held[slot] = -1
        other = self._other
        other[article] = data
        if len(other) > len(held) // 16:
            forget_oldest(other, 1)

    def many(
        self, wanted: Sequence[int], read: Callable[[list[int]], dict[int, str | bytes]]
    ) -> dict[int, str | bytes]:
        """Article → its fingerprint of `wanted` (those without one left out), what is not held
        read (`read`: SQL) and kept."""
        held, other, block = self._held, self._other, self._block
        slots = len(held)
        out: dict[int, str | bytes] = {}
        missing = []
        for article in wanted:
            slot = article % slots
            if held[slot] == article:
                out[article] = bytes(block[slot * SIGNATURE : (slot + 1) * SIGNATURE])
            elif article not in other:
                missing.append(article)
            elif (data := other[article]) is not None:
                out[article] = data
        if missing:
            found = read(missing)
            out.update(found)
            if not block:
                block = self._block = bytearray(slots * SIGNATURE)
            for article in missing:
                data = found.get(article)
                slot = article % slots
                if not (isinstance(data, bytes) and len(data) == SIGNATURE):
                    self[article] = data
                elif held[slot] < article:  # as __setitem__ keeps it (it was held nowhere)
                    held[slot] = article
                    block[slot * SIGNATURE : (slot + 1) * SIGNATURE] = data
        return out

    def clear(self) -> None:
        self._held = array("q", [-1]) * len(self._held)
        self._other = {}


NO_TIME, NONE = -1, -2  # TimeTable's codes for "" and None
_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+00:00")  # sqltime.iso's; datetime.isoformat's
# what _FORMATS write from year 1000 on (before, glibc's strftime writes no leading zeros)
_CANONICAL = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:Z|\+00:00)")


class TimeTable:
    """int → ISO time text, "" or None, as a dict of them would answer (the stories' last reports,
    written by datetime.isoformat): a time is kept as an integer, its text made again when read."""

    __slots__ = ("_codes", "_odd")

    def __init__(self) -> None:
        self._codes = IntMap()
        self._odd: dict[int, str] = {}  # text that would not be made again the same: kept as it is

    def __len__(self) -> int:
        return len(self._codes)

    def __contains__(self, key: object) -> bool:
        return key in self._codes

    def __getitem__(self, key: int) -> str | None:
        code = self._codes[key]
        if code >= 0:
            return _text(code)
        if code == NO_TIME:
            return self._odd.get(key, "")
        return None

    def __setitem__(self, key: int, value: str | None) -> None:
        self._odd.pop(key, None)
        if value is None:
            self._codes[key] = NONE
            return
        code = _code(value)
        if code is None:
            self._codes[key] = NO_TIME
            if value:
                self._odd[key] = value
        else:
            self._codes[key] = code

    def moments(self, keys: Iterable[int]) -> dict[int, datetime | None]:
        """Of `keys` (each held), those with a time or "": the time (what datetime.fromisoformat
        makes of its text; None for ""), without making the text (issue 18: its strftime and the
        parse after it were a tenth of looking up a report's candidates)."""
        found: dict[int, datetime | None] = {}
        for key in keys:
            code = self._codes[key]
            if code >= 0:
                found[key] = _moment(code)
            elif code == NO_TIME:
                text = self._odd.get(key, "")
                found[key] = datetime.fromisoformat(text) if text else None
        return found

    def far(self, keys: Sequence[int], moment: datetime, seconds: float) -> set[int]:
        """Of `keys` (each held), those held as None, and those whose time is more than `seconds`
        from `moment` (abs((moment - time).total_seconds()) > seconds: the same division of the
        same microseconds, the times not made): "" is no time, never far. KeyError for one not held."""
        delta = moment - _YEAR_ONE
        at = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        found: set[int] = set()
        for key, code in zip(keys, self._codes.many(keys), strict=True):
            if code >= 0:
                if abs(at - (code >> 1) * 1_000_000) / 1_000_000 > seconds:
                    found.add(key)
            elif code == NONE:
                found.add(key)
            elif (text := self._odd.get(key)) and abs(
                (moment - datetime.fromisoformat(text)).total_seconds()
            ) > seconds:
                found.add(key)
        return found

    def update(self, pairs: Iterable[tuple[int, str | None]]) -> None:
        for key, value in pairs:
            self[key] = value

    def clear(self) -> None:
        self._codes.clear()
        self._odd.clear()


def _code(text: str) -> int | None:
    """A time's text as an integer (seconds, and which of _FORMATS) if _text makes it again."""
    if len(text) not in (20, 25) or text[4] != "-":
        return None
    try:
        code = time_key(text) * 2 + (len(text) == 25)
    except ValueError:
        return None
    # Text of _CANONICAL's shape that parses is what _text makes again (its digits, zero-padded):
    # a match, not a strftime, for every profile the writer keeps (issue 18); any other, made again
    return code if _CANONICAL.fullmatch(text) is not None or _text(code) == text else None


def _text(code: int) -> str:
    return _moment(code).strftime(_FORMATS[code & 1])


def _moment(code: int) -> datetime:
    """The time a code (_code's) stands for: what datetime.fromisoformat makes of _text(code)."""
    return _YEAR_ONE + timedelta(seconds=code >> 1)
