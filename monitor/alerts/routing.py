"""Which chats an alert goes to, and when: now, or folded into a digest.

Queue time, for each feed update (Router.route, before storage.save_update):

    rule.chat_id (ids or [[chats]] names) → chats; the default chat gets the rest
    chats.hold_for(muted, low priority, quiet hours, burst)  → AlertIntent.hold
    a held alert is stored with status "held" and its reason; the others "pending"

Flush time, from the service's delivery job (flush_held), and on schedule (queue_digest):

    held "quiet"   → one digest when the chat's quiet hours are over
    held "burst"   → one silent digest at the next flush after the pass that queued them
    held "high"    → one "High priority" digest (with sound) at that same flush
    held "muted"   → in the chat's next scheduled digest; without a schedule, when the mute ends
    held "low"     → in the chat's next scheduled digest (config requires one)
    /digest        → everything held, plus the period's matches, now

A digest is queued in the outbox (one row, channel-neutral: types.Digest; its notifier
renders it at send time, in as many messages as its channel needs) in the same transaction
that marks its held alerts "digested", so a crash never loses or repeats one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.alerts import policy as chats
from monitor.alerts.compose import compose_alert
from monitor.archive.store import Archive
from monitor.errors import ConfigError, RuleError
from monitor.rules.matcher import RuleSet
from monitor.types import (
    AlertIntent,
    ArticleRef,
    Config,
    Digest,
    DigestItem,
    EntryData,
    HeldAlert,
    Rule,
    RuleMatch,
)

log = logging.getLogger("monitor.routing")

CONSOLE = "console"  # the chat id of alerts printed to the console
PRIORITY_ORDER = {"low": 0, "normal": 1, "high": 2}
ON_DEMAND_PERIOD = timedelta(days=1)  # what /digest covers for a chat without a schedule
HEADINGS = {
    "quiet": "Held during quiet hours",
    "burst": "More matches",
    "high": "High priority",
    "muted": "While muted",
    "low": "Low-priority matches",
}


def chats_for(rule: Rule | None, config: Config) -> tuple[str, ...]:
    """The chats a rule sends to: its own (ids or [[chats]] names), else the default chat."""
    if not config.telegram.token:
        return (CONSOLE,)
    names = {c.name: c.id for c in config.chats if c.name}
    wanted = tuple(names.get(ref, ref) for ref in (rule.chats if rule else ()))
    return wanted or ((config.telegram.chat_id,) if config.telegram.chat_id else (CONSOLE,))


def check_routing(rules: RuleSet, config: Config) -> None:
    """Every rule's chat_id is a chat id or a [[chats]] name, and digests name known rules."""
    names = {c.name for c in config.chats if c.name}
    for rule in rules.rules:
        for ref in rule.chats:
            if ref not in names and not _looks_like_chat_id(ref):
                raise RuleError(
                    f"chat_id {ref!r} is neither a chat id nor the name of a [[chats]] table",
                    rule.path,
                    rule.id,
                    line=rule.line,
                )
    for chat in config.chats:
        for rule_id in chat.digest.rules if chat.digest else ():
            if rules.get(rule_id) is None:
                raise ConfigError(
                    f"[[chats]] {chat.id}: digest_rules names unknown rule {rule_id!r}", config.path
                )


def _looks_like_chat_id(ref: str) -> bool:
    return ref.startswith("@") or ref.lstrip("-").isdigit()


def top_priority(priorities: Sequence[str]) -> str:
    return max(priorities, key=lambda p: PRIORITY_ORDER.get(p, 1), default="normal")


def alerts_for(
    config: Config,
    rules: RuleSet,
    entry: EntryData,
    outlet: str | None,
    matches: Sequence[RuleMatch],
    also: Sequence[tuple[str | None, str | None]] = (),
) -> list[AlertIntent]:
    """One alert per chat, listing every rule that sent the article there (`also`: the other
    reports of its story, (outlet, link) each)."""
    names = {r.id: r.name for r in rules.rules}
    by_chat: dict[str, list[RuleMatch]] = {}
    for match in matches:
        for chat in chats_for(rules.get(match.rule_id), config):
            by_chat.setdefault(chat, []).append(match)
    alerts = []
    for chat, ms in by_chat.items():
        priority = top_priority([(r.priority if (r := rules.get(m.rule_id)) else "normal") for m in ms])
        alerts.append(
            AlertIntent(
                chat_id=chat,
                rule_ids=tuple(m.rule_id for m in ms),
                alert=compose_alert(entry, outlet, ms, names, also, priority),
                silent=chats.is_silent(config.chat(chat), priority),
                priority=priority,
            )
        )
    return alerts


@dataclass
class Router:
    """Decides, for the alerts of one feed update, which go out now and which wait."""

    archive: Archive
    config: Config
    now: datetime
    _recent: dict[str, int] = field(default_factory=dict)
    _muted: dict[str, set[str]] = field(default_factory=dict)
    _ids: dict[str, str] = field(default_factory=dict)

    def route(self, alert: AlertIntent) -> AlertIntent:
        if alert.chat_id == CONSOLE:
            return alert
        chat = self.config.chat(alert.chat_id)  # settings by the configured id
        alert = replace(alert, chat_id=self._current(alert.chat_id))  # a migrated group's new id
        muted = self._muted_rules(alert.chat_id)
        hold = chats.hold_for(
            chat,
            alert.priority,
            self.now,
            muted=bool(alert.rule_ids) and all(r in muted for r in alert.rule_ids),
            recent=self._recent_count(alert.chat_id),
        )
        if hold is None:
            self._recent[alert.chat_id] += 1
        return replace(alert, hold=hold)

    def _current(self, chat_id: str) -> str:
        if chat_id not in self._ids:
            self._ids[chat_id] = self.archive.current_chat_id(chat_id)
        return self._ids[chat_id]

    def _recent_count(self, chat_id: str) -> int:
        if chat_id not in self._recent:
            window = timedelta(seconds=self.config.chat(chat_id).burst_window)
            self._recent[chat_id] = self.archive.recent_alerts(chat_id, self.now - window)
        return self._recent[chat_id]

    def _muted_rules(self, chat_id: str) -> set[str]:
        if chat_id not in self._muted:
            self._muted[chat_id] = set(self.archive.muted_rules(chat_id, self.now))
        return self._muted[chat_id]


# --- flushing held alerts into digests ----------------------------------------


def flush_held(
    archive: Archive, config: Config, rules: RuleSet, now: datetime, *, bursts: bool = True
) -> int:
    """Queue the digests that are due now (see the module docstring); returns digests queued."""
    queued = 0
    # A chat's "High priority" digest is queued, and so sent, before its "More matches".
    for chat_id, hold in sorted(archive.held_chats(), key=lambda held: (held[0], held[1] != "high")):
        chat = config.chat(chat_id)
        if hold == "quiet" and not chats.is_quiet(chat, now):
            queued += _digest_held(archive, rules, chat_id, archive.held_alerts(chat_id, ["quiet"]), now)
        elif hold in ("burst", "high") and bursts:
            held = archive.held_alerts(chat_id, [hold])
            queued += _digest_held(archive, rules, chat_id, held, now, silent=hold == "burst")
        elif hold == "muted" and chat.digest is None:
            running = archive.muted_rules(chat_id, now)
            ended = [
                h for h in archive.held_alerts(chat_id, ["muted"]) if not set(h.article.rules) & set(running)
            ]
            queued += _digest_held(archive, rules, chat_id, ended, now)
    archive.forget_mutes(archive.ended_mutes(now))
    return queued


def _digest_held(
    archive: Archive,
    rules: RuleSet,
    chat_id: str,
    held: Sequence[HeldAlert],
    now: datetime,
    *,
    silent: bool = False,
) -> int:
    if not held:
        return 0
    heading = HEADINGS.get(held[0].hold, "Digest")
    digest = Digest(heading, tuple(digest_items([h.article for h in held], rules)))
    archive.queue_digest(chat_id, digest, [h.alert_id for h in held], now, silent=silent)
    log.info(
        "event=digest_queued chat=%s reason=%s alerts=%d items=%d",
        chat_id,
        held[0].hold,
        len(held),
        len(digest.items),
    )
    return 1


def queue_digest(
    archive: Archive, config: Config, rules: RuleSet, chat_id: str, now: datetime, *, scheduled: bool
) -> int:
    """Queue the chat's digest: its rules' matches over the period, plus everything it holds
    (saying so when there is nothing new); returns digests queued (1).

    Scheduled digests cover the time since the last one (at most a day or a week);
    /digest covers the same, or the last day for a chat without a schedule."""
    chat = config.chat(chat_id)
    last = next((s.last_digest for s in archive.chat_states() if s.chat_id == chat_id), None)
    if chat.digest is not None:
        since = chats.digest_period(chat, last, now)
        wanted = chat.digest.rules or _rules_sending_to(chat_id, rules, config)
        heading = "Weekly digest" if chat.digest.every == "weekly" else "Daily digest"
    else:
        since = now - ON_DEMAND_PERIOD
        wanted = _rules_sending_to(chat_id, rules, config)
        heading = "Digest"
    held = archive.held_alerts(chat_id)
    seen = {h.article.article_id for h in held}
    matched = [a for a in archive.matched_between(wanted, since, now) if a.article_id not in seen]
    refs = [*matched, *(h.article for h in held)]
    digest = Digest(heading, tuple(digest_items(refs, rules)), since=since)
    archive.queue_digest(chat_id, digest, [h.alert_id for h in held], now, scheduled=scheduled)
    log.info(
        "event=digest_queued chat=%s reason=%s articles=%d reports=%d",
        chat_id,
        "scheduled" if scheduled else "asked",
        len(digest.items),  # one per story: what the digest's "N articles" counts
        len(refs),
    )
    return 1


def _rules_sending_to(chat_id: str, rules: RuleSet, config: Config) -> list[str]:
    """The rules that alert this chat; every rule for a chat they do not (a private chat)."""
    return [r.id for r in rules.rules if chat_id in chats_for(r, config)] or [r.id for r in rules.rules]


def digest_items(refs: Sequence[ArticleRef], rules: RuleSet) -> list[DigestItem]:
    """One line per story (its first report), under the first of its rules in rule-file order."""
    order = {r.id: i for i, r in enumerate(rules.rules)}
    names = {r.id: r.name for r in rules.rules}
    by_story: dict[object, list[ArticleRef]] = {}
    for ref in refs:
        key = ("story", ref.story_id) if ref.story_id is not None else ("article", ref.article_id)
        by_story.setdefault(key, []).append(ref)
    items = []
    for reports in by_story.values():
        first = reports[0]
        topic_rule = min(first.rules, key=lambda r: order.get(r, len(order)), default="")
        items.append(
            DigestItem(
                title=first.title,
                outlet=first.outlet,
                link=first.link,
                published=first.published,
                topic=names.get(topic_rule, topic_rule or "Other"),
                more=len({r.outlet for r in reports[1:]} - {first.outlet}),
            )
        )
    topic_rank = {names.get(r.id, r.id): i for i, r in enumerate(rules.rules)}
    items.sort(key=lambda item: topic_rank.get(item.topic, len(topic_rank)))  # stable: keeps time order
    return items
