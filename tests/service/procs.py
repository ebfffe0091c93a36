"""Child processes as Linux's /proc tells of them, for the tests of the parser workers."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> list[int]:
    """The processes whose parent is PID (started by any of its threads)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    """Its command line ("" once it is gone: a child may exit between children() and this)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether PID runs (a zombie, exited but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def imported(names: list[str]) -> list[str]:
    """Those of `names` this process has imported (a task for a worker: this module is light)."""
    import sys

    return [name for name in names if sys.modules.get(name) is not None]


def cached_code() -> int:
    """How many dataclass sources this process keeps compiled (monitor._bytecode's cache)."""
    from monitor import _bytecode

    return len(_bytecode._codes)


def reversed_bytes(data: bytes) -> bytes:
    """DATA backwards (a task for a worker: what it sends back differs from what it got)."""
    return data[::-1]
