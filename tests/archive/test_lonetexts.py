"""The ring of texts of stories of one report (archive/lonetexts.py): exact, bounded, forgets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.archive import lonetexts
from monitor.archive.lonetexts import LoneTexts, is_lone


def word(rng: random.Random) -> str:
    return "".join(rng.choice("bdgklmnprstvz") + rng.choice("aeiou") for _ in range(3))


def lone_text(rng: random.Random, hour: int) -> str:
    """A profile text of a story of one report (Profile.to_text's form), of invented words."""
    at = f"2026-03-01T{hour % 24:02d}:00:00+00:00"
    lines = [f"{at} {at} 1"]
    for count in ("2.504", "1.693", "1.0"):
        words = [word(rng) for _ in range(9)]
        lines.append(f"{count}/1 " + " ".join(words + ["über", "2,300"]))
    return "\n".join(lines)


def test_every_text_read_back_is_the_text_kept_before_and_after_the_dictionary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lonetexts, "RECENT", 0)  # each deflated as it comes
    rng = random.Random(1)
    ring = LoneTexts(1 << 20)
    texts = {story: lone_text(rng, story) for story in range(1, lonetexts.SAMPLE * 3)}
    at, odd = "2026-03-01T05:00:00+00:00", "2026-03-01T05:00:00.250000+00:00"
    texts[7] = f"{at} {at} 1"  # no lines: its head alone
    texts[8] = f"{odd} {odd} 1\n1.0/1 word"  # a time not of whole seconds: kept as written
    texts[9] = f"{at} 2026-03-02T05:00:00+00:00 1\n1.0/1 word"  # first and last apart
    texts[300] = f"{at} {at} 1\n1.0/1 word"
    for story, text in texts.items():
        ring.put(story, text)
    assert ring._dictionary  # primed from the first texts: those before it kept without it
    assert ring._recent == {}
    assert ring.many(texts) == texts
    assert ring._end < 0.75 * sum(len(t) for t in texts.values())  # deflated (random words: little)


def test_a_full_ring_forgets_its_oldest_texts_and_a_discarded_or_replaced_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lonetexts, "RECENT", 0)
    rng = random.Random(2)
    ring = LoneTexts(16 * 1024)
    texts = {story: lone_text(rng, story) for story in range(1, 600)}
    for story, text in texts.items():
        ring.put(story, text)
    held = ring.many(texts)
    assert 0 < len(held) < len(texts)
    assert list(held) == list(texts)[-len(held) :]  # the newest, all of them
    assert all(held[s] == texts[s] for s in held)
    assert ring.get(1) is None
    newest = max(texts)
    ring.discard(newest)
    assert ring.get(newest) is None
    ring.put(newest - 1, "2026-03-01T00:00:00+00:00 2026-03-01T00:00:00+00:00 1\n1.0/1 again")
    assert ring.get(newest - 1) == "2026-03-01T00:00:00+00:00 2026-03-01T00:00:00+00:00 1\n1.0/1 again"
    assert len(ring._at) <= 2 * 1024 + 1  # entries overwritten are let go


def test_only_the_text_of_a_story_of_one_report_is_lone() -> None:
    at = "2026-03-01T00:00:00+00:00"
    assert is_lone(f"{at} {at} 1\n1.0/1 word")
    assert is_lone(f"{at} {at} 1")
    assert not is_lone(f"{at} {at} 2\n1.0/2 word")
    assert not is_lone(f"{at} {at} 11\n1.0/2 word")
    assert not is_lone(f"{at} =1a2b3c4d:0,2")  # stories.lookup.alone's short form
    assert not is_lone('{"story": 1}')


def test_the_newest_texts_are_kept_as_they_are_and_deflated_as_they_leave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lonetexts, "RECENT", 4)
    rng = random.Random(3)
    ring = LoneTexts(1 << 16)
    texts = {story: lone_text(rng, story) for story in range(1, 11)}
    for story, text in texts.items():
        ring.put(story, text)
    assert list(ring._recent) == [7, 8, 9, 10]  # the rest deflated
    assert ring.get(3) == texts[3] and ring.get(9) is texts[9]
    ring.put(3, texts[2])  # a story of one report rewritten (split by hand): the new text, as it is
    assert ring.get(3) == texts[2] and list(ring._recent) == [8, 9, 10, 3]
    ring.discard(9)
    assert ring.get(9) is None
    assert ring.many(texts) == {s: (texts[2] if s == 3 else t) for s, t in texts.items() if s != 9}


@given(st.integers(min_value=-62_135_596_800, max_value=253_402_300_799))  # years 1 to 9999
def test_a_head_time_is_written_as_isoformat_writes_it(seconds: int) -> None:
    """A TIMED head is made again from its seconds (its date looked up by day): the same text as
    datetime.isoformat, whatever the day, so a text read back is the text kept."""
    expected = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat()
    assert lonetexts._time(seconds) == expected
    assert lonetexts._time(seconds) == expected  # the day cached
    assert lonetexts._seconds(expected) == seconds
