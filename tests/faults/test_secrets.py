"""The bot token never leaves the process except to Telegram: not in a log line, not in the
archive, not in an error message, whatever goes wrong."""

from __future__ import annotations

import ast
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chatkit import items

pytestmark = pytest.mark.slow  # end to end: `pytest -m "not slow"` leaves it out

SECRET = "SECRET-TOKEN-abcdefghijklmnop"


def run_until(config: Path, token: str, done, *extra: str) -> tuple[str, str]:
    """`monitor run` with `token` in the environment until done(log) returns (`log()`: its
    stderr so far), then SIGTERM."""
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": token}
    log = config.with_name("run.log")
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "--log-level", "DEBUG", *extra, "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            done(lambda: log.read_text(encoding="utf-8"))
            process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=30)
        finally:
            process.kill()
    return out, log.read_text(encoding="utf-8")


def archive_text(path: Path) -> str:
    """Every text value in every table of the archive, one per line."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table'")]
        values = []
        for table in tables:
            for row in db.execute(f'select * from "{table}"'):
                values += [str(v) for v in row if isinstance(v, str | bytes)]
    finally:
        db.close()
    return "\n".join(values)


def test_the_token_is_in_no_log_line_archive_table_or_error(chat_config, telegram_api, feed_server, tmp_path):
    token = telegram_api.token
    assert SECRET not in token
    telegram_api.token = token = "123456:" + SECRET  # the fake accepts this one
    config = chat_config('[[chats]]\nid = "1001"\nburst = 100\n', feed=items("semiconductor", 3))
    broken = feed_server.misbehave("/broken.xml", "status", code=500)
    text = config.read_text()
    config.write_text(text + f'\n[[feeds]]\nurl = "{broken}"\n')
    telegram_api.fail_next(n=1, status=502)  # Telegram trouble first: retried, logged
    telegram_api.push_message("/status", user_id=99, username="stranger")  # refused, logged
    out, err = run_until(
        config, token, lambda _: telegram_api.wait_for(lambda: len(telegram_api.messages) >= 3, 30)
    )
    assert len(telegram_api.messages) >= 1  # it really ran, talked to Telegram and logged
    assert "event=" in err and "DEBUG" in err
    assert token not in out + err and SECRET not in out + err
    db = next(tmp_path.rglob("*.db"))
    assert SECRET not in archive_text(db)


def test_a_rejected_token_is_not_printed(chat_config, telegram_api):
    config = chat_config('[[chats]]\nid = "1001"\n', feed=items("semiconductor", 1))
    wrong = "654321:" + SECRET  # getMe answers 401 Unauthorized

    def said(err: str) -> bool:
        return "401" in err or "nauthorized" in err or "token" in err.lower()  # the problem is said

    # until it has said why it cannot send, however long a busy machine takes to start it
    out, err = run_until(config, wrong, lambda log: telegram_api.wait_for(lambda: said(log()), 60))
    assert said(err)
    assert SECRET not in out + err


def test_config_errors_about_the_token_name_the_key_not_the_value(tmp_path):
    cases = {
        "token = 123456\n": "token must be a string",
        f'token = "123456:{SECRET}\n': "",  # an unterminated string: TOML's own error
        f'token_file = "{tmp_path / ("missing-" + SECRET)}"\n': "token_file",
    }
    for line, expected in cases.items():
        path = tmp_path / "monitor.toml"
        path.write_text(f'[telegram]\nchat_id = "1"\n{line}', encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(path), "poll"],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"},
        )
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert expected in result.stderr
        assert f"123456:{SECRET}" not in result.stderr + result.stdout


def test_the_archive_and_its_companions_are_owner_only(write_config, feed_server, tmp_path):
    """Created by monitor under a permissive umask: the archive, its WAL and shared-memory
    files and its lock file are readable by their owner alone."""
    url = feed_server.add("/feed.xml", b"<rss version='2.0'><channel><title>T</title></channel></rss>")
    path = write_config([url])
    old = os.umask(0o002)
    try:
        script = (
            "import asyncio, sys; from pathlib import Path\n"
            "from monitor.app import open_app; from monitor.config.load import load_config\n"
            "async def main():\n"
            "    async with open_app(load_config(Path(sys.argv[1]), environ={})) as app:\n"
            "        await app.pipeline.run_pass()\n"
            "        print(sorted(p.name for p in Path(sys.argv[2]).iterdir()))\n"
            "asyncio.run(main())\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, str(path), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    names = {"monitor.db", "monitor.db-wal", "monitor.db-shm", "monitor.db.lock"}
    assert names <= set(ast.literal_eval(result.stdout))  # all four existed while it ran
    for name in names & {p.name for p in tmp_path.iterdir()}:
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, name
