"""Text no single field may stall or hide (issue 20, items 1, 7 and 8), on the real pipeline.

Each of these failed before the fix; the figures are in the test's docstring.
"""

from __future__ import annotations

import pytest

from monitor.ingest.parse import MAX_SUMMARY
from tests.faults.test_bodies import ON_TOPIC, alerts_of, archive_of, feed, item, stored

pytestmark = pytest.mark.slow  # the fault catalogue, through the real pipeline: seconds each


def test_a_megabyte_of_lt_in_cdata_is_cut_before_it_is_read(faults, feed_server):
    """1 MB of "<" inside CDATA in one description. The tag-stripping regexes used to run on the
    whole text and cut it afterwards: 20k characters took 0.44 s, 160k 28 s, and the 1 MB feed
    held the pass for minutes (no pass finished in 210 s; the service needed kill -9). Now every
    field is cut to a bound before it is read and HTML-to-text is linear: the pass completes, the
    item and its neighbour are archived, the text no longer than MAX_SUMMARY."""
    flood = b"<![CDATA[" + b"<" * 1_000_000 + b"]]>"
    url = feed_server.add("/lt.xml", feed(item(1, ON_TOPIC, flood), item(2, "The neighbour item")))
    outcome = faults.run([url])
    assert outcome.ok(url) == [ON_TOPIC, "The neighbour item"]
    first, _ = stored(outcome, url)
    assert set(first["summary"]) == {"<"} and len(first["summary"]) == MAX_SUMMARY
    assert len(alerts_of(outcome, url)) == 1


def test_items_sharing_one_guid_with_distinct_links_are_all_archived(faults, feed_server):
    """Ten items, each its own link, all under <guid>0</guid> (or the site's home page as GUID):
    the GUID made them one article, and 1 of 10 was archived, on this poll and every later one.
    A GUID shared by items with different links identifies nothing: each item is identified by
    its link, all ten are archived once, and the feed carries a warning saying so."""
    titles = [f"Item number {n} of the zero-GUID feed" for n in range(10)]
    guid = b'<guid isPermaLink="false">0</guid>'
    url = feed_server.add("/zero-guid.xml", feed(*(item(n, t, extra=guid) for n, t in enumerate(titles))))
    home = b"<guid>https://bodies.test/</guid>"
    home_url = feed_server.add(
        "/home-guid.xml", feed(*(item(20 + n, f"Home {n}", extra=home) for n in range(3)))
    )
    outcome = faults.run([url, home_url])
    assert outcome.ok(url) == titles
    assert outcome.ok(home_url) == ["Home 0", "Home 1", "Home 2"]
    with_warning = _feed_warnings(outcome)
    assert "share a GUID" in with_warning[url] and "share a GUID" in with_warning[home_url]

    assert faults.poll(outcome.config).new_articles == 0  # and nothing twice on the next poll
    assert [a["title"] for a in stored(outcome, url)] == titles


def test_format_characters_are_removed_not_made_spaces(faults, feed_server):
    """A soft hyphen (&shy;), a zero-width space, a zero-width joiner or a word joiner inside a
    word were turned into spaces: "Semi&shy;conductor" was archived as "Semi conductor", so
    neither the `semiconductors` rule nor a search found it. Format characters are removed: the
    word is whole, the rule fires, and joiners between letters that need them stay (Persian,
    emoji: test_bodies.test_control_characters_reach_neither_archive_nor_alert)."""
    title = "India and Japan sign Semi&shy;con\u200bduc\u2060tor pact"
    summary = "Japan\u200d and India agree on semi\u00adconductor supply chains; \ufeffTokyo"
    url = feed_server.add("/invisible.xml", feed(item(1, title, summary)))
    outcome = faults.run([url])
    assert outcome.ok(url) == ["India and Japan sign Semiconductor pact"]
    (article,) = stored(outcome, url)
    assert article["summary"] == "Japan and India agree on semiconductor supply chains; Tokyo"
    (alert,) = alerts_of(outcome, url)
    assert "Semiconductor" in alert


def _feed_warnings(outcome) -> dict[str, str]:
    with archive_of(outcome) as archive:
        return {r["url"]: r["warning"] for r in archive.db["feeds"].rows if r["warning"]}
