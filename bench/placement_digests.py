"""Story placement's identity: two digests that change when any placement changes.

    python bench/placement_digests.py [TREE] [--db ARCHIVE] [--new 500]
        [--corpus ../shared/storybench/allsides-dev.jsonl]

A change meant to make placement cheaper must leave every placement as it was: run this on main
and on the changed tree and compare. It prints (1) a digest of `--new` placements (story, index
keys, join) of bench/stories_archive_bench.py on its 100,000-article archive (ARCHIVE, filled by
that bench on the first run: about 3 minutes, then reused; a copy is placed into), and (2) with
--corpus, a digest of bench/stories_offline.py's output on a labelled corpus. TREE (default: this
one) is the source tree whose monitor/ and bench/ are measured.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tree", nargs="?", type=Path, default=Path(__file__).resolve().parent.parent)
    p.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "placement-100k.db")
    p.add_argument("--new", type=int, default=500)
    p.add_argument("--corpus", type=Path)
    a = p.parse_args(argv)
    tree = a.tree.resolve()
    sys.path[:0] = [str(tree / "bench"), str(tree)]
    import stories_archive_bench as bench  # the tree's own

    from monitor.service import grouping

    if not Path(grouping.__file__).resolve().is_relative_to(tree):
        print(f"monitor comes from {grouping.__file__}, not {tree}: run with PYTHONPATH={tree}")
        return 2
    digest, placed = hashlib.sha256(), 0
    place = grouping.Grouper.place

    def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal placed
        placement = place(self, *args, **kwargs)
        digest.update(repr((placement.story, tuple(placement.keys), placement.joined)).encode())
        placed += 1
        return placement

    articles = bench.generate(1, 100_000)
    if not a.db.exists():
        with contextlib.redirect_stdout(io.StringIO()):
            bench.main(["--articles", "100000", "--new", "1", "--db", str(a.db)])
    grouping.Grouper.place = recorded  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "archive.db"
        shutil.copyfile(a.db, path)
        archive = bench.Archive.open(path)
        bench.measure(archive, articles, a.new)
        archive.close()
    print(f"placements: {placed} on the 100k bench: {digest.hexdigest()[:16]}")
    if a.corpus is not None:
        import stories_offline

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            stories_offline.main(["--corpus", str(a.corpus)])
        print(f"stories_offline: {hashlib.sha256(out.getvalue().encode()).hexdigest()[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
