"""feedparser's own test corpus through monitor's parse path, compared with plain feedparser.

feedparser's sdist ships its test suite's feeds (BSD licence; the sdist of the installed
version is vendored in tests/data/feedparser/ with its LICENSE, else downloaded once into a
cache with pip). Every file goes through `parse_feed` and through `feedparser.parse` of the
same bytes, headers (the ``Header:`` lines the corpus's own HTTP server sends), address and
options (no sanitizer: monitor reduces HTML to text itself);
each entry's title, link, text, id and date must agree, the feedparser side's text read the
way monitor reads text (htmltext.py), so what is compared is the parse path. A file may differ
only for one of the deliberate reasons in ALLOWED.
"""

from __future__ import annotations

import calendar
import io
import re
import subprocess
import sys
import tarfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from monitor.ingest.encoding import as_utf8
from monitor.ingest.htmltext import html_text, plain_text
from monitor.ingest.parse import MAX_SUMMARY, MAX_TITLE, located, parse_feed
from monitor.types import FeedData

VENDORED = Path(__file__).resolve().parents[1] / "data" / "feedparser"
CACHE = Path.home() / ".cache" / "monitor-tests"
_HEADER = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Why monitor's parse path may give something else than plain feedparser, and nothing more.
ALLOWED = {
    "encoding detected": "no charset in the headers, no BOM, no XML declaration, not UTF-8: "
    "a detector reads it (feedparser without chardet reads windows-1252)",
    "entity declarations disarmed": "<!ENTITY> declarations are not expanded (entity bombs)",
    "truncated entry dropped": "the body ends inside its last entry: that fragment is not archived",
    "shared GUID dropped": "entries with different links share a GUID: the link identifies them",
    "implausible date dropped": "a date at or before 1970, or a day past the server's Date header",
}


def corpus() -> Path:
    """The sdist of the installed feedparser: vendored, else downloaded once into the cache."""
    name = f"feedparser-{feedparser.__version__}.tar.gz"
    for folder in (VENDORED, CACHE):
        if (folder / name).exists():
            return folder / name
    CACHE.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", f"feedparser=={feedparser.__version__}"]
    subprocess.run([*command, "--no-binary", ":all:", "--no-deps", "-d", str(CACHE)], check=True, timeout=300)
    return CACHE / name


def corpus_files(sdist: Path) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            path = member.name.split("/", 1)[-1]
            if member.isfile() and path.startswith("tests/") and not path.endswith(".py"):
                handle = tar.extractfile(member)
                assert handle is not None
                yield path, handle.read()


def compare(path: str, data: bytes) -> set[str]:
    """The fields that differ ("count", "title", "link", "text", "id", "date"), none when equal."""
    headers = {k.decode().strip().lower(): v.decode("latin-1").strip() for k, v in _HEADER.findall(data)}
    url = f"http://127.0.0.1:8097/{path}"  # where the corpus's own server serves it
    plain = _plain(data, headers, url)
    mine = parse_feed(url, data, headers)
    if not isinstance(mine, FeedData):
        return {"count"} if plain.entries else set()
    differ = set() if len(plain.entries) == len(mine.entries) else {"count"}
    for theirs, ours in zip(plain.entries, mine.entries, strict=False):
        expected = {
            "title": _text(theirs, "title", MAX_TITLE) or "(untitled)",
            "link": _link(theirs),
            "text": max([_text(theirs, "summary", MAX_SUMMARY)] + _contents(theirs), key=len),
            "id": str(theirs["id"]).strip() if theirs.get("id") else None,
            "date": _date(theirs),
        }
        got = {
            "title": ours.title,
            "link": ours.link,
            "text": ours.summary,
            "id": ours.guid,
            "date": ours.published,
        }
        differ |= {field for field, value in expected.items() if got[field] != value}
    return differ


def reason(path: str, data: bytes, differ: set[str]) -> str | None:
    """The deliberate difference that explains `differ`, or None."""
    headers = {k.decode().strip().lower(): v.decode("latin-1").strip() for k, v in _HEADER.findall(data)}
    if as_utf8(data, headers).guess:
        return "encoding detected"
    if b"<!ENTITY" in data:
        return "entity declarations disarmed"
    url = f"http://127.0.0.1:8097/{path}"
    plain = _plain(data, headers, url)
    mine = parse_feed(url, data, headers)
    assert isinstance(mine, FeedData)
    if differ == {"count"} and len(mine.entries) == len(plain.entries) - 1 and plain.bozo:
        return "truncated entry dropped"
    ids = Counter(e.get("id") for e in plain.entries if e.get("id"))
    if differ == {"id"} and all(e.guid is None for e in mine.entries) and max(ids.values(), default=0) > 1:
        return "shared GUID dropped"
    if differ == {"date"} and all(e.published is None for e in mine.entries):
        return "implausible date dropped"
    return None


@pytest.mark.slow
def test_monitor_parses_feedparsers_corpus_as_feedparser_does() -> None:
    files, identical, allowed, unexplained = 0, 0, Counter[str](), []
    for path, data in corpus_files(corpus()):
        files += 1
        differ = compare(path, data)
        if not differ:
            identical += 1
            continue
        why = reason(path, data, differ)
        if why is None:
            unexplained.append(f"{path}: {sorted(differ)}")
        else:
            allowed[why] += 1
    print(
        f"\nfeedparser {feedparser.__version__} corpus: {files} files, {identical} identical, {dict(allowed)}"
    )
    assert unexplained == [], unexplained
    assert files > 2_000 and identical > files - 50


def _plain(data: bytes, headers: dict[str, str], url: str) -> Any:
    """feedparser as monitor calls it: its sanitizer and its resolution of links inside HTML
    are off, since monitor reduces HTML to text itself (that step is compared on both sides)."""
    return feedparser.parse(
        io.BytesIO(data),
        response_headers=located(headers, url),
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _text(entry: Any, key: str, limit: int) -> str:
    kind = (entry.get(f"{key}_detail") or {}).get("type")
    return _read(entry.get(key) or "", kind, limit)


def _contents(entry: Any) -> list[str]:
    return [_read(c.get("value") or "", c.get("type"), MAX_SUMMARY) for c in entry.get("content", []) or []]


def _read(value: str, kind: str | None, limit: int) -> str:
    return plain_text(value, limit) if kind in ("text/plain", "text") else html_text(value, limit)


def _link(entry: Any) -> str | None:
    if entry.get("link"):
        return str(entry["link"]).strip()
    for candidate in entry.get("links", []):
        if candidate.get("href") and candidate.get("rel", "alternate") == "alternate":
            return str(candidate["href"]).strip()
    return None


def _date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(entry, key)
        if value:
            try:
                moment = datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
            return moment if moment > _EPOCH else None
    return None
