"""Replies to chat commands: argument text plus archive data in, one Telegram HTML message out.

bot.py checks who may ask and calls these; each returns a single message that is
valid Telegram HTML (only <b>, <i>, <a href>, <code>; every piece of feed or
archive text cut with alerts.text.cut, then escaped with html.escape(quote=True))
and at most MAX_MESSAGE UTF-16 units as sent. Lists are cut between items,
ending in "… and N more". Pure apart from the Archive passed in: the time is `now`.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.alerts.routing import chats_for
from monitor.alerts.text import MAX_MESSAGE, fits, is_web_url, units
from monitor.archive.store import Archive
from monitor.chat.pieces import (
    ago,
    escaped,
    fit_lines,
    host_of,
    minus,
    parse_span,
    short_date,
    span_text,
    until_text,
)
from monitor.ingest.schedule import is_stale
from monitor.rules.matcher import RuleSet
from monitor.types import ChatState, Config, FeedStatus, Rule, SearchHit

__all__ = [
    "COMMANDS",
    "ServiceInfo",
    "help_text",
    "mute_text",
    "refusal_text",
    "rules_text",
    "search_text",
    "status_text",
    "unmute_text",
]

COMMANDS: tuple[tuple[str, str], ...] = (
    ("status", "Feeds, last pass and pending alerts"),
    ("search", "Search the archive: /search QUERY [since:7d]"),
    ("rules", "Rules, today's matches and mutes here"),
    ("mute", "Hold a rule's alerts here: /mute RULE 8h"),
    ("unmute", "Send a muted rule's alerts again"),
    ("digest", "Held alerts and the last day's matches, now"),
    ("story", "A story's reports and why: /story ID"),
    ("split", "Take a report out of its story"),
    ("help", "What each command does"),
)


@dataclass(frozen=True)
class ServiceInfo:
    """What the running service knows that the archive does not."""

    last_pass: datetime | None  # end of the last completed pass
    passes: int  # passes since start
    started: datetime  # when monitor run started
    backfilled: int = 0  # old items of new feeds archived without an alert since the start


SEARCH_USAGE = "/search QUERY [since:7d] [rule:ID]"
MUTE_USAGE = "/mute RULE [8h]"
UNMUTE_USAGE = "/unmute RULE"
DEFAULT_MUTE = timedelta(hours=8)
MAX_MUTE = timedelta(days=30)
COUNT_CAP = 1000  # search hits counted for the total; more shows as "1000+"
FAILING_SHOWN = 10  # failing feeds listed by /status
STALE_PASS = timedelta(minutes=10)  # /status warns when the last pass ended longer ago (a tick is 10 s)

# Budgets in UTF-16 units of escaped text (see alerts.text.cut).
NAME_BUDGET = 80  # a rule, feed or outlet name
ID_BUDGET = 64  # a rule or chat id
TITLE_BUDGET = 200  # an article title in a list
HREF_BUDGET = 600  # a longer link leaves the title unlinked: cutting it would point elsewhere
ERROR_BUDGET = 160  # a feed's error message
REASON_BUDGET = 160  # why a chat is disabled
QUERY_BUDGET = 200  # the search query echoed back
RULE_IDS_BUDGET = 120  # the rule ids after a search hit

_PRIORITY_MARK = {"high": "🔴", "normal": "🔵", "low": "⚪"}
_TOKEN = re.compile(r'"[^"]*"?|\S+')  # a quoted phrase (maybe unclosed) or a word
_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "″": '"'})


# --- /help and refusals ---------------------------------------------------------


def help_text(rules: RuleSet) -> str:
    example = rules.rules[0].id if rules.rules else "critical-minerals"
    lines = [
        "<b>News monitor</b>",
        "/status — feeds, last pass, alerts waiting",
        "/search QUERY [since:7d] [rule:ID] — the archive, newest first. "
        'Words, "exact phrase", OR, NOT, prefix*; since: takes 30m, 12h, 7d, 2w',
        "/rules — every rule with its matches in the last 24 h and its mute in this chat",
        f"/mute RULE [8h] — hold a rule's alerts in this chat ({span_text(DEFAULT_MUTE)} unless given, "
        f"at most {span_text(MAX_MUTE)}); its matches are still archived and come in the next digest",
        "/unmute RULE — send its alerts again (/unmute all ends every mute here)",
        "/digest — everything held for this chat plus recent matches, now",
        "/story ID — a story's reports: when each joined and why",
        "/split ARTICLE_ID — take a report out of its story into its own, with its alert",
        "/help — this list",
        "",
        f"RULE is a rule id as /rules shows it, e.g. <code>{escaped(example, ID_BUDGET)}</code>.",
    ]
    return "\n".join(lines)


def refusal_text(user_id: int | None, chat_id: int | str) -> str:
    """For someone not on the allow-list: their ids and what the operator must do; no archive data."""
    chat = f"<code>{escaped(str(chat_id), ID_BUDGET)}</code>"
    if user_id is None:
        return (
            "Sorry, this bot only answers the people its operator allowed.\n"
            f"Telegram did not say who sent this (an anonymous admin or a channel?). Chat id: {chat}.\n"
            "Send the command from your own account to see your user id."
        )
    user = f"<code>{escaped(str(user_id), ID_BUDGET)}</code>"
    return (
        "Sorry, this bot only answers the people its operator allowed.\n"
        f"Your user id: {user}\nThis chat: {chat}\n"
        f"To let you in, the operator adds {user} to <code>allowed_users</code> in the "
        "<code>[telegram]</code> section of the config file and restarts the monitor."
    )


# --- /status ------------------------------------------------------------------


def status_text(archive: Archive, config: Config, info: ServiceInfo, now: datetime) -> str:
    statuses = archive.feed_statuses(now, is_stale)
    counts = archive.outbox_counts()
    suspended = [s for s in statuses if s.status == "suspended"]
    failing = [s for s in statuses if s.last_error]  # suspended ones too: they say why
    unchecked = sum(1 for s in statuses if not s.last_error and s.last_checked is None)
    stale = sum(1 for s in statuses if s.stale)
    ok = len(statuses) - len(failing) - unchecked

    head = ["<b>Monitor status</b>", _pass_line(info, now)]
    feeds = f"Feeds: {ok} ok, {len(failing)} failing"
    if suspended:
        feeds += f" ({len(suspended)} suspended)"
    if stale:
        feeds += f", {stale} quiet for longer than usual"
    if unchecked:
        feeds += f", {unchecked} not checked yet"
    if churning := sum(1 for s in statuses if s.churning):
        feeds += f", {churning} churning (every item new each check)"
    head.append(f"{feeds} · {sum(s.articles for s in statuses):,} articles archived")
    if info.backfilled:
        head.append(f"New feeds' back catalogue: {info.backfilled:,} old matches archived without an alert")
    head.append(
        f"Alerts: {counts.get('pending', 0)} pending, {counts.get('held', 0)} held for digests, "
        f"{counts.get('failed', 0)} failed"
    )

    failing.sort(key=lambda s: (-s.error_count, s.url))
    feed_lines = [_failing_feed(s, now) for s in failing[:FAILING_SHOWN]]
    by_chat = archive.outbox_by_chat()
    disabled = [c for c in archive.chat_states() if c.status == "disabled"]
    chat_lines = [_disabled_chat(c, by_chat.get(c.chat_id, {}), now) for c in disabled]

    lines = list(head)
    if failing:
        lines += ["", "<b>Failing feeds</b>"]
        room = MAX_MESSAGE - units("\n".join(lines)) - 1
        lines += fit_lines(feed_lines, (room - 200) // 2 if disabled else room, total=len(failing))
    if disabled:
        lines += ["", "<b>Disabled chats</b> (their alerts wait until the bot can post there)"]
        lines += fit_lines(chat_lines, MAX_MESSAGE - units("\n".join(lines)) - 1)
    return "\n".join(lines)


def _pass_line(info: ServiceInfo, now: datetime) -> str:
    passes = f"{info.passes} pass{'es' if info.passes != 1 else ''} since the start {ago(info.started, now)}"
    if info.last_pass is None:
        return f"Last pass: none finished yet (started {ago(info.started, now)})"
    late = "⚠️ " if now - info.last_pass > STALE_PASS else ""
    return f"{late}Last pass: {ago(info.last_pass, now)} ({passes})"


def _failing_feed(status: FeedStatus, now: datetime) -> str:
    name = status.name or host_of(status.url) or status.url
    error = escaped(status.last_error or "", ERROR_BUDGET)
    if status.last_success is not None:
        since = f"last ok {ago(status.last_success, now)}"
    else:
        since = "never ok"
    fails = f"{status.error_count} failure{'s' if status.error_count != 1 else ''} in a row"
    if status.status == "suspended":
        fails = "SUSPENDED: " + escaped(status.suspended_reason or "", ERROR_BUDGET)
    return f"• <b>{escaped(name, NAME_BUDGET)}</b>: {error}\n   {fails}, {since}"


def _disabled_chat(state: ChatState, outbox: Mapping[str, int], now: datetime) -> str:
    line = f"• <code>{escaped(state.chat_id, ID_BUDGET)}</code>"
    if state.changed is not None:
        line += f" since {short_date(state.changed, now)}"
    line += f": {escaped(state.reason or 'no reason recorded', REASON_BUDGET)}"
    waiting = outbox.get("pending", 0) + outbox.get("held", 0)
    return line + (f" · {waiting} alert{'s' if waiting != 1 else ''} waiting" if waiting else "")


# --- /search ------------------------------------------------------------------


def search_text(
    archive: Archive, args: str, now: datetime, *, limit: int = 10, rules: RuleSet | None = None
) -> str:
    """Search results for '/search QUERY [since:7d] [rule:ID]'.

    Rule ids are checked against `rules` when given, else against the ids the archive has
    matches for."""
    parsed = _parse_search(args)
    if isinstance(parsed, str):
        return parsed
    query, since_text, rule = parsed
    since = None
    if since_text is not None:
        age = parse_span(since_text)
        if age is None:
            return (
                f"Can't read <code>since:{escaped(since_text, ID_BUDGET)}</code>: "
                "use e.g. since:30m, since:12h, since:7d or since:2w."
            )
        since = minus(now, age)
    if rule is not None:
        if rules is not None:
            known = [r.id for r in rules.rules]
            if rule not in known:
                return _unknown_rule(rule, known, list_all=True)
        else:  # without the rules, the ids the archive has matches for
            known = sorted(archive.match_counts(_EPOCH))
            if rule not in known:
                return _unknown_rule(rule, known, list_all=True, what="No archived article matched rule")

    hits = archive.search(query, since=since, rule=rule, limit=COUNT_CAP + 1)
    capped = len(hits) > COUNT_CAP
    total = min(len(hits), COUNT_CAP)
    filters = []
    if since_text is not None:
        filters.append(f"in the last {html.escape(since_text)}")
    if rule is not None:
        filters.append(f"matched by <code>{escaped(rule, ID_BUDGET)}</code>")
    about = f"<i>{escaped(query, QUERY_BUDGET)}</i>" + (f" ({', '.join(filters)})" if filters else "")
    if not hits:
        return f"No articles match {about}."
    noun = "article" if total == 1 else "articles"
    head = f"<b>{total:,}{'+' if capped else ''} {noun}</b> match {about}, newest first:"
    lines = [_hit_line(hit, now) for hit in hits[: max(limit, 0)]]
    body = fit_lines(lines, MAX_MESSAGE - units(head) - 1, total=total, plus=capped)
    return "\n".join([head, *body])


def _parse_search(args: str) -> tuple[str, str | None, str | None] | str:
    """(FTS query, since text, rule id), or the reply when the arguments are unusable."""
    tokens = _TOKEN.findall(args.translate(_SMART_QUOTES))
    words: list[str] = []
    since: str | None = None
    rule: str | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        key, colon, value = token.partition(":")
        if colon and key.lower() in ("since", "rule") and not token.startswith('"'):
            if not value and i + 1 < len(tokens):  # "since: 7d"
                i += 1
                value = tokens[i]
            if not value:
                return f"<code>{key.lower()}:</code> needs a value.\nUsage: {html.escape(SEARCH_USAGE)}"
            if key.lower() == "since":
                since = value.lower()
            else:
                rule = value.lower()
        else:
            words.append(token)
        i += 1
    query = " ".join(words).strip()
    if not query.strip('"').strip():
        return (
            f"Usage: {html.escape(SEARCH_USAGE)}\n"
            'e.g. <code>/search "rare earths" since:7d</code> (words, "exact phrase", OR, NOT, prefix*)'
        )
    return query, since, rule


def _hit_line(hit: SearchHit, now: datetime) -> str:
    title = escaped(hit.title, TITLE_BUDGET) or "(untitled)"
    link = (hit.link or "").strip()
    if is_web_url(link) and fits(link, HREF_BUDGET):
        title = f'<a href="{html.escape(link)}">{title}</a>'
    meta = [escaped(hit.outlet or host_of(hit.feed or "") or "?", NAME_BUDGET)]
    if hit.published is not None:
        meta.append(short_date(hit.published, now))
    if hit.rules:
        meta.append(f"[{escaped(', '.join(hit.rules), RULE_IDS_BUDGET)}]")
    return f"• {title} — {' · '.join(meta)}"


# --- /rules -------------------------------------------------------------------


def rules_text(archive: Archive, rules: RuleSet, config: Config, chat_id: str, now: datetime) -> str:
    if not rules.rules:
        return "<b>Rules</b>\nNo rules are loaded."
    counts = archive.match_counts(now - timedelta(hours=24))
    muted = archive.muted_rules(chat_id, now)
    here = _rules_sending_to(archive, rules, config, chat_id)
    lines = []
    for rule in rules.rules:
        mark = _PRIORITY_MARK.get(rule.priority, _PRIORITY_MARK["normal"])
        line = f"{mark} <b>{escaped(rule.name, NAME_BUDGET)}</b> <code>{escaped(rule.id, ID_BUDGET)}</code>"
        line += f" · {counts.get(rule.id, 0)}"
        if rule.id in muted:
            line += f" · 🔇 muted until {until_text(muted[rule.id], now)}"
        if here and rule.id not in here:
            line += " · other chats"
        lines.append(line)
    head = f"<b>Rules</b> ({len(rules.rules)}) · matches in the last 24 h"
    tail = ["", "🔴 high · 🔵 normal · ⚪ low priority", "/mute RULE 8h holds a rule's alerts in this chat"]
    if not here:
        tail.insert(1, "<i>No rule sends alerts to this chat.</i>")
    room = MAX_MESSAGE - units("\n".join([head, *tail])) - 1
    return "\n".join([head, *fit_lines(lines, room), *tail])


def _rules_sending_to(archive: Archive, rules: RuleSet, config: Config, chat_id: str) -> set[str]:
    where: dict[str, str] = {}  # configured chat → where its alerts go now (after migrations)
    found = set()
    for rule in rules.rules:
        for chat in chats_for(rule, config):
            if chat not in where:
                where[chat] = archive.current_chat_id(chat)
            if chat_id in (chat, where[chat]):
                found.add(rule.id)
    return found


# --- /mute and /unmute ----------------------------------------------------------


def mute_text(archive: Archive, rules: RuleSet, chat_id: str, args: str, now: datetime) -> str:
    tokens = args.split()
    usage = f"Usage: <code>{html.escape(MUTE_USAGE)}</code>, e.g. /mute RULE 8h or 2d (rule ids: /rules)"
    if not tokens or len(tokens) > 2:
        return usage
    if len(tokens) == 2 and rules.get(tokens[0].lower()) is None and rules.get(tokens[1].lower()):
        tokens.reverse()  # "/mute 8h quad"
    rule = _find_rule(rules, tokens[0])
    if isinstance(rule, str):
        return rule
    span = DEFAULT_MUTE
    if len(tokens) == 2:
        seconds = parse_span(tokens[1].lower())
        if seconds is None:
            return f"Can't read <code>{escaped(tokens[1], ID_BUDGET)}</code> as a duration.\n{usage}"
        if seconds > MAX_MUTE.total_seconds():
            example = f"/mute {escaped(rule.id, ID_BUDGET)} {span_text(MAX_MUTE)}"
            return f"A mute lasts at most {span_text(MAX_MUTE)}: e.g. <code>{example}</code>"
        span = timedelta(seconds=seconds)
    before = archive.muted_rules(chat_id, now).get(rule.id)
    until = now + span
    archive.mute(chat_id, rule.id, until)
    was = f" (it was muted until {until_text(before, now)})" if before is not None else ""
    return (
        f"🔇 <b>{escaped(rule.name, NAME_BUDGET)}</b> <code>{escaped(rule.id, ID_BUDGET)}</code> is muted "
        f"in this chat until {until_text(until, now)}{was}.\n"
        "Its matches are still archived and are held for the next digest (/digest sends it now). "
        f"/unmute {escaped(rule.id, ID_BUDGET)} ends the mute."
    )


def unmute_text(archive: Archive, rules: RuleSet, chat_id: str, args: str, now: datetime) -> str:
    tokens = args.split()
    if len(tokens) != 1:
        return f"Usage: <code>{html.escape(UNMUTE_USAGE)}</code> or /unmute all (rule ids: /rules)"
    if tokens[0].lower() == "all" and rules.get("all") is None:
        return _unmute_all(archive, chat_id, now)
    rule = _find_rule(rules, tokens[0])
    if isinstance(rule, str):
        return rule
    label = f"<b>{escaped(rule.name, NAME_BUDGET)}</b> <code>{escaped(rule.id, ID_BUDGET)}</code>"
    if not archive.unmute(chat_id, rule.id, now):
        return f"{label} was not muted in this chat."
    return f"🔔 {label} alerts this chat again. What it matched while muted comes in the next digest."


def _unmute_all(archive: Archive, chat_id: str, now: datetime) -> str:
    muted = archive.muted_rules(chat_id, now)
    ended = [rule_id for rule_id in muted if archive.unmute(chat_id, rule_id, now)]
    if not ended:
        return "No rule was muted in this chat."
    names = [f"<code>{escaped(rule_id, ID_BUDGET)}</code>" for rule_id in sorted(ended)]
    head = f"🔔 Unmuted {len(ended)} rule{'s' if len(ended) != 1 else ''} in this chat:"
    tail = "What they matched while muted comes in the next digest."
    return "\n".join([head, *fit_lines(names, MAX_MESSAGE - units(head + tail) - 2), tail])


def _find_rule(rules: RuleSet, text: str) -> Rule | str:
    """The rule named by an id (any case), or the reply naming close matches."""
    wanted = text.lower()
    rule = rules.get(wanted)
    if rule is not None:
        return rule
    by_name = [r for r in rules.rules if r.name.casefold() == text.casefold()]
    if len(by_name) == 1:
        return by_name[0]
    return _unknown_rule(wanted, [r.id for r in rules.rules], list_all=False)


def _unknown_rule(wanted: str, known: Sequence[str], *, list_all: bool, what: str = "No rule") -> str:
    """One line: the id not found, the close ones (difflib), and every id when list_all (cut)."""
    line = f"{what} <code>{escaped(wanted, ID_BUDGET)}</code>."
    if not known:
        return line + " No rules are loaded." if what == "No rule" else line
    close = difflib.get_close_matches(wanted, known, n=5, cutoff=0.5)
    if close:
        line += " Did you mean " + ", ".join(f"<code>{escaped(c, ID_BUDGET)}</code>" for c in close) + "?"
    if not list_all:
        return line + " /rules lists the rule ids."
    line += " Rule ids: "
    ids = [f"<code>{escaped(rule_id, ID_BUDGET)}</code>" for rule_id in known]
    return line + ", ".join(fit_lines(ids, MAX_MESSAGE - units(line) - 4, sep=2))


# --- small pieces ---------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
