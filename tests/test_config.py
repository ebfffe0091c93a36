"""monitor.toml: what loads, and the one-line errors for what does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config, parse_duration
from monitor.errors import ConfigError

GOOD = """
[storage]
path = "data/archive.db"

[rules]
paths = ["myrules"]

[schedule]
interval = "5m"

[telegram]
token = "from-file"
chat_id = -1001234567890
api_url = "http://127.0.0.1:9/bot"

[[feeds]]
url = "https://example.org/rss"
name = "Example"
interval = "90s"

[[feeds]]
url = "https://example.org/atom"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={})
    assert config.storage_path == tmp_path.resolve() / "data" / "archive.db"
    assert config.rule_paths == (tmp_path.resolve() / "myrules",)
    assert config.interval == 300
    assert config.telegram.token == "from-file"
    assert config.telegram.chat_id == "-1001234567890"
    assert config.telegram.api_url == "http://127.0.0.1:9/bot"
    assert [(f.url, f.name, f.interval) for f in config.feeds] == [
        ("https://example.org/rss", "Example", 90.0),
        ("https://example.org/atom", None, None),
    ]


def test_environment_token_wins(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={"TELEGRAM_BOT_TOKEN": "from-env"})
    assert config.telegram.token == "from-env"


def test_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("123:abc\n")
    config = load_config(write(tmp_path, '[telegram]\ntoken_file = "token"\nchat_id = 5\n'), environ={})
    assert config.telegram.token == "123:abc" and config.telegram.enabled


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})
    assert config.storage_path.name == "monitor.db"
    assert config.interval == 900
    assert config.feeds == ()
    assert not config.telegram.enabled


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[storage]\npath = 'x.db'\ncolour = 'red'\n", 3, "unknown key 'colour' in [storage]"),
        ("[storage]\npath = \n", 2, "invalid TOML"),
        ("[[feeds]]\nurl = 'https://a.example/'\nintervall = '5m'\n", 3, "unknown key 'intervall'"),
        ("[schedule]\ninterval = 'soon'\n", 2, "not a duration"),
        ("[[feeds]]\nurl = 'ftp://a.example/'\n", 2, "http(s) URL"),
        (
            "[[feeds]]\nurl = 'https://a.example/'\n[[feeds]]\nurl = 'https://a.example/'\n",
            2,
            "feed listed twice",
        ),
        ("[telegarm]\ntoken = 'x'\n", 1, "unknown section or key 'telegarm'"),
        ("[fetch]\nconcurrency = 0\n", 2, "positive whole number"),
    ],
    ids=[
        "unknown-key",
        "toml-syntax",
        "unknown-feed-key",
        "bad-duration",
        "bad-url",
        "duplicate-feed",
        "unknown-section",
        "bad-concurrency",
    ],
)
def test_errors_name_file_line_and_problem(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ")
    assert words in message
    assert "\n" not in message


def test_bad_token_type_names_the_key_not_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[telegram]\ntoken = 12345678\n"), environ={})
    assert "token" in str(info.value) and "12345678" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(30, 30), ("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604800), ("2.5m", 150)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "5 minutes", "-5m", 0, True, None])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_stories_section(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[stories]\nwindow = "2d"\nmin_points = 3\n'), environ={})
    assert config.stories.window_hours == 48 and config.stories.min_points == 3.0
    assert config.stories.near_duplicate == 0.4
    with pytest.raises(
        ConfigError, match=r"monitor.toml:2: \[stories\] min_points must be a positive number"
    ):
        load_config(write(tmp_path, '[stories]\nmin_points = "lots"\n'), environ={})
