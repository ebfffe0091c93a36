"""The story index's compact containers answer as the dicts they replace (archive/compact.py)."""

from __future__ import annotations

import random
from array import array
from datetime import UTC, datetime, timedelta

import pytest

from monitor.archive.compact import (
    ID_MASK,
    IntMap,
    TimeTable,
    forget_oldest,
    iso_of,
    pack,
    packable,
    time_key,
)
from monitor.archive.sqltime import iso


def test_an_int_map_answers_as_a_dict_through_appends_updates_and_out_of_order_writes():
    rng = random.Random(3)
    ours, theirs = IntMap([(5, 50), (1, 10)]), {5: 50, 1: 10}
    for step in range(6000):
        key = rng.choice((rng.randint(0, 3000), max(theirs) + rng.randint(1, 3)))  # mostly above all
        value = rng.randint(-(2**62), 2**62)
        if step % 7 == 0:
            assert ours.setdefault(key, value) == theirs.setdefault(key, value)
        else:
            ours[key] = theirs[key] = value
        if step % 997 == 0:
            kept = {k for k in theirs if k % 3}
            ours.keep_keys(array("q", sorted(kept)))
            theirs = {k: v for k, v in theirs.items() if k in kept}
        probe = rng.randint(0, 3100)
        assert (probe in ours) == (probe in theirs)
        assert ours.get(probe) == theirs.get(probe)
    assert len(ours) == len(theirs)
    assert dict(ours.items()) == theirs and sorted(ours.values()) == sorted(theirs.values())
    with pytest.raises(KeyError):
        ours[-1]
    ours.clear()
    assert len(ours) == 0 and 5 not in ours


def test_an_int_map_drops_entries_by_value_and_by_key_and_ranks_its_values_as_a_sorted_list():
    rng = random.Random(5)
    times = {a: rng.randint(0, 2**40) // rng.choice((1, 4096)) for a in rng.sample(range(10**6), 3000)}
    times.update({a: 777 for a in range(10**6, 10**6 + 50)})  # ties
    published, stories = IntMap(), IntMap({a: a % 97 for a in times})
    for a in sorted(times):  # appended in order, as StoryMemory writes them
        published[a] = times[a]
    published[-5] = 10**9  # one out of order, waiting to be merged
    times[-5] = 10**9
    stories[-5] = 3
    ordered = sorted(times.values())
    for at in (0, 1, 49, 50, 1234, len(ordered) - 1):
        assert published.rank(at) == ordered[at]
    with pytest.raises(IndexError):
        published.rank(len(ordered))
    since = ordered[len(ordered) // 3]
    kept = published.keep_from(since)
    assert list(kept) == sorted(a for a, t in times.items() if t >= since)
    assert dict(published.items()) == {a: t for a, t in times.items() if t >= since}
    stories.keep_keys(kept)
    assert dict(stories.items()) == {a: a % 97 if a != -5 else 3 for a in kept}
    stories.keep_keys(array("q", [a for a in kept if a % 2]))
    assert sorted(dict(stories.items())) == [a for a in kept if a % 2]


def test_times_keep_the_archives_order_and_text():
    rng = random.Random(8)
    moments = [
        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(-(10**9), 10**9)) for _ in range(500)
    ]
    texts = [iso(m) for m in moments] + ["1000-01-01T00:00:00Z", "2177-12-31T23:59:59Z"]
    for a, b in zip(texts, texts[1:], strict=False):
        assert (a < b) == (time_key(a) < time_key(b)) and (a == b) == (time_key(a) == time_key(b))
    assert all(iso_of(time_key(t)) == t for t in texts)


def test_postings_sort_by_time_then_article_and_refuse_what_does_not_fit():
    early, late = time_key("2026-12-05T04:00:00Z"), time_key("2026-12-05T04:00:01Z")
    assert pack(early, ID_MASK) < pack(late, 0) < pack(late, 1)
    assert packable(late, ID_MASK) and not packable(late, ID_MASK + 1)
    assert not packable(time_key("2200-01-01T00:00:00Z"), 1)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-03T03:54:00+00:00",  # as profile_last writes (datetime.isoformat)
        "2026-12-04T17:05:00Z",  # as sqltime.iso writes
        "",
        None,
        "2026-12-03T03:54:00.250000+00:00",  # kept as it is, whatever it is
        "2026-12-03T03:54:00+01:00",
        "yesterday",
    ],
)
def test_a_time_table_gives_back_the_text_it_was_given(text: str | None):
    table = TimeTable()
    table.update([(7, "2026-01-01T00:00:00Z"), (3, text)])
    table[9] = text
    assert table[3] == text and table[9] == text and table[7] == "2026-01-01T00:00:00Z"
    assert 3 in table and 4 not in table and len(table) == 3
    if text != "yesterday":  # as times: what parsing the text gives, without making it (None: no text)
        moment = datetime.fromisoformat(text) if text else None
        wanted = {3: moment, 9: moment} if text is not None else {}
        assert table.moments([3, 9]) == wanted and table.moments([7]) == {7: datetime(2026, 1, 1, tzinfo=UTC)}
    table[3] = "2026-01-02T00:00:00Z"  # an update replaces any text kept as it was
    assert table[3] == "2026-01-02T00:00:00Z"
    table.clear()
    assert len(table) == 0


def test_a_full_cache_loses_its_oldest_entries_a_quarter_at_a_time():
    cache = {i: str(i) for i in range(100)}
    forget_oldest(cache, 1)
    assert list(cache) == list(range(25, 100))  # a quarter, the first written
    forget_oldest(cache, 50)
    assert list(cache) == list(range(75, 100))  # more when more room is needed
    table = TimeTable()
    table[1] = "2026-01-01T00:00:00Z"
    forget_oldest(table, 1)  # no order to keep: emptied
    assert len(table) == 0
