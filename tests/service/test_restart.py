"""`monitor run` killed with SIGKILL between Telegram accepting an alert and the outbox
recording it: after a restart that one alert is sent again, and nothing else is lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes.telegram_api import SentMessage
from monitor.archive.store import Archive
from monitor.config.load import load_config
from tests.chatkit import items
from tests.conftest import rss


def start(config: Path, token: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": token}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_between_send_and_record_resends_at_most_that_alert(chat_config, telegram_api):
    feed = items("semiconductor", 4)
    config = chat_config('[[chats]]\nid = "1001"\nburst = 100\n', feed=feed)
    process = start(config, telegram_api.token)

    def kill_at_the_second(message: SentMessage) -> None:
        if len(telegram_api.messages) == 2:
            os.kill(process.pid, signal.SIGKILL)  # Telegram has it; monitor has not recorded it

    telegram_api.on_accept = kill_at_the_second
    try:
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        process.kill()
        process.communicate()
    telegram_api.on_accept = None
    assert len(telegram_api.messages) == 2

    again = start(config, telegram_api.token)
    try:
        assert telegram_api.wait_for(lambda: len(telegram_api.messages) >= 5, timeout=30)
        time.sleep(0.5)  # room for a wrong extra message to show up
        again.send_signal(signal.SIGTERM)
        out, err = again.communicate(timeout=20)
    finally:
        again.kill()
    assert again.returncode == 0, err
    assert "Traceback" not in err
    sent = [next(item.title for item in feed if item.title in m.visible_text) for m in telegram_api.messages]
    # The first two, then the second again (the one in flight at the kill), then the rest.
    assert sent == [feed[0].title, feed[1].title, feed[1].title, feed[2].title, feed[3].title]


def test_kill_in_the_middle_of_a_pass_loses_no_article_and_doubles_no_alert(
    chat_config, telegram_api, feed_server, tmp_path
):
    feeds = [items("semiconductor", 2, start=2 * i) for i in range(12)]
    config = chat_config('[[chats]]\nid = "1001"\nburst = 100\n', feed=feeds[0])
    urls = [
        feed_server.add(f"/slow/{i}.xml", rss(f"Wire {i}", feed), delay=0.3) for i, feed in enumerate(feeds)
    ]
    tables = "".join(f'\n[[feeds]]\nurl = "{u}"\n' for u in urls[1:])
    config.write_text(config.read_text() + tables)
    process = start(config, telegram_api.token)
    try:
        assert _wait(lambda: len(feed_server.requests) >= 8)
        os.kill(process.pid, signal.SIGKILL)  # fetches in flight, some feeds saved, some not
        process.wait(timeout=10)
    finally:
        process.kill()
        process.communicate()
    every = [item.title for feed in feeds for item in feed]
    again = start(config, telegram_api.token)
    try:
        delivered = lambda: {t for m in telegram_api.messages for t in every if t in m.visible_text}  # noqa: E731
        assert _wait(lambda: len(delivered()) == len(every), timeout=60)
        time.sleep(0.5)
        again.send_signal(signal.SIGTERM)
        again.communicate(timeout=20)
    finally:
        again.kill()
    archive = Archive.open(load_config(config, environ={}).storage_path, create=False)
    titles = [r[0] for r in archive.db.execute("select title from articles")]
    archive.close()
    assert sorted(titles) == sorted(every)  # each article archived, once
    sent = [t for m in telegram_api.messages for t in every if t in m.visible_text]
    assert len(sent) <= len(every) + 1  # at most the one alert in flight at the kill, again


def _wait(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
