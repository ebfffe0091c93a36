"""Real feeds, real text (issue 15), end to end: a loopback feed server, a real poll, a real
archive, the fake Bot API. What the publisher sent is what is archived, matched and alerted."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from monitor.app import poll_once
from monitor.archive.sqltime import iso
from monitor.archive.store import Archive
from monitor.config.load import load_config

TOKEN = "123456:feed-text-token"
RSS = "application/rss+xml; charset=utf-8"


def rss(title: str, items: str, declaration: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return f'{declaration}\n<rss version="2.0"><channel><title>{title}</title>{items}</channel></rss>'


def item(title: str, link: str, description: str = "", extra: str = "") -> str:
    body = f"<title>{title}</title><link>{link}</link>{extra}<description>{description}</description>"
    return f"<item>{body}</item>"


def poll(path: Path, token: str = TOKEN):
    report, _ = asyncio.run(poll_once(load_config(path, environ={"TELEGRAM_BOT_TOKEN": token})))
    assert report.errors == [], report.errors
    return report


def rows(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    archive = Archive.open(load_config(path, environ={}).storage_path, create=False)
    try:
        return list(archive.db.query(sql, args))
    finally:
        archive.close()


def articles(path: Path, feed: str) -> list[dict[str, Any]]:
    return rows(path, "select * from articles where feed = ? order by id", (feed,))


def write_rules(tmp_path: Path, *rules: tuple[str, str]) -> Path:
    text = "".join(f'[[rule]]\nid = "{i}"\nname = "{i}"\nquery = """{q}"""\n\n' for i, q in rules)
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_relative_links_resolve_against_the_feed_address_and_the_alert_link_opens(
    feed_server, telegram_api, write_config
):
    """<link>/news/1</link> stayed relative (feedparser had no document address) and the article
    was archived without a usable link. It resolves against where the body came from; xml:base,
    where a feed gives one, still wins; a feed reached through a redirect resolves against its
    final address."""
    items = item("India and Japan sign semiconductor supply chain pact", "/news/1")
    items += item("Second relative item", "2", extra="")
    url = feed_server.add("/section/rel.xml", rss("Relative", items))
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"'
        ' xml:base="https://base.test/root/"><title>Based</title><entry><title>Based item</title>'
        '<link href="a/1"/><id>tag:based,1</id></entry></feed>'
    )
    based = feed_server.add("/based.xml", atom, content_type="application/atom+xml")
    feed_server.add("/moved/rel.xml", rss("Moved", item("Moved item", "../story/3")))
    moved = feed_server.misbehave("/old.xml", "redirect", to="/moved/rel.xml")
    path = write_config([url, based, moved], telegram=telegram_api.bot_url)
    poll(path, telegram_api.token)
    base = feed_server.base_url
    assert [a["link"] for a in articles(path, url)] == [f"{base}/news/1", f"{base}/section/2"]
    assert [a["url"] for a in articles(path, url)] == [f"{base}/news/1", f"{base}/section/2"]
    assert [a["link"] for a in articles(path, based)] == ["https://base.test/root/a/1"]
    assert [a["link"] for a in articles(path, moved)] == [f"{base}/story/3"]
    (message,) = telegram_api.messages
    assert f'href="{base}/news/1"' in message.text


def test_plain_text_is_left_alone_and_html_is_read_as_html(feed_server, write_config):
    """Every field used to have its tags stripped and its entities decoded, whatever its type:
    "History of the <blink> tag" (Atom type="text") lost its tag name and "Sensex < 80,000 as
    FII > DII" its middle. Plain text stays as written; HTML goes through an HTML tokenizer,
    which keeps the text regex stripping lost in broken markup."""
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Plain</title>'
        '<entry><title type="text">History of the &lt;blink&gt; tag</title><link href="https://plain.test/1"/>'
        "<id>tag:plain,1</id>"
        '<summary type="html">&lt;p&gt;Once &lt;b&gt;bold&lt;/b&gt;,&lt;/p&gt;&lt;p&gt;then gone&lt;/p&gt;'
        "&lt;script&gt;alert(1)&lt;/script&gt;</summary></entry></feed>"
    )
    plain = feed_server.add("/plain.xml", atom, content_type="application/atom+xml")
    markets = rss(
        "Markets",
        item(
            "Sensex &lt; 80,000 as FII &gt; DII",
            "https://plain.test/2",
            "1 &lt; 2 <![CDATA[but <i>3</i> > 2]]>",
        ),
    )
    wire = feed_server.add("/markets.xml", markets)
    path = write_config([plain, wire])
    poll(path)
    (entry,) = articles(path, plain)
    assert entry["title"] == "History of the <blink> tag"
    assert entry["summary"] == "Once bold, then gone"
    (market,) = articles(path, wire)
    assert market["title"] == "Sensex < 80,000 as FII > DII"
    assert market["summary"] == "1 < 2 but 3 > 2"


RELATED = """&lt;li&gt;&lt;a href="https://news.google.com/rss/articles/{id}?oc=5"
target="_blank"&gt;{title}&lt;/a&gt;&amp;nbsp;&amp;nbsp;
&lt;font color="#6f6f6f"&gt;{outlet}&lt;/font&gt;&lt;/li&gt;"""
GOOGLE_ITEM = """<item><title>{title} - {outlet}</title>
<link>https://news.google.com/rss/articles/{id}?oc=5</link><guid isPermaLink="false">{id}</guid>
<description>&lt;ol&gt;{own}{related}&lt;/ol&gt;</description>
<source url="https://{outlet_host}">{outlet}</source></item>"""


def google_item(n: str, title: str, outlet: str, related: list[tuple[str, str, str]]) -> str:
    listed = "".join(RELATED.format(id=i, title=t, outlet=o) for i, t, o in related)
    own = RELATED.format(id=n, title=title, outlet=outlet)
    return GOOGLE_ITEM.format(
        id=n, title=title, outlet=outlet, outlet_host="outlet.test", own=own, related=listed
    )


def test_google_news_related_coverage_is_stored_not_matched_nor_grouped(feed_server, write_config, tmp_path):
    """A Google News description lists other outlets' reports: "The Japan Times" there made a
    rule on Japan fire on an India-only chip story, and two unrelated Japanese items joined one
    story on "FNNプライムオンライン" and "Yahoo". The list becomes the item's related links
    (articles.related); the rules and story grouping see the headline alone."""
    chip = google_item(
        "CBMchip1",
        "Tata opens chip assembly plant in Assam",
        "The Hindu",
        [
            ("CBMrel1", "Chip plant opens in Assam", "The Japan Times"),
            ("CBMrel2", "Assam gets its first chip unit", "Times of India"),
        ],
    )
    fnn = [("CBMfnn", "ニュース速報", "FNNプライムオンライン"), ("CBMyahoo", "ニュース", "Yahoo!ニュース")]
    snow = google_item("CBMsnow1", "北海道で大雪 交通に乱れ", "NHK", fnn)
    rates = google_item("CBMrate1", "日銀が金利を据え置き", "日本経済新聞", fnn)
    one = feed_server.add("/gn1.xml", rss("Google News", chip + snow))
    two = feed_server.add("/gn2.xml", rss("Google News JP", rates))
    rules = write_rules(tmp_path, ("japan", "Japan OR Yahoo OR FNN*"))
    path = write_config([one, two], rules=rules)
    poll(path)
    stored = articles(path, one) + articles(path, two)
    by_title = {a["title"]: a for a in stored}
    chip_row = by_title["Tata opens chip assembly plant in Assam"]
    assert chip_row["outlet"] == "The Hindu" and chip_row["summary"] == ""
    assert json.loads(chip_row["related"]) == [
        ["Chip plant opens in Assam", "https://news.google.com/rss/articles/CBMrel1?oc=5", "The Japan Times"],
        [
            "Assam gets its first chip unit",
            "https://news.google.com/rss/articles/CBMrel2?oc=5",
            "Times of India",
        ],
    ]
    assert rows(path, "select * from matches") == []
    snow_row, rates_row = by_title["北海道で大雪 交通に乱れ"], by_title["日銀が金利を据え置き"]
    assert snow_row["story_id"] != rates_row["story_id"]
    assert [r[2] for r in json.loads(rates_row["related"])] == ["FNNプライムオンライン", "Yahoo!ニュース"]


JAPANESE = [
    ("モルディブ、親インドか親中国か", "大統領選の争点に"),
    ("インドの半導体工場に日本企業が出資", "経済安全保障の協力を強化する"),
    ("日本の天気", "晴れのち曇り"),
]


def test_japanese_is_searched_and_matched_inside_a_sentence(feed_server, write_config, tmp_path):
    """FTS5's word index takes "親インドか親中国か" as one token and the rules took it as one word:
    neither `monitor search インド` nor a rule `インド AND 半導体` found anything. Rules now match
    CJK terms inside words, and search uses an index of character pairs for CJK queries."""
    items = "".join(item(t, f"https://jp.test/{n}", s) for n, (t, s) in enumerate(JAPANESE))
    url = feed_server.add("/jp.xml", rss("日本のニュース", items))
    rules = write_rules(tmp_path, ("india-chips", "インド AND 半導体"), ("tenki", "天気 NOT 雨"))
    path = write_config([url], rules=rules)
    poll(path)
    matched = rows(path, "select a.title, m.rule_id from matches m join articles a on a.id = m.article_id")
    assert sorted((m["rule_id"], m["title"]) for m in matched) == [
        ("india-chips", JAPANESE[1][0]),
        ("tenki", JAPANESE[2][0]),
    ]

    def search(query: str) -> list[str]:
        found = cli("--config", str(path), "search", "--json", query)
        assert found.returncode == 0, found.stderr
        return sorted(json.loads(line)["title"] for line in found.stdout.splitlines())

    assert search("インド") == sorted([JAPANESE[0][0], JAPANESE[1][0]])
    assert search("インド AND 半導体") == [JAPANESE[1][0]]
    assert search("中") == [JAPANESE[0][0]]  # one character: any report that holds it
    assert search("日本") == sorted([JAPANESE[1][0], JAPANESE[2][0]])
    assert search("安全保障") == [JAPANESE[1][0]]
    assert search('"親中国"') == [JAPANESE[0][0]]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=60
    )


def test_an_undeclared_shift_jis_feed_is_read_in_its_encoding(feed_server, write_config):
    """A Shift_JIS body with no charset in Content-Type, no BOM and no encoding in its XML
    declaration was read as windows-1252: mojibake in the archive and in every alert. A detector
    (charset-normalizer) reads it; the feed's row says the encoding was a guess."""
    titles = ["インドと日本が経済安全保障で協議", "新幹線の車両を東京で公開"]
    items = "".join(
        item(t, f"https://sjis.test/{n}", "政府は本日、協議を開いた。") for n, t in enumerate(titles)
    )
    body = rss("毎日のニュース", items, declaration='<?xml version="1.0"?>').encode("shift_jis")
    url = feed_server.add("/sjis.xml", body, content_type="application/xml")
    path = write_config([url])
    poll(path)
    assert [a["title"] for a in articles(path, url)] == titles
    (feed,) = rows(path, "select title, warning from feeds where url = ?", (url,))
    assert feed["title"] == "毎日のニュース"
    assert "no encoding declared; read as" in feed["warning"] and "(detected)" in feed["warning"]
    status = cli("--config", str(path), "status")
    assert f"warning: {feed['warning']}" in status.stdout, status.stdout


def test_every_article_has_an_outlet(feed_server, write_config):
    """articles.outlet was NULL for every feed but Google News, and alerts showed a feed's long
    page title. Now: the item's <source>, else the configured name, else the feed title cleaned of
    its section words and separators, else the host."""
    sectioned = feed_server.add(
        "/economy.xml",
        rss(
            "Economy news, Latest Economic News, GDP | The Hindu",
            item("Rupee steadies", "https://hindu.test/1")
            + item(
                "From elsewhere",
                "https://hindu.test/2",
                extra="<source url='https://wire.test/'>Wire Co</source>",
            ),
        ),
    )
    untitled = feed_server.add("/untitled.xml", rss("", item("No title feed item", "https://none.test/1")))
    named = feed_server.add(
        "/named.xml", rss("Latest | Some Site", item("Named feed item", "https://named.test/1"))
    )
    path = write_config([sectioned, untitled])
    text = path.read_text(encoding="utf-8") + f'\n[[feeds]]\nurl = "{named}"\nname = "Named Outlet"\n'
    path.write_text(text, encoding="utf-8")
    poll(path)
    assert [a["outlet"] for a in articles(path, sectioned)] == ["The Hindu", "Wire Co"]
    assert [a["outlet"] for a in articles(path, untitled)] == ["127.0.0.1"]
    assert [a["outlet"] for a in articles(path, named)] == ["Named Outlet"]


def test_a_date_in_2100_is_first_seen_without_a_date_header(feed_server, write_config):
    """A publication time far in the future was caught only against the response's Date header;
    a server that sends none let 2100 head every newest-first list. It is clamped against the
    time monitor first sees the item."""
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    items = item(
        "Year 2100 item", "https://dates.test/1", extra="<pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate>"
    )
    items += item(
        "Recent item",
        "https://dates.test/2",
        extra=f"<pubDate>{format_datetime(recent, usegmt=True)}</pubDate>",
    )
    url = feed_server.add("/nodate.xml", rss("No Date", items), headers={"Date": ""})
    path = write_config([url])
    poll(path)
    with urllib.request.urlopen(url) as answer:  # the server's answer has no Date header
        assert answer.headers.get("Date") is None
    future, dated = articles(path, url)
    assert future["published"] == future["first_seen"]
    assert dated["published"] == iso(recent)
