"""The packages' import direction (pyproject.toml [tool.importlinter]), checked with the tests.

import-linter does the checking; these tests run it on the real tree, and once on a copy of
the tree with one forbidden import per contract added, so a contract that cannot fail would show.
Besides the pipeline's direction: the product and the loopback fakes (fakes/) import neither
each other nor the tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    script = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run(
        [sys.executable, "-c", script, "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def test_the_packages_import_downwards_only() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    for package in ("monitor", "fakes", "tests"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "data")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    archive = tmp_path / "monitor" / "archive" / "feeds.py"
    archive.write_text(archive.read_text() + "\nfrom monitor.ingest import schedule  # noqa\n")
    sql = tmp_path / "monitor" / "rules" / "matcher.py"
    sql.write_text(sql.read_text() + "\nimport sqlite3  # noqa\n")
    demo = tmp_path / "monitor" / "cli" / "demo.py"  # the demo on the tests' server
    demo.write_text(demo.read_text() + "\nfrom fakes import feed_server  # noqa\n")
    fake = tmp_path / "fakes" / "feed_server.py"
    fake.write_text(fake.read_text() + "\nfrom monitor import types  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "monitor.archive is not allowed to import monitor.ingest" in result.stdout
    assert "monitor.rules.matcher -> sqlite3" in result.stdout
    assert "monitor is not allowed to import fakes" in result.stdout
    assert "fakes is not allowed to import monitor" in result.stdout
    assert "0 kept, 4 broken" in result.stdout


MODULE_LINES = 450  # ../shared/STYLE.md: modules under ~400; past this, split by domain


def test_no_module_of_the_product_outgrows_what_a_reader_can_hold() -> None:
    sizes = {
        p.relative_to(ROOT).as_posix(): len(p.read_text("utf-8").splitlines())
        for p in ROOT.glob("monitor/**/*.py")
    }
    assert len(sizes) > 50  # the product's modules were found
    assert {name: n for name, n in sizes.items() if n > MODULE_LINES} == {}
