"""`monitor feeds add` and `feeds remove` of both kinds of feed (issue 14), through the CLI."""

from __future__ import annotations

import pytest

from monitor.config.load import load_config
from tests.cli.test_cli import assert_one_line_error
from tests.cli.test_manage import articles_of, block, cli, db_rows, items, ok
from tests.conftest import rss

pytestmark = pytest.mark.slow  # the real `monitor` command, in subprocesses


def test_feeds_add_watches_a_feed_at_once_and_remove_takes_either_kind_off(
    feed_server, write_config, tmp_path
):
    configured = feed_server.add("/configured.xml", rss("Configured", items("Config", 2)))
    other = feed_server.add("/other.xml", rss("Other", items("Other", 1)))
    added = feed_server.add("/added.xml", rss("Added", items("Added", 3)))
    config = write_config([configured, other], extra="# the feeds we read\n")
    config.write_text(config.read_text().replace(f'url = "{configured}"', f'url = "{configured}"  # ours'))
    db = tmp_path / "monitor.db"

    result = ok(cli(config, "feeds", "add", added, "--name", "Added desk", "--interval", "5m"))
    assert result.stderr.strip() == f"added {added}: checked within seconds while monitor run is up"
    again = ok(cli(config, "feeds", "add", added))
    assert "already watched" in again.stderr
    listed = ok(cli(config, "feeds", "list")).stdout
    assert block(listed, added).startswith(f"Added desk [ok; cli]\n    {added}\n    0 articles; due now")
    assert db_rows(db, "select interval from feeds where url = ?", added) == [(300.0,)]
    ok(cli(config, "poll"))
    assert articles_of(db, added) == 3

    # A configured feed leaves the config file (the rest of it as written); an added one the list.
    removed = ok(cli(config, "feeds", "remove", configured))
    assert removed.stderr.strip() == f"removed {configured} from {config}; its articles stay in the archive"
    text = config.read_text()
    assert configured not in text and other in text and "# the feeds we read" in text
    assert [f.url for f in load_config(config, environ={}).feeds] == [other]
    ok(cli(config, "feeds", "remove", added))
    listed = ok(cli(config, "feeds", "list")).stdout
    assert "[REMOVED; config]" in block(listed, configured) and "[REMOVED; cli]" in block(listed, added)
    assert articles_of(db, configured) == 2 and articles_of(db, added) == 3

    assert_one_line_error(cli(config, "feeds", "add", "ftp://example.org/x"), "not an http(s) URL")
    assert_one_line_error(cli(config, "feeds", "add", added, "--interval", "soon"), "--interval")
