"""The records that pass between pipeline stages.

Named by direction, as in lemon24/reader: ``...Config`` from the config file, ``FeedForUpdate``
from storage to fetch, ``FetchedFeed`` from fetch to parse, ``EntryData`` from parse onwards,
``RuleMatch`` from rules, ``PendingAlert`` from storage to delivery. Frozen dataclasses; datetimes
are UTC-aware."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path

# --- configuration -----------------------------------------------------------


@dataclass(frozen=True)
class FeedConfig:
    url: str  # the address as the operator wrote it
    name: str | None = None  # display name; the feed's own title when None
    interval: float | None = None  # seconds between checks; the default when None


@dataclass(frozen=True)
class TelegramConfig:
    token: str | None = None  # bot token; never logged, never stored
    chat_id: str | None = None  # default chat for alerts (numeric id or @channel)
    api_url: str | None = None  # python-telegram-bot base_url, for a self-hosted Bot API
    allowed_users: tuple[int, ...] = ()  # Telegram user ids whose chat commands are answered
    admin_chat: str | None = None  # told once when a feed is suspended; None = nobody

    @property
    def enabled(self) -> bool:
        return bool(self.token and self.chat_id)


@dataclass(frozen=True)
class QuietHours:
    start: time  # local wall-clock time the quiet period begins
    end: time  # ... and ends; end <= start spans midnight ("22:00-07:00")
    allow_high: bool = True  # alerts of priority "high" still go out at once


@dataclass(frozen=True)
class DigestSchedule:
    every: str  # "daily" or "weekly"
    at: time  # local time of day it is sent
    day: int = 0  # for "weekly": weekday, 0 = Monday
    rules: tuple[str, ...] = ()  # rule ids it covers; () = every rule that sends to the chat


@dataclass(frozen=True)
class ChatConfig:
    id: str  # Telegram chat id (numeric, as a string) or @channel
    name: str | None = None  # a name rules may use in chat_id instead of the number
    timezone: str = "UTC"  # IANA zone for quiet hours and digest times
    low: str = "silent"  # priority "low": "silent" (no sound) or "digest" (only in the digest)
    burst: int = 5  # alerts sent one by one within burst_window; the rest go out as a digest
    burst_window: float = 600.0  # seconds
    quiet: QuietHours | None = None  # hold alerts in these hours, then send them as a digest
    digest: DigestSchedule | None = None  # a scheduled digest of matches


@dataclass(frozen=True)
class ScheduleSettings:
    interval: float = 900.0  # default seconds between checks of a feed
    min_interval: float = 60.0  # no feed is checked more often than this, whatever it says
    max_interval: float = 86400.0  # nor less often (a failing feed's backoff is capped here too)
    jitter: float = 0.1  # each delay is moved by up to this fraction, at random, to spread load
    adaptive: bool = False  # derive each feed's interval from its own posting rate
    suspend_after: int | None = None  # consecutive failures that suspend a feed; None = a day's worth


@dataclass(frozen=True)
class ServiceSettings:
    listen: str | None = None  # "127.0.0.1:9108": serve /healthz and /metrics there
    feed_metrics: bool | None = None  # per-feed /metrics series; None: only up to FEED_METRICS_MAX feeds


@dataclass(frozen=True)
class AlertSettings:
    backfill: float | None = 86400.0  # first fetch: items older (s) archived unalerted; 0 none old, None all


@dataclass(frozen=True)
class FetchSettings:
    concurrency: int = 20  # requests in flight at once, all hosts
    per_host: int = 2  # requests in flight at once to one host
    connect_timeout: float = 10.0  # seconds to open a connection
    read_timeout: float = 20.0  # seconds of silence before giving up
    deadline: float = 30.0  # seconds for a whole fetch, however the server drips
    max_bytes: int = 10 * 1024 * 1024  # cap on the decoded body
    max_redirects: int = 10  # hops before a redirect chain is an error
    user_agent: str = ""  # filled in by fetch when empty
    workers: int | None = None  # processes that parse and analyse bodies; None: every core but one
    block_private_redirects: bool = True  # refuse redirects from public to private addresses
    allow_private: tuple[str, ...] = ()  # hosts and networks such a redirect may reach anyway
    max_items: int = 1_000  # items read per feed per pass, the newest; the rest are reported
    analysis_budget: float = 10.0  # seconds a feed's parse and analysis may take; then it is skipped


@dataclass(frozen=True)
class StorySettings:
    window_hours: float = 72.0  # join only articles published this close to one of the story's
    near_duplicate: float = 0.4  # shingle Jaccard from which two texts are one report (always join)
    min_similarity: float = 0.12  # closeness (stories.profile.place) from which a report joins a story
    quiet_hours: float = 22.0  # a story takes no report this long after its last one
    min_points: float = 2.0  # evidence points from which differently-worded reports are one event
    key_terms: int = 5  # specific terms per article whose pairs are index keys
    single_terms: int = 3  # ... of which the first few are index keys on their own too
    bands: int = 16  # LSH bands over the MinHash signature, one index key each
    rows: int = 2  # signature slots per band


@dataclass(frozen=True)
class Config:
    path: Path  # the config file itself; relative paths resolve against its folder
    storage_path: Path  # the SQLite archive
    rule_paths: tuple[Path, ...]  # rule files or folders of rule files
    interval: float  # default seconds between checks of a feed
    telegram: TelegramConfig  # where alerts go; console when not enabled
    feeds: tuple[FeedConfig, ...]  # the feeds to watch
    fetch: FetchSettings = field(default_factory=FetchSettings)  # fetch limits
    stories: StorySettings = field(default_factory=StorySettings)  # grouping reports into stories
    chats: tuple[ChatConfig, ...] = ()  # per-chat delivery settings ([[chats]])
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)  # when feeds are checked
    service: ServiceSettings = field(default_factory=ServiceSettings)  # monitor run's HTTP endpoints
    alerts: AlertSettings = field(default_factory=AlertSettings)  # what a new feed's first fetch alerts

    def chat(self, chat_id: str) -> ChatConfig:
        """The settings of a chat: its [[chats]] entry, else the defaults."""
        return next((c for c in self.chats if c.id == chat_id), None) or ChatConfig(chat_id)


# --- fetch -------------------------------------------------------------------


@dataclass(frozen=True)
class FeedForUpdate:
    url: str  # the address to request (a permanent redirect may have changed it)
    etag: str | None = None  # from the last 200, sent as If-None-Match
    last_modified: str | None = None  # from the last 200, sent as If-Modified-Since
    name: str | None = None  # configured display name
    key: str | None = None  # the configured URL, the feed's key in the archive (url when None)
    body_hash: str | None = None  # FetchedFeed.body_hash of the last full answer
    new: bool = False  # never fetched successfully: its back catalogue is archived, not alerted
    churn: int = 0  # passes in a row on which every item the feed carried was new
    guarded: bool = False  # imported (OPML): no private address from the first request on


@dataclass(frozen=True)
class FetchedFeed:
    url: str  # the address that was requested (the feed's key)
    final_url: str  # where the body came from, after redirects
    status: int  # 200, or 304 when unchanged
    body: bytes | None  # decoded body; None on 304
    headers: Mapping[str, str]  # response headers, lower-case names
    permanent_url: str | None = None  # new address when every redirect was permanent
    etag: str | None = None  # to send next time
    last_modified: str | None = None  # to send next time
    body_hash: str | None = None  # digest of the body, to tell next time whether it changed
    unchanged: bool = False  # a 200 whose body is byte for byte the one of the last check

    @property
    def not_modified(self) -> bool:
        """304, or a 200 with the same body again (a server without validators): nothing to parse."""
        return self.status == 304 or self.unchanged


# --- parse -------------------------------------------------------------------


@dataclass(frozen=True)
class RelatedLink:
    title: str  # the linked report's headline, plain text
    url: str  # as listed (a Google News redirect address)
    outlet: str | None  # who published it, when the list says


@dataclass(frozen=True)
class EntryData:
    feed_url: str  # the feed this entry came from
    title: str  # plain text: HTML reduced to its text, plain text as written
    summary: str  # plain text; the item's own text only (not a related-coverage list)
    link: str | None  # as published, absolute (may be a redirect address, e.g. Google News)
    guid: str | None  # <guid> / <id>, when present and unique to the entry in its feed
    published: datetime | None  # UTC; None when the feed gives no plausible date
    outlet: str | None = None  # who published it: <source> / dc:publisher, else the feed's outlet
    related: tuple[RelatedLink, ...] = ()  # other reports the item lists (Google News coverage)


@dataclass(frozen=True)
class FeedData:
    url: str  # the feed's key
    title: str | None  # the feed's own title
    entries: tuple[EntryData, ...]  # in feed order
    warning: str | None = None  # a recoverable problem feedparser reported
    ttl: float | None = None  # RSS <ttl>: seconds the publisher asks readers to wait between checks
    outlet: str | None = None  # a short outlet name from its title, else its host (outlet.py)
    skipped: int = 0  # older items beyond [fetch] max_items, not read this pass


# --- rules -------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: str  # unique, kebab-case
    name: str  # human name shown in alerts
    query: str  # the boolean keyword query as written
    chats: tuple[str, ...] = ()  # chat ids or [[chats]] names; () = the default chat
    path: Path | None = None  # the rule file it came from
    line: int | None = None  # line of its [[rule]] table in that file
    priority: str = "normal"  # "high" (alert with sound), "normal", "low" (silent)
    must_match: tuple[str, ...] = ()  # examples (text, or a path to a text file) it must match
    must_not_match: tuple[str, ...] = ()  # examples it must not match


@dataclass(frozen=True)
class RuleMatch:
    rule_id: str  # the rule that fired
    terms: tuple[str, ...]  # the query terms that were found, as written in the rule
    found: tuple[str, ...] = ()  # the words as they appear in the article, for highlighting


# --- archive and alerts ------------------------------------------------------


@dataclass(frozen=True)
class NewArticle:
    entry: EntryData  # what the feed said
    url: str | None  # canonical URL (the dedupe key), None without a link
    keys: tuple[str, ...]  # every identity key; any one seen before means a duplicate
    first_seen: datetime  # when monitor first saw it
    matches: tuple[RuleMatch, ...]  # rules that fired
    story: int | None = None  # story it joins: an archived story's id; < 0 a story new in this save
    fingerprint: str | bytes | None = None  # stories.ArticleFingerprint as stored (stories.lookup)
    story_keys: tuple[str, ...] = ()  # index keys under which later reports will find it
    joined: StoryJoin | None = None  # how it was placed: its story's new profile, rarity counts


@dataclass(frozen=True)
class StoryJoin:
    """How grouping placed an article (stories.profile): what the archive keeps of it."""

    language: str  # the rarity counts it adds to (profile.rarity_key: "latin/stems", "cjk/stems", ...)
    terms: tuple[str, ...]  # its distinct terms: each one's document frequency goes up by one
    profile: str  # its story's profile with it (stories.profile.Profile.to_text)
    score: float  # how close it was to the story (cosine; 1 + Jaccard for a copy; 0 for a new story)
    reason: str  # for humans: the strongest shared terms, "copy 0.82", "new story"
    text: str = ""  # the profile as text (for the writer's memory) when `profile` is a short form


# --- what the outbox holds: channel-neutral messages, rendered by each notifier at send time ---


@dataclass(frozen=True)
class AlertRule:
    rule_id: str  # a rule that sent the alert
    name: str  # its human name (Rule.name) when the alert was composed
    terms: tuple[str, ...]  # the query terms it found, as written in the rule
    found: tuple[str, ...] = ()  # the words as they appear in the article, for highlighting


@dataclass(frozen=True)
class Alert:
    """One article's alert (alerts.compose): what every channel shows, in no channel's format."""

    title: str  # plain text, whitespace collapsed; cut (ending in "…") when very long
    link: str | None  # as published (a very long one is cut, and no renderer makes it a link)
    outlet: str | None  # publisher, or the feed's name
    published: datetime | None  # UTC
    snippet: str  # the summary's opening, plain text, cut at a word (ending in "…" when cut)
    rules: tuple[AlertRule, ...]  # the rules behind it, each with its matched terms
    also: tuple[tuple[str | None, str | None], ...] = ()  # (outlet, link) of the story's other reports
    also_more: int = 0  # further reports not listed in `also`
    priority: str = "normal"  # "high", "normal" or "low": the highest of its rules'


@dataclass(frozen=True)
class DigestItem:
    title: str  # plain text from a feed (hostile: may be huge, contain <, &, control chars)
    outlet: str | None  # publisher
    link: str | None  # as published; only http(s) becomes a link
    published: datetime | None
    topic: str  # the section it goes under (a rule's name)
    more: int = 0  # other outlets that reported the same story (shown as "+2 more")


@dataclass(frozen=True)
class Digest:
    heading: str  # "Daily digest", "Held during quiet hours", …
    items: tuple[DigestItem, ...]  # one per story, grouped by topic in this order
    since: datetime | None = None  # the period's start, said when there is nothing new


@dataclass(frozen=True)
class Notice:
    """For the operator: a feed was suspended."""

    feed: str  # the feed's address (hostile: quoted from config or an import)
    error: str  # its last error (may quote what a server sent)
    why: str  # why it was suspended


@dataclass(frozen=True)
class RenderedText:
    """An outbox row written before messages were stored channel-neutral (m013): Telegram HTML."""

    html: str  # as rendered then, under 4096 UTF-16 units


Message = Alert | Digest | Notice | RenderedText  # what an outbox row holds


@dataclass(frozen=True)
class StoryJoined:
    """Grouping placed a report in an archived story: its alerts are drawn again (alerts.redraw)."""

    story_id: int  # the archived story
    reports: tuple[tuple[str | None, str | None], ...]  # (outlet, link) of this batch's reports of it so far


@dataclass(frozen=True)
class StoryEdit:
    alert_id: int  # a story's alert (already queued or sent) to bring up to date
    alert: Alert  # its new content, listing the other outlets


@dataclass(frozen=True)
class AlertIntent:
    chat_id: str  # where to send
    rule_ids: tuple[str, ...]  # the rules that asked for it
    alert: Alert  # what it says, rendered for its channel when sent
    silent: bool = False  # send without sound (every rule behind it is priority "low")
    priority: str = "normal"  # the highest priority of the rules behind it
    hold: str | None = None  # why it waits for a digest: muted, low, quiet, burst, high; None = send


@dataclass(frozen=True)
class PendingAlert:
    id: int  # outbox row id
    chat_id: str  # where to send
    message: Message | None  # what to send; None when the row cannot be read (it fails)
    attempts: int  # failed attempts so far
    silent: bool = False  # send without sound
    edit_of: int | None = None  # for an edit: the alert whose message it replaces
    target_status: str | None = None  # for an edit: that alert's status
    target_message_id: str | None = None  # for an edit: that alert's Telegram message id
    unknown: bool = False  # an earlier send's outcome is unknown (it may have arrived): no second retry
    kind: str = "send"  # "send" (an article's alert), "edit" (a story update), "digest" or "notice"
    parts_sent: int = 0  # messages of it already sent (a digest may take several)


@dataclass(frozen=True)
class StoredArticle:
    id: int  # articles.id
    title: str  # plain text
    summary: str  # plain text
    published: datetime  # UTC (the first-seen time when the feed gave none)
    outlet: str | None  # publisher, or the feed's name
    story_id: int | None = None  # the story it belongs to (one alert per story)


@dataclass(frozen=True)
class SearchHit:
    id: int  # articles.id
    title: str  # article title
    link: str | None  # as published
    outlet: str | None  # publisher, or the feed's name
    published: datetime | None  # UTC
    feed: str | None  # feed URL
    rules: tuple[str, ...]  # ids of rules that matched it
    story_id: int | None = None  # the story it belongs to


@dataclass(frozen=True)
class FeedStatus:
    url: str  # the feed's key
    name: str | None  # configured or feed title
    last_checked: datetime | None  # last attempt
    last_success: datetime | None  # last attempt without error
    last_error: str | None  # the last error's one-line message, None when fine
    error_count: int  # consecutive failures
    articles: int  # articles archived from this feed
    status: str = "active"  # "active", "suspended" (see suspended_reason) or "removed"
    suspended_reason: str | None = None  # why it stopped being checked
    next_check: datetime | None = None  # when it is checked next
    last_new: datetime | None = None  # when it last brought a new article
    stale: bool = False  # quiet for much longer than its usual gap between articles
    origin: str = "config"  # "config" ([[feeds]] in monitor.toml), "opml" (feeds import), "cli" (feeds add)
    churning: bool = False  # every item new on CHURN_PASSES passes in a row: it rewrites its GUIDs
    warning: str | None = None  # what its last full answer needed fixing (an encoding guessed...)
    folder: str | None = None  # the OPML folder it was imported from ("Asia / Japan")


# --- chats and digests -------------------------------------------------------


@dataclass(frozen=True)
class ArticleRef:
    article_id: int  # articles.id
    title: str  # plain text
    outlet: str | None  # publisher, or the feed's name
    link: str | None  # as published
    published: datetime | None  # UTC
    story_id: int | None  # its story, to list a story once
    rules: tuple[str, ...]  # ids of the rules that matched it (or sent the alert)


@dataclass(frozen=True)
class HeldAlert:
    alert_id: int  # outbox row id, status "held"
    chat_id: str  # the chat it waits for
    hold: str  # why: "muted", "low", "quiet", "burst", "high"
    priority: str  # the alert's priority
    created: datetime  # when it was queued
    article: ArticleRef  # what it is about


@dataclass(frozen=True)
class ChatState:
    chat_id: str  # as alerts are addressed
    status: str  # "active", "disabled" (the bot cannot post there) or "moved" (see moved_to)
    reason: str | None  # Telegram's words for the last change
    changed: datetime | None  # when the status last changed
    moved_to: str | None  # a migrated group's new id
    last_digest: datetime | None  # the last scheduled digest queued for it


# --- the schedule: what the archive keeps of a feed's checks, and the next one (ingest.schedule) ---


@dataclass(frozen=True)
class FeedHistory:
    interval: float  # the feed's own configured interval, else [schedule] interval
    errors: int = 0  # consecutive failures BEFORE this check
    first_error: datetime | None = None  # when the current run of failures began
    published: Sequence[datetime] = ()  # publication times of recent articles, newest first (~50)
    ttl: float | None = None  # the <ttl> of its last full answer: a 304 repeats no body, so no <ttl>


@dataclass(frozen=True)
class Decision:
    next_check: datetime  # now + delay
    delay: float  # seconds, after every rule in the table above
    reason: str  # what set it: "interval", "adaptive", "max-age", "expires", "ttl", "retry-after", "backoff"
    suspend: str | None = None  # one-line reason to suspend the feed now, else None
