"""Rule files: `[[rule]]` tables and `[terms]` lists → a RuleSet; every error names file, line, rule.

    each file ─tomllib→ [[rule]] tables → (Rule, parsed Query), [terms] → TermLists
    all files' lists → one index by name (a name defined twice is an error)
    each query's @names resolved against it → assemble_rule_set → RuleSet

Lists are global, so every file is read before any query is resolved.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import RuleError
from monitor.rules.examples import ExampleFailure, check_examples, find_example_file, is_example_file
from monitor.rules.matcher import RuleSet
from monitor.rules.ruleset import PRIORITIES, Query, assemble_rule_set, check_rule_id, parse_query
from monitor.rules.termlists import TermList, index_term_lists, make_term_list, resolve_lists
from monitor.types import Rule

__all__ = ["ExampleFailure", "check_examples", "load_rules"]  # check_examples lives in examples.py

_KEYS = ("id", "name", "query", "chat_id", "priority", "must_match", "must_not_match")
_REQUIRED = ("id", "name", "query")


def load_rules(paths: Iterable[Path]) -> RuleSet:
    """Load rule files, and every *.toml (sorted) in rule folders, into one RuleSet."""
    files = [_read_rule_file(path) for path in rule_files(paths)]
    lists = index_term_lists([term_list for file in files for term_list in file.lists])
    return assemble_rule_set([pending.resolve(lists) for file in files for pending in file.rules], lists)


@dataclass(frozen=True)
class _Pending:
    """A rule whose query is parsed but whose @names wait for every file's lists."""

    rule: Rule
    query: Query
    lines: _SourceLines  # its file's lines, to turn a query offset into a file line
    number: int  # which [[rule]] table of the file it is

    def resolve(self, lists: Mapping[str, TermList]) -> tuple[Rule, Query]:
        try:
            return self.rule, resolve_lists(self.query, lists)
        except RuleError as exc:
            at = self.lines.query_line(self.number, self.rule.query, exc.position)
            raise RuleError(
                f"bad query: {exc.message}", self.rule.path, self.rule.id, exc.position, at
            ) from exc


@dataclass(frozen=True)
class _RuleFile:
    rules: list[_Pending]
    lists: list[TermList]


def rule_files(paths: Iterable[Path]) -> list[Path]:
    """The rule files load_rules reads, in its order: each file given, each folder's *.toml sorted."""
    files: dict[Path, Path] = {}  # resolved → as given, so a file listed twice loads once
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise RuleError("folder has no *.toml rule files", path)
        elif path.is_file():
            found = [path]
        else:
            raise RuleError("no such rule file or folder", path)
        files.update((file.resolve(), file) for file in found)
    if not files:
        raise RuleError("no rule files given")
    return list(files.values())


def _read_rule_file(path: Path) -> _RuleFile:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"cannot read rule file: {exc}", path) from exc
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, path, source) from exc
    lines = _SourceLines(source)
    tables = _rule_tables(data, path, lines)
    lists = _term_lists(data.get("terms", {}), path, lines)
    if not tables and not lists:
        raise RuleError("no [[rule]] tables in this file", path)
    return _RuleFile([_read_rule(table, path, lines, number) for number, table in enumerate(tables)], lists)


def _toml_error(exc: tomllib.TOMLDecodeError, path: Path, source: str) -> RuleError:
    # tomllib has no line attribute; its message ends "(at line N, column M)"
    message = str(exc)
    found = re.search(r"\s*\(at (?:line (\d+), column \d+|end of document)\)$", message)
    if found is None:
        return RuleError(f"invalid TOML: {message}", path)
    line = int(found.group(1)) if found.group(1) else source.count("\n") + 1
    return RuleError(f"invalid TOML: {message[: found.start()]}", path, line=line)


def _rule_tables(data: dict[str, object], path: Path, lines: _SourceLines) -> list[dict]:
    for key in data:
        if key not in ("rule", "terms"):
            raise RuleError(
                f"unknown top-level key {key!r}: a rule file holds [[rule]] tables and a [terms] table",
                path,
                line=lines.top_level_line(key),
            )
    tables = data.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise RuleError("'rule' must be [[rule]] tables", path, line=lines.top_level_line("rule"))
    return tables


def _term_lists(table: object, path: Path, lines: _SourceLines) -> list[TermList]:
    if not isinstance(table, dict):
        raise RuleError("'terms' must be a [terms] table", path, line=lines.top_level_line("terms"))
    return [
        make_term_list(name, elements, path, lines.table_key_line("terms", name))
        for name, elements in table.items()
    ]


def _read_rule(table: dict, path: Path, lines: _SourceLines, number: int) -> _Pending:
    line = lines.table_line(number)
    rule_id = table.get("id") if isinstance(table.get("id"), str) else None

    def fail(message: str, key: str | None = None, position: int | None = None) -> RuleError:
        at = lines.key_line(number, key) if key else line
        return RuleError(message, path, rule_id, position, at)

    _check_keys(table, fail)
    check_rule_id(table["id"], path, lines.key_line(number, "id"))
    try:
        query = parse_query(table["query"])
    except RuleError as exc:
        at = lines.query_line(number, table["query"], exc.position)
        raise RuleError(f"bad query: {exc.message}", path, rule_id, exc.position, at) from exc
    rule = Rule(
        table["id"],
        table["name"],
        table["query"],
        _chats(table, fail),
        path,
        line,
        _priority(table, fail),
        _examples(table, "must_match", path, fail),
        _examples(table, "must_not_match", path, fail),
    )
    return _Pending(rule, query, lines, number)


def _check_keys(table: dict, fail: Callable[..., RuleError]) -> None:
    for key in table:
        if key not in _KEYS:
            raise fail(f"unknown key {key!r} (a rule has {', '.join(_KEYS)})", key)
    for key in _REQUIRED:
        if key not in table:
            raise fail(f"missing required key {key!r}")
        if not isinstance(table[key], str) or not table[key].strip():
            raise fail(f"{key!r} must be a non-empty string", key)


def _priority(table: dict, fail: Callable[[str, str], RuleError]) -> str:
    value = table.get("priority", "normal")
    if value not in PRIORITIES:
        raise fail(f'\'priority\' must be "high", "normal" or "low", not {value!r}', "priority")
    return str(value)


def _examples(table: dict, key: str, path: Path, fail: Callable[[str, str], RuleError]) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(e, str) and e.strip() for e in value):
        raise fail(f"{key!r} must be a list of non-empty strings", key)
    for example in value:
        if is_example_file(example) and find_example_file(example, path) is None:
            folder = path.parent
            raise fail(f"{key} example file {example!r} is not in {folder}/ or its parent", key)
    return tuple(value)


def _chats(table: dict, fail: Callable[[str, str], RuleError]) -> tuple[str, ...]:
    """`chat_id`: one chat or a list of them, each a numeric id, an @channel or a [[chats]] name.

    Names are resolved against the config elsewhere; here each becomes a string, once.
    """
    value = table.get("chat_id")
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    chats: list[str] = []
    for item in values:
        # bool is an int in Python, but `chat_id = true` is a mistake
        if isinstance(item, int) and not isinstance(item, bool):
            chat = str(item)
        elif isinstance(item, str) and item.strip():
            chat = item.strip()
        else:
            raise fail(
                "'chat_id' must be a chat (an integer id, an @channel or a [[chats]] name)"
                " or a non-empty list of them",
                "chat_id",
            )
        if chat not in chats:
            chats.append(chat)
    if not chats:
        raise fail("'chat_id' must not be an empty list (leave it out for the default chat)", "chat_id")
    return tuple(chats)


class _SourceLines:
    """Line numbers of [[rule]] headers and keys, found in the raw text (tomllib has none)."""

    _HEADER = re.compile(r"\s*\[\[\s*[\"']?rule[\"']?\s*\]\]")

    def __init__(self, source: str) -> None:
        self.lines = source.split("\n")  # TOML newlines are LF or CRLF, nothing else
        self.headers = [n for n, text in enumerate(self.lines, 1) if self._HEADER.match(text)]
        self.tables: dict[str, tuple[int | None, int, dict[str, int]]] = {}  # _table's answers

    def table_line(self, number: int) -> int | None:
        return self.headers[number] if number < len(self.headers) else None

    def key_line(self, number: int, key: str) -> int | None:
        """The line of `key =` in the number-th [[rule]] table, else the table's own line."""
        start = self.table_line(number)
        if start is None:
            return None
        end = self.headers[number + 1] if number + 1 < len(self.headers) else len(self.lines)
        return self._find(_key_pattern(key), start, end) or start

    def table_key_line(self, table: str, key: str) -> int | None:
        """The line of `key =` inside a `[table]` table, else the table's line."""
        start, end, keys = self._table(table)
        if start is None:
            return self.top_level_line(table)
        if key in keys:
            return keys[key]
        return self._find(_key_pattern(key), start + 1, end) or start  # a key _KEY cannot read

    def _table(self, table: str) -> tuple[int | None, int, dict[str, int]]:
        """A `[table]`'s header line, its last line, and the line of each plainly written key in it
        (read once per table: [terms] has a hundred keys, each found by scanning its lines before)."""
        if table not in self.tables:
            self.tables[table] = self._read_table(table)
        return self.tables[table]

    def _read_table(self, table: str) -> tuple[int | None, int, dict[str, int]]:
        header = re.compile(rf"\s*\[\s*[\"']?{re.escape(table)}[\"']?\s*\]")
        start = self._find(header, 1, len(self.lines))
        if start is None:
            return None, 0, {}
        after = self._find(re.compile(r"\s*\["), start + 1, len(self.lines))
        end = after - 1 if after is not None else len(self.lines)
        keys: dict[str, int] = {}
        for number in range(start + 1, end + 1):
            found = _KEY.match(self.lines[number - 1])
            if found:
                keys.setdefault(next(name for name in found.groups() if name is not None), number)
        return start, end, keys

    def top_level_line(self, key: str) -> int | None:
        """The line of a top-level `key =` or `[key]`, which comes before the first [[rule]]."""
        end = self.headers[0] if self.headers else len(self.lines)
        pattern = re.compile(rf"{_key_pattern(key).pattern}|\s*\[+\s*[\"']?{re.escape(key)}\b")
        return self._find(pattern, 1, end) or self._find(pattern, 1, len(self.lines))

    def query_line(self, number: int, query: str, position: int | None) -> int | None:
        """The file line of offset `position` in a rule's (possibly multi-line) query."""
        line = self.key_line(number, "query")
        if line is None or position is None:
            return line
        # Only a multi-line string spreads the query over lines: in a one-line string a
        # newline is the escape "\n" (found by tests/test_properties.py).
        block = re.search(r"=\s*(\"\"\"|''')(\s*$)?", self.lines[line - 1])
        if block is None:
            return line
        # TOML drops a newline right after an opening """ or '''
        return line + int(block.group(2) is not None) + query.count("\n", 0, position)

    def _find(self, pattern: re.Pattern[str], start: int, end: int) -> int | None:
        for number in range(start, end + 1):
            if number <= len(self.lines) and pattern.match(self.lines[number - 1]):
                return number
        return None


# a line that sets a bare, "quoted" or 'quoted' key without escapes: what _key_pattern(key) finds
_KEY = re.compile(r"""\s*(?:([A-Za-z0-9_-]+)|"([^"\\]*)"|'([^']*)')\s*[=.]""")


def _key_pattern(key: str) -> re.Pattern[str]:
    name = re.escape(key)
    return re.compile(rf"\s*(?:{name}|\"{name}\"|'{name}')\s*[=.]")
