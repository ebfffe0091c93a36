"""HTTP faults: redirects, error statuses, odd bodies and content codings, through the pipeline.

Each goes through ``faults.run`` (a pass among good feeds, the archive's invariants checked)
and asserts what a user sees: the one-line message on the feed's row, and what the feed's
row says about its schedule (``next_check``, ``status``, ``fetch_url``) where the fault
changes it.

Content codings: the client asks for ``gzip, deflate`` only, and decodes them itself under
the ``max_bytes`` cap (fetch.py). A server that sends ``br`` anyway is reported as an
unsupported Content-Encoding, and nothing of the feed is archived.
"""

from __future__ import annotations

import email.utils
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.archive.sqltime import from_iso
from monitor.archive.store import Archive
from monitor.cli.main import main
from monitor.config.load import load_config
from monitor.ingest.schedule import GONE
from tests.conftest import rss

pytestmark = pytest.mark.slow  # end to end: `pytest -m "not slow"` leaves it out


def feed_row(config: Path, url: str) -> dict[str, Any]:
    archive = Archive.open(load_config(config, environ={}).storage_path, create=False)
    try:
        return dict(archive.db.table("feeds").get(url))
    finally:
        archive.close()


def scheduled_wait(row: dict[str, Any]) -> timedelta:
    """How long after this check the feed's row says it is checked next."""
    next_check, checked = from_iso(row["next_check"]), from_iso(row["last_checked"])
    assert next_check is not None and checked is not None
    return next_check - checked


# --- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_chain_ends_at_the_feed_and_only_a_permanent_one_moves_it(
    faults, feed_server, seeds, status: int
) -> None:
    """Two hops of one status to a real feed: archived under the configured URL. When every hop
    is permanent (301, 308), the feed's fetch_url moves, and the next pass goes straight there."""
    final = feed_server.add("/new/feed.xml", rss("Moved", seeds[2:3]))
    feed_server.misbehave("/old/feed.xml", "redirect", to=final, status=status)  # absolute
    url = feed_server.misbehave("/start/feed.xml", "redirect", to="../old/feed.xml", status=status)

    outcome = faults.run([url])

    assert outcome.ok(url) == [seeds[2].title]
    permanent = status in (301, 308)
    assert feed_row(outcome.config, url)["fetch_url"] == (final if permanent else url)
    faults.poll(outcome.config)
    assert feed_server.count("/start/feed.xml") == (1 if permanent else 2)
    assert feed_server.count("/new/feed.xml") == 2


def test_a_redirect_loop_is_reported(faults, feed_server) -> None:
    feed_server.misbehave("/loop/b.xml", "redirect", to="/loop/a.xml", status=302)
    url = feed_server.misbehave("/loop/a.xml", "redirect", to="/loop/b.xml", status=302)

    outcome = faults.run([url])

    outcome.failed_once(url, f"redirect loop at {url}")
    assert feed_row(outcome.config, url)["fetch_url"] == url


# --- error statuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"),
    [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error")],
    ids=["404", "500"],
)
def test_an_error_status_is_reported_and_the_feed_backs_off(
    faults, feed_server, code: int, words: str
) -> None:
    """One failure is not a dead feed: still active, checked again after the interval."""
    url = feed_server.misbehave(f"/status/{code}.xml", "status", code=code, body="oops")

    outcome = faults.run([url], extra="[schedule]\njitter = 0")

    assert outcome.failed_once(url, words) == words
    row = feed_row(outcome.config, url)
    assert (row["status"], row["error_count"]) == ("active", 1)
    assert scheduled_wait(row) == timedelta(minutes=15)


def test_410_gone_suspends_the_feed_at_once(faults, feed_server, capsys: pytest.CaptureFixture[str]) -> None:
    url = feed_server.misbehave("/gone.xml", "status", code=410)

    outcome = faults.run([url])

    outcome.failed_once(url, "HTTP 410 Gone")
    assert outcome.report.suspended == [(url, GONE)]
    row = feed_row(outcome.config, url)
    assert (row["status"], row["suspended_reason"], row["error_count"]) == ("suspended", GONE, 1)
    assert main(["--config", str(outcome.config), "status"]) == 0
    out = capsys.readouterr().out
    assert f"SUSPENDED: {GONE} (monitor feeds resume URL); last error: HTTP 410 Gone" in out
    assert "1 suspended" in out
    faults.poll(outcome.config)
    assert feed_server.count("/gone.xml") == 1  # a suspended feed is not asked again


def _in_three_hours() -> str:
    return email.utils.formatdate(time.time() + 3 * 3600, usegmt=True)


@pytest.mark.parametrize("code", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_sets_the_feeds_next_check(faults, feed_server, code: int, form: str) -> None:
    """Retry-After (RFC 9110 §10.2.3) is longer than the 15 minutes a first failure waits:
    the feed's next check is when the server asked, not sooner."""
    retry_after = "7200" if form == "seconds" else _in_three_hours()
    headers = {"Retry-After": retry_after}
    url = feed_server.misbehave(f"/busy/{code}.xml", "status", code=code, headers=headers)

    outcome = faults.run([url], extra="[schedule]\njitter = 0")

    outcome.failed_once(url, f"HTTP {code}")
    row = feed_row(outcome.config, url)
    if form == "seconds":
        assert scheduled_wait(row) == timedelta(seconds=7200)
    else:
        asked = email.utils.parsedate_to_datetime(retry_after)
        next_check = from_iso(row["next_check"])
        assert next_check is not None
        assert asked - timedelta(seconds=1) <= next_check <= asked + timedelta(seconds=5)
    assert row["status"] == "active"


# --- what a 200 carries ---------------------------------------------------------------------

HTML_PAGE = b"<!doctype html><html><head><title>Welcome</title></head><body><p>Hello</p></body></html>"


@pytest.mark.parametrize(
    ("content_type", "body_kind", "words"),
    [
        ("application/rss+xml", "empty", ("not a feed", "application/rss+xml")),
        ("text/html; charset=utf-8", "html", ("not a feed", "text/html")),
        ("application/rss+xml", "html", ("not a feed", "application/rss+xml")),
    ],
    ids=["empty-200", "html-page", "html-page-labelled-rss"],
)
def test_a_200_that_is_not_a_feed_is_reported(
    faults, feed_server, content_type: str, body_kind: str, words: tuple[str, ...]
) -> None:
    body = b"" if body_kind == "empty" else HTML_PAGE
    headers = {"Content-Type": content_type}
    url = feed_server.misbehave(f"/{body_kind}.xml", "status", code=200, headers=headers, body=body)

    outcome = faults.run([url])

    outcome.failed_once(url, *words)
    assert url not in outcome.titles


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream", "text/plain"])
def test_a_real_feed_with_a_wrong_content_type_is_still_read(
    faults, feed_server, seeds, content_type: str
) -> None:
    """What a user expects: the bytes are a feed, so it is one, whatever the label says."""
    url = feed_server.add("/mislabelled.xml", rss("Mislabelled", seeds[2:3]), content_type=content_type)

    outcome = faults.run([url])

    assert outcome.ok(url) == [seeds[2].title]


# --- bodies at the transport level ------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("oversized", {"mib": 4}),
        ("gzip_bomb", {"gib": 1}),
        ("deflate_bomb", {"gib": 1}),
        ("deflate_bomb", {"gib": 1, "raw": True}),
    ],
    ids=["oversized", "gzip-bomb", "deflate-bomb", "raw-deflate-bomb"],
)
def test_a_body_over_the_cap_is_cut_off(faults, feed_server, mode: str, options: dict[str, Any]) -> None:
    """max_bytes is 1 MiB (write_config), and it caps the decoded body, not the bytes on the wire."""
    url = feed_server.misbehave(f"/{mode}.xml", mode, **options)

    outcome = faults.run([url])

    assert outcome.failed_once(url) == "body larger than 1 MiB"
    assert url not in outcome.titles


def brotli_stored(data: bytes) -> bytes:
    """``data`` as a valid brotli stream (RFC 7932) of uncompressed meta-blocks: enough to be
    a real "br" body without the brotli package."""
    out = bytearray()
    bits, nbits = 0, 1  # WBITS: a single 0 bit means a 64 KiB window
    for start in range(0, len(data), 1 << 16):
        block = data[start : start + (1 << 16)]
        # ISLAST 0, MNIBBLES 4 (code 0), MLEN - 1 in 16 bits, ISUNCOMPRESSED 1
        header = (0 << 0) | (0 << 1) | ((len(block) - 1) << 3) | (1 << 19)
        bits |= header << nbits
        nbits += 20
        out += bits.to_bytes((nbits + 7) // 8, "little")  # padded to a byte boundary with zeros
        out += block
        bits, nbits = 0, 0
    out += bytes([0b11])  # ISLAST 1, ISLASTEMPTY 1
    return bytes(out)


def test_a_brotli_body_is_reported_as_an_unsupported_encoding(faults, feed_server, seeds) -> None:
    """We never ask for br; a server that sends it anyway gets a clear error, and the bytes,
    a real feed inside, are neither decoded wrong nor archived."""
    body = brotli_stored(rss("Brotli", seeds[2:3]))
    headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "br"}
    url = feed_server.misbehave("/brotli.xml", "status", code=200, headers=headers, body=body)

    outcome = faults.run([url])

    assert outcome.failed_once(url) == "unsupported Content-Encoding 'br'"
    assert url not in outcome.titles
    asked = [r for r in feed_server.requests if r.path == "/brotli.xml"]
    assert [r.headers["accept-encoding"] for r in asked] == ["gzip, deflate"]
