"""The loaded rules kept between runs of `rules check`: a hit only for the very same bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.rules import loadcache
from monitor.rules.examples import check_examples
from monitor.rules.loadcache import default_folder, load_rules_cached
from monitor.rules.rulefile import load_rules

ROOT = Path(__file__).resolve().parents[2]
RULE = '[[rule]]\nid = "quad"\nname = "Quad"\nquery = "{query}"\nmust_match = ["{example}"]\n'


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[list[Path]]:
    """The calls of load_rules the cache makes (a miss makes one, a hit none)."""
    calls: list[list[Path]] = []

    def counted(paths: list[Path]) -> object:
        calls.append(list(paths))
        return load_rules(paths)

    monkeypatch.setattr(loadcache, "load_rules", counted)
    return calls


def test_a_hit_is_the_rule_set_load_rules_makes(tmp_path: Path, loads: list[list[Path]]) -> None:
    shipped = [ROOT / "rules"]
    fresh = load_rules(shipped)
    first = load_rules_cached(shipped, tmp_path)
    again = load_rules_cached(shipped, tmp_path)
    assert len(loads) == 1  # the second was read back
    seeds = [path.read_text("utf-8").partition("\n") for path in sorted((ROOT / "seeds").glob("*.txt"))]
    for rules in (first, again):
        assert rules.rules == fresh.rules
        assert [rules.match(title, summary) for title, _, summary in seeds] == [
            fresh.match(title, summary) for title, _, summary in seeds
        ]
        assert check_examples(rules) == check_examples(fresh) == []


def test_a_file_changed_with_the_same_size_and_mtime_is_loaded_again(
    tmp_path: Path, loads: list[list[Path]]
) -> None:
    rules_file = tmp_path / "rules" / "r.toml"
    rules_file.parent.mkdir()
    rules_file.write_text(RULE.format(query="Quad", example="Quad meets"), encoding="utf-8")
    stat = rules_file.stat()
    assert load_rules_cached([rules_file], tmp_path / "cache").match("Quad meets", "")
    rules_file.write_text(RULE.format(query="Kwad", example="Kwad meets"), encoding="utf-8")
    os.utime(rules_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert rules_file.stat().st_size == stat.st_size and rules_file.stat().st_mtime_ns == stat.st_mtime_ns
    rules = load_rules_cached([rules_file], tmp_path / "cache")
    assert len(loads) == 2
    assert not rules.match("Quad meets", "") and rules.match("Kwad meets", "")
    assert check_examples(rules) == []


def test_a_new_rule_file_in_a_folder_is_a_miss(tmp_path: Path, loads: list[list[Path]]) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a.toml").write_text(RULE.format(query="Quad", example="Quad"), encoding="utf-8")
    load_rules_cached([folder], tmp_path / "cache")
    (folder / "b.toml").write_text(RULE.format(query="Kwad", example="Kwad").replace("quad", "kwad"), "utf-8")
    rules = load_rules_cached([folder], tmp_path / "cache")
    assert len(loads) == 2 and [r.id for r in rules.rules] == ["quad", "kwad"]


def test_an_entry_others_may_write_or_a_broken_one_is_not_read(
    tmp_path: Path, loads: list[list[Path]]
) -> None:
    shipped = [ROOT / "rules"]
    cache = tmp_path / "cache"
    load_rules_cached(shipped, cache)
    (entry,) = cache.iterdir()
    assert entry.stat().st_mode & 0o777 == 0o600 and cache.stat().st_mode & 0o777 == 0o700
    entry.chmod(0o666)
    load_rules_cached(shipped, cache)  # not read; written again, the user's own
    assert len(loads) == 2 and entry.stat().st_mode & 0o777 == 0o600
    entry.write_bytes(entry.read_bytes()[:1000])
    load_rules_cached(shipped, cache)
    load_rules_cached(shipped, cache)
    assert len(loads) == 3  # the cut entry was a miss, and the one written then a hit


def test_a_missing_example_file_is_the_error_load_rules_gives(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    example = folder / "x.txt"
    example.write_text("Quad meets\n", encoding="utf-8")
    (folder / "r.toml").write_text(RULE.format(query="Quad", example="x.txt"), encoding="utf-8")
    assert check_examples(load_rules_cached([folder], tmp_path / "cache")) == []
    example.unlink()
    with pytest.raises(RuleError) as cached:
        load_rules_cached([folder], tmp_path / "cache")
    with pytest.raises(RuleError) as fresh:
        load_rules([folder])
    assert str(cached.value) == str(fresh.value) and "example file 'x.txt'" in str(cached.value)


def test_without_a_folder_nothing_is_kept(tmp_path: Path, loads: list[list[Path]]) -> None:
    load_rules_cached([ROOT / "rules"], None)
    load_rules_cached([ROOT / "rules"], None)
    assert len(loads) == 2
    assert default_folder({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "monitor"
    assert default_folder({"HOME": "/home/u"}) == Path("/home/u/.cache/monitor")
    assert default_folder({}) is None


def test_rules_check_says_the_same_from_the_cache(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(f'[rules]\npaths = ["{ROOT / "rules"}"]\n', encoding="utf-8")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "monitor", "--config", str(config), "rules", "check"]
    runs = [subprocess.run(command, env=env, capture_output=True, text=True, check=False) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0]
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.endswith("examples: all pass\n")
    assert len(list((tmp_path / "cache" / "monitor").glob("rules-*.pickle"))) == 1
