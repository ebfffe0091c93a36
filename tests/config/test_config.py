"""monitor.toml: what loads, and the one-line errors for what does not."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from monitor.config.load import load_config
from monitor.config.values import parse_duration
from monitor.errors import ConfigError
from monitor.types import ChatConfig, DigestSchedule, QuietHours, ScheduleSettings, ServiceSettings

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
            4,  # the second listing
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


# --- [telegram] allowed_users and [[chats]] ----------------------------------------

CHATS = """
[telegram]
chat_id = -100
allowed_users = [123456, "789", 123456]

[[chats]]
id = -1001234567890
name = "desk"
timezone = "Asia/Kolkata"
low = "digest"
burst = 3
burst_window = "5m"
quiet_hours = "22:00-07:00"
quiet_allow_high = false
digest = "weekly Mon 08:30"
digest_rules = ["quad", "chips"]

[[chats]]
id = "@india_japan"

[[chats]]
id = "-100"  # the default chat may have settings too
quiet_hours = "23:00-06:00"
digest = "daily 07:00"
"""


def test_chats_and_allowed_users(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CHATS), environ={})
    assert config.telegram.allowed_users == (123456, 789)  # strings of digits become numbers; once each
    assert config.chats == (
        ChatConfig(
            id="-1001234567890",
            name="desk",
            timezone="Asia/Kolkata",
            low="digest",
            burst=3,
            burst_window=300.0,
            quiet=QuietHours(time(22), time(7), allow_high=False),
            digest=DigestSchedule("weekly", time(8, 30), 0, ("quad", "chips")),
        ),
        ChatConfig(id="@india_japan"),
        ChatConfig(
            id="-100",
            quiet=QuietHours(time(23), time(6), allow_high=True),
            digest=DigestSchedule("daily", time(7)),
        ),
    )
    assert config.chat("@india_japan") is config.chats[1]
    assert config.chat("-555") == ChatConfig("-555")


def test_chat_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[[chats]]\nid = 42\n"), environ={})
    (chat,) = config.chats
    assert (chat.id, chat.name, chat.timezone, chat.low) == ("42", None, "UTC", "silent")
    assert (chat.burst, chat.burst_window, chat.quiet, chat.digest) == (5, 600.0, None, None)
    assert load_config(write(tmp_path, ""), environ={}).telegram.allowed_users == ()
    assert load_config(write(tmp_path, ""), environ={}).chats == ()


def test_chat_environment_still_wins(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CHATS), environ={"TELEGRAM_CHAT_ID": "-777"})
    assert config.telegram.chat_id == "-777" and config.telegram.allowed_users == (123456, 789)


def test_quiet_allow_high_without_quiet_hours_is_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[[chats]]\nid = 1\nquiet_allow_high = false\n"), environ={})
    assert config.chats[0].quiet is None


# line 1: [[chats]], 10: the second [[chats]], 11: its id, 12: its name, 13: {extra}
TWO_CHATS = """[[chats]]
id = 1
name = "desk"
timezone = "Asia/Tokyo"
burst = 2

[[feeds]]
url = "https://a.example/"

[[chats]]
id = 2
name = "ops"
{extra}
"""

CHAT_ERRORS = [
    # (id, text, line, words)
    (
        "users-not-list",
        "[telegram]\nchat_id = 1\nallowed_users = 123\n",
        3,
        "[telegram] allowed_users must be",
    ),
    ("users-negative", "[telegram]\nallowed_users = [1, -5]\n", 2, "allowed_users must be a list"),
    ("users-word", "[telegram]\nallowed_users = ['@me']\n", 2, "got '@me'"),
    ("users-zero", "[telegram]\nallowed_users = [0]\n", 2, "positive whole numbers"),
    ("users-bool", "[telegram]\nallowed_users = [true]\n", 2, "allowed_users"),
    ("not-array", "[chats]\nid = 1\n", 1, "chats must be written as [[chats]] tables"),
    ("unknown-key", "[[chats]]\nid = 1\ncolour = 'red'\n", 3, "unknown key 'colour' in [[chats]]"),
    ("missing-id", "\n[[chats]]\nname = 'desk'\n", 2, "[[chats]] id is required"),
    ("id-bool", "[[chats]]\nid = true\n", 2, "[[chats]] id must be"),
    ("id-empty", "[[chats]]\nid = ' '\n", 2, "[[chats]] id must be"),
    ("id-float", "[[chats]]\nid = 1.5\n", 2, "[[chats]] id must be"),
    ("name-number", "[[chats]]\nid = 1\nname = 7\n", 3, "[[chats]] name must be a non-empty string"),
    ("name-like-id", "[[chats]]\nid = 1\nname = '-1002'\n", 3, "looks like a chat id"),
    ("name-like-channel", "[[chats]]\nid = 1\nname = '@desk'\n", 3, "looks like a chat id"),
    (
        "unknown-zone",
        "[[chats]]\nid = 1\ntimezone = 'Asia/Kolcata'\n",
        3,
        "[[chats]] timezone: unknown time zone 'Asia/Kolcata'",
    ),
    ("zone-folder", "[[chats]]\nid = 1\ntimezone = 'Asia'\n", 3, "unknown time zone 'Asia'"),
    ("zone-path", "[[chats]]\nid = 1\ntimezone = '../etc'\n", 3, "unknown time zone"),
    ("zone-number", "[[chats]]\nid = 1\ntimezone = 5\n", 3, "unknown time zone 5"),
    ("bad-low", "[[chats]]\nid = 1\nlow = 'loud'\n", 3, '[[chats]] low must be "silent" or "digest"'),
    (
        "low-digest-without-schedule",
        "[[chats]]\nid = 1\nlow = 'digest'\n",
        3,
        '[[chats]] low = "digest" needs a digest schedule (e.g. digest = "daily 08:00")',
    ),
    ("burst-zero", "[[chats]]\nid = 1\nburst = 0\n", 3, "[[chats]] burst must be a positive whole number"),
    ("burst-float", "[[chats]]\nid = 1\nburst = 2.5\n", 3, "burst must be a positive whole number"),
    ("burst-bool", "[[chats]]\nid = 1\nburst = true\n", 3, "burst must be a positive whole number"),
    (
        "burst-window",
        "[[chats]]\nid = 1\nburst_window = 'soon'\n",
        3,
        "[[chats]] burst_window: not a duration",
    ),
    ("quiet-empty", "[[chats]]\nid = 1\nquiet_hours = '22:00-22:00'\n", 3, "quiet_hours: quiet hours start"),
    ("quiet-words", "[[chats]]\nid = 1\nquiet_hours = '10pm-7am'\n", 3, "[[chats]] quiet_hours: not a time"),
    (
        "quiet-allow",
        "[[chats]]\nid = 1\nquiet_allow_high = 'yes'\n",
        3,
        "quiet_allow_high must be true or false",
    ),
    ("digest-hourly", "[[chats]]\nid = 1\ndigest = 'hourly'\n", 3, "[[chats]] digest: not a digest schedule"),
    ("digest-day", "[[chats]]\nid = 1\ndigest = 'weekly funday 08:00'\n", 3, "not a weekday: 'funday'"),
    ("digest-time", "[[chats]]\nid = 1\ndigest = 'daily 8pm'\n", 3, "not a time of day: '8pm'"),
    (
        "digest-rules-alone",
        "[[chats]]\nid = 1\ndigest_rules = ['quad']\n",
        3,
        "[[chats]] digest_rules needs a digest schedule",
    ),
    (
        "digest-rules-empty",
        "[[chats]]\nid = 1\ndigest = 'daily 08:00'\ndigest_rules = []\n",
        4,
        "digest_rules must be a non-empty list of rule ids",
    ),
    (
        "digest-rules-string",
        "[[chats]]\nid = 1\ndigest = 'daily 08:00'\ndigest_rules = 'quad'\n",
        4,
        "digest_rules must be a non-empty list of rule ids",
    ),
    (
        "digest-rules-blank",
        "[[chats]]\nid = 1\ndigest = 'daily 08:00'\ndigest_rules = ['quad', '']\n",
        4,
        "digest_rules must be a non-empty list of rule ids",
    ),
    # mistakes in the second [[chats]] table point into that table, past the first
    (
        "second-zone",
        TWO_CHATS.format(extra="timezone = 'Asia/Kolcata'"),
        13,
        "unknown time zone 'Asia/Kolcata'",
    ),
    ("second-burst", TWO_CHATS.format(extra="burst = -1"), 13, "burst must be a positive whole number"),
    ("second-unknown-key", TWO_CHATS.format(extra="burts = 2"), 13, "unknown key 'burts' in [[chats]]"),
    ("second-name-bad", TWO_CHATS.replace('"ops"', "3").format(extra=""), 12, "name must be a non-empty"),
    ("second-missing-id", TWO_CHATS.replace("id = 2\n", "").format(extra=""), 10, "id is required"),
    (
        "duplicate-id",
        TWO_CHATS.replace("id = 2", "id = '1'").format(extra=""),
        11,
        "id '1' is already the id",
    ),
    (
        "duplicate-name",
        TWO_CHATS.replace('"ops"', '"desk"').format(extra=""),
        12,
        "name 'desk' is already the name",
    ),
    (
        "name-is-other-id",
        "[[chats]]\nid = '@desk'\n[[chats]]\nid = 2\nname = 'desk'\n[[chats]]\nid = 'desk'\n",
        7,
        "id 'desk' is already the name of the chat at line 5",
    ),
    # the same for [[feeds]]: the third table's interval, not the first's
    (
        "third-feed-interval",
        "[[feeds]]\nurl = 'https://a.example/'\ninterval = '5m'\n[[feeds]]\nurl = 'https://b.example/'\n"
        "[[feeds]]\nurl = 'https://c.example/'\ninterval = 'soon'\n",
        8,
        "[[feeds]] interval: not a duration",
    ),
    (
        "second-feed-name",
        "[[feeds]]\nurl = 'https://a.example/'\nname = 'A'\n"
        "[[feeds]]\nurl = 'https://b.example/'\nname = 2\n",
        6,
        "[[feeds]] name must be a string",
    ),
    (
        "second-feed-url",
        "[[feeds]]\nurl = 'https://a.example/'\n\n[[feeds]]\nurl = 'ftp://b.example/'\n",
        5,
        "http(s) URL",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "words"), [c[1:] for c in CHAT_ERRORS], ids=[c[0] for c in CHAT_ERRORS]
)
def test_chat_errors_name_key_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message
    assert "\n" not in message


def test_allowed_users_error_does_not_echo_the_token(tmp_path: Path) -> None:
    text = "[telegram]\ntoken = '123:secret'\nallowed_users = 'me'\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert "allowed_users" in str(info.value) and "secret" not in str(info.value)


# --- [schedule], [service], [telegram] admin_chat -----------------------------------

SCHEDULE = """
[schedule]
interval = "10m"
min_interval = "2m"
max_interval = "12h"
jitter = 0.25
adaptive = true
suspend_after = 8

[service]
listen = "127.0.0.1:9108"

[telegram]
chat_id = -100
admin_chat = 4242
"""


def test_schedule_service_and_admin_chat(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SCHEDULE), environ={})
    assert config.schedule == ScheduleSettings(
        interval=600.0, min_interval=120.0, max_interval=43200.0, jitter=0.25, adaptive=True, suspend_after=8
    )
    assert config.interval == 600.0
    assert config.service == ServiceSettings(listen="127.0.0.1:9108")
    assert config.telegram.admin_chat == "4242"


def test_schedule_service_and_admin_chat_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})
    assert config.schedule == ScheduleSettings(
        interval=900.0,
        min_interval=60.0,
        max_interval=86400.0,
        jitter=0.1,
        adaptive=False,
        suspend_after=None,
    )
    assert config.interval == config.schedule.interval
    assert config.service.listen is None
    assert config.telegram.admin_chat is None


@pytest.mark.parametrize(
    ("text", "schedule"),
    [
        ("[schedule]\njitter = 0\n", ScheduleSettings(jitter=0.0)),
        ("[schedule]\njitter = 0.99\n", ScheduleSettings(jitter=0.99)),
        ("[schedule]\ninterval = '1m'\n", ScheduleSettings(interval=60.0)),  # == min_interval
        ("[schedule]\ninterval = '1d'\n", ScheduleSettings(interval=86400.0)),  # == max_interval
        (
            "[schedule]\nmin_interval = '5m'\nmax_interval = '5m'\ninterval = 300\n",
            ScheduleSettings(interval=300.0, min_interval=300.0, max_interval=300.0),
        ),
        ("[schedule]\nsuspend_after = 1\n", ScheduleSettings(suspend_after=1)),
    ],
    ids=[
        "jitter-zero",
        "jitter-just-under-one",
        "interval-at-min",
        "interval-at-max",
        "all-equal",
        "suspend-1",
    ],
)
def test_schedule_edge_values_load(tmp_path: Path, text: str, schedule: ScheduleSettings) -> None:
    assert load_config(write(tmp_path, text), environ={}).schedule == schedule


@pytest.mark.parametrize(
    ("listen", "chat"),
    [
        ('"[::1]:9108"', '"@ops_channel"'),
        ('"0.0.0.0:1"', "-1001234567890"),
        ('"localhost:65535"', '" 77 "'),
        ('" monitor.internal:9108 "', '"-100"'),
    ],
)
def test_listen_and_admin_chat_forms(tmp_path: Path, listen: str, chat: str) -> None:
    config = load_config(
        write(tmp_path, f"[service]\nlisten = {listen}\n[telegram]\nadmin_chat = {chat}\n"), environ={}
    )
    assert config.service.listen == listen.strip('"').strip()
    assert config.telegram.admin_chat == chat.strip('"').strip()


SCHEDULE_ERRORS = [
    # (id, text, line, words)
    (
        "min-over-max",
        "[schedule]\nmin_interval = '2h'\nmax_interval = '1h'\n",
        2,
        "[schedule] min_interval '2h' is longer than max_interval '1h'",
    ),
    (
        "max-under-default-min",
        "[schedule]\ninterval = 30\n\nmax_interval = '45s'\n",
        4,
        "[schedule] min_interval '1m' (the default) is longer than max_interval '45s'",
    ),
    (
        "interval-under-min",
        "[schedule]\nmin_interval = '5m'\ninterval = '1m'\n",
        3,
        "[schedule] min_interval '5m' is longer than interval '1m'",
    ),
    (
        "default-interval-under-min",
        "[storage]\npath = 'x.db'\n[schedule]\nmin_interval = '30m'\n",
        4,
        "[schedule] min_interval '30m' is longer than interval '15m' (the default)",
    ),
    (
        "interval-over-max",
        "[schedule]\nmax_interval = '1h'\ninterval = '2h'\n",
        3,
        "[schedule] interval '2h' is longer than max_interval '1h'",
    ),
    (
        "interval-over-default-max",
        "[schedule]\ninterval = '2d'\n",
        2,
        "[schedule] interval '2d' is longer than max_interval '1d' (the default)",
    ),
    ("bad-min", "[schedule]\nmin_interval = 'often'\n", 2, "[schedule] min_interval: not a duration"),
    ("bad-max", "[schedule]\n\nmax_interval = -5\n", 3, "[schedule] max_interval: duration must be positive"),
    ("jitter-one", "[schedule]\njitter = 1\n", 2, "[schedule] jitter must be a number from 0 up to"),
    ("workers-negative", "[fetch]\nworkers = -1\n", 2, "[fetch] workers must be a whole number from 0 to 64"),
    ("allow-private-str", "[fetch]\nallow_private = 'x'\n", 2, "[fetch] allow_private must be a list"),
    ("allow-private-net", "[fetch]\nallow_private = ['10.0.0.0/99']\n", 2, "allow_private must be a list"),
    ("block-private-str", "[fetch]\nblock_private_redirects = 'yes'\n", 2, "must be true or false"),
    ("jitter-negative", "[schedule]\njitter = -0.1\n", 2, "jitter must be a number"),
    ("jitter-string", "[schedule]\njitter = '10%'\n", 2, "got '10%'"),
    ("jitter-bool", "[schedule]\njitter = true\n", 2, "jitter must be a number"),
    ("jitter-nan", "[schedule]\njitter = nan\n", 2, "jitter must be a number"),
    ("adaptive-string", "[schedule]\nadaptive = 'yes'\n", 2, "[schedule] adaptive must be true or false"),
    ("suspend-zero", "[schedule]\nsuspend_after = 0\n", 2, "[schedule] suspend_after must be a positive"),
    ("suspend-float", "[schedule]\nsuspend_after = 2.5\n", 2, "suspend_after must be a positive whole"),
    ("suspend-bool", "[schedule]\nsuspend_after = true\n", 2, "suspend_after must be a positive whole"),
    ("schedule-unknown", "[schedule]\nintervall = '5m'\n", 2, "unknown key 'intervall' in [schedule]"),
    ("listen-no-port", "[service]\nlisten = 'localhost'\n", 2, '[service] listen must be "host:port"'),
    ("listen-port-zero", "[service]\nlisten = '127.0.0.1:0'\n", 2, "port 1-65535"),
    ("listen-port-high", "[service]\nlisten = '127.0.0.1:65536'\n", 2, "got '127.0.0.1:65536'"),
    ("listen-no-host", "[service]\nlisten = ':9108'\n", 2, "listen must be"),
    ("listen-bare-ipv6", "[service]\nlisten = '::1:9108'\n", 2, 'IPv6 as "[::1]:9108"'),
    ("listen-bad-ipv6", "[service]\nlisten = '[::g]:9108'\n", 2, "listen must be"),
    ("listen-url", "[service]\nlisten = 'http://127.0.0.1:9108'\n", 2, "listen must be"),
    ("listen-number", "[service]\nlisten = 9108\n", 2, "got 9108"),
    ("service-unknown", "[service]\nport = 9108\n", 2, "unknown key 'port' in [service]"),
    ("admin-empty", "[telegram]\nchat_id = 1\nadmin_chat = ' '\n", 3, "[telegram] admin_chat must be"),
    ("admin-bool", "[telegram]\nadmin_chat = true\n", 2, "admin_chat must be a number or an @channel"),
    ("admin-list", "[telegram]\nadmin_chat = [1]\n", 2, "admin_chat must be"),
]


@pytest.mark.parametrize(
    ("text", "line", "words"), [c[1:] for c in SCHEDULE_ERRORS], ids=[c[0] for c in SCHEDULE_ERRORS]
)
def test_schedule_and_service_errors_name_key_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message
    assert "\n" not in message
