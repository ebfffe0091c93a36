"""Reading story_keys into StoryMemory's containers (storymemory.py), issue 18.

    load_postings(conn, horizon)   the postings of the articles published since `horizon`, by
                                   key, and their stories and times (compact.IntMap)
    load_lasts(conn, stories, lasts)   when each story's last report came (compact.TimeTable)
    count_articles(conn, ids)      how many of these articles are archived (committed)
    shared_by(postings, keys, ...)   how many of `keys` each article in a window has
    ranked(shared, limit, after)   the articles sharing most first (StoryMemory.candidates)

A key of one posting (half of them) holds it alone, an int of 40 bytes, not an array of 96.
"""

from __future__ import annotations

import sqlite3
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from typing import cast

from monitor.archive.compact import ID_MASK, IntMap, TimeTable, pack, packable, time_key
from monitor.archive.sqltime import epoch

Postings = dict[str, "array[int] | int"]  # key → its postings (compact.pack), or its one posting
_UNIX = time_key("1970-01-01T00:00:00Z")  # 1970 in compact.time_key's seconds since year 1


def load_postings(conn: sqlite3.Connection, horizon: str) -> tuple[Postings, IntMap, IntMap, bool]:
    """(key → postings, article → story, article → published, whether every posting since
    `horizon` fitted a posting: compact.packable). story_keys is read key by key in its own
    order (no sort), each key's postings straight into one array. The articles' stories and
    times are read first, in the same order, and their dicts freed before any posting is made:
    built beside the postings, their 50,000 articles' small objects were left scattered between
    the keys and arrays that stay, and the allocators could give back little of them."""
    packed = True
    since = [epoch(horizon) if horizon else -(2**62)]
    order = " from story_keys where published >= ? order by key, published, article_id"
    stories: dict[int, int] = {}
    times: dict[int, int] = {}
    for article, story, published in conn.execute("select article_id, story_id, published" + order, since):
        time = published + _UNIX  # compact.time_key's seconds since year 1; published: since 1970 (m016)
        if packable(time, article):
            times.setdefault(article, time)  # an article's first time, as StoryMemory.indexed keeps it
            stories[article] = story
        else:
            packed = False
    story_of, published_at = IntMap(stories), IntMap(times)
    del stories, times
    first = published_at.__getitem__
    held: Postings = {}
    current: str | None = None
    postings: array[int] | None = None
    for key, article, published in conn.execute("select key, article_id, published" + order, since):
        if not packable(published + _UNIX, article):
            continue
        posting = pack(first(article), article)
        if key != current:  # a key's first posting alone; an array from its second on
            current, postings, held[key] = key, None, posting
        elif postings is None:
            postings = held[key] = array("Q", (cast(int, held[key]), posting))
        else:
            postings.append(posting)
    for kept in held.values():
        if isinstance(kept, array) and any(a > b for a, b in zip(kept, kept[1:], strict=False)):
            kept[:] = array("Q", sorted(kept))  # a time written oddly
    return held, story_of, published_at, packed


def load_lasts(conn: sqlite3.Connection, stories: list[int], lasts: TimeTable) -> None:
    """Each story's last report into `lasts` ("" for a profile without one, None for no profile)."""
    for i in range(0, len(stories), 500):
        chunk = stories[i : i + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"select story_id, coalesce(last, '') from story_profiles where story_id in ({marks})"
        lasts.update(conn.execute(sql, chunk))
        lasts.update((s, None) for s in chunk if s not in lasts)


def count_articles(conn: sqlite3.Connection, ids: list[int]) -> int:
    """How many of the articles `ids` (distinct) the archive holds."""
    found = 0
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        found += conn.execute(f"select count(*) from articles where id in ({marks})", chunk).fetchone()[0]
    return int(found)


def shared_by(postings: Postings, keys: Sequence[str], bounds: tuple[int, int], most: int) -> Counter[int]:
    """Article → how many of `keys` it has among its postings inside `bounds` (compact.pack's,
    both ends included), a key with more than `most` postings there left out (common). The keys'
    postings in the window are gathered, then counted in one call (in C: ~18 postings a report)."""
    first, last = bounds
    get = postings.get
    window = array("Q")
    for key in dict.fromkeys(keys):
        if (held := get(key)) is None:
            continue
        if isinstance(held, int):
            if first <= held <= last and most >= 1:
                window.append(held)
            continue
        # bisected only where the window cuts the postings (a new report's reaches past the
        # newest: each probe of a bisection makes an int of the array's entry)
        end = len(held) if held[-1] <= last else bisect_right(held, last)
        start = 0 if held[0] >= first else bisect_left(held, first, 0, end)
        if end - start <= most:
            window += held[start:end]
    return Counter(map(ID_MASK.__and__, window))


def ranked(shared: Counter[int], limit: int, after: int = 0) -> list[int]:
    """The `limit` articles of `shared` (those after `after`, if any) sharing most, then the
    newest: two stable sorts in C, no key made per article."""
    best = sorted(shared if not after else (a for a in shared if a > after), reverse=True)
    best.sort(key=shared.__getitem__, reverse=True)
    del best[limit:]
    return best
