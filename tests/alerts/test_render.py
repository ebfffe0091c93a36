"""render: hostile feed text in, Telegram HTML that Telegram accepts out.

Every rendered alert goes through the fake Bot API's validator, which is itself
tested to refuse bad HTML, so a rendering bug fails here and not in a chat.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from fakes.telegram_api import ApiError, check_text, parse_html, utf16_len
from monitor.alerts.compose import compose_alert
from monitor.alerts.render import MAX_MESSAGE, format_date, render_alert, to_plain_text
from monitor.types import EntryData, RuleMatch

PUBLISHED = datetime(2026, 3, 6, 10, 30, tzinfo=UTC)


def entry(
    title: str = "Storm hits coast",
    summary: str = "Heavy rain and wind.",
    link: str | None = "https://example.com/a",
    published: datetime | None = PUBLISHED,
) -> EntryData:
    feed = "https://feed.example/rss"
    return EntryData(feed, title, summary, link, None, published, "Feed Outlet")


def render(
    item: EntryData | None = None,
    matches: tuple[RuleMatch, ...] = (RuleMatch("storm", ("storm",), ("Storm",)),),
    names: dict[str, str] | None = None,
    outlet: str | None = "Reuters",
) -> str:
    names = {"storm": "Storms"} if names is None else names
    return render_alert(compose_alert(item or entry(), outlet, matches, names))


def snippet_of(alert: str) -> str:
    return alert.split("\n\n")[1]


BIG = 1_000_000
THOUSAND = range(1000)
MANY_TERMS = (RuleMatch("r", tuple(f"t{i}" for i in THOUSAND), tuple(f"w{i}" for i in THOUSAND)),)
MANY_RULES = tuple(RuleMatch(f"rule-{i}", (f"t{i}",), (f"t{i}",)) for i in range(1000))

HOSTILE = {
    "script-title": dict(item=entry(title="<script>alert(1)</script>")),
    "entities-in-text": dict(item=entry(title="AT&T &amp; &lt; &#0; &", summary="1 < 2 > 0 & \"'")),
    "quotes-in-url": dict(item=entry(link="https://x.example/?q=\"><script>&a=1'")),
    "javascript-link": dict(item=entry(link="javascript:alert('<b>')")),
    "data-link": dict(item=entry(link="data:text/html,<script>x</script>")),
    "url-with-spaces": dict(item=entry(link="https://x.example/a b<c>")),
    "bad-ipv6-url": dict(item=entry(link="http://[::1/x")),
    "no-link-no-date": dict(item=entry(link=None, published=None), outlet=None),
    "empty-everything": dict(item=entry(title="", summary="", link=""), matches=()),
    "giant-title": dict(item=entry(title="Breaking " * (BIG // 9))),
    "giant-quote-title": dict(item=entry(title='"' * BIG, summary="'" * BIG)),
    "giant-summary": dict(item=entry(summary="&<>" * (BIG // 3))),
    "giant-url": dict(item=entry(link="https://x.example/" + "a&" * 50_000)),
    "giant-outlet": dict(outlet="<i>" * 100_000),
    "astral-title": dict(item=entry(title="😀" * BIG, summary="𝕏" * BIG)),
    "surrogates-and-controls": dict(item=entry(title="bad \ud800 \x00\x1b end", summary="\udfff")),
    "1000-terms": dict(matches=MANY_TERMS),
    "1000-rules": dict(matches=MANY_RULES),
    "hostile-rule-names": dict(names={"storm": "</b><b>&x"}),
    "hostile-found-words": dict(
        item=entry(summary="a<b & c&d <b> &amp; x" * 50),
        matches=(RuleMatch("storm", ("x",), ("a<b", "&", "<b>", "&amp;", "", " ", "b & c")),),
    ),
    "everything-giant-at-once": dict(
        item=entry(title='"' * BIG, summary="a & " * BIG, link="https://x.example/" + "&" * 156),
        matches=MANY_RULES + MANY_TERMS + (RuleMatch("a", ("a",), ("a", "&")),),
        outlet="'" * BIG,
    ),
    "highlight-everything": dict(
        item=entry(summary="a " * 500), matches=(RuleMatch("storm", ("a",), ("a", "a a")),)
    ),
}


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
def test_every_alert_is_accepted_by_telegram(case: dict) -> None:
    alert = render(**case)
    assert utf16_len(alert) < MAX_MESSAGE
    visible, _ = check_text(alert, "HTML")  # raises ApiError if Telegram would refuse it
    assert visible.strip()


@pytest.mark.parametrize(
    ("item", "absent", "present"),
    [
        (entry(title="<script>x</script>"), "<script>", "&lt;script&gt;x&lt;/script&gt;"),
        (entry(title='Tom & "Jerry"'), "Tom & ", "Tom &amp; &quot;Jerry&quot;"),
        (entry(summary="it's <b>bold</b>"), "<b>bold</b>", "it&#x27;s &lt;b&gt;bold&lt;/b&gt;"),
        (entry(link='https://x/?a="1"&b=2'), '"1"', 'href="https://x/?a=&quot;1&quot;&amp;b=2"'),
        (entry(link="javascript:alert(1)"), "<a ", "javascript:alert(1)"),
        (entry(link="JavaScript:alert(1)"), "<a ", "JavaScript:alert(1)"),
        (entry(link="ftp://x.example/f"), "<a ", "ftp://x.example/f"),
        (entry(link="https://x.example/" + "a" * 100_000), "<a ", "https://x.example/aaa"),
    ],
    ids=[
        "script", "amp-quotes", "summary-tags", "url-quotes",
        "javascript", "javascript-case", "ftp", "huge-url",
    ],
)  # fmt: skip
def test_feed_text_is_escaped(item: EntryData, absent: str, present: str) -> None:
    alert = render(item)
    assert absent not in alert
    assert present in alert


def test_links_are_clickable_only_for_http() -> None:
    _, entities = parse_html(render(entry(link="https://x.example/p?q=1&r=2")))
    link = {"type": "text_link", "url": "https://x.example/p?q=1&r=2"}
    assert link.items() <= entities[-1].items()
    _, entities = parse_html(render(entry(link="javascript:alert(1)")))
    assert [e for e in entities if e["type"] == "text_link"] == []


def test_layout() -> None:
    alert = render(entry(title="Storm hits coast"), names={"storm": "Storms"})
    assert alert == (
        "<b>Storm hits coast</b>\n"
        "Reuters · 6 Mar 2026 10:30 UTC\n\n"
        "Heavy rain and wind.\n\n"
        '<a href="https://example.com/a">https://example.com/a</a>\n\n'
        "Rules: Storms (storm)\n"
        "Terms: storm"
    )


@pytest.mark.parametrize(
    ("summary", "found", "expected"),
    [
        ("Rain in Spain", ("Spain",), "Rain in <b>Spain</b>"),
        ("rain in spain", ("Spain",), "rain in <b>spain</b>"),
        ("New York City", ("New York", "York City"), "<b>New York City</b>"),
        ("New York", ("York", "New York"), "<b>New York</b>"),
        ("Spain, Spain", ("Spain", "Spain"), "<b>Spain</b>, <b>Spain</b>"),
        ("a<b & c", ("a<b",), "<b>a&lt;b</b> &amp; c"),
        ("R&D budget", ("R&D",), "<b>R&amp;D</b> budget"),
        ("&amp; literally", ("&amp;",), "<b>&amp;amp;</b> literally"),
        ("art and party", ("art",), "<b>art</b> and party"),
        ("Schifffahrt", ("fahrt",), "Schiff<b>fahrt</b>"),
        ("C++ and C", ("C++",), "<b>C++</b> and C"),
        ("nothing here", ("absent", ""), "nothing here"),
        ("aaa", ("aa",), "<b>aaa</b>"),
    ],
    ids=[
        "word", "case", "overlap", "nested", "duplicate", "lt", "amp", "entity-text",
        "whole-word", "inside-word-fallback", "symbols", "absent", "self-overlap",
    ],
)  # fmt: skip
def test_highlighting(summary: str, found: tuple[str, ...], expected: str) -> None:
    alert = render(entry(summary=summary), matches=(RuleMatch("storm", ("x",), found),))
    assert snippet_of(alert) == expected
    check_text(alert, "HTML")


def test_snippet_is_cut_at_a_word_with_an_ellipsis() -> None:
    alert = render(entry(summary="alpha beta gamma delta " * 100))
    snippet = snippet_of(alert)
    assert snippet.endswith("…")
    assert len(snippet) <= 300
    assert snippet[:-1].split(" ")[-1] in {"alpha", "beta", "gamma", "delta"}


def test_cut_never_splits_an_entity() -> None:
    alert = render(entry(title="&" * 10_000))
    assert "&amp;…</b>" in alert
    check_text(alert, "HTML")


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 3, 6, 10, 30, tzinfo=UTC), "6 Mar 2026 10:30 UTC"),
        (datetime(2026, 3, 6, 12, 30, tzinfo=timezone(timedelta(hours=2))), "6 Mar 2026 10:30 UTC"),
        (datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=5))), "31 Dec 2025 20:00 UTC"),
        (datetime(2026, 12, 25, 7, 5), "25 Dec 2026 07:05 UTC"),  # noqa: DTZ001 - naive on purpose
    ],
    ids=["utc", "offset", "previous-year", "naive-is-utc"],
)
def test_date_format(moment: datetime, expected: str) -> None:
    assert format_date(moment) == expected


def test_meta_line_is_omitted_without_outlet_and_date() -> None:
    item = EntryData("f", "Title", "Body", None, None, None, None)
    assert render(item, outlet=None).startswith("<b>Title</b>\n\nBody")


def test_entry_outlet_is_the_fallback() -> None:
    assert "Feed Outlet · 6 Mar" in render(outlet=None)


@pytest.mark.parametrize(
    ("names", "match", "expected"),
    [
        ({"c": "Climate"}, RuleMatch("c", ("heat", "drought")), "Rules: Climate (c)\nTerms: heat, drought"),
        ({}, RuleMatch("c", ("heat",)), "Rules: c\nTerms: heat"),
        ({"c": "Climate"}, RuleMatch("c", ()), "Rules: Climate (c)"),
        ({"c": "A & <B>"}, RuleMatch("c", ("x<y",)), "Rules: A &amp; &lt;B&gt; (c)\nTerms: x&lt;y"),
    ],
    ids=["named", "unnamed", "no-terms", "escaped"],
)
def test_rule_lines(names: dict[str, str], match: RuleMatch, expected: str) -> None:
    assert render(matches=(match,), names=names).split("\n\n")[-1] == expected


def test_many_rules_are_summarised() -> None:
    rules_line, terms_line = render(matches=MANY_RULES).splitlines()[-2:]
    assert rules_line.startswith("Rules: rule-0 · rule-1 · ") and rules_line.endswith(" more")
    assert terms_line.startswith("Terms: t0, t1, ") and terms_line.endswith(" more")


def test_terms_every_rule_shares_come_last_and_each_term_once() -> None:
    matches = (
        RuleMatch("chips", ("India", "Japan", "semiconductor*")),
        RuleMatch("minerals", ("Japan", "rare earth*", "India")),
    )
    lines = render(matches=matches, names={"chips": "Chips", "minerals": "Minerals"}).splitlines()
    assert lines[-2:] == [
        "Rules: Chips (chips) · Minerals (minerals)",
        "Terms: semiconductor*, rare earth*, India, Japan",
    ]


def test_plain_text() -> None:
    alert = render(entry(title="<script> & co", link="https://x.example/?a=1&b=2"))
    plain = to_plain_text(alert)
    assert plain.startswith("<script> & co\nReuters · 6 Mar 2026 10:30 UTC\n\nHeavy rain")
    assert "https://x.example/?a=1&b=2" in plain
    assert "<b>" not in plain and "&amp;" not in plain


def test_plain_text_of_a_cut_link_is_the_whole_address() -> None:
    url = "https://x.example/" + "a" * 500
    plain = to_plain_text(render(entry(link=url)))
    assert url in plain.splitlines()
    assert "…" not in plain


def test_plain_text_keeps_a_link_label() -> None:
    assert to_plain_text('<a href="https://x.example/">Read &amp; see</a>') == (
        "Read & see (https://x.example/)"
    )


# --- the validator the tests above rely on --------------------------------------

REJECTED = {
    "unsupported-tag": ("<script>x</script>", 'Unsupported start tag "script" at byte offset 0'),
    "self-closing": ("a<br/>b", 'Unsupported start tag "br/"'),
    "bare-lt": ("1 < 2", 'Unsupported start tag ""'),
    "unclosed": ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    "mismatched": ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
    "stray-end": ("x</b>", "Unexpected end tag at byte offset 1"),
    "unclosed-start": ('<a href="https://x', "Unclosed start tag at byte offset 0"),
    "bare-amp": ("AT&T", 'unescaped "&" at byte offset 2'),
    "unknown-entity": ("a&nbsp;b", 'unescaped "&"'),
    "entity-without-semicolon": ("&amp b", 'unescaped "&"'),
    "zero-entity": ("&#0;", 'unescaped "&"'),
    "surrogate-entity": ("&#xD800;", 'unescaped "&"'),
    "amp-in-href": ('<a href="https://x/?a=1&b=2">x</a>', 'unescaped "&"'),
    "a-without-href": ("<a>x</a>", 'Tag "a" must have attribute "href"'),
    "plain-span": ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
    "attribute-without-value": ("<b bold>x</b>", "Expected equal sign"),
    "byte-offset-utf8": ("é<x>", 'Unsupported start tag "x" at byte offset 2'),
    "empty": ("", "Bad Request: message text is empty"),
    "only-tags": ("<b> </b>\n", "Bad Request: message text is empty"),
    "too-long": ("x" * 4097, "Bad Request: message is too long"),
    "too-long-utf16": ("😀" * 2049, "Bad Request: message is too long"),
    "too-long-after-entities": ("&lt;" * 4097, "Bad Request: message is too long"),
}


@pytest.mark.parametrize(("html_text", "description"), REJECTED.values(), ids=REJECTED.keys())
def test_validator_rejects_what_telegram_rejects(html_text: str, description: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_text(html_text, "HTML")
    assert caught.value.status == 400
    assert caught.value.description.startswith("Bad Request: ")
    assert description in caught.value.description


ACCEPTED = {
    "escaped": ("&lt;b&gt; &amp; &quot;", '<b> & "'),
    "numeric": ("&#39;&#x27;&#x1F600;", "''😀"),
    "gt-is-fine": ("a > b", "a > b"),
    "nested": ("<b>a<i>b</i></b>", "ab"),
    "upper-case-tags": ("<B>x</B>", "x"),
    "short-close": ("<b>x</>", "x"),
    "link": ('<a href="https://x/?a=1&amp;b=2">x</a>', "x"),
    "single-quoted": ("<a href='https://x/'>x</a>", "x"),
    "spoiler": ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st"),
    "blockquote": ("<blockquote expandable>q</blockquote>", "q"),
    "emoji": ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
    "pre-code": ('<pre><code class="language-python">x = 1</code></pre>', "x = 1"),
    "max-length": ("x" * 4096, "x" * 4096),
    "max-length-utf16": ("😀" * 2048, "😀" * 2048),
    "long-markup-short-text": ("<b>x</b>" * 1000, "x" * 1000),
}


@pytest.mark.parametrize(("html_text", "visible"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_validator_accepts_valid_html(html_text: str, visible: str) -> None:
    assert check_text(html_text, "HTML")[0] == visible


def test_validator_reports_entities_in_utf16_units() -> None:
    html_text = '😀 <b>bold</b> <a href="javascript:x">no</a> <a href="https://x/">yes</a>'
    _, entities = parse_html(html_text)
    assert entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "text_link", "offset": 11, "length": 3, "url": "https://x/"},
    ]
