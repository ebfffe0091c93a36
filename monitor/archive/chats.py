"""The archive's chat tables and the outbox queries that digests need.

    chats   one row per chat the bot has had trouble with or digested for:
            status active / disabled / moved, Telegram's reason, last scheduled digest
    mutes   (chat, rule) → until when the rule's alerts wait for the digest
    alerts  (columns added here) priority; hold: why a row waits ("held");
            digest_id: the digest a held alert went out in ("digested")

Part of storage (the only SQL in monitor); Archive wraps these in its transactions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlite_utils

from monitor.archive.sqltime import from_iso
from monitor.types import ArticleRef, ChatState, HeldAlert


def migrate(db: sqlite_utils.Database) -> None:
    db.table("alerts").add_column("priority", str, not_null_default="normal")
    db.table("alerts").add_column("hold", str)
    db.table("alerts").add_column("digest_id", int)
    db.table("alerts").create_index(["chat_id", "status", "created"])
    db.table("chats").create(
        {
            "id": str,
            "status": str,
            "reason": str,
            "changed": str,
            "moved_to": str,
            "last_digest": str,
        },
        pk="id",
    )
    db.table("mutes").create({"chat_id": str, "rule_id": str, "until": str}, pk=("chat_id", "rule_id"))


# --- chats -------------------------------------------------------------------


def chat_states(db: sqlite_utils.Database) -> list[ChatState]:
    return [
        ChatState(
            chat_id=r["id"],
            status=r["status"] or "active",
            reason=r["reason"],
            changed=from_iso(r["changed"]),
            moved_to=r["moved_to"],
            last_digest=from_iso(r["last_digest"]),
        )
        for r in db.table("chats").rows_where(order_by="id")
    ]


def set_chat(db: sqlite_utils.Database, chat_id: str, **values: str | None) -> None:
    db.table("chats").upsert({"id": chat_id, **values}, pk="id")  # type: ignore[arg-type]


def current_id(db: sqlite_utils.Database, chat_id: str) -> str:
    """Where a chat's alerts go now: follows group → supergroup migrations."""
    seen = {chat_id}
    while True:
        row = db.execute("select moved_to from chats where id = ? and status = 'moved'", [chat_id]).fetchone()
        if row is None or not row[0] or row[0] in seen:
            return chat_id
        chat_id = row[0]
        seen.add(chat_id)


def move_chat(db: sqlite_utils.Database, old: str, new: str, reason: str, now: str) -> int:
    """Record a migration and readdress what still waits for the old id; returns rows moved."""
    set_chat(db, old, status="moved", moved_to=new, reason=reason, changed=now)
    moved = db.execute(
        "update alerts set chat_id = ? where chat_id = ? and status in ('pending', 'held')", [new, old]
    ).rowcount
    db.execute(
        "update or replace mutes set chat_id = ? where chat_id = ?",
        [new, old],
    )
    return moved


# --- mutes -------------------------------------------------------------------


def muted_rules(db: sqlite_utils.Database, chat_id: str, now: str) -> dict[str, str]:
    """rule id → until (ISO) for the chat's mutes still running at `now`."""
    return dict(
        db.execute(
            "select rule_id, until from mutes where chat_id = ? and until > ?", [chat_id, now]
        ).fetchall()
    )


def ended_mutes(db: sqlite_utils.Database, now: str) -> list[tuple[str, str]]:
    """(chat, rule) of mutes that have run out; the caller deletes them once digested."""
    return db.execute("select chat_id, rule_id from mutes where until <= ?", [now]).fetchall()


# --- outbox queries for digests ----------------------------------------------

_ARTICLE_COLUMNS = "ar.id, ar.title, coalesce(ar.outlet, f.name, f.title), ar.link, ar.published, ar.story_id"


def held_alerts(
    db: sqlite_utils.Database, chat_id: str, holds: Sequence[str] | None = None
) -> list[HeldAlert]:
    where, args = ["al.status = 'held'", "al.chat_id = ?"], [chat_id]
    if holds is not None:
        where.append(f"al.hold in ({','.join('?' * len(holds))})")
        args.extend(holds)
    sql = (
        f"select al.id, al.chat_id, al.hold, al.priority, al.created, al.rules, {_ARTICLE_COLUMNS}"
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
            article=_article(r[6:], tuple(json.loads(r[5] or "[]"))),
        )
        for r in db.execute(sql, args).fetchall()
    ]


def held_chats(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """(chat, hold) pairs that have held alerts waiting."""
    return db.execute(
        "select distinct chat_id, hold from alerts where status = 'held' order by chat_id, hold"
    ).fetchall()


def matched_between(
    db: sqlite_utils.Database, rule_ids: Sequence[str], since: str, until: str
) -> list[ArticleRef]:
    """Articles first seen in (since, until] that any of the rules matched, oldest first."""
    if not rule_ids:
        return []
    marks = ",".join("?" * len(rule_ids))
    sql = (
        f"select {_ARTICLE_COLUMNS}, group_concat(m.rule_id, ',')"
        " from matches m join articles ar on ar.id = m.article_id left join feeds f on f.url = ar.feed"
        f" where m.rule_id in ({marks}) and ar.first_seen > ? and ar.first_seen <= ?"
        " group by ar.id order by ar.first_seen, ar.id"
    )
    rows = db.execute(sql, [*rule_ids, since, until]).fetchall()
    return [_article(r[:6], tuple(r[6].split(","))) for r in rows]


def match_counts(db: sqlite_utils.Database, since: str) -> dict[str, int]:
    """rule id → articles it matched that were first seen since then."""
    return dict(
        db.execute(
            "select m.rule_id, count(*) from matches m join articles ar on ar.id = m.article_id"
            " where ar.first_seen >= ? group by m.rule_id",
            [since],
        ).fetchall()
    )


def recent_alerts(db: sqlite_utils.Database, chat_id: str, since: str) -> int:
    """Alerts queued for this chat since then that go (or went) out one by one."""
    row = db.execute(
        "select count(*) from alerts where chat_id = ? and kind = 'send' and hold is null"
        " and status in ('pending', 'sent', 'failed') and created >= ?",
        [chat_id, since],
    ).fetchone()
    return int(row[0])


def edited_since(db: sqlite_utils.Database, alert_ids: Sequence[int], since: str) -> set[int]:
    """Alerts among these with an edit of their message queued at or after `since`."""
    ids = list(dict.fromkeys(alert_ids))
    if not ids:
        return set()
    marks = ", ".join("?" * len(ids))
    rows = db.execute(
        f"select distinct edit_of from alerts where kind = 'edit' and created >= ? and edit_of in ({marks})",
        [since, *ids],
    )
    return {r[0] for r in rows}


def queue_digest(
    db: sqlite_utils.Database,
    chat_id: str,
    parts: Sequence[str],
    folded: Sequence[int],
    silent: bool,
    now: str,
    kind: str = "digest",
) -> int | None:
    """Queue a digest's messages (or a notice: kind "notice") and mark the held alerts it
    carries; the first part's id."""
    first: int | None = None
    for text in parts:
        row_id = (
            db.table("alerts")
            .insert(
                {
                    "chat_id": chat_id,
                    "text": text,
                    "status": "pending",
                    "kind": kind,
                    "created": now,
                    "attempts": 0,
                    "silent": int(silent),
                    "rules": "[]",
                    "priority": "normal",
                }
            )
            .last_pk
        )
        first = first if first is not None else int(row_id)  # type: ignore[arg-type]
    for i in range(0, len(folded), 500):
        chunk = list(folded[i : i + 500])
        db.execute(
            f"update alerts set status = 'digested', digest_id = ? where status = 'held'"
            f" and id in ({','.join('?' * len(chunk))})",
            [first, *chunk],
        )
    return first


def _article(row: Sequence[object], rules: tuple[str, ...]) -> ArticleRef:
    return ArticleRef(
        article_id=int(row[0]),  # type: ignore[call-overload]
        title=str(row[1] or ""),
        outlet=row[2] if isinstance(row[2], str) else None,
        link=row[3] if isinstance(row[3], str) else None,
        published=from_iso(row[4] if isinstance(row[4], str) else None),
        story_id=row[5] if isinstance(row[5], int) else None,
        rules=rules,
    )
