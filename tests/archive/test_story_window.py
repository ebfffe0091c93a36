"""The writer's memory finds a report's candidates in the window its times make (issue 17):
MemoryIndex.candidates makes the window's bounds from the report's time, not from the ISO text
sqltime.iso writes and compact.time_key reads back; both must give the same seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.archive import compact, storyindex
from monitor.archive.sqltime import iso

TIMES = [
    datetime(2026, 12, 5, 4, 45, tzinfo=UTC),
    datetime(2026, 12, 5, 4, 45, 59, 999_999, tzinfo=UTC),  # the fraction dropped, not rounded
    datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, 7, 500_000, tzinfo=timezone(timedelta(hours=-7, minutes=-30))),
    datetime(1969, 12, 31, 23, 59, 59, 250_000, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", TIMES, ids=[t.isoformat() for t in TIMES])
def test_a_windows_seconds_are_those_of_its_iso_text(moment: datetime) -> None:
    for shift in (timedelta(0), -timedelta(hours=72), timedelta(hours=72.5)):
        assert storyindex._since_year_one(moment + shift) == compact.time_key(iso(moment + shift))


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 (hypothesis bounds are naive)
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=9))]
        ),
    )
)
def test_iso_writes_what_strftime_wrote(moment: datetime) -> None:
    """sqltime.iso takes isoformat's text from year 1000 on: the archive's times are as before."""
    assert iso(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
