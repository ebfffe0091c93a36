"""The story index's compact containers answer as the dicts they replace (archive/compact.py)."""

from __future__ import annotations

import random
from array import array
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.archive import compact
from monitor.archive.compact import (
    ID_MASK,
    IntMap,
    Signatures,
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


@pytest.mark.parametrize("gaps", [0, 3, 40, 2000], ids=["numbered-in-a-row", "a-few-gaps", "gaps", "sparse"])
def test_an_int_map_finds_many_keys_at_once_as_one_at_a_time(gaps: int):
    """IntMap.many and look-ups one by one answer as a dict, whether the keys come one after
    another (articles, stories: guessed from the first or last key) or with gaps of every size
    (bisected between the places distinct integers allow), with writes out of order waiting."""
    rng = random.Random(gaps)
    theirs = {}
    key = rng.randint(1, 10**6)
    for _ in range(5000):
        key += 1 + (rng.randint(0, gaps) if rng.random() < 0.1 else 0)
        theirs[key] = rng.randint(-(2**62), 2**62)
    ours = IntMap(theirs)
    keys = sorted(theirs)
    low, high = keys[0], keys[-1]
    wanted = [rng.choice(keys) for _ in range(3000)] + [low, high, keys[1], keys[-2]]
    assert ours.many(wanted) == [theirs[k] for k in wanted]
    assert [ours[k] for k in wanted] == [theirs[k] for k in wanted]
    absent = [k for k in (low - 1, high + 1, *range(low, high, 97)) if k not in theirs]
    for k in absent:
        assert ours.get(k) is None and k not in ours
        with pytest.raises(KeyError):
            ours.many([low, k])
    ours[low - 5] = theirs[low - 5] = 1  # out of order: waits, then is found as well
    assert ours.many([low - 5, high, low]) == [1, theirs[high], theirs[low]]
    assert IntMap().many([]) == []
    with pytest.raises(KeyError):
        IntMap().many([1])


def test_a_time_table_tells_which_times_are_far_as_the_times_themselves_would():
    """TimeTable.far: exactly the keys whose time is more than `seconds` from a moment (the
    same microseconds, divided the same way), those held as None, none for ""; around the limit
    to the microsecond, whatever the moment's fraction of a second."""
    table = TimeTable()
    texts = {
        1: "2026-03-01T12:00:00Z",
        2: "2026-03-01T12:00:00+00:00",
        3: "",
        4: None,
        5: "2026-03-01T11:59:59.999999+00:00",  # kept as text
        6: "2026-02-28T14:00:00Z",
        7: "2026-03-02T09:59:59Z",
    }
    table.update(texts.items())
    quiet = 22 * 3600.0
    limit = datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(seconds=quiet)
    for moment in (
        limit,
        limit + timedelta(microseconds=1),
        limit - timedelta(microseconds=1),
        limit + timedelta(microseconds=2),
        datetime(2026, 3, 1, 12, 30, 0, 123457, tzinfo=UTC),
        datetime(2026, 2, 28, 14, tzinfo=UTC) - timedelta(seconds=quiet, microseconds=1),
    ):
        for seconds in (quiet, 0.1 * 3600, 0.0):
            wanted = {k for k, t in texts.items() if t is None}
            wanted |= {
                k
                for k, t in texts.items()
                if t and abs((moment - datetime.fromisoformat(t)).total_seconds()) > seconds
            }
            assert table.far(list(texts), moment, seconds) == wanted
    with pytest.raises(KeyError):
        table.far([1, 99], limit, quiet)


def test_signatures_answer_what_was_written_or_read_and_keep_the_newest_articles():
    """compact.Signatures, storymemory's cache of fingerprints as stored: every answer is what
    the archive holds (what was written, or read for what it lacks); the newest articles stay
    held while older ones are read back, and what is not a 136-byte BLOB (JSON, none) too."""
    rng = random.Random(9)
    archive: dict[int, str | bytes] = {}
    reads: list[list[int]] = []

    def read(missing: list[int]) -> dict[int, str | bytes]:
        reads.append(missing)
        return {a: archive[a] for a in missing if a in archive}

    table = Signatures(64)
    for article in range(1, 400):
        blob = bytes(rng.randrange(256) for _ in range(136))
        data: str | bytes = blob if article % 17 else f'{{"v":2,"n":{article}}}'  # some as JSON
        if article % 53 == 0:
            data = blob[:100]  # another length: kept as it is too
        archive[article] = data
        table[article] = data  # written, as StoryMemory.indexed does
        wanted = rng.sample(range(1, article + 30), 12)  # some not archived yet: none
        assert table.many(wanted, read) == {a: archive[a] for a in wanted if a in archive}
    reads.clear()
    newest = list(range(400 - 64, 400))
    assert table.many(newest, read) == {a: archive[a] for a in newest}
    assert all(a % 17 == 0 or a % 53 == 0 for missing in reads for a in missing)  # BLOBs all held
    assert table.many([5, 6], read) == {5: archive[5], 6: archive[6]}  # read back, not kept over newer ones
    assert 5 not in table and 399 in table
    table[399] = archive[399] = bytes(136)  # written again
    assert table.many([399], read) == {399: bytes(136)}
    table.clear()
    assert len(table) == 0 and 399 not in table


def _code_by_strftime(text: str) -> int | None:
    """TimeTable's code of a text as it was made before h-write: the time parsed, then kept as
    a code only if strftime makes the same text again."""
    if len(text) not in (20, 25) or text[4] != "-":
        return None
    try:
        code = time_key(text) * 2 + (len(text) == 25)
    except ValueError:
        return None
    return code if compact._text(code) == text else None


@given(
    st.datetimes(),  # naive, years 1 to 9999: only its fields make the text
    st.sampled_from(["Z", "+00:00", "+01:00", "-00:00", ".5Z", ""]),
    st.sampled_from(["T", " ", "t"]),
)
def test_a_time_is_kept_as_a_code_exactly_when_strftime_makes_its_text_again(
    moment: datetime, zone: str, sep: str
) -> None:
    """compact._code takes a text of the canonical shape without the strftime round trip (the
    writer keeps every placed story's last report): the same codes as the round trip, for every
    year (before 1000 glibc writes no leading zeros), separator and zone."""
    text = f"{moment.year:04d}-{moment:%m-%d}{sep}{moment:%H:%M:%S}{zone}"
    assert compact._code(text) == _code_by_strftime(text)
    for odd in (
        "２026-01-01T00:00:00Z",
        "2026-01-01T00:00:0٣Z",
        "2026-01-01T24:00:00Z",
        "2026-02-30T00:00:00Z",
    ):
        assert compact._code(odd) == _code_by_strftime(odd)
