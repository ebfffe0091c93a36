"""The README documents what the code accepts, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.cli.main import COMMANDS
from monitor.config.load import _SECTIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_is_documented(command: str) -> None:
    assert f"`monitor {command}" in README


@pytest.mark.parametrize(
    ("section", "key"), sorted((s, k) for s, keys in _SECTIONS.items() for k in keys), ids=str
)
def test_every_config_key_is_documented(section: str, key: str) -> None:
    block = README[README.index("## Configuration") :]
    header = f"[[{section}]]" if section in ("feeds", "chats") else f"[{section}]"
    assert header in block
    assert re.search(rf"^{re.escape(key)} = ", block[block.index(header) :], re.MULTILINE), key


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```sh\n(python3 -m venv .*)\n```", README)
    assert len(commands) == 2, commands
    install_and_run, test = commands
    assert install_and_run.endswith("monitor run")
    assert test in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "table",
    [
        "feeds",
        "articles",
        "articles_fts",
        "article_keys",
        "matches",
        "alerts",
        "stories",
        "story_keys",
        "fingerprints",
        "chats",
        "mutes",
    ],
)
def test_every_table_is_documented(table: str) -> None:
    assert f"| `{table}` |" in README
