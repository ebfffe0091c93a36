"""OPML: other readers' exports import with titles and folders; bad outlines are reported by line;
files that are not OPML, and hostile XML, give a one-line ConfigError; our export reads back."""

from __future__ import annotations

import codecs
import random
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.ingest.opml import MAX_CATEGORY_DEPTH, OpmlFeed, OpmlImport, OpmlProblem, read_opml, write_opml

DATA = Path(__file__).resolve().parents[1] / "data" / "opml"
NOW = datetime(2026, 3, 6, 10, 30, tzinfo=UTC)


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def feed(url: str, title: str | None, html_url: str | None = None, category: str | None = None) -> OpmlFeed:
    return OpmlFeed(url=url, title=title, html_url=html_url, category=category)


def config_error(data: bytes) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        read_opml(data)
    error = caught.value
    assert "\n" not in str(error) and "\r" not in str(error), str(error)
    return error


# ------------------------------------------------------------------------------------------ the samples

HINDU = "https://www.thehindu.com/news/international/feeder/default.rss"


def test_feedly_export() -> None:
    """Feedly: OPML 1.0, one level of folders, a feed in two folders listed twice, `&amp;` in a
    Google News search URL, Japanese and Hindi titles."""
    result = read_opml(sample("feedly.opml"))
    google = "https://news.google.com/rss/search?q=%22India+Japan%22+when:7d&hl=en-IN&gl=IN&ceid=IN:en"
    assert result.feeds == (
        feed(
            "https://www3.nhk.or.jp/nhkworld/en/news/feeds/",
            "NHK WORLD-JAPAN - Top Stories",
            "https://www3.nhk.or.jp/nhkworld/",
            "Japan",
        ),
        feed(
            "https://www3.nhk.or.jp/rss/news/cat0.xml", "NHKニュース", "https://www3.nhk.or.jp/news/", "Japan"
        ),
        feed(
            google,
            '"India Japan" - Google News',
            google.replace("/rss/search", "/search"),
            "Japan",
        ),
        feed("https://feeds.bbci.co.uk/hindi/rss.xml", "बीबीसी हिंदी", "https://www.bbc.com/hindi", "India"),
        feed(HINDU, "The Hindu - International", "https://www.thehindu.com/news/international/", "India"),
    )
    assert result.duplicates == (OpmlProblem(18, f"duplicate of line 15: {HINDU}"),)
    assert result.invalid == ()


def test_inoreader_export_with_bom_and_windows_line_endings() -> None:
    data = sample("inoreader.opml")
    assert data.startswith(codecs.BOM_UTF8) and b"\r\n" in data  # the sample is what it claims to be
    result = read_opml(data)
    assert result.feeds == (
        feed(
            "https://www.mea.gov.in/rss/press-releases.xml",
            "MEA India: Press Releases",
            "https://www.mea.gov.in/",
            "Foreign Affairs & Trade",
        ),
        feed(
            "https://www.mofa.go.jp/mofaj/rss/whatsnew.rdf",
            "外務省 新着情報",
            "https://www.mofa.go.jp/mofaj/",
            "Foreign Affairs & Trade",
        ),
        feed(
            "https://thediplomat.com/feed/", "The Diplomat – Asia-Pacific", "https://thediplomat.com", "Asia"
        ),
        feed(
            "https://navbharattimes.indiatimes.com/rssfeedsdefault.cms",
            "नवभारत टाइम्स",
            "https://navbharattimes.indiatimes.com",
            "Asia",
        ),
    )
    assert result.duplicates == () and result.invalid == ()


def test_netnewswire_export() -> None:
    """NetNewsWire: OPML 1.1, tabs, a comment, folders and a feed outside any folder."""
    result = read_opml(sample("netnewswire.opml"))
    assert result == OpmlImport(
        feeds=(
            feed(
                "https://www.japantimes.co.jp/feed/",
                "The Japan Times",
                "https://www.japantimes.co.jp/",
                "Japan",
            ),
            feed("https://www.nippon.com/en/feed/", "Nippon.com", "https://www.nippon.com/en/", "Japan"),
            feed("https://daringfireball.net/feeds/main", "Daring Fireball", "https://daringfireball.net/"),
        ),
        duplicates=(),
        invalid=(),
    )


def test_miniflux_export() -> None:
    """Miniflux: OPML 2.0, no type attribute, folders named by text only, an untitled feed."""
    result = read_opml(sample("miniflux.opml"))
    assert result.feeds == (
        feed("https://miniflux.app/feed.xml", "Miniflux", "https://miniflux.app/", "All"),
        feed(
            "https://english.kyodonews.net/rss/all.xml",
            "Kyodo News+",
            "https://english.kyodonews.net/",
            "Asia",
        ),
        feed("https://www.hindustantimes.com/feeds/rss/world-news/rssfeed.xml", None, None, "Asia"),
    )
    assert result.duplicates == () and result.invalid == ()


def test_the_old_reader_export() -> None:
    result = read_opml(sample("theoldreader.opml"))
    assert result.feeds == (
        feed("https://www.aljazeera.com/xml/rss/all.xml", "Al Jazeera English", "https://www.aljazeera.com/"),
        feed("https://www.dawn.com/feeds/home", "Dawn - Home", "https://www.dawn.com", "South Asia"),
        feed(
            "https://kathmandupost.com/rss", "The Kathmandu Post", "https://kathmandupost.com", "South Asia"
        ),
    )


QUIRK_FEEDS = (
    feed("https://japantoday.com/feed", "Japan Today", "https://japantoday.com/", "Asia / Japan"),  # xmlurl
    feed("https://example.jp/atom.xml", "Title wins", None, "Asia / Japan"),  # title before text
    feed("https://theprint.in/feed/", "The Print", None, "Asia / India"),  # stripped
    feed("https://www.livemint.com/rss/news", "Mint & Markets", None, "Asia / India"),  # outline on 3 lines
    feed("https://example.org/untitled.xml", None),  # empty title and text
    feed("https://example.org/url-as-title.xml", None),  # the title only repeats the URL
    feed("https://example.kr/rss", "Tagged", None, "Asia / Korea"),  # category="/Asia/Korea,/News"
    feed("http://example.net/rss.xml", "Old style"),  # feed://
    feed("https://example.com/rss", "Unsafe site link"),  # htmlUrl="javascript:…" dropped
    feed("https://japantoday.com/Feed", "Not the same: path case"),
)
QUIRK_DUPLICATES = (
    OpmlProblem(24, "duplicate of line 8: https://japantoday.com/feed"),
    OpmlProblem(25, "duplicate of line 8: HTTPS://JapanToday.com/feed"),  # scheme and host case
)
QUIRK_INVALID_START = (
    OpmlProblem(27, 'xmlUrl "ftp://example.org/feed.xml" is not an http(s) URL'),
    OpmlProblem(28, 'outline "Empty URL" has an empty xmlUrl'),
    OpmlProblem(29, 'outline "No URL" has no xmlUrl'),
    OpmlProblem(30, 'xmlUrl "/feed.xml" is not an http(s) URL'),
    OpmlProblem(31, 'xmlUrl "https://example.org/a feed.xml" contains a space or control character'),
)


def check_quirks(result: OpmlImport) -> None:
    assert result.feeds == QUIRK_FEEDS
    assert result.duplicates == QUIRK_DUPLICATES
    assert result.invalid[:5] == QUIRK_INVALID_START
    too_long, link = result.invalid[5:]
    assert too_long.line == 32 and too_long.message.endswith("is too long (2129 characters, at most 2048)")
    assert len(too_long.message) < 200  # the URL is shortened in the message
    assert link == OpmlProblem(33, 'outline "Blogroll" has no xmlUrl')  # a link, not a feed
    # the empty folder on line 17 is no problem


def test_quirks_feeds_duplicates_and_invalid_outlines_by_line() -> None:
    check_quirks(read_opml(sample("quirks.opml")))


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: codecs.BOM_UTF8 + text.replace("\n", "\r\n").encode("utf-8"),
        lambda text: text.encode("utf-16"),  # with its BOM
        lambda text: text.replace("utf-8", "UTF-16LE").encode("utf-16-le"),
    ],
    ids=["bom-crlf", "utf-16", "utf-16le-declared"],
)
def test_same_lines_in_other_encodings_and_line_endings(encode: Callable[[str], bytes]) -> None:
    check_quirks(read_opml(encode(sample("quirks.opml").decode("utf-8"))))


def test_declared_legacy_encodings_are_decoded() -> None:
    template = (
        '<?xml version="1.0" encoding="{enc}"?>\n<opml version="1.0"><body>\n'
        '<outline text="{title}" xmlUrl="https://example.jp/rss"/>\n</body></opml>\n'
    )
    for enc, title in [
        ("Shift_JIS", "日本経済新聞"),
        ("EUC-JP", "朝日新聞"),
        ("windows-1252", "Le Monde – café"),
    ]:
        data = template.format(enc=enc, title=title).encode(enc)
        assert read_opml(data).feeds == (feed("https://example.jp/rss", title),), enc


def test_byte_order_mark_wins_over_the_declaration() -> None:
    text = (
        '<?xml version="1.0" encoding="windows-1252"?>\n'
        '<opml><body><outline text="café" xmlUrl="https://a.example/"/></body></opml>'
    )
    for data in (codecs.BOM_UTF8 + text.encode("utf-8"), text.encode("utf-16")):
        assert read_opml(data).feeds == (feed("https://a.example/", "café"),)


def test_problem_messages_stay_on_one_line() -> None:
    data = (
        b'<opml><body>\n<outline type="rss" title="two&#10;lines&#13;" xmlUrl=""/>\n'
        b'<outline type="rss" text="x" xmlUrl="gopher://a&#10;b"/>\n</body></opml>'
    )
    result = read_opml(data)
    assert [p.line for p in result.invalid] == [2, 3]
    assert result.invalid[0].message == r'outline "two\nlines" has an empty xmlUrl'
    for problem in result.invalid:
        assert problem.message.isprintable(), problem.message


def test_untitled_outline_without_url_is_named_in_the_message() -> None:
    result = read_opml(b'<opml><body><outline type="rss" htmlUrl="https://a.example/"/></body></opml>')
    assert result.invalid == (OpmlProblem(1, "outline (untitled) has no xmlUrl"),)


def test_outlines_outside_body_and_empty_body() -> None:
    data = b'<opml version="2.0"><head><outline xmlUrl="https://head.example/rss"/></head><body/></opml>'
    assert read_opml(data) == OpmlImport((), (), ())


# ------------------------------------------------------------------------------------- not OPML at all

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>News</title><item><title>x</title></item></channel></rss>
"""
ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>News</title></feed>
"""
RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
</rdf:RDF>
"""
XHTML = b"""<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Feeds</title></head><body><p>x</p></body></html>
"""
HTML = b"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8">
<title>Export your feeds</title>
</head><body><p>Sign in<br>to continue</body></html>
"""


@pytest.mark.parametrize(
    ("data", "expected", "line"),
    [
        pytest.param(b"", "the file is empty", None, id="empty"),
        pytest.param(b" \r\n\t\n", "the file is empty", None, id="blank"),
        pytest.param(codecs.BOM_UTF8 + b"\n", "the file is empty", None, id="bom-only"),
        pytest.param(
            codecs.BOM_UTF16_LE + " \n".encode("utf-16-le"), "the file is empty", None, id="utf16-blank"
        ),
        pytest.param(b'{"feeds": [{"url": "https://a.example/rss"}]}', "this is JSON", None, id="json"),
        pytest.param(b'\n  [{"url": "https://a.example/rss"}]', "this is JSON", None, id="json-list"),
        pytest.param(XHTML, "this is an HTML page", 2, id="xhtml"),
        pytest.param(HTML, "this looks like an HTML page", 1, id="html"),
        pytest.param(RSS, "this is an RSS feed itself", 2, id="rss"),
        pytest.param(ATOM, "this is an Atom feed itself", 2, id="atom"),
        pytest.param(RDF, "RSS 1.0 (RDF) feed itself", 2, id="rdf"),
        pytest.param(b"<subscriptions/>", "the root element is <subscriptions>, not <opml>", 1, id="other"),
        pytest.param(b'<opml version="2.0">\n<head/>\n</opml>', "<opml> has no <body>", 1, id="no-body"),
        pytest.param(b"https://a.example/rss\nhttps://b.example/rss\n", "not well-formed XML", 1, id="text"),
        pytest.param(
            b'<opml><body>\n<outline text="caf&eacute;"/></body></opml>', "&nbsp;", 2, id="html-entity"
        ),
        pytest.param(
            b'<opml><body>\n<outline text="caf\xe9"/></body></opml>', "not UTF-8 (byte 0xE9)", 2, id="latin1"
        ),
        pytest.param(
            b'<?xml version="1.0" encoding="klingon"?><opml/>', 'unknown encoding "klingon"', 1, id="enc"
        ),
        pytest.param(b'<?xml version="1.0" encoding="rot13"?><opml/>', "rot13", None, id="not-text-codec"),
        pytest.param(
            b'<?xml version="1.0" encoding="Shift_JIS"?>\n<opml>\n<body>\x82</body></opml>',
            "not valid Shift_JIS",
            3,
            id="bad-shift-jis",
        ),
        pytest.param(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xed\x9d", "not UTF-8", 1, id="gzip"),
    ],
)
def test_not_opml_is_a_one_line_config_error(data: bytes, expected: str, line: int | None) -> None:
    error = config_error(data)
    assert expected in error.message
    assert error.line == line
    assert error.path is None


def test_truncated_file_says_it_ends_too_early() -> None:
    data = sample("feedly.opml")
    for cut in (200, 700, len(data) - 10):
        error = config_error(data[:cut])
        assert "the file ends too early" in error.message, cut
        assert error.line == data[:cut].count(b"\n") + 1


def test_only_config_errors_for_any_prefix_or_corruption() -> None:
    """Whatever the bytes, read_opml returns an OpmlImport or raises ConfigError, nothing else."""
    data = b"".join(sample("quirks.opml").splitlines(keepends=True)[:26]) + b"</body></opml>"
    read_opml(data)  # the base case is valid
    inputs = [data[:cut] for cut in range(len(data))]
    rng = random.Random(7)
    for _ in range(400):
        corrupt = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            corrupt[rng.randrange(len(corrupt))] = rng.choice(b"<>&\"'/=;!?\x00\xff\xe3 x#%[]-")
        inputs.append(bytes(corrupt))
    for item in inputs:
        try:
            result = read_opml(item)
        except ConfigError as error:
            assert "\n" not in str(error), (item, str(error))
        else:
            assert isinstance(result, OpmlImport)


# -------------------------------------------------------------------------------------------- security


def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("SECRET-MARKER-42", encoding="utf-8")
    return path


def assert_no_leak(data: bytes, marker: str = "SECRET-MARKER-42") -> ConfigError | OpmlImport:
    try:
        result: ConfigError | OpmlImport = read_opml(data)
    except ConfigError as error:
        result = error
        assert marker not in str(error)
    assert marker not in repr(result)
    return result


def test_xxe_general_entity_is_refused(tmp_path: Path) -> None:
    data = (
        '<?xml version="1.0"?>\n<!DOCTYPE opml [\n'
        f'<!ENTITY x SYSTEM "{secret_file(tmp_path).as_uri()}">\n]>\n'
        '<opml><head><title>&x;</title></head><body><outline text="&x;" xmlUrl="https://a.example/"/>'
        "</body></opml>"
    ).encode()
    error = assert_no_leak(data)
    assert isinstance(error, ConfigError) and error.line == 3
    assert "refused" in error.message


def test_etc_passwd_entity_is_refused() -> None:
    data = b'<!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]><opml><body>&x;</body></opml>'
    error = assert_no_leak(data, marker="root:")
    assert isinstance(error, ConfigError)


def test_xxe_parameter_entity_and_external_dtd_are_refused(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "SECRET-MARKER-42">', encoding="utf-8")
    body = b'<opml><body><outline text="&leak;" xmlUrl="https://a.example/"/></body></opml>'
    for doctype in (
        f'<!DOCTYPE opml [<!ENTITY % p SYSTEM "{dtd.as_uri()}"> %p;]>',
        f'<!DOCTYPE opml SYSTEM "{dtd.as_uri()}">',
        '<!DOCTYPE opml PUBLIC "-//x//DTD OPML//EN" "http://127.0.0.1:9/opml.dtd">',
    ):
        result = assert_no_leak(doctype.encode() + b"\n" + body)
        assert isinstance(result, ConfigError), doctype


def test_billion_laughs_is_refused() -> None:
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE opml [", ' <!ENTITY lol0 "lol">']
    lines += [f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    lines += ["]>", '<opml><body><outline text="&lol9;" xmlUrl="https://a.example/"/></body></opml>']
    error = config_error("\n".join(lines).encode())
    assert "refused" in error.message and error.line == 3


def test_quadratic_blowup_is_refused() -> None:
    data = (
        f'<!DOCTYPE opml [<!ENTITY a "{"a" * 50_000}">]><opml><body>'
        f'<outline text="{"&a;" * 10_000}" xmlUrl="https://a.example/"/></body></opml>'
    ).encode()
    assert "refused" in config_error(data).message


def test_harmless_doctype_is_read() -> None:
    data = (
        b'<!DOCTYPE opml>\n<opml version="2.0">'
        b'<body><outline text="A" xmlUrl="https://a.example/"/></body></opml>'
    )
    assert read_opml(data).feeds == (feed("https://a.example/", "A"),)


# --------------------------------------------------------------------------------------------- writing

HOSTILE = [
    feed("https://a.example/rss?x=1&y=2", '<script>alert("x")</script>', "https://a.example/?a=1&b=<2>"),
    feed("https://b.example/feed", 'Tom & Jerry\'s "news" ]]> &amp;', None, "Asia & <Pacific>"),
    feed("https://c.example/feed", "🗾 Japan 🇯🇵 — 日本", "https://c.example/", 'Asia / "Japan" 🗾'),
    feed("https://d.example/feed", "हिंदी समाचार", None, "Asia / India"),
    feed("https://e.example/feed", "tab\there, two\nlines", None, "Asia"),
    feed("https://f.example/feed", None, None, "AC/DC"),  # a slash without spaces is one folder
    feed("https://g.example/feed?q='single'", "x", None, None),
]


def by_url(feeds: tuple[OpmlFeed, ...] | list[OpmlFeed]) -> list[OpmlFeed]:
    return sorted(feeds, key=lambda f: f.url)


def test_round_trip_of_hostile_values() -> None:
    result = read_opml(write_opml(HOSTILE, now=NOW).encode("utf-8"))
    assert by_url(result.feeds) == by_url(HOSTILE)
    assert result.duplicates == () and result.invalid == ()


def test_round_trip_of_every_sample() -> None:
    for path in sorted(DATA.glob("*.opml")):
        feeds = read_opml(path.read_bytes()).feeds
        text = write_opml(feeds, title=f"from {path.name}", now=NOW)
        assert by_url(read_opml(text.encode("utf-8")).feeds) == by_url(feeds), path.name


def test_export_is_opml_2_xml() -> None:
    text = write_opml(HOSTILE, title='My <feeds> & "more"', now=NOW.astimezone(timezone(timedelta(hours=9))))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "opml" and root.attrib == {"version": "2.0"}
    assert root.findtext("head/title") == 'My <feeds> & "more"'
    created = root.findtext("head/dateCreated")
    assert created == "Fri, 06 Mar 2026 10:30:00 GMT"
    assert parsedate_to_datetime(created) == NOW
    outlines = [o for o in root.iter("outline") if "xmlUrl" in o.attrib]
    assert sorted(o.attrib["xmlUrl"] for o in outlines) == sorted(f.url for f in HOSTILE)
    for outline in outlines:
        assert outline.attrib["type"] == "rss" and outline.attrib["text"]
    untitled = next(o for o in outlines if o.attrib["xmlUrl"] == "https://f.example/feed")
    assert untitled.attrib["text"] == "https://f.example/feed" and "title" not in untitled.attrib


def test_export_layout() -> None:
    feeds = [
        feed("https://jp.example/rss", "Japan news", "https://jp.example/", "Asia / Japan"),
        feed("https://top.example/rss", "Top", None, None),
        feed("https://asia.example/rss", "Asia news", None, "Asia"),
        feed("https://in.example/rss", "India & more", None, "Asia / India"),
        feed("https://jp2.example/rss", None, None, " Asia / Japan "),
    ]
    assert write_opml(feeds, now=NOW) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<opml version="2.0">\n'
        "  <head>\n"
        "    <title>monitor feeds</title>\n"
        "    <dateCreated>Fri, 06 Mar 2026 10:30:00 GMT</dateCreated>\n"
        "  </head>\n"
        "  <body>\n"
        '    <outline text="Asia" title="Asia">\n'
        '      <outline text="Japan" title="Japan">\n'
        '        <outline type="rss" text="Japan news" title="Japan news" xmlUrl="https://jp.example/rss"'
        ' htmlUrl="https://jp.example/"/>\n'
        '        <outline type="rss" text="https://jp2.example/rss" xmlUrl="https://jp2.example/rss"/>\n'
        "      </outline>\n"
        '      <outline type="rss" text="Asia news" title="Asia news" xmlUrl="https://asia.example/rss"/>\n'
        '      <outline text="India" title="India">\n'
        '        <outline type="rss" text="India &amp; more" title="India &amp; more"'
        ' xmlUrl="https://in.example/rss"/>\n'
        "      </outline>\n"
        "    </outline>\n"
        '    <outline type="rss" text="Top" title="Top" xmlUrl="https://top.example/rss"/>\n'
        "  </body>\n"
        "</opml>\n"
    )


def test_export_of_nothing_reads_back_as_nothing() -> None:
    assert read_opml(write_opml([], now=NOW).encode("utf-8")) == OpmlImport((), (), ())


def test_export_drops_characters_xml_cannot_carry() -> None:
    feeds = [feed("https://a.example/rss", "bell\x07 and \x00 nul \ud800", None, "cat\x1b")]
    text = write_opml(feeds, now=NOW)
    text.encode("utf-8")  # no lone surrogate left
    assert read_opml(text.encode("utf-8")).feeds == (
        feed("https://a.example/rss", "bell and  nul", None, "cat"),
    )


def test_export_of_deeply_nested_categories() -> None:
    """2,000 levels are written and read back; the category keeps the outermost few (issue 20:
    every feed of a deep tree holding the whole path was quadratic in memory)."""
    deep = " / ".join(f"level{i}" for i in range(2000))
    feeds = [feed("https://deep.example/rss", "Deep", None, deep)]
    kept = " / ".join(f"level{i}" for i in range(MAX_CATEGORY_DEPTH))
    assert read_opml(write_opml(feeds, now=NOW).encode("utf-8")).feeds == (
        feed("https://deep.example/rss", "Deep", None, kept),
    )
