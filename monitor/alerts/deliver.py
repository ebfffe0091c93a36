"""Outbox → notifier. The alerts table is the single source of truth.

An alert row is written with its article (storage.save_update) and stays
``pending`` until a notifier has taken it; only then is it marked ``sent``.
So Telegram down, slow or rate-limiting never loses an alert, and a restart
re-sends at most the one alert that was in flight at the instant of a crash.
A send whose outcome is unknown (a timeout, a connection closed before the
answer: Telegram may have taken it) is retried once; if that too goes unanswered
the alert is marked "maybe_sent" and not sent again: at most one duplicate per
fault. Each chat gets its alerts in order: while its oldest pending alert waits
for a retry time, so do the chat's later ones.

What each answer does:

    sent            → status sent, message id recorded
    RetryLater(n)   → wait n seconds and send the same alert again (order kept);
                      a wait longer than MAX_WAIT defers the rest of this round
    Unavailable     → retry later with backoff; stop this round (Telegram is down)
    OutcomeUnknown  → the same, once; the second time: status maybe_sent, the next alert goes on
    Rejected        → HTML Telegram cannot parse is sent again as plain text;
                      anything else: status failed with the reason; the next alert goes on
    ChatGone        → the chat is disabled (monitor status shows it); its alerts wait,
                      kept, until it is enabled again; other chats go on
    ChatMoved       → the group became a supergroup: its waiting alerts are readdressed
                      and this one is sent again to the new id at once

Each row holds a channel-neutral message (an alert, a digest, a notice; a row from before
m013 holds Telegram HTML), rendered by the chat's notifier when sent (Notifier.render). A
digest may take several messages: each one sent is recorded (parts_sent), so a retry goes on
from the next and none is sent twice. A story update (kind "edit")
edits the message of its story's alert, which is always older and so always
sent first; if that alert was refused, so is the edit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.alerts.notify import Notifier
from monitor.alerts.render import to_plain_text
from monitor.archive.outbox import UNKNOWN_OUTCOME
from monitor.archive.store import Archive
from monitor.errors import ChatGone, ChatMoved, NotifyError, OutcomeUnknown, Rejected, RetryLater, Unavailable
from monitor.types import PendingAlert

log = logging.getLogger("monitor.deliver")

MAX_WAIT = 60.0  # longest flood-control wait honoured inside one round, seconds
MAX_TRIES_IN_ROUND = 5  # RetryLater answers for one alert before deferring it

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class DeliveryReport:
    sent: int = 0  # alerts delivered this round
    failed: int = 0  # alerts Telegram refused for good (kept, status failed)
    deferred: int = 0  # alerts left pending for a later round
    maybe_sent: int = 0  # alerts sent twice without an answer: not sent a third time
    errors: list[str] = field(default_factory=list)  # one line per problem


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … capped at 30 min."""
    return timedelta(seconds=min(30 * 2 ** max(attempts, 0), 1800))


async def deliver_pending(
    archive: Archive,
    notifiers: Mapping[str, Notifier],
    default: Notifier | None,
    clock: Callable[[], datetime],
    sleep: Sleep = asyncio.sleep,
    limit: int = 500,
    stopping: Callable[[], bool] = lambda: False,
) -> DeliveryReport:
    """Send pending alerts in order. `notifiers` maps special chat ids (e.g. "console")
    to their notifier; every other chat goes to `default` (Telegram), or waits if None.
    Once `stopping()` (a stop signal), no new send starts; the one in flight ends and is recorded."""
    report = DeliveryReport()
    skipped: set[str] = set()
    # A chat's alerts behind one that waits for its retry time wait too (pending_alerts): they
    # must not overtake it, nor be sent into a flood-control wait Telegram asked for.
    for alert in archive.pending_alerts(clock(), limit):
        if stopping():
            break
        notifier = notifiers.get(alert.chat_id, default)
        if notifier is None or alert.chat_id in skipped:
            report.deferred += 1
            continue
        outcome = await _deliver_one(archive, notifier, alert, clock, sleep, report, stopping)
        if outcome == "stop":
            break
        if outcome == "skip-chat":
            skipped.add(alert.chat_id)
    return report


async def _deliver_one(
    archive: Archive,
    notifier: Notifier,
    alert: PendingAlert,
    clock: Callable[[], datetime],
    sleep: Sleep,
    report: DeliveryReport,
    stopping: Callable[[], bool] = lambda: False,
) -> str:
    """Render the row for this notifier's channel and send its texts, from the first not sent
    yet (a digest may take several; each is recorded as it goes, so none goes twice)."""
    if alert.message is None:
        archive.mark_failed(alert.id, "the outbox row cannot be read", clock())
        report.failed += 1
        report.errors.append(f"alert {alert.id} to chat {alert.chat_id} cannot be read")
        return "next"
    texts = notifier.render(alert.message)
    message_id: str | None = None
    for part in range(alert.parts_sent, len(texts)):
        outcome = await _send_text(archive, notifier, alert, texts[part], clock, sleep, report, stopping)
        if not isinstance(outcome, Sent):
            return outcome
        message_id = outcome.message_id
        if part + 1 < len(texts):
            archive.mark_parts_sent(alert.id, part + 1)
    archive.mark_sent(alert.id, message_id, clock())
    report.sent += 1
    return "next"


@dataclass(frozen=True)
class Sent:
    message_id: str | None  # the channel's id of the message, when it has one


async def _send_text(
    archive: Archive,
    notifier: Notifier,
    alert: PendingAlert,
    text: str,
    clock: Callable[[], datetime],
    sleep: Sleep,
    report: DeliveryReport,
    stopping: Callable[[], bool] = lambda: False,
) -> Sent | str:
    """One text of an alert, with the retries of one round; Sent, or what to do next."""
    original, plain = text, False
    for _ in range(MAX_TRIES_IN_ROUND):
        if stopping():  # after a flood-control wait cut short by a stop: the alert stays pending
            report.deferred += 1
            return "stop"
        if alert.chat_id != (current := archive.current_chat_id(alert.chat_id)):
            alert = replace(alert, chat_id=current)
        try:
            return Sent(await _transmit(notifier, alert, text, plain))
        except RetryLater as exc:
            if exc.retry_after > MAX_WAIT:
                return _defer(
                    archive,
                    alert,
                    exc,
                    clock() + timedelta(seconds=exc.retry_after),
                    report,
                    "stop",
                )
            log.warning("event=flood_control chat=%s retry_after=%s", alert.chat_id, exc.retry_after)
            await sleep(exc.retry_after)
            continue
        except Rejected as exc:
            if not plain and "can't parse entities" in exc.message:
                # Better an alert without bold than no alert.
                log.warning("event=html_rejected alert=%s detail=%r", alert.id, exc.message)
                text, plain = to_plain_text(original), True
                continue
            archive.mark_failed(alert.id, exc.message, clock())
            report.failed += 1
            report.errors.append(f"alert {alert.id} to chat {alert.chat_id} rejected: {exc.message}")
            return "next"
        except ChatMoved as exc:
            moved = archive.move_chat(alert.chat_id, exc.new_chat_id, exc.message, clock())
            log.warning(
                "event=chat_migrated chat=%s new_chat=%s alerts_moved=%d hint=%r",
                alert.chat_id,
                exc.new_chat_id,
                moved,
                "update chat_id in monitor.toml and the rules",
            )
            continue
        except ChatGone as exc:
            archive.disable_chat(alert.chat_id, exc.message, clock())
            log.error("event=chat_disabled chat=%s reason=%r", alert.chat_id, exc.message)
            report.deferred += 1
            report.errors.append(f"chat {alert.chat_id} disabled: {exc.message}")
            return "skip-chat"
        except OutcomeUnknown as exc:
            if alert.unknown:  # the second send without an answer: a third copy is not risked
                archive.mark_maybe_sent(alert.id, UNKNOWN_OUTCOME + exc.message, clock())
                report.maybe_sent += 1
                report.errors.append(f"alert {alert.id} to chat {alert.chat_id} maybe sent: {exc.message}")
                return "next"
            return _defer(archive, alert, exc, clock() + backoff(alert.attempts), report, "stop")
        except Unavailable as exc:
            return _defer(archive, alert, exc, clock() + backoff(alert.attempts), report, "stop")
        except NotifyError as exc:
            return _defer(archive, alert, exc, clock() + backoff(alert.attempts), report, "stop")
    return _defer(archive, alert, RetryLater("still rate-limited", alert.chat_id), clock(), report, "stop")


async def _transmit(notifier: Notifier, alert: PendingAlert, text: str, plain: bool) -> str | None:
    """Send an alert, or, for a story update, edit the story's message (sent before it, in order)."""
    if alert.edit_of is None:
        return await notifier.send(alert.chat_id, text, plain=plain, silent=alert.silent)
    if alert.target_status != "sent":
        raise Rejected(
            f"the story's alert {alert.edit_of} was not delivered ({alert.target_status})", alert.chat_id
        )
    await notifier.edit(alert.chat_id, alert.target_message_id or "", text)
    return alert.target_message_id


def _defer(
    archive: Archive,
    alert: PendingAlert,
    exc: NotifyError,
    at: datetime,
    report: DeliveryReport,
    outcome: str,
) -> str:
    # Once its outcome was unknown, an alert stays so marked whatever later answers say.
    unknown = alert.unknown or isinstance(exc, OutcomeUnknown)
    archive.mark_retry(alert.id, (UNKNOWN_OUTCOME if unknown else "") + exc.message, at)
    report.deferred += 1
    report.errors.append(f"alert {alert.id} to chat {alert.chat_id} deferred: {exc.message}")
    return outcome
