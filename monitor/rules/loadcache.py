"""Loaded rule sets kept between runs of `monitor rules check`, by the exact bytes they came from.

    load_rules_cached(paths, folder) → RuleSet, as load_rules(paths) makes it
        the inputs: monitor's rules code and records (the classes pickled), then each rule
        file load_rules reads, as (path, bytes)
        folder/rules-<crc of the paths>.pickle: (FORMAT, the inputs) then the RuleSet
        same inputs, byte for byte, and every example file still there → its RuleSet
        anything else (a changed, added or removed file, another Python, a foreign or
        unreadable cache file) → load_rules, and the entry written again

Loading the shipped rules is 45 ms of the command's 130 (parsing 2,000 list elements and
8 queries, resolving, compiling, indexing: issue 16); unpickling them is 6 ms. Nothing is
trusted by date or size: a file whose bytes differ is loaded and checked afresh, even with
the same size and mtime. The examples always run: only the loading is kept. The folder is
the user's own (made 0700; a cache file is read only if it and its folder are the user's
and no one else may write them), since unpickling runs what the file says.
"""

from __future__ import annotations

import os
import pickle
import sys
import zlib
from collections.abc import Iterable, Mapping
from contextlib import suppress
from pathlib import Path

from monitor.errors import RuleError
from monitor.rules.examples import find_example_file, is_example_file
from monitor.rules.matcher import RuleSet
from monitor.rules.rulefile import load_rules, rule_files

FORMAT = 1  # what an entry holds; a change of it is a miss
_PACKAGE = Path(__file__).resolve().parent.parent  # monitor/

Inputs = tuple[tuple[str, bytes], ...]


def load_rules_cached(paths: Iterable[Path], folder: Path | None) -> RuleSet:
    """load_rules(paths), from folder's entry when its inputs are these, byte for byte."""
    paths = list(paths)
    if folder is None:
        return load_rules(paths)
    try:
        inputs = _inputs(paths)
    except (OSError, RuleError):
        return load_rules(paths)  # its own error, as it words it
    entry = folder / f"rules-{zlib.crc32(repr([str(p) for p in paths]).encode()):08x}.pickle"
    cached = _read(entry, inputs)
    if cached is not None:
        return cached
    rules = load_rules(paths)
    _write(entry, inputs, rules)
    return rules


def default_folder(environ: Mapping[str, str]) -> Path | None:
    """$XDG_CACHE_HOME/monitor, else ~/.cache/monitor (None without a home)."""
    base = environ.get("XDG_CACHE_HOME") or (f"{environ['HOME']}/.cache" if environ.get("HOME") else "")
    return Path(base) / "monitor" if base else None


def _inputs(paths: list[Path]) -> Inputs:
    sources = [_PACKAGE / "errors.py", _PACKAGE / "types.py", *sorted((_PACKAGE / "rules").glob("*.py"))]
    code = tuple((str(source.relative_to(_PACKAGE)), source.read_bytes()) for source in sources)
    files = tuple((str(path), path.read_bytes()) for path in rule_files(paths))
    return ((f"{FORMAT} {sys.implementation.cache_tag} {sys.version}", b""), *code, *files)


def _read(entry: Path, inputs: Inputs) -> RuleSet | None:
    try:
        with entry.open("rb") as file:
            if not (_private(os.fstat(file.fileno())) and _private(entry.parent.stat())):
                return None
            if pickle.load(file) != inputs:
                return None
            rules = pickle.load(file)
    except Exception:  # noqa: BLE001 (a missing, partial or stale entry is a miss, whatever it raises)
        return None
    if not isinstance(rules, RuleSet) or not _examples_found(rules):
        return None
    return rules


def _private(stat: os.stat_result) -> bool:
    """Owned by this user, and writable by no one else."""
    return stat.st_uid == os.getuid() and not stat.st_mode & 0o022


def _examples_found(rules: RuleSet) -> bool:
    """Every example file is still where load_rules found it (else it is loaded, to say so)."""
    return all(
        find_example_file(example, rule.path) is not None
        for rule in rules.rules
        for example in (*rule.must_match, *rule.must_not_match)
        if is_example_file(example)
    )


def _write(entry: Path, inputs: Inputs, rules: RuleSet) -> None:
    """The entry, written whole or not at all (a read-only home: no cache)."""
    partial = entry.with_name(f"{entry.name}.{os.getpid()}.partial")
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            pickle.dump(inputs, file, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(rules, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, entry)
    except OSError:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
