"""Every feed's state as `monitor status`, `feeds list`, /status and /metrics show it: one
FeedStatus per feed, in two queries, plus one for each feed whose staleness needs its history
(part of FeedsMixin).

Whether a feed is stale is the caller's judgement (`stale`, ingest.schedule.is_stale: the
archive may not import ingest), made from the feed's last new article and recent times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, overload

from monitor.archive.sqltime import from_iso
from monitor.types import FeedStatus

if TYPE_CHECKING:
    import sqlite3

# (last new article, recent publication times, now) -> quiet for much longer than usual
StaleTest = Callable[[datetime | None, Sequence[datetime], datetime], bool]
CHURN_PASSES = 3  # passes in a row with every item new that make a feed "churning"
HISTORY = 50  # recent publication times kept in view for adaptive intervals and staleness


_STATUS_COLUMNS = (
    "url, name, title, last_checked, last_success, last_error, error_count, status, suspended_reason,"
    " next_check, last_new, origin, churn, warning, folder"
)


def statuses(
    conn: sqlite3.Connection, now: datetime, stale: StaleTest, *, include_removed: bool = False
) -> list[FeedStatus]:
    """Every feed (configured first, then imported; by URL), with its schedule and health;
    `stale` (ingest.schedule.is_stale) judges from its recent publication times.

    Two queries whatever the number of feeds, the feeds and the article counts; a feed's
    last HISTORY publication times are read only if `stale` asks for them (_Times): reading
    them for each of 2,000 feeds was most of `monitor status`, and a feed that found new
    articles lately is not stale whatever they say."""
    where = "" if include_removed else " where status != 'removed'"
    rows = conn.execute(
        f"select {_STATUS_COLUMNS} from feeds{where} order by origin != 'config', added, url"
    ).fetchall()
    counts = dict(conn.execute("select feed, count(*) from articles group by feed").fetchall())
    found = []
    for (
        url,
        name,
        title,
        last_checked,
        last_success,
        last_error,
        error_count,
        status,
        suspended_reason,
        next_check,
        last_new,
        origin,
        churn,
        warning,
        folder,
    ) in rows:
        new = from_iso(last_new)
        found.append(
            FeedStatus(
                url=url,
                name=name or title,
                last_checked=from_iso(last_checked),
                last_success=from_iso(last_success),
                last_error=last_error,
                error_count=error_count or 0,
                articles=counts.get(url, 0),
                status=status or "active",
                suspended_reason=suspended_reason,
                next_check=from_iso(next_check),
                last_new=new,
                stale=status == "active" and stale(new, _Times(conn, url), now),
                origin=origin or "config",
                churning=(churn or 0) >= CHURN_PASSES,
                warning=warning,
                folder=folder,
            )
        )
    return found


class _Times(Sequence[datetime]):
    """A feed's last HISTORY publication times, newest first, read from the archive when first
    asked for (one indexed query): a stale test that can tell from last_new alone reads none."""

    def __init__(self, conn: sqlite3.Connection, url: str) -> None:
        self._conn = conn
        self._url = url
        self._times: list[datetime] | None = None

    def _parsed(self) -> list[datetime]:
        if self._times is None:
            rows = self._conn.execute(
                "select published from articles where feed = ? and published > ''"
                " order by published desc limit ?",
                [self._url, HISTORY],
            )
            self._times = [t for (value,) in rows if (t := from_iso(value)) is not None]
        return self._times

    @overload
    def __getitem__(self, index: int) -> datetime: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[datetime]: ...

    def __getitem__(self, index: int | slice) -> datetime | Sequence[datetime]:
        return self._parsed()[index]

    def __len__(self) -> int:
        return len(self._parsed())

    def __iter__(self) -> Iterator[datetime]:
        return iter(self._parsed())
