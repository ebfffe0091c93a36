"""A monitor.toml as text and as parsed TOML: where each key is written, for errors that name
the file and the line (config/load.py builds the Config on top of it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from monitor.config.values import parse_duration
from monitor.errors import ConfigError

ARRAYS = ("feeds", "chats")  # sections written as [[name]] tables, any number of them
_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")


def toml_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    m = re.search(r"at line (\d+)", str(exc))
    return int(m.group(1)) if m else None


def header(section: str) -> str:
    return f"[[{section}]]" if section in ARRAYS else f"[{section}]"


class TomlSource:
    """The config's text, for finding the line of a key, and typed reads that fail with it."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.base = path.resolve().parent
        # (0-based line, table name) of every [table] and [[table]] header, in order
        self.headers = [
            (i, m.group(1).strip("\"'")) for i, line in enumerate(self.lines) if (m := _HEADER.match(line))
        ]

    def error(
        self, message: str, key: str | None = None, section: str | None = None, index: int = 0
    ) -> ConfigError:
        return ConfigError(message, self.path, self.line_of(key, section, index))

    def line_of(self, key: str | None, section: str | None = None, index: int = 0) -> int | None:
        """Best-effort line of `key = ...`.

        With a section: within its index-th table (the n-th [[feeds]], say), up
        to the next header; the table's header line when the key is not there
        (or is None). Without one: the first such line in the file.
        """
        starts = [i for i, name in self.headers if name == section]
        if section is None or index >= len(starts):
            # no header: a top-level key, or a table written inline / dotted (telegram.token = ...)
            wanted = key or section
            return self._find(wanted, 0, len(self.lines)) if wanted else None
        start = starts[index]
        if key is None:
            return start + 1
        end = next((i for i, _ in self.headers if i > start), len(self.lines))
        return self._find(key, start + 1, end) or start + 1

    def _find(self, key: str, start: int, end: int) -> int | None:
        name = re.escape(key)
        pattern = re.compile(rf"^\s*(?:{name}|\"{name}\"|'{name}')\s*=")
        return next((i + 1 for i in range(start, end) if pattern.match(self.lines[i])), None)

    def tables(self, data: dict[str, Any], name: str) -> list[dict[str, Any]]:
        value = data.get(name)
        if value is None:
            return []
        if name in ARRAYS:
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise self.error(f"{name} must be written as [[{name}]] tables", None, name)
            return value
        if not isinstance(value, dict):
            raise self.error(f"[{name}] must be a table", name)
        return [value]

    def table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        tables = self.tables(data, name)
        return tables[0] if tables else {}

    def resolve(self, value: object, key: str, section: str) -> Path:
        if not isinstance(value, str) or not value:
            raise self.error(f"[{section}] {key} must be a path string", key, section)
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base / path

    def duration(self, value: object, key: str, section: str, index: int = 0) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.error(f"{header(section)} {key}: {exc}", key, section, index) from None
