"""monitor.chat.commands: chat command replies over a real archive, checked as Telegram would check them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fakes.telegram_api import check_text, utf16_len
from monitor.archive.store import Archive
from monitor.chat.commands import (
    COMMANDS,
    ServiceInfo,
    help_text,
    mute_text,
    refusal_text,
    rules_text,
    search_text,
    status_text,
    unmute_text,
)
from monitor.ingest.schedule import Decision
from monitor.rules.matcher import RuleSet
from monitor.rules.ruleset import compile_rule_set
from monitor.types import (
    Alert,
    AlertIntent,
    Config,
    EntryData,
    FeedConfig,
    FetchedFeed,
    NewArticle,
    Rule,
    RuleMatch,
    TelegramConfig,
)

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
LATER = Decision(NOW + timedelta(minutes=15), 900.0, "interval")  # the next check, for the records
WIRE = "https://wire.example/rss"
GAZETTE = "https://gazette.example/feed.xml"
QUIET = "https://quiet.example/rss"  # configured, never checked
CHAT = "1001"  # the default chat
OTHER = "2002"  # the chat the "chips" rule sends to


def valid(reply: str) -> str:
    """The visible text of a reply Telegram would accept, with only the tags commands may use."""
    assert utf16_len(reply) <= 4096, "over Telegram's limit as sent"
    visible, entities = check_text(reply, "HTML")
    assert set(re.findall(r"</?([A-Za-z][\w-]*)", reply)) <= {"b", "i", "a", "code"}
    for href in re.findall(r'<a href="([^"]*)"', reply):
        assert href.startswith(("http://", "https://")), href
    assert all(e["type"] in ("bold", "italic", "text_link", "code") for e in entities)
    return visible


def fetched(url: str) -> FetchedFeed:
    return FetchedFeed(url=url, final_url=url, status=200, body=b"", headers={})


Item = tuple[NewArticle, Sequence[AlertIntent]]


def article(
    n: int,
    title: str,
    *,
    rules: Sequence[str] = ("critical-minerals",),
    feed: str = WIRE,
    link: str | None = None,
    hours_ago: float = 1,
    first_seen: datetime = NOW,
    outlet: str | None = None,
    alerts: Sequence[AlertIntent] = (),
) -> Item:
    url = link if link is not None else f"https://news.example/{n}"
    entry = EntryData(
        feed_url=feed,
        title=title,
        summary="Summary text.",
        link=url,
        guid=None,
        published=NOW - timedelta(hours=hours_ago),
        outlet=outlet,
    )
    new = NewArticle(
        entry=entry,
        url=url,
        keys=(f"test:{n}",),
        first_seen=first_seen,
        matches=tuple(RuleMatch(rule, ("x",)) for rule in rules),
    )
    return new, alerts


def save(archive: Archive, items: Sequence[Item], feed: str = WIRE) -> None:
    archive.save_update(feed, fetched(feed), None, items, NOW, LATER)


@pytest.fixture
def rules() -> RuleSet:
    return compile_rule_set(
        [
            Rule("critical-minerals", "Critical minerals", "rare earth*", priority="high"),
            Rule("quad", "Quad", "Quad"),
            Rule("chips", "Semiconductors", "semiconductor*", chats=(OTHER,), priority="low"),
        ]
    )


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(
        path=tmp_path / "monitor.toml",
        storage_path=tmp_path / "monitor.db",
        rule_paths=(),
        interval=900.0,
        telegram=TelegramConfig(token="123:abc", chat_id=CHAT, allowed_users=(42,)),
        feeds=(FeedConfig(WIRE, "The Wire"), FeedConfig(GAZETTE), FeedConfig(QUIET, "Quiet")),
    )


@pytest.fixture
def archive(tmp_path: Path, config: Config) -> Iterator[Archive]:
    archive = Archive.open(config.storage_path)
    archive.sync_feeds(config.feeds, NOW - timedelta(days=3))
    yield archive
    archive.close()


@pytest.fixture
def filled(archive: Archive) -> Archive:
    """Wire: three rare-earths reports and a chip story; Gazette: a Quad report."""
    save(
        archive,
        [
            article(1, "India and Japan sign rare earths pact", hours_ago=1),
            article(2, "Rare earths: export curbs tighten", hours_ago=30, first_seen=NOW - timedelta(days=2)),
            article(3, "Earths rare in the outer belt, astronomers say", rules=(), hours_ago=3),
            article(4, "Semiconductor export rules for Tata fab", rules=("chips",), hours_ago=200),
        ],
    )
    quad = article(5, "Quad leaders meet on rare earths", rules=("quad", "critical-minerals"), hours_ago=2)
    save(archive, [quad], GAZETTE)
    return archive


# --- menu, help, refusal --------------------------------------------------------------


def test_command_menu_is_in_order_and_telegram_sized() -> None:
    assert [name for name, _ in COMMANDS] == [
        "status",
        "search",
        "rules",
        "mute",
        "unmute",
        "digest",
        "story",
        "split",
        "help",
    ]
    for name, description in COMMANDS:
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name)
        assert 3 <= len(description) <= 60


def test_help_lists_every_command_with_its_syntax(rules: RuleSet) -> None:
    text = valid(help_text(rules))
    for name, _ in COMMANDS:
        assert f"/{name}" in text
    assert "/search QUERY [since:7d] [rule:ID]" in text
    assert "/mute RULE [8h]" in text
    assert "/rules" in text and "critical-minerals" in text  # where rule ids come from, with an example


def test_refusal_names_the_ids_and_shows_no_archive_data(filled: Archive) -> None:
    reply = refusal_text(31337, -100123)
    text = valid(reply)
    assert "31337" in text and "-100123" in text
    assert "allowed_users" in text and "[telegram]" in text
    assert "rare" not in text.lower() and "Quad" not in text and "Wire" not in text
    anonymous = valid(refusal_text(None, "<b>@chan&nel</b>"))
    assert "<b>@chan&nel</b>" in anonymous  # shown escaped, as text


# --- /search ----------------------------------------------------------------------


def test_search_lists_newest_first_with_links_outlets_dates_and_rules(filled: Archive) -> None:
    reply = search_text(filled, "rare earths", NOW)
    text = valid(reply)
    assert text.splitlines()[0].startswith("4 articles match rare earths")
    titles = [line for line in text.splitlines() if line.startswith("• ")]
    assert [t.split(" — ")[0][2:] for t in titles] == [
        "India and Japan sign rare earths pact",
        "Quad leaders meet on rare earths",
        "Earths rare in the outer belt, astronomers say",
        "Rare earths: export curbs tighten",
    ]
    assert '<a href="https://news.example/1">India and Japan sign rare earths pact</a>' in reply
    assert "— The Wire · 6 Mar 11:00 · [critical-minerals]" in titles[0]
    assert "[critical-minerals, quad]" in titles[1]
    assert "more" not in text


def test_search_since_and_rule_filters(filled: Archive, rules: RuleSet) -> None:
    text = valid(search_text(filled, "rare earths since:2h", NOW))
    assert text.startswith("2 articles match rare earths (in the last 2h)")
    assert "curbs" not in text and "astronomers" not in text
    text = valid(search_text(filled, "Rule:QUAD rare", NOW, rules=rules))  # phone auto-capitalisation
    assert text.startswith("1 article match")
    assert "Quad leaders" in text and "India and Japan" not in text
    assert "Tata" in valid(search_text(filled, "semiconductor since:2w", NOW))
    assert "No articles match" in valid(search_text(filled, "semiconductor since:1w", NOW))
    assert "Tata" in valid(search_text(filled, "semiconductor since: 9999999999999w", NOW))  # no limit


def test_search_quoted_phrases_reach_fts(filled: Archive) -> None:
    text = valid(search_text(filled, '"rare earths"', NOW))
    assert "astronomers" not in text and text.startswith("3 articles")
    assert valid(search_text(filled, "“rare earths” since:7d", NOW)).startswith("3 articles")  # smart quotes
    # A quoted "since:2h" is a phrase to search for, not a filter.
    assert valid(search_text(filled, '"since:2h"', NOW)).startswith("No articles match")


@pytest.mark.parametrize("query", ['rare "earths', "AND OR (", "rare-earths", "title:", '"', "NEAR(", "*"])
def test_search_survives_fts_syntax_errors(filled: Archive, query: str) -> None:
    valid(search_text(filled, query, NOW))


def test_search_usage_and_argument_errors(filled: Archive, rules: RuleSet) -> None:
    for args in ("", "   ", "since:7d", 'rule:quad ""'):
        assert valid(search_text(filled, args, NOW)).startswith("Usage: /search QUERY")
    assert "since:30m" in valid(search_text(filled, "rare since:7x", NOW))
    assert "needs a value" in valid(search_text(filled, "rare rule:", NOW))


def test_search_unknown_rule_lists_the_valid_ids(filled: Archive, rules: RuleSet) -> None:
    text = valid(search_text(filled, "rare rule:qaud", NOW, rules=rules))
    assert len(text.splitlines()) == 1
    assert "No rule qaud" in text and "Did you mean quad?" in text
    assert "critical-minerals, quad, chips" in text
    # Without the rule set: the ids the archive has matches for.
    text = valid(search_text(filled, "rare rule:nope", NOW))
    assert "nope" in text and "chips, critical-minerals, quad" in text


def test_search_unknown_rule_list_is_cut(archive: Archive) -> None:
    many = compile_rule_set([Rule(f"rule-{i:04d}-" + "x" * 40, f"R{i}", "x") for i in range(300)])
    reply = search_text(archive, "x rule:nope", NOW, rules=many)
    text = valid(reply)
    assert re.search(r"… and \d+ more$", text)


HOSTILE = [
    ("<script>alert(1)</script> & </b> &amp; \"q\" 'a'", "javascript:alert(1)"),
    ("Title with <a href='x'>a link</a> & emoji 🚀🚀 and \x00\x1f control", "https://ok.example/?a=1&b=<2>"),
    ("rare " + "Ω&<" * 40_000, "https://ok.example/" + "a" * 5000),  # huge title, link too long to keep
    ("rare earths\u202e reversed \ufeff", "data:text/html,<b>x</b>"),
]


def test_hostile_titles_and_links_stay_valid(archive: Archive) -> None:
    save(
        archive,
        [
            article(i, f"rare earths {title}", link=link, outlet="<i>Out&let</i>" * 50)
            for i, (title, link) in enumerate(HOSTILE)
        ],
    )
    reply = search_text(archive, "rare", NOW)
    text = valid(reply)
    assert "<script>alert(1)</script>" in text  # shown as text
    assert "javascript:" not in reply and "data:" not in reply  # never a link, not shown
    assert '<a href="https://ok.example/?a=1&amp;b=&lt;2&gt;">' in reply
    assert "a" * 5000 not in reply
    assert "🚀🚀" in text
    # The other commands echo hostile arguments safely too.
    valid(search_text(archive, "<b>&amp;</b> since:<i>", NOW))
    valid(search_text(archive, "x rule:<b>&", NOW))


def test_five_hundred_long_hits_fit_with_the_rest_counted(archive: Archive) -> None:
    title = "rare earths " + " ".join(["supercalifragilistic"] * 60)
    save(archive, [article(i, f"{title} {i}", link=f"https://n.example/{'p' * 500}/{i}") for i in range(500)])
    for limit in (10, 1000):
        reply = search_text(archive, "rare", NOW, limit=limit)
        text = valid(reply)
        assert text.startswith("500 articles match rare")
        shown = text.count("\n• ")
        assert 1 <= shown <= 10
        assert text.endswith(f"… and {500 - shown} more")


def test_search_total_is_capped(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.chat.commands.COUNT_CAP", 20)
    save(archive, [article(i, f"rare earths {i}") for i in range(30)])
    text = valid(search_text(archive, "rare", NOW))
    assert text.startswith("20+ articles") and text.endswith("… and 10+ more")


# --- /status ----------------------------------------------------------------------


def test_status_reports_feeds_pass_alerts_and_disabled_chats(archive: Archive, config: Config) -> None:
    said = Alert(title="a", link=None, outlet=None, published=None, snippet="", rules=())
    pending = AlertIntent(CHAT, ("critical-minerals",), said)
    held = AlertIntent(OTHER, ("chips",), said, hold="quiet")
    save(archive, [article(1, "rare", alerts=[pending, held]), article(2, "rare 2", alerts=[pending])])
    failed = archive.pending_alerts(NOW)[0]
    archive.mark_failed(failed.id, "Bad Request", NOW)
    archive.feed_error(GAZETTE, "HTTP 503 Service Unavailable", NOW - timedelta(hours=2), LATER)
    archive.feed_error(GAZETTE, "HTTP 503 <b>Service</b> & Unavailable\nsecond line", NOW, LATER)
    archive.disable_chat(OTHER, "Forbidden: bot was blocked by the user", NOW - timedelta(hours=1))
    info = ServiceInfo(last_pass=NOW - timedelta(minutes=3), passes=42, started=NOW - timedelta(hours=5))

    reply = status_text(archive, config, info, NOW)
    text = valid(reply)
    assert "Last pass: 3 min ago (42 passes since the start 5 h ago)" in text
    assert "Feeds: 1 ok, 1 failing, 1 not checked yet · 2 articles archived" in text
    assert "Alerts: 1 pending, 1 held for digests, 1 failed" in text
    assert "gazette.example: HTTP 503 <b>Service</b> & Unavailable second line" in text
    assert "2 failures in a row, never ok" in text
    assert f"{OTHER} since 6 Mar 11:00: Forbidden: bot was blocked by the user · 1 alert waiting" in text
    assert "⚠️" not in text


def test_status_before_the_first_pass_and_when_stale(archive: Archive, config: Config) -> None:
    text = valid(status_text(archive, config, ServiceInfo(None, 0, NOW - timedelta(seconds=20)), NOW))
    assert "Last pass: none finished yet (started just now)" in text
    assert "Failing" not in text and "Disabled" not in text
    stale = ServiceInfo(NOW - timedelta(hours=3), 7, NOW - timedelta(days=3))
    assert "⚠️ Last pass: 3 h ago (7 passes since the start 3 days ago)" in valid(
        status_text(archive, config, stale, NOW)
    )


def test_status_lists_at_most_ten_failing_feeds_and_fits(tmp_path: Path, config: Config) -> None:
    feeds = tuple(FeedConfig(f"https://f{i}.example/rss", "F<&>" * 100) for i in range(30))
    config = Config(
        path=config.path,
        storage_path=config.storage_path,
        rule_paths=(),
        interval=900,
        telegram=config.telegram,
        feeds=feeds,
    )
    archive = Archive.open(config.storage_path)
    try:
        archive.sync_feeds(feeds, NOW)
        for feed in feeds:
            archive.feed_error(feed.url, "boom <&> " * 500, NOW, LATER)
        for i in range(200):
            archive.disable_chat(f"-100{i}", "Forbidden: " + "<&>" * 300, NOW)
        reply = status_text(archive, config, ServiceInfo(NOW, 1, NOW), NOW)
    finally:
        archive.close()
    text = valid(reply)
    assert "Feeds: 0 ok, 30 failing" in text
    failing, disabled = text.split("Disabled chats")
    assert failing.count("\n• ") <= 10 and "… and 2" in failing
    assert re.search(r"… and \d+ more$", disabled)


# --- /rules, /mute, /unmute ---------------------------------------------------------


def test_rules_show_priority_counts_and_chats(filled: Archive, rules: RuleSet, config: Config) -> None:
    text = valid(rules_text(filled, rules, config, CHAT, NOW))
    lines = text.splitlines()
    assert lines[0] == "Rules (3) · matches in the last 24 h"
    # article 2 was first seen two days ago: not counted
    assert lines[1] == "🔴 Critical minerals critical-minerals · 2"
    assert lines[2] == "🔵 Quad quad · 1"
    assert lines[3] == "⚪ Semiconductors chips · 1 · other chats"
    assert "No rule sends" not in text
    elsewhere = valid(rules_text(filled, rules, config, "777", NOW))
    assert "other chats" not in elsewhere and "No rule sends alerts to this chat." in elsewhere


def test_mute_unmute_round_trip_shows_in_rules(filled: Archive, rules: RuleSet, config: Config) -> None:
    reply = valid(mute_text(filled, rules, CHAT, "quad", NOW))
    assert "Quad quad is muted in this chat until 20:00 UTC" in reply
    assert "archived" in reply and "digest" in reply
    assert filled.muted_rules(CHAT, NOW) == {"quad": NOW + timedelta(hours=8)}
    assert "🔇 muted until 20:00 UTC" in valid(rules_text(filled, rules, config, CHAT, NOW))
    assert "muted" not in valid(rules_text(filled, rules, config, OTHER, NOW))  # per chat

    again = valid(mute_text(filled, rules, CHAT, "QUAD 2d", NOW))
    assert "until 8 Mar 12:00 UTC (it was muted until 20:00 UTC)" in again

    assert "alerts this chat again" in valid(unmute_text(filled, rules, CHAT, "quad", NOW))
    assert filled.muted_rules(CHAT, NOW) == {}
    assert "muted" not in valid(rules_text(filled, rules, config, CHAT, NOW))
    assert "was not muted" in valid(unmute_text(filled, rules, CHAT, "quad", NOW))


def test_mute_accepts_weeks_and_either_order(archive: Archive, rules: RuleSet) -> None:
    assert "until 20 Mar 12:00 UTC" in valid(mute_text(archive, rules, CHAT, "2w chips", NOW))
    assert archive.muted_rules(CHAT, NOW)["chips"] == NOW + timedelta(weeks=2)
    assert "until 12:30 UTC" in valid(mute_text(archive, rules, CHAT, "quad 30m", NOW))


@pytest.mark.parametrize(
    "args, expected",
    [
        ("quad 8x", "Can't read 8x as a duration"),
        ("quad 8", "Can't read 8 as a duration"),
        ("quad 0h", "Can't read 0h as a duration"),
        ("quad 31d", "at most 30d"),
        ("quad 5w", "at most 30d"),
        ("quad " + "9" * 400 + "d", "at most 30d"),
        ("", "Usage: /mute RULE [8h]"),
        ("quad 8h extra", "Usage: /mute RULE [8h]"),
    ],
)
def test_mute_bad_arguments(archive: Archive, rules: RuleSet, args: str, expected: str) -> None:
    assert expected in valid(mute_text(archive, rules, CHAT, args, NOW))
    assert archive.muted_rules(CHAT, NOW) == {}


def test_unknown_rules_get_close_matches(archive: Archive, rules: RuleSet) -> None:
    text = valid(mute_text(archive, rules, CHAT, "critical-mineral 8h", NOW))
    assert "No rule critical-mineral. Did you mean critical-minerals?" in text
    assert "quad" not in text  # not close
    text = valid(unmute_text(archive, rules, CHAT, "qaud", NOW))
    assert "Did you mean quad?" in text
    text = valid(mute_text(archive, rules, CHAT, "<zzz&>", NOW))
    assert "No rule <zzz&>." in text and "/rules" in text
    assert archive.muted_rules(CHAT, NOW) == {}
    assert "Usage: /unmute RULE" in valid(unmute_text(archive, rules, CHAT, "", NOW))


def test_unmute_all(archive: Archive, rules: RuleSet) -> None:
    assert "No rule was muted" in valid(unmute_text(archive, rules, CHAT, "all", NOW))
    mute_text(archive, rules, CHAT, "quad", NOW)
    mute_text(archive, rules, CHAT, "chips 1d", NOW)
    mute_text(archive, rules, OTHER, "chips 1d", NOW)
    text = valid(unmute_text(archive, rules, CHAT, "all", NOW))
    assert "Unmuted 2 rules" in text and "chips" in text and "quad" in text
    assert archive.muted_rules(CHAT, NOW) == {} and list(archive.muted_rules(OTHER, NOW)) == ["chips"]


def test_hundreds_of_rules_are_cut(archive: Archive, config: Config) -> None:
    many = compile_rule_set([Rule(f"r-{i}", "Name <&> " * 30, "x", priority="high") for i in range(400)])
    for i in range(0, 400, 3):
        archive.mute(CHAT, f"r-{i}", NOW + timedelta(days=3))
    text = valid(rules_text(archive, many, config, CHAT, NOW))
    assert re.search(r"… and \d+ more\n", text)
    assert text.endswith("/mute RULE 8h holds a rule's alerts in this chat")
    assert "muted until 9 Mar 12:00 UTC" in text
