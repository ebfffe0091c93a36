"""The code checks run with the tests, so one command runs every check (CI included)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "monitor", "tests", "fakes"],
        ["ruff", "format", "--check", "monitor", "tests", "fakes"],
        ["mypy", "monitor"],
    ],
    ids=["ruff-lint", "ruff-format", "mypy"],
)
def test_code_check(command: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
