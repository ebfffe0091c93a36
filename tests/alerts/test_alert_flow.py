"""What a new feed and a storm of matches send (issue 14): the back catalogue is archived, not
alerted ([alerts] backfill), and a chat's burst counts high-priority alerts too."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fakes.telegram_api import check_text
from monitor.app import open_app
from monitor.archive.sqltime import iso
from monitor.archive.store import Archive
from monitor.config.load import TOKEN_ENV, load_config
from monitor.service.scheduler import Service
from tests.chatkit import items, write_chat_config
from tests.conftest import rss


def dated(found, start: datetime):  # type: ignore[no-untyped-def]
    """The same items, published a minute apart from `start` on."""
    return [replace(item, published=start + timedelta(minutes=i)) for i, item in enumerate(found)]


def run_pass(config_path, token: str) -> Service:  # type: ignore[no-untyped-def]
    config = load_config(config_path, environ={TOKEN_ENV: token})

    async def main() -> Service:
        async with open_app(config) as app:
            service = Service(app.pipeline, app.notifiers, app.telegram, app.pipeline.clock)
            await service.poll_due()
            return service

    return asyncio.run(main())


def counts(config_path, sql: str) -> int:  # type: ignore[no-untyped-def]
    archive = Archive.open(load_config(config_path, environ={}).storage_path, create=False)
    try:
        return int(archive.db.execute(sql).fetchone()[0])
    finally:
        archive.close()


def test_a_new_feeds_back_catalogue_is_archived_and_only_the_new_items_alert(
    tmp_path, feed_server, telegram_api
):
    now = datetime.now(UTC)
    old = dated(items("semiconductor", 40), now - timedelta(days=3))
    new = dated(items("semiconductor", 2, start=40), now - timedelta(hours=2))
    url = feed_server.add("/new.xml", rss("Wire", old + new))
    config = write_chat_config(
        tmp_path,
        url,
        telegram_api.bot_url,
        '[alerts]\nbackfill = "24h"\n[[chats]]\nid = "1001"\nburst = 100\n',
    )

    service = run_pass(config, telegram_api.token)

    assert sorted(m.visible_text.split("\n")[0] for m in telegram_api.messages) == sorted(
        i.title for i in new
    )
    assert counts(config, "select count(*) from articles") == 42
    assert counts(config, "select count(distinct article_id) from matches") == 42  # searchable, matched
    assert service.backfilled == 40

    # The feed's next items are not "first fetch" any more: an old-dated one alerts too.
    late = dated(items("semiconductor", 1, start=42), now - timedelta(days=5))
    feed_server.add("/new.xml", rss("Wire", old + new + late))
    archive = Archive.open(load_config(config, environ={}).storage_path, create=False)
    archive.db.execute("update feeds set next_check = ?", [iso(now - timedelta(minutes=1))])
    archive.db.conn.commit()
    archive.close()
    run_pass(config, telegram_api.token)
    assert len(telegram_api.messages) == 3


def test_backfill_all_alerts_the_whole_catalogue_and_0_alerts_nothing_old(
    tmp_path, feed_server, telegram_api
):
    now = datetime.now(UTC)
    feed = dated(items("semiconductor", 3), now - timedelta(hours=2))
    sent = {}
    for setting in ("all", "0"):
        folder = tmp_path / setting
        folder.mkdir()
        url = feed_server.add(f"/{setting}.xml", rss("Wire", feed))
        config = write_chat_config(folder, url, telegram_api.bot_url, f'[alerts]\nbackfill = "{setting}"\n')
        before = len(telegram_api.messages)
        run_pass(config, telegram_api.token)
        sent[setting] = len(telegram_api.messages) - before
        assert counts(config, "select count(*) from articles") == 3
    assert sent == {"all": 3, "0": 0}


def test_a_storm_of_high_priority_matches_is_five_alerts_and_one_high_priority_digest(
    tmp_path, feed_server, telegram_api
):
    feed = items("destroyer", 30) + items("semiconductor", 10, start=30)  # "destroyer": priority high
    url = feed_server.add("/storm.xml", rss("Wire", feed))
    config = write_chat_config(tmp_path, url, telegram_api.bot_url)

    run_pass(config, telegram_api.token)

    messages = telegram_api.messages
    singles, digests = messages[:5], messages[5:]
    assert all(m.visible_text.startswith("Destroyer report") for m in singles)
    high = [m for m in digests if m.visible_text.startswith("High priority")]
    more = [m for m in digests if m.visible_text.startswith("More matches")]
    assert high and more and len(high) + len(more) == len(digests)
    assert digests.index(high[-1]) < digests.index(more[0]), "the high-priority digest goes first"
    assert all(not m.disable_notification for m in high) and all(m.disable_notification for m in more)
    for message in digests:
        check_text(message.text, "HTML")
    listed = "\n".join(m.visible_text for m in high)
    assert all(item.title in listed for item in feed[5:30])  # every held high alert, once
    assert len(messages) <= 10, "a storm of 40 matches is a handful of messages"


def test_a_bad_backfill_is_one_line_with_its_file_and_line(tmp_path, write_config):
    from monitor.errors import ConfigError

    config = write_config([], extra='[alerts]\nbackfill = "soon"')
    try:
        load_config(config, environ={})
    except ConfigError as exc:
        message = str(exc)
    else:
        raise AssertionError("accepted")
    line = config.read_text().splitlines().index('backfill = "soon"') + 1
    assert f"{config}:{line}:" in message and "backfill" in message and "\n" not in message
    assert (
        load_config(write_config([], extra='[alerts]\nbackfill = "all"'), environ={}).alerts.backfill is None
    )
    assert load_config(write_config([], extra='[alerts]\nbackfill = "0"'), environ={}).alerts.backfill == 0
    assert load_config(write_config([]), environ={}).alerts.backfill is None  # the tests' fixture: "all"
    assert load_config(write_config([], extra="[alerts]"), environ={}).alerts.backfill == 86400
