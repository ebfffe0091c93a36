"""The story tables' compact rows (migrations m015 and m017, archive/storyrows.py): profiles as
text, copy signatures as BLOBs of 16-bit slots; an older archive's JSON rows are rewritten on
upgrade and read the same."""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from monitor.archive import storyrows
from monitor.archive.store import Archive, migrations
from monitor.stories import profile
from monitor.stories.fingerprint import ArticleFingerprint, copy_signature, fingerprint
from monitor.stories.lookup import FingerprintCache, ProfileCache, parse_fingerprint, stored_fingerprint
from monitor.stories.profile import Profile

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
DAM = ("Kelmira dam opens", "The Kelmira dam on the Zorvath river opened, said minister Adu Pell.")
BRIDGE = ("Kelmira dam inquiry", "An inquiry into the Kelmira dam begins; the Zorvath authority agreed.")


def _story(story: int, *reports: tuple[str, str, float]) -> Profile:
    made = Profile(story)
    for title, summary, hours in reports:
        made.add(profile.terms(title, summary), T0 + timedelta(hours=hours))
    return made


def _same(a: Profile, b: Profile) -> None:
    assert (a.story, a.first, a.last, a.reports) == (b.story, b.first, b.last, b.reports)
    assert a.counts == b.counts
    assert a.reported == b.reported


def test_a_profile_as_text_reads_back_as_its_json_does() -> None:
    story = _story(4, (*DAM, 0), (*BRIDGE, 5))
    assert any(n > 1 for n in story.reported.values())  # a term of both reports
    text = story.to_text()
    assert not text.startswith("{") and len(text.encode()) < len(story.to_json().encode())
    _same(Profile.parse(4, text), Profile.from_json(4, story.to_json()))
    _same(Profile.parse(4, story.to_json()), Profile.from_json(4, story.to_json()))  # JSON still read
    assert storyrows.profile_last(text) == storyrows.profile_last(story.to_json()) == story.last.isoformat()
    empty = Profile(5)
    assert Profile.parse(5, empty.to_text()) == empty and storyrows.profile_last(empty.to_text()) is None


def test_a_parsed_profile_has_the_squares_its_terms_sum_to() -> None:
    """Profile.parse sums squares() from a power per line of the text: the same float as summing
    the terms it read, in a story of several reports (a term of one of them counts ALONE) or one."""
    for story in (_story(4, (*DAM, 0), (*BRIDGE, 5)), _story(7, (*DAM, 0)), Profile(8)):
        parsed = Profile.parse(story.story, story.to_text())
        again = Profile(
            parsed.story, parsed.counts, parsed.reported, parsed.first, parsed.last, parsed.reports
        )
        assert parsed._squares is not None and again._squares is None
        assert parsed.squares() == again.squares()


def test_a_profile_this_process_wrote_is_the_one_its_text_gives() -> None:
    story = _story(6, (*DAM, 0), (*BRIDGE, 2))
    cache = ProfileCache()
    text = cache.written(story)
    _same(cache.get(6, text), Profile.parse(6, text))
    story.add(profile.terms("Later words", "Entirely other words."), T0)  # the writer's copy changes
    _same(cache.get(6, text), Profile.parse(6, text))  # what was written does not


def test_a_copy_signature_is_a_blob_and_reads_back_whole() -> None:
    signature = copy_signature(*DAM, T0)
    stored = stored_fingerprint(signature)
    assert isinstance(stored, bytes) and len(stored) == 8 + 2 * len(signature.signature)  # 16-bit slots
    assert parse_fingerprint(stored) == signature
    short = copy_signature("Dam", "", T0)  # fewer shingles than slots: empty slots (-1)
    assert -1 in short.signature and parse_fingerprint(stored_fingerprint(short)) == short
    whole = fingerprint(*DAM, T0)  # the evidence's whole fingerprint stays JSON
    assert stored_fingerprint(whole) == whole.to_json()
    assert parse_fingerprint(whole.to_json()) == whole
    cache = FingerprintCache()
    assert cache.written(signature) == stored


def wide_json(fp: ArticleFingerprint) -> str:
    """fp's JSON as a monitor before archive m017 wrote it (FINGERPRINT_VERSION 1, 32-bit slots):
    slots whose bits 16 to 31 are fp's 16-bit ones, as the slots that code computed were."""
    data = json.loads(fp.to_json())
    wide = [0xFFFFFFFF if v == -1 else (v << 16) | 0x9E36 for v in fp.signature]
    data["v"], data["s"] = 1, base64.b64encode(struct.pack(f"<{len(wide)}I", *wide)).decode()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def test_an_archive_from_before_m015_gets_compact_rows_that_read_the_same(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m015_compact_story_rows")
    stories = {
        1: _story(1, (*DAM, 0), (*BRIDGE, 5)),
        2: _story(2, ("Quintar pact signed", "Oslavia and Quintar signed a trade pact on 12 May.", 1)),
    }
    for story_id, made in stories.items():
        db.execute(
            "insert into story_profiles (story_id, last, data) values (?, ?, ?)",
            [story_id, made.last.isoformat() if made.last else None, made.to_json()],
        )
    alone, whole = copy_signature(*DAM, T0), fingerprint(*BRIDGE, T0 + timedelta(hours=5))
    db.execute(
        "insert into fingerprints (article_id, data) values (1, ?), (2, ?)",
        [wide_json(alone), wide_json(whole)],
    )
    db.conn.commit()
    before = {r[0]: r[1] for r in db.execute("select story_id, data from story_profiles")}
    db.close()

    archive = Archive.open(path)  # applies m015
    try:
        rows = dict(archive.db.execute("select story_id, data from story_profiles").fetchall())
        for story_id, made in stories.items():
            assert rows[story_id] == made.to_text()  # as this code writes it, byte for byte
            _same(Profile.parse(story_id, rows[story_id]), Profile.from_json(story_id, before[story_id]))
        lasts = dict(archive.db.execute("select story_id, last from story_profiles").fetchall())
        assert lasts == {s: m.last.isoformat() for s, m in stories.items() if m.last}
        stored = archive.fingerprints([1, 2])
        assert isinstance(stored[1], bytes) and parse_fingerprint(stored[1]) == alone
        assert parse_fingerprint(stored[2]) == whole and json.loads(stored[2])["t"]
        index = archive.story_index()  # grouping's look-ups read the new rows
        assert index.profiles([1, 2]) == rows
        assert parse_fingerprint(index.fingerprints([1])[1]) == alone
    finally:
        archive.close()
