"""What the "fewer than N keys shared" rule would save (h-prune, issue 17; not kept: it changes
placements, see docs/performance-log.md), timed with no census around it.

    python bench/prune_cost.py --least N archive --db /tmp/placement-100k.db
    python bench/prune_cost.py --least N cold --feeds 1000

StoryMemory.candidates is replaced by the same code (storyload.shared_by, ranked) with one line
more: the articles sharing fewer than N of the report's keys are left out of its answer (N=1:
none, the code as shipped, the baseline to alternate with). They go last in its order, so that
is the same as cutting its 16 best; their stories are then neither read (made again, parsed or
screened) nor checked for copies: an upper bound of what the rule saves.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from monitor.archive import storymemory  # noqa: E402
from monitor.archive.storyload import ranked, shared_by  # noqa: E402
from monitor.stories import lookup  # noqa: E402


def install(least: int) -> None:
    def candidates(
        self: storymemory.StoryMemory,
        keys: Sequence[str],
        bounds: tuple[int, int],
        limit: int,
        after: int = 0,
        selective: bool = True,
    ) -> list[tuple[int, int]]:
        most = self.max_postings if selective else 2**63
        shared = shared_by(self.postings, keys, bounds, most)
        best = ranked(shared, min(limit, self.max_candidates), after)
        if least > 1:  # the rule: most shared first, so the tail is cut
            best = [a for a in best if shared[a] >= least]
        return list(zip(self.story_of.many(best), best, strict=True))

    storymemory.StoryMemory.candidates = candidates  # type: ignore[method-assign]

    made = lookup.rebuild

    def rebuild(*args: Any) -> Any:  # counted: the cost the rule is after
        rebuilds[0] += 1
        return made(*args)

    lookup.rebuild = rebuild  # type: ignore[assignment]


rebuilds = [0]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "--least":
        raise SystemExit(__doc__)
    install(int(argv[1]))
    what, rest = argv[2], argv[3:]
    if what == "archive":
        import stories_archive_bench

        code = stories_archive_bench.main(rest)
    elif what == "cold":
        import cold_place

        code = cold_place.main(rest)
    else:
        raise SystemExit(f"prune_cost: archive or cold, not {what!r}")
    print(f"rebuilds (lookup.rebuild): {rebuilds[0]:,}; least {argv[1]} keys shared")
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
