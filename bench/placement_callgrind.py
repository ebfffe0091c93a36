"""Instructions per story placement (deterministic), on bench/stories_archive_bench.py's archive.

    python bench/placement_callgrind.py --db PATH --recent R.pickle --prepare    # once, no valgrind
    PYTHONHASHSEED=0 valgrind --tool=callgrind --toggle-collect=functools_reduce \\
        python bench/placement_callgrind.py --db PATH --recent R.pickle [--new 200]

Places --new articles as stories_archive_bench.measure does (on a copy of PATH, an archive that
`stories_archive_bench.py --db PATH` filled), each Grouper.place run inside functools.reduce: the
Ir that callgrind counts under functools_reduce, divided by --new, is instructions per placement.
The archive's memory is loaded before the first placement (not counted), and the archived
articles measure reads (the newest's time, the last 12 hours' texts to rewrite) are kept in
R.pickle by --prepare, so that valgrind does not run the generator (minutes). Fix the hash seed:
with a random one the same code moves by some 0.5%. It measures the tree it is in (the bench
scripts put their repository first): copy it into another tree's bench/ to measure that one.
"""

from __future__ import annotations

import argparse
import functools
import pickle
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import stories_archive_bench as bench  # noqa: E402 (a sibling script)

from monitor.archive.stories import memory_of  # noqa: E402
from monitor.service.grouping import Grouper  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--recent", type=Path, required=True)
    parser.add_argument("--prepare", action="store_true")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=200)
    args = parser.parse_args(argv)
    if args.prepare:
        archived = bench.generate(1, args.articles)
        end = max(published for _, _, published in archived)
        recent = [a for a in archived if a[2] > end - timedelta(hours=12)]  # measure's `recent`
        args.recent.write_bytes(pickle.dumps(recent))
        return 0
    recent = pickle.loads(args.recent.read_bytes())
    place = Grouper.place

    def reduced(self: Grouper, *rest: Any, **named: Any) -> Any:
        made: list[Any] = []

        def once(_a: int, _b: int) -> int:
            made.append(place(self, *rest, **named))
            return 0

        functools.reduce(once, [0, 0])  # the placement, inside functools_reduce
        return made[0]

    Grouper.place = reduced  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        shutil.copyfile(args.db, path)
        archive = bench.Archive.open(path)
        memory_of(archive).refresh()  # the story index loaded before the first placement
        bench.measure(archive, recent, args.new)
        archive.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
