"""digest: many articles in few Telegram messages, every one of them accepted by Telegram.

Each part goes through the fake Bot API's strict HTML validator and is measured
in UTF-16 units; the visible text is then read back to check that every article
is shown exactly once, in order, under the right section.
"""

from __future__ import annotations

import html
import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from fakes.telegram_api import check_text, parse_html, utf16_len
from monitor.alerts.digest import (
    MIN_LINE,
    TITLE_CHARS,
    DigestItem,
    render_digest,
    render_digest_plain,
    short_date,
)
from monitor.alerts.render import MAX_MESSAGE

PUBLISHED = datetime(2026, 3, 6, 14, 5, tzinfo=UTC)
TOPICS = ("Climate & energy", "Elections", "Markets")

_SUBJECTS = (
    "EU ministers",
    "Heatwave",
    "Central bank",
    "Wind farm operator",
    "Opposition leader",
    "S&P 500",
    "Coalition talks",
    "Grid regulator",
    "Oil prices",
    "Voters in Bavaria",
)
_VERBS = ("agree on", "warn over", "push back against", "signal a shift on", "brace for", "stall over")
_OBJECTS = (
    "a 'historic' carbon levy",
    "record demand for power",
    "the new budget rules",
    "offshore licences in the North Sea",
    "a snap election in autumn",
    "rate cuts before summer",
    "gas storage targets",
    "turnout among young voters",
)
_CLAUSES = (
    "talks drag into the night", "analysts expect more volatility", "protests grow in the capital",
    "the storm season begins early", "\"nothing is agreed\", officials say",
)  # fmt: skip


def realistic(count: int, seed: int = 7) -> list[DigestItem]:
    """Headlines of 60 to 120 characters and ~155-character Google News links, topics interleaved."""
    chance = random.Random(seed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    items: list[DigestItem] = []
    for number in range(count):
        words = [chance.choice(group) for group in (_SUBJECTS, _VERBS, _OBJECTS, _CLAUSES)]
        title = f"{words[0]} {words[1]} {words[2]} as {words[3]} (#{number})"
        token = "".join(chance.choice(alphabet) for _ in range(110))
        link = f"https://news.google.com/rss/articles/CBMi{token}?oc=5&hl=en-US"
        topic = TOPICS[0] if number < 3 else chance.choices(TOPICS, weights=(5, 3, 2))[0]
        outlet = chance.choice(("Reuters", "The Guardian", "Süddeutsche Zeitung", "AP News"))
        published = PUBLISHED - timedelta(minutes=17 * number)
        items.append(DigestItem(title, outlet, link, published, topic, more=number % 4))
    return items


def parse(messages: list[str]) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """Each message as its first block and its sections (header, item lines), visible text."""
    parsed = []
    for message in messages:
        visible, _ = check_text(message, "HTML")  # raises ApiError if Telegram would refuse it
        first, *blocks = visible.split("\n\n")
        sections = []
        for block in blocks:
            header, *lines = block.split("\n")
            assert lines, f"a section header without an item: {header!r}"
            assert all(line.startswith("• ") for line in lines)
            sections.append((header, lines))
        parsed.append((first, sections))
    return parsed


def titles_by_topic(messages: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for _, sections in parse(messages):
        for header, lines in sections:
            name = header.removesuffix(" (cont.)").rsplit(" (", 1)[0]
            found.setdefault(name, []).extend(line[2:].split(" — ")[0] for line in lines)
    return found


def assert_sendable(messages: list[str], limit: int = MAX_MESSAGE) -> None:
    assert messages
    for message in messages:
        assert utf16_len(message) <= limit
        message.encode("utf-8")  # a lone surrogate cannot be sent at all
        visible, _ = check_text(message, "HTML")
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", visible)


# --- a realistic digest ------------------------------------------------------------


def test_fifty_articles_are_split_into_valid_complete_parts() -> None:
    items = realistic(50)
    messages = render_digest("Morning digest", items)
    assert len(messages) >= 3
    assert_sendable(messages)

    expected: dict[str, list[str]] = {}
    for item in items:
        expected.setdefault(item.topic, []).append(item.title)
    assert titles_by_topic(messages) == expected  # each once, in order, in its own section
    everything = "".join(messages)
    for item in items:
        assert everything.count(html.escape(item.title)) == 1


def test_parts_are_numbered_and_only_the_first_has_the_total() -> None:
    messages = render_digest("Morning digest", realistic(50))
    count = len(messages)
    for number, (first, _) in enumerate(parse(messages), start=1):
        heading = f"Morning digest ({number}/{count})"
        assert first == (f"{heading}\n50 articles in 3 topics" if number == 1 else heading)
        assert messages[number - 1].startswith(f"<b>Morning digest</b> ({number}/{count})")


def test_a_split_section_repeats_its_header_as_continued() -> None:
    messages = render_digest("Morning digest", realistic(50))
    seen: set[str] = set()
    continued = 0
    for _, sections in parse(messages):
        for position, (header, _) in enumerate(sections):
            name = header.removesuffix(" (cont.)")
            if position == 0 and name in seen:
                assert header.endswith(" (cont.)")
                continued += 1
            else:
                assert not header.endswith(" (cont.)"), header
            seen.add(name)
    assert continued >= 1


def test_links_are_clickable_in_order() -> None:
    items = realistic(50)
    messages = render_digest("Morning digest", items)
    urls = [e["url"] for m in messages for e in parse_html(m)[1] if e["type"] == "text_link"]
    in_sections = sorted(items, key=lambda item: TOPICS.index(item.topic))  # stable: order kept
    assert urls == [item.link for item in in_sections]


def test_parts_are_packed_greedily() -> None:
    """No part could have taken the next part's first line: as few messages as possible."""
    for limit in (MAX_MESSAGE, 600):
        messages = render_digest("Morning digest", realistic(50), limit=limit)
        for message, following in zip(messages, messages[1:], strict=False):
            next_line = next(line for line in following.split("\n") if line.startswith("• "))
            assert utf16_len(message) + 1 + utf16_len(next_line) > limit


def test_layout() -> None:
    items = [
        DigestItem("Storm hits coast", "Reuters", "https://x.example/a?b=1&c=2", PUBLISHED, "Weather", 2),
        DigestItem("Rates <held>", None, "javascript:alert(1)", None, "Markets & money"),
        DigestItem("Floods recede", "AP", None, PUBLISHED, "Weather"),
    ]
    assert render_digest("Morning digest", items) == [
        "<b>Morning digest</b>\n"
        "3 articles in 2 topics\n\n"
        "<b>Weather</b> (2)\n"
        '• <a href="https://x.example/a?b=1&amp;c=2">Storm hits coast</a>'
        " — Reuters · 6 Mar 14:05 (+2 more)\n"
        "• Floods recede — AP · 6 Mar 14:05\n\n"
        "<b>Markets &amp; money</b> (1)\n"
        "• Rates &lt;held&gt;"
    ]


def test_singular_total() -> None:
    [message] = render_digest("Digest", [DigestItem("One", None, None, None, "Only")])
    assert message.startswith("<b>Digest</b>\n1 article in 1 topic\n\n<b>Only</b> (1)\n• One")


def test_sections_come_in_order_of_first_appearance() -> None:
    topics = ["B", "A", "B", "C", "A", "C", "B"]
    items = [DigestItem(f"title {n}", None, None, None, topic) for n, topic in enumerate(topics)]
    [message] = render_digest("D", items)
    headers = [header for header, _ in parse([message])[0][1]]
    assert headers == ["B (3)", "A (2)", "C (2)"]
    assert titles_by_topic([message]) == {
        "B": ["title 0", "title 2", "title 6"],
        "A": ["title 1", "title 4"],
        "C": ["title 3", "title 5"],
    }


def test_no_items_no_messages() -> None:
    assert render_digest("Morning digest", []) == []
    assert render_digest_plain("Morning digest", []) == []


def test_counts_in_headers_are_of_the_whole_topic() -> None:
    messages = render_digest("D", realistic(50), limit=600)
    wanted = {topic: sum(item.topic == topic for item in realistic(50)) for topic in TOPICS}
    for _, sections in parse(messages):
        for header, _ in sections:
            name, count = header.removesuffix(" (cont.)").rsplit(" (", 1)
            assert int(count.rstrip(")")) == wanted[name]


# --- small limits --------------------------------------------------------------------


@pytest.mark.parametrize("limit", [256, 400, 600, 1000, 2000])
def test_small_limits_force_many_valid_complete_parts(limit: int) -> None:
    items = realistic(50)
    messages = render_digest("Morning digest", items, limit=limit)
    assert len(messages) > 50 * 150 // limit
    assert_sendable(messages, limit)
    expected: dict[str, list[str]] = {}
    for item in items:
        expected.setdefault(item.topic, []).append(item.title)
    shown = titles_by_topic(messages)
    assert shown.keys() == expected.keys()
    for topic, titles in expected.items():  # a squeezed title is cut, never lost or moved
        assert len(shown[topic]) == len(titles)
        for seen, title in zip(shown[topic], titles, strict=True):
            assert seen == title or (seen.endswith("…") and title.startswith(seen[:-1]))
    count = len(messages)
    for number, message in enumerate(messages, start=1):
        assert message.startswith(f"<b>Morning digest</b> ({number}/{count})")


def test_part_numbers_of_two_digits_still_fit() -> None:
    messages = render_digest("Morning digest", realistic(50), limit=300)
    assert len(messages) >= 10
    assert_sendable(messages, 300)
    assert messages[-1].startswith(f"<b>Morning digest</b> ({len(messages)}/{len(messages)})")


def test_a_limit_without_room_for_an_article_is_refused() -> None:
    with pytest.raises(ValueError, match="no room"):
        render_digest("Morning digest", realistic(3), limit=MIN_LINE)


# --- hostile feed text ---------------------------------------------------------------

BIG = 1_000_000


CALM = DigestItem("Storm hits coast", "Reuters", "https://x.example/a", PUBLISHED, "T")


def hostile(**fields: Any) -> DigestItem:
    return replace(CALM, **fields)


HOSTILE = {
    "script-title": hostile(title="<script>alert(1)</script>"),
    "entities-and-quotes": hostile(title="AT&T &amp; &lt; &#0; \"quoted\" 'single' a<b>c"),
    "surrogates-and-controls": hostile(title="bad \ud800 \x00\x1b end \udfff", outlet="\ud83d\x07"),
    "newlines-in-text": hostile(title="Line one\n\nLine two\r\n\t• three", outlet="A\nB", topic="X\n\nY"),
    "megabyte-title": hostile(title="Breaking " * (BIG // 9)),
    "megabyte-of-quotes": hostile(title='"' * BIG, outlet="'" * BIG),
    "megabyte-of-emoji": hostile(title="😀" * BIG),
    "emoji-title": hostile(title="🚀 Rocket 🚀 launch 𝕏 delayed " * 20),
    "javascript-link": hostile(link="javascript:alert('<b>')"),
    "data-link": hostile(link="data:text/html,<script>x</script>"),
    "quotes-in-link": hostile(link="https://x.example/?q=\"><script>&a=1'"),
    "link-with-spaces": hostile(link="https://x.example/a b<c>"),
    "5000-char-link": hostile(link="https://x.example/" + "a" * 5000),
    "ampersand-link": hostile(link="https://x.example/" + "&" * 100),  # 518 units escaped: fits
    "escaped-too-long-link": hostile(link="https://x.example/" + "&" * 200),  # 1018 units: text
    "hostile-outlet": hostile(outlet="<i>" * 100_000),
    "hostile-topic": hostile(topic="</b><b>&x" * 10_000),
    "emoji-topic": hostile(topic="😀" * BIG),
    "empty-everything": hostile(title="", outlet="", link="", published=None, topic=""),
    "huge-more": hostile(more=10**60),
    "naive-date": hostile(published=datetime(2026, 3, 6, 14, 5)),  # noqa: DTZ001 - naive on purpose
}
HOSTILE_HEADING = "<b>Digest</b> & &amp; \ud800 😀" * 10_000


@pytest.mark.parametrize("limit", [MAX_MESSAGE, 600, 256])
@pytest.mark.parametrize("item", HOSTILE.values(), ids=HOSTILE.keys())
def test_every_hostile_item_is_accepted_by_telegram(item: DigestItem, limit: int) -> None:
    for heading in ("Digest", HOSTILE_HEADING):
        messages = render_digest(heading, [item] * 3, limit=limit)
        assert_sendable(messages, limit)
        assert len(parse(messages)) == len(messages)


@pytest.mark.parametrize("limit", [MAX_MESSAGE, 600, 256])
def test_all_hostile_items_at_once(limit: int) -> None:
    items = list(HOSTILE.values()) * 5 + realistic(20)
    messages = render_digest(HOSTILE_HEADING, items, limit=limit)
    assert_sendable(messages, limit)
    lines = sum(len(lines) for _, sections in parse(messages) for _, lines in sections)
    assert lines == len(items)


def test_hostile_text_is_escaped_and_bad_links_are_not_clickable() -> None:
    messages = render_digest("Digest", list(HOSTILE.values()))
    everything = "".join(messages)
    for markup in ("<script>", "<i>", "</b><b>&x", 'href="javascript:', 'href="data:'):
        assert markup not in everything
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in everything
    urls = {e["url"] for m in messages for e in parse_html(m)[1] if e["type"] == "text_link"}
    assert urls == {
        "https://x.example/a",
        "https://x.example/?q=\"><script>&a=1'",
        "https://x.example/" + "&" * 100,
    }
    assert 'href="https://x.example/?q=&quot;&gt;&lt;script&gt;&amp;a=1&#x27;"' in everything


def test_feed_whitespace_is_collapsed_to_one_line() -> None:
    [message] = render_digest("Digest", [HOSTILE["newlines-in-text"], HOSTILE["surrogates-and-controls"]])
    [(_, sections)] = parse([message])
    assert sections[0] == ("X Y (1)", ["• Line one Line two • three — A B · 6 Mar 14:05"])
    assert sections[1][1] == ["• bad \ufffd \ufffd\ufffd end \ufffd — \ufffd\ufffd · 6 Mar 14:05"]


def test_a_huge_title_is_cut_at_a_word_with_an_ellipsis() -> None:
    [message] = render_digest("Digest", [hostile(title="Breaking news " * BIG, link=None)])
    line = parse([message])[0][1][0][1][0]
    title = line[2:].split(" — ")[0]
    assert title.endswith("…") and len(title) <= TITLE_CHARS
    assert title[:-1].split(" ")[-1] in {"Breaking", "news"}


def test_emoji_count_twice() -> None:
    """300 UTF-16 units a title: measured in code points the parts would be too long."""
    items = [hostile(title="😀" * 150, link=None, outlet=None, published=None) for _ in range(60)]
    messages = render_digest("Digest", items)
    assert_sendable(messages)
    assert max(utf16_len(m) for m in messages) > max(len(m) for m in messages) + 1000
    assert sum(len(lines) for _, s in parse(messages) for _, lines in s) == 60


def test_a_long_outlet_is_cut() -> None:
    [message] = render_digest("Digest", [hostile(outlet="Outlet " * 1000)])
    outlet = parse([message])[0][1][0][1][0].split(" — ")[1].split(" · ")[0]
    assert outlet.endswith("…") and len(outlet) <= 60


def test_a_squeezed_line_drops_its_link_before_its_title() -> None:
    item = hostile(title="Storm hits coast", link="https://x.example/" + "a" * 700)
    [wide] = render_digest("Digest", [item])
    [narrow] = render_digest("Digest", [item], limit=600)
    assert "<a href=" in wide and "<a href=" not in narrow
    assert "• Storm hits coast — Reuters" in narrow


# --- dates and plain text --------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 3, 6, 14, 5, tzinfo=UTC), "6 Mar 14:05"),
        (datetime(2026, 3, 6, 16, 5, tzinfo=timezone(timedelta(hours=2))), "6 Mar 14:05"),
        (datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=5))), "31 Dec 20:00"),
        (datetime(2026, 12, 25, 7, 5), "25 Dec 07:05"),  # noqa: DTZ001 - naive on purpose
    ],
    ids=["utc", "offset", "previous-day", "naive-is-utc"],
)
def test_short_date(moment: datetime, expected: str) -> None:
    assert short_date(moment) == expected


@pytest.mark.parametrize("limit", [MAX_MESSAGE, 600])
def test_plain_text_parts(limit: int) -> None:
    items = realistic(50) + list(HOSTILE.values())
    rich = render_digest("Morning digest", items, limit=limit)
    plain = render_digest_plain("Morning digest", items, limit=limit)
    assert len(plain) == len(rich)
    assert all(utf16_len(part) <= limit for part in plain)
    assert plain[0].startswith(f"Morning digest (1/{len(rich)})\n")
    calm = "".join(render_digest_plain("Morning digest", realistic(50), limit=limit))
    assert "<" not in calm and "&amp;" not in calm and "S&P 500" in calm
    assert f"{items[0].title} ({items[0].link}) — " in plain[0]
    assert "• <script>alert(1)</script> (https://x.example/a)" in "".join(plain)
