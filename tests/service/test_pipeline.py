"""End to end, in process: loopback feeds → pipeline → archive → fake Bot API."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app import poll_once
from monitor.archive.store import Archive
from monitor.cli.demo import NOISE, Item
from monitor.config.load import load_config
from tests.conftest import SEED_TIMES, rss

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
NOISE_ITEMS = [
    Item(t, b, datetime(2026, 3, 7, 8, tzinfo=UTC), f"https://noise.example/{i}")
    for i, (t, b) in enumerate(NOISE)
]


def poll(config_path: Path, token: str | None = None):
    config = load_config(config_path, environ={TOKEN_ENV: token} if token else {})
    return asyncio.run(poll_once(config))


def archive_of(config_path: Path) -> Archive:
    return Archive.open(load_config(config_path, environ={}).storage_path, create=False)


@pytest.fixture
def two_outlets(feed_server, seeds):
    """Seeds over two outlets, each story reported by both: the Wire has 000, 001 and 004,
    the Gazette 002 and 003 (the same events as 000 and 001) and the off-topic items."""
    a = feed_server.add("/wire.xml", rss("Wire", [seeds[0], seeds[1], seeds[4]]))
    b = feed_server.add("/gazette.xml", rss("Gazette", [seeds[2], seeds[3], *NOISE_ITEMS]))
    return [a, b]


def headlines(telegram_api) -> list[str]:
    return [m.text.split("\n")[0] for m in telegram_api.messages]


def test_one_alert_per_story_and_second_pass_is_304(
    feed_server, telegram_api, two_outlets, write_config, seeds
):
    path = write_config(two_outlets, telegram=telegram_api.bot_url)
    report, delivery = poll(path, telegram_api.token)
    assert report.errors == []
    assert report.new_articles == 8
    # Three events, three alerts: each headed by the report handled first (feeds are handled
    # as they answer), naming the other outlet.
    assert len(telegram_api.messages) == 3 == delivery.sent
    heading = {f"<b>{seed.title}</b>".replace("'", "&#x27;"): i for i, seed in enumerate(seeds)}
    events = {0: "a", 2: "a", 1: "b", 3: "b", 4: "c"}  # Wire: 0, 1, 4; Gazette: 2, 3
    by_event = {
        events[heading[head]]: (heading[head], m.text)
        for head, m in zip(headlines(telegram_api), telegram_api.messages, strict=True)
    }
    assert sorted(by_event) == ["a", "b", "c"]
    for event in "ab":
        seed, text = by_event[event]
        other = "Gazette" if seed in (0, 1) else "Wire"
        assert "Also reported by: " in text and f"{other}</a>" in text
    assert "Also reported by" not in by_event["c"][1]
    texts = [m.text for m in telegram_api.messages]
    for title, _ in NOISE:
        assert not any(title in text for text in texts)
    assert {m.chat_id for m in telegram_api.messages} == {"1001"}

    report2, delivery2 = poll(path, telegram_api.token)
    assert report2.not_modified == 2 and report2.new_articles == 0
    assert delivery2.sent == 0 and len(telegram_api.messages) == 3
    assert all("if-none-match" in r.headers for r in feed_server.requests[-2:])
    archive = archive_of(path)
    stories = archive.db.execute("select count(*), sum(articles) from stories").fetchone()
    archive.close()
    assert stories == (6, 8)  # three stories of the seeds, and one for each off-topic item


def test_a_later_report_edits_the_story_alert(feed_server, telegram_api, write_config, seeds):
    wire = feed_server.add("/wire.xml", rss("Wire", [seeds[0]]))
    path = write_config([wire], telegram=telegram_api.bot_url)
    poll(path, telegram_api.token)
    (alert,) = telegram_api.messages
    assert "Also reported by" not in alert.text
    before = alert.text

    gazette = feed_server.add("/gazette.xml", rss("Gazette", [seeds[2]]))
    courier = feed_server.add("/courier.xml", rss("Courier", [seeds[4]]))
    path = write_config([wire, gazette, courier], telegram=telegram_api.bot_url)
    _, delivery = poll(path, telegram_api.token)
    assert delivery.sent == 2  # the edit of the story's alert, and the other event's alert
    assert telegram_api.requests.count("editMessageText") == 1
    assert len(telegram_api.messages) == 2
    assert alert.edits == 1 and "Also reported by: " in alert.text and "Gazette</a>" in alert.text
    assert set(before.split("\n")) < set(alert.text.split("\n"))  # the same alert, one line more
    assert seeds[4].title[:40] in telegram_api.messages[1].text

    _, delivery = poll(path, telegram_api.token)
    assert delivery.sent == 0 and telegram_api.requests.count("editMessageText") == 1


def test_same_article_in_two_feeds_is_archived_and_alerted_once(
    feed_server, telegram_api, write_config, seeds
):
    one = seeds[0]
    copy = replace(one, link=one.link + "?utm_source=partner#top")
    a = feed_server.add("/a.xml", rss("A", [one]))
    b = feed_server.add("/b.xml", rss("B", [copy]))
    path = write_config([a, b], telegram=telegram_api.bot_url)
    report, _ = poll(path, telegram_api.token)
    assert report.new_articles == 1
    assert len(telegram_api.messages) == 1


def test_telegram_outage_loses_nothing_and_sends_once(feed_server, telegram_api, two_outlets, write_config):
    path = write_config(two_outlets, telegram=telegram_api.bot_url)
    telegram_api.down = True
    report, delivery = poll(path, telegram_api.token)
    assert report.new_articles == 8 and delivery.sent == 0
    assert telegram_api.messages == []
    archive = archive_of(path)
    assert archive.outbox_counts() == {"pending": 3}
    # The retry waits for its backoff: make it due now, as time passing would.
    archive.db.execute("update alerts set next_attempt = null")
    archive.db.conn.commit()
    archive.close()

    telegram_api.down = False
    _, delivery = poll(path, telegram_api.token)
    assert delivery.sent == 3
    _, delivery = poll(path, telegram_api.token)
    assert delivery.sent == 0
    assert len(telegram_api.messages) == 3


def test_flood_control_is_waited_out_in_order(feed_server, telegram_api, two_outlets, write_config):
    path = write_config(two_outlets, telegram=telegram_api.bot_url)
    telegram_api.fail_next(1, status=429, retry_after=1)
    _, delivery = poll(path, telegram_api.token)
    assert delivery.sent == 3
    archive = archive_of(path)
    ids = [row["message_id"] for row in archive.db["alerts"].rows_where(order_by="id")]
    archive.close()
    assert ids == [str(m.message_id) for m in telegram_api.messages]
    assert telegram_api.requests.count("sendMessage") == 4


def test_one_rejected_alert_does_not_block_the_others(feed_server, telegram_api, two_outlets, write_config):
    path = write_config(two_outlets, telegram=telegram_api.bot_url)
    telegram_api.fail_next(1, status=400, description="Bad Request: message is too long")
    _, delivery = poll(path, telegram_api.token)
    assert delivery.sent == 2 and delivery.failed == 1
    archive = archive_of(path)
    failed = list(archive.db["alerts"].rows_where("status = 'failed'"))
    archive.close()
    assert len(failed) == 1 and "message is too long" in failed[0]["last_error"]


def test_console_when_no_telegram(feed_server, two_outlets, write_config, capsys):
    path = write_config(two_outlets)
    _, delivery = poll(path)
    out = capsys.readouterr().out
    assert delivery.sent == 3
    assert "Foreign Secretary Vikram Misri" in out and "<b>" not in out


def test_broken_feeds_are_reported_and_the_rest_goes_on(feed_server, write_config, seeds):
    good = feed_server.add("/good.xml", rss("Good", seeds[:1]))
    latin = feed_server.add(
        "/latin.xml",
        rss("Latin", [])
        .replace(b"utf-8", b"iso-8859-1")
        .replace(
            b"<description>monitor demo</description>",
            "<description>d</description><item><title>Japon et Inde à Tokyo</title><link>https://l.example/1"
            "</link></item>".encode("iso-8859-1"),
        ),
        content_type="application/rss+xml",
    )
    moved_target = feed_server.add("/new-home.xml", rss("Moved", seeds[1:2]))
    moved = feed_server.misbehave("/old-home.xml", "redirect", to="/new-home.xml", status=301)
    broken = {
        "500": feed_server.misbehave("/500.xml", "status", code=500),
        "hang": feed_server.misbehave("/hang.xml", "hang"),
        "drip": feed_server.misbehave("/drip.xml", "drip", interval=0.5),
        "big": feed_server.misbehave("/big.xml", "oversized", mib=4),
        "bomb": feed_server.misbehave("/bomb.xml", "gzip_bomb", gib=1),
        "html": feed_server.add(
            "/page.html",
            b"<!doctype html><html><body><p>Hi</p></body></html>",
            content_type="text/html",
        ),
    }
    path = write_config([good, latin, moved, *broken.values()])
    report, _ = poll(path)
    failed = {e.url: e.message for e in report.errors}
    assert set(failed) == set(broken.values())
    assert "HTTP 500" in failed[broken["500"]]
    assert "not a feed" in failed[broken["html"]]
    assert all("\n" not in m for m in failed.values())
    assert report.new_articles == 3
    archive = archive_of(path)
    titles = {r["title"] for r in archive.db["articles"].rows}
    assert "Japon et Inde à Tokyo" in titles
    assert archive.db["feeds"].get(moved)["fetch_url"] == moved_target
    errors = {r["url"]: r["last_error"] for r in archive.db["feeds"].rows if r["last_error"]}
    archive.close()
    assert set(errors) == set(broken.values())


def test_gzip_feed_decodes(feed_server, write_config, seeds):
    url = feed_server.add("/gz.xml", rss("Gz", seeds[:2]), encoding="gzip")
    report, _ = poll(write_config([url]))
    assert report.errors == [] and report.new_articles == 2


def test_html_telegram_cannot_parse_is_resent_as_plain_text(feed_server, telegram_api, write_config, seeds):
    url = feed_server.add("/one.xml", rss("One", seeds[4:5]))
    path = write_config([url], telegram=telegram_api.bot_url)
    telegram_api.fail_next(
        1,
        status=400,
        description='Bad Request: can\'t parse entities: unsupported start tag "x" at byte offset 3',
    )
    _, delivery = poll(path, telegram_api.token)
    assert delivery.sent == 1 and delivery.failed == 0
    (message,) = telegram_api.messages
    assert message.parse_mode is None
    assert "<b>" not in message.text and "unveiled a set of new initiatives" in message.text


def test_low_priority_rules_alert_silently(feed_server, telegram_api, write_config, tmp_path, seeds):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.toml").write_text(
        '[[rule]]\nid = "loud"\nname = "Loud"\nquery = "Motegi"\npriority = "high"\n\n'
        '[[rule]]\nid = "quiet"\nname = "Quiet"\nquery = "Misri"\npriority = "low"\n',
        encoding="utf-8",
    )
    url = feed_server.add("/f.xml", rss("F", seeds))
    path = write_config([url], telegram=telegram_api.bot_url, rules=rules)
    poll(path, telegram_api.token)
    by_rule = {("Motegi" in m.text, "Misri" in m.text): m.disable_notification for m in telegram_api.messages}
    assert by_rule[(False, True)] is True  # only the low-priority rule: silent
    assert by_rule[(True, False)] is False  # the high-priority rule: with sound


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_seeds_form_exactly_three_stories(feed_server, write_config, seeds, order):
    items = [replace(item, published=SEED_TIMES[item.link[-20:-17]]) for item in seeds]
    items = items if order == "forward" else items[::-1]
    urls = [feed_server.add(f"/outlet{i}.xml", rss(f"Outlet {i}", [item])) for i, item in enumerate(items)]
    path = write_config(urls)
    poll(path)
    archive = archive_of(path)
    rows = archive.db.execute("select link, story_id from articles").fetchall()
    archive.close()
    groups: dict[int, set[str]] = {}
    for link, story in rows:
        groups.setdefault(story, set()).add(link[-20:-17])
    assert sorted(map(sorted, groups.values())) == [["000", "002"], ["001", "003"], ["004"]]


def test_a_server_without_validators_sending_the_same_body_costs_no_parse(feed_server, write_config, seeds):
    """No ETag, no Last-Modified: every check is a 200. The same bytes again are unchanged (no
    parse, counted with the 304s); new bytes are read as usual."""
    headers = {"Content-Type": "application/rss+xml"}
    url = feed_server.misbehave(
        "/plain.xml", "status", code=200, body=rss("Plain", seeds[:2]), headers=headers
    )
    path = write_config([url])
    first, _ = poll(path)
    second, _ = poll(path)
    assert (first.new_articles, first.not_modified) == (2, 0)
    assert (second.new_articles, second.not_modified, second.errors) == (0, 1, [])
    assert "if-none-match" not in feed_server.requests[-1].headers  # it really had nothing to send
    feed_server.misbehave("/plain.xml", "status", code=200, body=rss("Plain", seeds[:3]), headers=headers)
    third, _ = poll(path)
    assert (third.new_articles, third.not_modified) == (1, 0)
    archive = archive_of(path)
    articles = archive.db.execute("select count(*) from articles").fetchone()[0]
    archive.close()
    assert articles == 3
