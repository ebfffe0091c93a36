"""monitor._bytecode: dataclasses' generated methods compiled once, the same code either way."""

from __future__ import annotations

import dataclasses
import marshal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import CodeType

import pytest

from monitor import _bytecode
from tests.conftest import ROOT

METHODS = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")


def make_record(module: str = "monitor.types") -> type:
    """A record of the shapes monitor.types has (defaults, a factory, a frozen hash), made as
    if in `module` (dataclasses compiles its methods with that module's globals)."""

    class Sample:
        url: str
        seen: datetime | None = None
        tags: tuple[str, ...] = ()
        extra: tuple[int, ...] = dataclasses.field(default_factory=tuple)

    Sample.__module__ = module
    return dataclasses.dataclass(frozen=True)(Sample)


def codes(cls: type) -> dict[str, object]:
    return {name: getattr(cls, name).__code__ for name in METHODS}


def test_the_cached_methods_are_the_ones_dataclasses_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    assert vars(dataclasses).get("exec") is _bytecode._exec  # `import monitor` installed it
    cached, again = make_record(), make_record()  # the second from the cache
    monkeypatch.delattr(dataclasses, "exec")  # dataclasses as Python ships it
    plain = make_record()
    assert codes(cached) == codes(plain) == codes(again)
    assert cached.__init__.__annotations__ == plain.__init__.__annotations__  # objects, not strings
    first, same, other = cached("a", tags=("x",)), cached("a", tags=("x",)), plain("a", tags=("x",))
    assert (first == same, hash(first) == hash(same), repr(first)) == (True, True, repr(other))
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.url = "b"  # type: ignore[misc]


def test_only_monitors_records_are_cached() -> None:
    before = len(_bytecode._codes)
    make_record(__name__)  # not monitor's (as a library's): compiled as dataclasses does, not kept
    assert len(_bytecode._codes) == before
    kept = make_record("monitor.types")
    assert kept.__init__.__code__ in {inner for code in _bytecode._codes.values() for inner in nested(code)}


def nested(code: CodeType) -> Iterator[CodeType]:
    """A code object and every one defined in it (a cached source defines __create_fn__,
    which defines the method)."""
    yield code
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from nested(constant)


def test_the_cache_is_saved_whole_and_read_back(tmp_path: Path) -> None:
    make_record()
    path = tmp_path / "__pycache__" / "dataclasses.test.marshal"
    _bytecode._compiled.append("(a source compiled by this process)")
    _bytecode.save(path)
    assert not _bytecode._compiled and [p.name for p in path.parent.iterdir()] == [path.name]
    read = _bytecode._read(path)
    assert read and read == {source: code for source, code in _bytecode._codes.items() if source in read}


def test_a_released_cache_compiles_again_and_saves_merged_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """release() (a long-running process, once its records are made) forgets the cache; a record
    made after it is compiled, the same methods, and saving keeps what the file held."""
    first = make_record()
    held = dict(_bytecode._codes)
    on_file = {**held, "(saved by another process)": compile("pass", "<string>", "exec")}
    path = tmp_path / "dataclasses.test.marshal"
    path.write_bytes(marshal.dumps((sys.version, on_file)))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # release() saves to the package's own file
    try:
        _bytecode.release()
        assert _bytecode._codes == {}
        again = make_record()  # a miss: compiled, and kept until the next release
        assert codes(again) == codes(first) and _bytecode._codes
        _bytecode._compiled.append("(compiled after the release)")
        _bytecode.save(path)
        assert _bytecode._read(path).keys() == on_file.keys() | _bytecode._codes.keys()  # not these alone
    finally:
        _bytecode._codes.update(held)
        _bytecode._compiled.clear()


@pytest.mark.parametrize(
    "content",
    [b"", b"not marshal", marshal.dumps(("2.7.18", {})), marshal.dumps((sys.version, ["a list"]))],
    ids=["empty", "garbage", "another-python", "not-a-dict"],
)
def test_a_bad_or_foreign_cache_is_ignored(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "cache.marshal"
    path.write_bytes(content)
    assert _bytecode._read(path) == {}
    assert _bytecode._read(tmp_path / "missing.marshal") == {}


def test_an_unwritable_cache_folder_is_no_error(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    _bytecode._compiled.append("(new)")
    _bytecode.save(blocked / "__pycache__" / "dataclasses.marshal")  # cannot be made: quietly nothing
    assert blocked.read_text() == "not a folder"
    _bytecode._compiled.clear()


@pytest.mark.slow
def test_a_command_writes_the_cache_and_the_next_one_reads_it(tmp_path: Path) -> None:
    """As for .pyc files: written where the package lives (unless PYTHONDONTWRITEBYTECODE)."""
    probe = (
        "import monitor.types as t, monitor._bytecode as b; "
        "print(len(b._codes), len(b._compiled), t.FeedConfig('u') == t.FeedConfig('u'))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}

    def run() -> list[str]:
        found = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
        return found.stdout.split()

    run()  # whatever the cache held, it holds monitor.types' methods now
    total, compiled, equal = run()
    assert (int(total) >= 38 * 4, compiled, equal) == (True, "0", "True")
