"""The bytecode of dataclasses' generated methods, kept beside the package's .pyc files.

Python 3.11 writes the source of each dataclass's methods (__init__, __repr__, __eq__,
__hash__, and for a frozen one __setattr__ and __delattr__) and compiles it at every import:
228 small functions for monitor.types alone, 20 of the 25 ms that module cost every command
(issue 16). The classes are still made by `dataclasses`, from the same source; only the
compiling is remembered, by that source text, so an edited record is a miss (compiled, then
saved), never a stale method.

    install()   dataclasses' `exec` → _exec: a compiled source → its cached code object;
                the cache read from __pycache__/dataclasses.<cache tag>.marshal, written back
                at exit when something was compiled (not if the folder is read-only, or
                PYTHONDONTWRITEBYTECODE is set: as for .pyc files)
    release()   the cache forgotten once a long-running process has made its records (the
                service, a parser worker): what it compiles later is merged into the file

`dataclasses` calls `exec(source, globals, namespace)` through its module globals (3.11 to
3.13); should a later Python not, nothing is cached and nothing else changes.
"""

from __future__ import annotations

import dataclasses
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

PATH = Path(__file__).parent / "__pycache__" / f"dataclasses.{sys.implementation.cache_tag}.marshal"

_codes: dict[str, CodeType] = {}  # generated source → its code, as exec would compile it
_compiled: list[str] = []  # sources compiled by this process, not read from the file


def install() -> None:
    """Compile dataclasses' generated methods through the cache from now on (once per process)."""
    if vars(dataclasses).get("exec") is _exec:
        return
    _codes.update(_read(PATH))
    dataclasses.exec = _exec  # type: ignore[attr-defined]
    if not sys.dont_write_bytecode:
        import atexit

        atexit.register(save)


def release() -> None:
    """Forget the cached sources and code (issue 18: about 0.5 MB of every record of the
    package, held for as long as the service or a parser worker runs, though its records are
    made at import). What it compiled is saved first; a record made after this is compiled, and
    saved merged into the file."""
    if not sys.dont_write_bytecode:
        save()
    _codes.clear()


def _exec(source: Any, globals: Any = None, locals: Any = None) -> None:
    if type(source) is str and _ours(globals):
        code = _codes.get(source)
        if code is None:
            # as dataclasses' exec(str) compiles it: dont_inherit, or this module's
            # `from __future__ import annotations` would make the methods' annotations strings
            code = _codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
            _compiled.append(source)
        source = code
    exec(source, globals, locals)


def _ours(globals: Any) -> bool:
    """Whether the dataclass is monitor's (its module's globals): the libraries the service
    imports make hundreds more, once per process; the cache is read by every command."""
    name = globals.get("__name__", "") if isinstance(globals, dict) else ""
    return name == "monitor" or str(name).startswith("monitor.")


def _read(path: Path) -> dict[str, CodeType]:
    """The cache a process of this very Python wrote; {} for none, another version's, or a bad file."""
    try:
        version, codes = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if version != sys.version or not isinstance(codes, dict):
        return {}
    return codes


def save(path: Path = PATH) -> None:
    """Write the cache if this process compiled something new, merged with the file as it is
    now (what release() forgot, or another process added, stays): whole, then renamed into
    place, so that a reader never sees half a file. Quietly nothing where it cannot be written."""
    if not _compiled:
        return
    data = marshal.dumps((sys.version, {**_read(path), **_codes}))
    temporary = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
        return
    _compiled.clear()
