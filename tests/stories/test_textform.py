"""stories.textform: a profile text's line heads read through a bounded cache, the same values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.stories import profile, textform
from monitor.stories.fingerprint import ArticleFingerprint
from monitor.stories.lookup import parse_fingerprint, signature_of, stored_fingerprint


@pytest.mark.parametrize(
    ("value", "read"),
    [("1.0/1", (1.0, 1)), ("2.386/1", (2.386, 1)), ("3.792/2", (3.792, 2)), ("0.5/12", (0.5, 12))],
    ids=["one", "rounded", "two-reports", "many-reports"],
)
def test_a_head_reads_as_float_and_int_of_its_parts(value: str, read: tuple[float, int]) -> None:
    assert textform.head(value) == read
    assert textform.HEADS.get(value, read) == read  # kept, or the cache was full


def test_a_full_cache_keeps_no_more_heads_and_still_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textform, "HEADS", {f"{i}.0/1": (float(i), 1) for i in range(textform.HEADS_KEPT)})
    assert textform.head("7.125/3") == (7.125, 3)
    assert "7.125/3" not in textform.HEADS and len(textform.HEADS) == textform.HEADS_KEPT


def test_a_profile_parsed_through_the_cache_is_the_profile_parsed_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    story = profile.Profile(3)
    story.add({"dam": 2.0, "flood": 1.0, "rain": 3.0}, datetime(2026, 3, 1, tzinfo=UTC))
    story.add({"dam": 1.0, "levee": 1.5}, datetime(2026, 3, 2, tzinfo=UTC))
    text = story.to_text()
    first = profile.Profile.parse(3, text)  # the heads kept
    monkeypatch.setattr(textform, "HEADS", {})
    monkeypatch.setattr(profile, "HEADS", textform.HEADS)
    again = profile.Profile.parse(3, text)  # read anew
    assert (first.counts, first.reported, first.squares()) == (again.counts, again.reported, again.squares())
    assert list(first.counts) == list(again.counts) and first.to_text() == text


@pytest.mark.parametrize(
    "signature", [(0, 2, 65534, 40), (-1, 6, 8), ()], ids=["slots", "an-empty-slot", "no-slots"]
)
def test_a_signature_blob_is_what_the_archive_stores_and_reads_back(signature: tuple[int, ...]) -> None:
    """The BLOB a parser worker makes (textform.signature_blob) is stored_fingerprint's of the
    signature alone, and parse_fingerprint reads the same signature and time back."""
    when = datetime(2026, 3, 7, 9, 15, 30, 123456, tzinfo=UTC)
    fp = ArticleFingerprint(when, signature, ())
    blob = textform.signature_blob(when, signature)
    assert blob == stored_fingerprint(fp) == signature_of(fp)
    assert len(blob) == 8 + 2 * len(signature)
    assert parse_fingerprint(blob) == fp
