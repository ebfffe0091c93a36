"""The archive's chat tables: per-chat state and mutes.

    chats   one row per chat the bot has had trouble with or digested for:
            status active / disabled / moved, Telegram's reason, last scheduled digest
    mutes   (chat, rule) → until when the rule's alerts wait for the digest

The functions take the connection and hold the SQL; ChatsMixin (part of store.Archive) wraps
them in the archive's error handling and transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.archive.connection import ArchiveBase, reads, writes
from monitor.archive.sqltime import from_iso, iso
from monitor.types import ChatState

if TYPE_CHECKING:
    import sqlite3

    import sqlite_utils


# --- chats -------------------------------------------------------------------


def chat_states(conn: sqlite3.Connection) -> list[ChatState]:
    return [
        ChatState(
            chat_id=chat_id,
            status=status or "active",
            reason=reason,
            changed=from_iso(changed),
            moved_to=moved_to,
            last_digest=from_iso(last_digest),
        )
        for chat_id, status, reason, changed, moved_to, last_digest in conn.execute(
            "select id, status, reason, changed, moved_to, last_digest from chats order by id"
        )
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


def muted_rules(conn: sqlite3.Connection, chat_id: str, now: str) -> dict[str, str]:
    """rule id → until (ISO) for the chat's mutes still running at `now`."""
    return dict(
        conn.execute(
            "select rule_id, until from mutes where chat_id = ? and until > ?", [chat_id, now]
        ).fetchall()
    )


def ended_mutes(db: sqlite_utils.Database, now: str) -> list[tuple[str, str]]:
    """(chat, rule) of mutes that have run out; the caller deletes them once digested."""
    return db.execute("select chat_id, rule_id from mutes where until <= ?", [now]).fetchall()


class ChatsMixin(ArchiveBase):
    @reads("read chats")
    def chat_states(self) -> list[ChatState]:
        return chat_states(self.conn)

    @writes("disable a chat")
    def disable_chat(self, chat_id: str, reason: str, now: datetime) -> None:
        """The bot cannot post there: its alerts wait (they are kept) until it is enabled."""
        set_chat(self.db, chat_id, status="disabled", reason=reason, changed=iso(now))

    @writes("enable a chat")
    def enable_chat(self, chat_id: str, now: datetime) -> bool:
        """Send to a disabled chat again; False when it was not disabled."""
        states = {s.chat_id: s for s in chat_states(self.conn)}
        if chat_id not in states or states[chat_id].status != "disabled":
            return False
        set_chat(self.db, chat_id, status="active", reason=None, changed=iso(now))
        return True

    @writes("record a chat migration")
    def move_chat(self, old: str, new: str, reason: str, now: datetime) -> int:
        """A group became a supergroup: its waiting alerts (and later ones) go to the new id."""
        return move_chat(self.db, old, new, reason, iso(now))

    @reads("read chats")
    def current_chat_id(self, chat_id: str) -> str:
        return current_id(self.db, chat_id)

    @writes("mute a rule")
    def mute(self, chat_id: str, rule_id: str, until: datetime) -> None:
        self.db.table("mutes").upsert(
            {"chat_id": chat_id, "rule_id": rule_id, "until": iso(until)}, pk=("chat_id", "rule_id")
        )

    @writes("unmute a rule")
    def unmute(self, chat_id: str, rule_id: str, now: datetime) -> bool:
        """End a mute now (it is digested with the next flush); False when none was running."""
        return bool(
            self.db.execute(
                "update mutes set until = ? where chat_id = ? and rule_id = ? and until > ?",
                [iso(now), chat_id, rule_id, iso(now)],
            ).rowcount
        )

    def muted_rules(self, chat_id: str, now: datetime) -> dict[str, datetime]:
        found = self._muted_rules(chat_id, now)
        return {rule: from_iso(until) or now for rule, until in found.items()}

    @reads("read mutes")
    def _muted_rules(self, chat_id: str, now: datetime) -> dict[str, str]:
        return muted_rules(self.conn, chat_id, iso(now))

    @reads("read mutes")
    def ended_mutes(self, now: datetime) -> list[tuple[str, str]]:
        return ended_mutes(self.db, iso(now))

    @writes("clear mutes")
    def forget_mutes(self, mutes: Sequence[tuple[str, str]]) -> None:
        for chat_id, rule_id in mutes:
            self.db.execute("delete from mutes where chat_id = ? and rule_id = ?", [chat_id, rule_id])
