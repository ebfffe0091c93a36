"""The outbox's messages as stored: JSON in alerts.payload (m013), one object per row.

    {"type": "alert", "title", "link", "outlet", "published", "snippet",
     "rules": [{"id", "name", "terms", "found"}], "also": [[outlet, link]], "also_more", "priority"}
    {"type": "digest", "heading", "since",
     "items": [{"title", "outlet", "link", "published", "topic", "more"}]}
    {"type": "notice", "feed", "error", "why"}

Times are stored as sqltime.iso (UTC, to the second). A row from before m013 has no payload
and its text column holds Telegram HTML: it reads back as RenderedText.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from monitor.archive.sqltime import from_iso, iso
from monitor.types import Alert, AlertRule, Digest, DigestItem, Message, Notice, RenderedText


def encode(message: Message) -> str:
    return json.dumps(_fields(message), ensure_ascii=False, separators=(",", ":"))


def decode(payload: str | None, text: str | None) -> Message | None:
    """The row's message; None when it cannot be read (a row edited by hand, say)."""
    if payload is None:
        return RenderedText(text) if text is not None else None
    try:
        found = json.loads(payload)
        return _READERS[found["type"]](found)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _fields(message: Message) -> dict[str, Any]:
    if isinstance(message, Alert):
        return {
            "type": "alert",
            "title": message.title,
            "link": message.link,
            "outlet": message.outlet,
            "published": _time(message.published),
            "snippet": message.snippet,
            "rules": [
                {"id": r.rule_id, "name": r.name, "terms": list(r.terms), "found": list(r.found)}
                for r in message.rules
            ],
            "also": [list(report) for report in message.also],
            "also_more": message.also_more,
            "priority": message.priority,
        }
    if isinstance(message, Digest):
        return {
            "type": "digest",
            "heading": message.heading,
            "since": _time(message.since),
            "items": [
                {
                    "title": i.title,
                    "outlet": i.outlet,
                    "link": i.link,
                    "published": _time(i.published),
                    "topic": i.topic,
                    "more": i.more,
                }
                for i in message.items
            ],
        }
    if isinstance(message, Notice):
        return {"type": "notice", "feed": message.feed, "error": message.error, "why": message.why}
    raise TypeError(f"not stored as a payload: {type(message).__name__}")  # RenderedText is read-only


def _alert(found: dict[str, Any]) -> Alert:
    return Alert(
        title=found["title"],
        link=found["link"],
        outlet=found["outlet"],
        published=from_iso(found["published"]),
        snippet=found["snippet"],
        rules=tuple(
            AlertRule(r["id"], r["name"], tuple(r["terms"]), tuple(r["found"])) for r in found["rules"]
        ),
        also=tuple((outlet, link) for outlet, link in found["also"]),
        also_more=found["also_more"],
        priority=found["priority"],
    )


def _digest(found: dict[str, Any]) -> Digest:
    items = tuple(
        DigestItem(i["title"], i["outlet"], i["link"], from_iso(i["published"]), i["topic"], i["more"])
        for i in found["items"]
    )
    return Digest(found["heading"], items, from_iso(found["since"]))


def _notice(found: dict[str, Any]) -> Notice:
    return Notice(found["feed"], found["error"], found["why"])


Reader = Callable[[dict[str, Any]], Message]
_READERS: dict[str, Reader] = {"alert": _alert, "digest": _digest, "notice": _notice}


def _time(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None
