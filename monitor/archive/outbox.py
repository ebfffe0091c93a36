"""The outbox: the alerts table, one row per message to send.

    alerts  kind "send" (an article's alert, one per chat), "edit" (a story's alert brought up
            to date), "digest" (a digest's message) or "notice" (for the operator);
            status pending → sent, or failed (refused for good), maybe_sent (sent twice
            without an answer: not sent a third time), held (waits for a digest:
            hold says why) → digested (digest_id: the digest it went out in), superseded (an
            edit replaced by a newer one); attempts / next_attempt / last_error for retries

Rows are written in the same transaction as what caused them (articles.py: save_update), and
a delivery job takes them (alerts.deliver). The functions take the connection and hold the
SQL; OutboxMixin (part of store.Archive) wraps them in the archive's error handling and
transactions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from monitor.archive.chats import current_id, set_chat
from monitor.archive.connection import ArchiveBase, reads, writes
from monitor.archive.payload import decode, encode
from monitor.archive.sqltime import from_iso, iso
from monitor.types import AlertIntent, ArticleRef, Digest, HeldAlert, Notice, PendingAlert, StoryEdit

if TYPE_CHECKING:
    import sqlite_utils


UNKNOWN_OUTCOME = "outcome unknown: "  # last_error of an alert whose send may have arrived
# What an ArticleRef is read from (articles ar, left join feeds f): see article_ref.
ARTICLE_COLUMNS = "ar.id, ar.title, coalesce(ar.outlet, f.name, f.title), ar.link, ar.published, ar.story_id"


def queue_alerts(
    db: sqlite_utils.Database, article_id: int, story_id: int, alerts: Sequence[AlertIntent], now: str
) -> None:
    """An article's alerts, one row per chat: pending, or held for a digest."""
    db.conn.executemany(
        "insert into alerts (article_id, chat_id, rules, payload, status, hold, priority, silent,"
        " kind, story_id, created, attempts) values (?, ?, ?, ?, ?, ?, ?, ?, 'send', ?, ?, 0)",
        [
            (
                article_id,
                current_id(db, a.chat_id),
                json.dumps(list(a.rule_ids)),
                encode(a.alert),
                "held" if a.hold else "pending",
                a.hold,
                a.priority,
                int(a.silent),
                story_id,
                now,
            )
            for a in alerts
        ],
    )


def recent_alerts(db: sqlite_utils.Database, chat_id: str, since: str) -> int:
    """Alerts queued for this chat since then that go (or went) out one by one."""
    row = db.execute(
        "select count(*) from alerts where chat_id = ? and kind = 'send' and hold is null"
        " and status in ('pending', 'sent', 'failed') and created >= ?",
        [chat_id, since],
    ).fetchone()
    return int(row[0])


def held_alerts(
    db: sqlite_utils.Database, chat_id: str, holds: Sequence[str] | None = None
) -> list[HeldAlert]:
    where, args = ["al.status = 'held'", "al.chat_id = ?"], [chat_id]
    if holds is not None:
        where.append(f"al.hold in ({','.join('?' * len(holds))})")
        args.extend(holds)
    sql = (
        f"select al.id, al.chat_id, al.hold, al.priority, al.created, al.rules, {ARTICLE_COLUMNS}"
        " from alerts al join articles ar on ar.id = al.article_id left join feeds f on f.url = ar.feed"
        f" where {' and '.join(where)} order by al.id"
    )
    return [
        HeldAlert(
            alert_id=r[0],
            chat_id=r[1],
            hold=r[2] or "burst",
            priority=r[3] or "normal",
            created=from_iso(r[4]) or datetime.min.replace(tzinfo=UTC),
            article=article_ref(r[6:], tuple(json.loads(r[5] or "[]"))),
        )
        for r in db.execute(sql, args).fetchall()
    ]


def article_ref(row: Sequence[object], rules: tuple[str, ...]) -> ArticleRef:
    """An ArticleRef from the ARTICLE_COLUMNS of a row."""
    return ArticleRef(
        article_id=int(row[0]),  # type: ignore[call-overload]
        title=str(row[1] or ""),
        outlet=row[2] if isinstance(row[2], str) else None,
        link=row[3] if isinstance(row[3], str) else None,
        published=from_iso(row[4] if isinstance(row[4], str) else None),
        story_id=row[5] if isinstance(row[5], int) else None,
        rules=rules,
    )


def matched_between(
    db: sqlite_utils.Database, rule_ids: Sequence[str], since: str, until: str
) -> list[ArticleRef]:
    """Articles first seen in (since, until] that any of the rules matched, oldest first."""
    if not rule_ids:
        return []
    marks = ",".join("?" * len(rule_ids))
    sql = (
        f"select {ARTICLE_COLUMNS}, group_concat(m.rule_id, ',')"
        " from matches m join articles ar on ar.id = m.article_id left join feeds f on f.url = ar.feed"
        f" where m.rule_id in ({marks}) and ar.first_seen > ? and ar.first_seen <= ?"
        " group by ar.id order by ar.first_seen, ar.id"
    )
    rows = db.execute(sql, [*rule_ids, since, until]).fetchall()
    return [article_ref(r[:6], tuple(r[6].split(","))) for r in rows]


def match_counts(db: sqlite_utils.Database, since: str) -> dict[str, int]:
    """rule id → articles it matched that were first seen since then."""
    return dict(
        db.execute(
            "select m.rule_id, count(*) from matches m join articles ar on ar.id = m.article_id"
            " where ar.first_seen >= ? group by m.rule_id",
            [since],
        ).fetchall()
    )


def held_chats(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """(chat, hold) pairs that have held alerts waiting."""
    return db.execute(
        "select distinct chat_id, hold from alerts where status = 'held' order by chat_id, hold"
    ).fetchall()


def queue_digest(
    db: sqlite_utils.Database,
    chat_id: str,
    message: Digest | Notice | None,
    folded: Sequence[int],
    silent: bool,
    now: str,
    kind: str = "digest",
) -> int | None:
    """Queue a digest (or a notice: kind "notice") and mark the held alerts it carries; its id."""
    first: int | None = None
    if message is not None:
        row = {
            "chat_id": chat_id,
            "payload": encode(message),
            "status": "pending",
            "kind": kind,
            "created": now,
            "attempts": 0,
            "silent": int(silent),
            "rules": "[]",
            "priority": "normal",
        }
        first = int(db.table("alerts").insert(row).last_pk)  # type: ignore[arg-type]
    for i in range(0, len(folded), 500):
        chunk = list(folded[i : i + 500])
        db.execute(
            f"update alerts set status = 'digested', digest_id = ? where status = 'held'"
            f" and id in ({','.join('?' * len(chunk))})",
            [first, *chunk],
        )
    return first


def queue_edit(db: sqlite_utils.Database, edit: StoryEdit, now: str) -> None:
    """Bring a story's alert up to date: rewrite it while it waits, or queue an edit once sent."""
    target = db.execute(
        "select status, kind, chat_id, story_id from alerts where id = ?", [edit.alert_id]
    ).fetchone()
    if target is None or target[1] != "send":
        return
    if target[0] in ("pending", "held"):
        db.execute(
            "update alerts set payload = ?, text = null where id = ?", [encode(edit.alert), edit.alert_id]
        )
        return
    if target[0] != "sent":
        return  # Telegram refused the alert itself: nothing to edit
    # Only the newest text matters: an older edit still waiting is replaced, not sent.
    db.execute(
        "update alerts set status = 'superseded' where edit_of = ? and status = 'pending'", [edit.alert_id]
    )
    db.table("alerts").insert(
        {
            "chat_id": target[2],
            "payload": encode(edit.alert),
            "status": "pending",
            "kind": "edit",
            "edit_of": edit.alert_id,
            "story_id": target[3],
            "created": now,
            "attempts": 0,
            "silent": 1,
            "rules": "[]",
        }
    )


class OutboxMixin(ArchiveBase):
    @reads("read the outbox")
    def pending_alerts(self, now: datetime, limit: int = 100) -> list[PendingAlert]:
        """Alerts due at `now`, oldest first, but none behind an older one of its chat that is
        not due yet (a chat's alerts go in order) and none to a disabled chat."""
        rows = self.db.execute(
            "select a.id, a.chat_id, a.payload, a.text, a.attempts, a.silent, a.edit_of, t.status,"
            " t.message_id, a.kind, a.parts_sent, a.last_error like ? from alerts a"
            " left join alerts t on t.id = a.edit_of"
            " where a.status = 'pending'"
            " and (a.next_attempt is null or a.next_attempt <= ?)"
            " and a.chat_id not in (select id from chats where status = 'disabled')"
            # in order per chat: none overtakes an older one of its chat that waits to retry
            " and not exists (select 1 from alerts w where w.status = 'pending'"
            " and w.next_attempt > ? and w.chat_id = a.chat_id and w.id < a.id)"
            " order by a.id limit ?",
            [UNKNOWN_OUTCOME + "%", iso(now), iso(now), limit],
        ).fetchall()
        return [
            PendingAlert(
                id=r[0],
                chat_id=r[1],
                message=decode(r[2], r[3]),
                attempts=r[4],
                silent=bool(r[5]),
                edit_of=r[6],
                target_status=r[7],
                target_message_id=r[8],
                kind=r[9] or "send",
                parts_sent=r[10] or 0,
                unknown=bool(r[11]),
            )
            for r in rows
        ]

    @writes("record a sent alert")
    def mark_sent(self, alert_id: int, message_id: str | None, now: datetime) -> None:
        self.db.table("alerts").update(
            alert_id,
            {"status": "sent", "sent_at": iso(now), "message_id": message_id, "last_error": None},
        )

    @writes("record a sent message")
    def mark_parts_sent(self, alert_id: int, parts: int) -> None:
        """The first `parts` messages of a row that takes several (a digest) are sent: a retry
        goes on from the next one, so none is sent twice."""
        self.db.execute("update alerts set parts_sent = ? where id = ?", [parts, alert_id])

    @writes("record a failed alert")
    def mark_failed(self, alert_id: int, error: str, now: datetime) -> None:
        """Telegram refused this alert for good; keep it, with the reason."""
        self.db.execute(
            "update alerts set status = 'failed', last_error = ?, attempts = attempts + 1,"
            " sent_at = null where id = ?",
            [error, alert_id],
        )

    @writes("record an alert maybe sent")
    def mark_maybe_sent(self, alert_id: int, error: str, now: datetime) -> None:
        """Sent twice without an answer: Telegram may have it; not sent again (a third copy)."""
        self.db.execute(
            "update alerts set status = 'maybe_sent', last_error = ?, attempts = attempts + 1,"
            " sent_at = ? where id = ?",
            [error, iso(now), alert_id],
        )

    @reads("read the outbox")
    def edited_since(self, alert_ids: Sequence[int], since: datetime) -> set[int]:
        """The alerts among these whose message an edit was queued for since then."""
        ids = list(dict.fromkeys(alert_ids))
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        rows = self.db.execute(
            "select distinct edit_of from alerts where kind = 'edit' and created >= ?"
            f" and edit_of in ({marks})",
            [iso(since), *ids],
        )
        return {r[0] for r in rows}

    @writes("record an alert retry")
    def mark_retry(self, alert_id: int, error: str, at: datetime) -> None:
        self.db.execute(
            "update alerts set last_error = ?, attempts = attempts + 1, next_attempt = ? where id = ?",
            [error, iso(at), alert_id],
        )

    @reads("read the outbox")
    def outbox_by_chat(self) -> dict[str, dict[str, int]]:
        """chat → status → alerts, for status reports."""
        found: dict[str, dict[str, int]] = {}
        for chat, status, count in self.conn.execute(
            "select chat_id, status, count(*) from alerts group by chat_id, status"
        ):
            found.setdefault(chat, {})[status] = count
        return found

    @reads("read the outbox")
    def outbox_counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.conn.execute("select status, count(*) from alerts group by status")}

    @reads("read the outbox")
    def recent_alerts(self, chat_id: str, since: datetime) -> int:
        return recent_alerts(self.db, chat_id, iso(since))

    @reads("read held alerts")
    def held_alerts(self, chat_id: str, holds: Sequence[str] | None = None) -> list[HeldAlert]:
        return held_alerts(self.db, chat_id, holds)

    @reads("read held alerts")
    def held_chats(self) -> list[tuple[str, str]]:
        return held_chats(self.db)

    @reads("read matches")
    def matched_between(self, rule_ids: Sequence[str], since: datetime, until: datetime) -> list[ArticleRef]:
        return matched_between(self.db, rule_ids, iso(since), iso(until))

    @reads("read matches")
    def match_counts(self, since: datetime) -> dict[str, int]:
        return match_counts(self.db, iso(since))

    @writes("queue a digest")
    def queue_digest(
        self,
        chat_id: str,
        digest: Digest | None,
        folded: Sequence[int],
        now: datetime,
        *,
        silent: bool = False,
        scheduled: bool = False,
    ) -> int | None:
        """Queue a digest (None: nothing to send) and mark the held alerts it carries, in one
        transaction; a scheduled one is remembered as the chat's last digest."""
        first = queue_digest(self.db, chat_id, digest, folded, silent, iso(now))
        if scheduled:
            set_chat(self.db, chat_id, last_digest=iso(now))
        return first

    @writes("queue a notice")
    def queue_notice(self, chat_id: str, notice: Notice, now: datetime) -> None:
        """A message for the operator (a feed suspended), sent through the outbox like an alert."""
        queue_digest(self.db, chat_id, notice, [], False, iso(now), kind="notice")
