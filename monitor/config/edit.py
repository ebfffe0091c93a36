"""Edits to monitor.toml that commands make for the user: `monitor feeds remove` of a configured feed.

Text edits, so the rest of the file (comments, order, spacing) stays as the user wrote it.
The new text is read back with load_config's parser before it replaces the file (atomically:
a running `monitor run` never reads half a file).
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from pathlib import Path

from monitor.errors import ConfigError

_TABLE = re.compile(r"^\s*\[")  # a table header, [x] or [[x]]
_FEEDS = re.compile(r"^\s*\[\[\s*feeds\s*\]\]\s*(#.*)?$")


def remove_from_config(path: Path, url: str) -> None:
    """Remove the [[feeds]] table whose url is `url` from the config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", path) from None
    lines = text.splitlines(keepends=True)
    headers = [i for i, line in enumerate(lines) if _TABLE.match(line)] + [len(lines)]
    for start, end in zip(headers, headers[1:], strict=False):
        if not _FEEDS.match(lines[start]):
            continue
        try:
            table = tomllib.loads("".join(lines[start:end]))
        except tomllib.TOMLDecodeError:
            continue
        if table.get("feeds", [{}])[0].get("url") == url:
            _replace(path, "".join(lines[:start] + lines[end:]))
            return
    raise ConfigError(f"no [[feeds]] table with url = {url!r} to remove", path)


def _replace(path: Path, text: str) -> None:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # the file is left as it was
        raise ConfigError(
            f"removing the feed would leave invalid TOML ({exc}); edit it by hand", path
        ) from None
    mode = path.stat().st_mode & 0o777
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
