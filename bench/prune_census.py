"""Which candidate stories a placement reads, by how many of the report's index keys they share.

    python bench/prune_census.py archive --db /tmp/placement-100k.db   (issue 17's bench)
    python bench/prune_census.py cold [--feeds 1000]                    (bench/cold_place.py's pass)
    python bench/prune_census.py real --corpus allsides-dev.jsonl       (bench/stories_real.py)
    python bench/prune_census.py pairs                                  (bench/stories_quality.py's)

Nothing placed changes: StoryMemory.candidates is wrapped to note, for each article it returns,
how many of the report's (selective) keys the article has, and Grouper._decide to note, for
each archived candidate story that is not closed: its keys shared (the most of its candidate
articles'), whether it is a copy's, whether its profile was made again from its article
(lookup.rebuild) in this placement, whether it reaches min_similarity (profile.place's score,
computed again from the profile the placement read; a story the screen left unread does not),
and whether it was chosen. Printed (h-prune, issue 17), those counts by: keys shared; rank among
the open candidate stories in candidates()'s order (most shared, then newest); and, for a story
sharing one key, that key's position among the report's (0: its strongest) and how many window
articles have it. Placements are counted once rarity weighs words (COLD_START) and only where
the archive's memory answered (not SQL).

    PRUNE=2 python bench/prune_census.py real --corpus allsides-dev.jsonl

tries the rule the counts suggested (not kept: docs/performance-log.md, h-prune): an archived
story sharing fewer than PRUNE keys is treated as closed (neither read, compared nor checked for
copies; the real corpus has no copy among its candidates).
"""

from __future__ import annotations

import math
import os
import sys
from collections import Counter, defaultdict
from operator import mul
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from monitor.archive import storymemory  # noqa: E402
from monitor.archive.compact import ID_MASK  # noqa: E402
from monitor.service import grouping  # noqa: E402
from monitor.stories import lookup, profile  # noqa: E402

_last: dict[int, int] = {}  # article → keys shared, of the last candidates() call
_found: list[tuple[int, int]] = []  # its answer
_first: dict[int, int] = {}  # article → the position of its strongest shared key among the report's
_fewest: dict[int, int] = {}  # article → the fewest window articles one of its shared keys has
_rebuilt: set[int] = set()
rows: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)  # (shared, kind) → counts
ranks: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)  # (rank among the open, kind) → counts
positions: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)  # one key shared: (its position, kind)
# one key shared: (how many window articles have it, kind)
spread: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
placements = Counter[str]()
PRUNE = int(os.environ.get("PRUNE", "0"))


def _install() -> None:
    original_candidates = storymemory.StoryMemory.candidates

    def candidates(
        self: Any, keys: Any, bounds: Any, limit: int, after: int = 0, selective: bool = True
    ) -> Any:
        found = original_candidates(self, keys, bounds, limit, after, selective)
        first, last = bounds
        most = self.max_postings if selective else 2**63
        shared: Counter[int] = Counter()
        first_key: dict[int, int] = {}
        fewest: dict[int, int] = {}
        for position, key in enumerate(dict.fromkeys(keys)):
            postings = self.postings.get(key)
            if postings is None:
                continue
            if isinstance(postings, int):
                postings = [postings]
            inside = [p & ID_MASK for p in postings if first <= p <= last]
            if len(inside) <= most:
                shared.update(inside)
                for article in inside:
                    first_key.setdefault(article, position)
                    fewest[article] = min(fewest.get(article, 10**9), len(inside))
        _last.clear()
        _last.update({article: shared[article] for _, article in found})
        _found[:] = found
        _first.clear()
        _first.update({article: first_key.get(article, -1) for _, article in found})
        _fewest.clear()
        _fewest.update({article: fewest.get(article, 0) for _, article in found})
        return found

    storymemory.StoryMemory.candidates = candidates  # type: ignore[method-assign]

    original_rebuild = lookup.rebuild

    def rebuild(story: int, *rest: Any) -> Any:
        _rebuilt.add(story)
        return original_rebuild(story, *rest)

    lookup.rebuild = rebuild  # type: ignore[assignment]

    original_decide = grouping.Grouper._decide

    def decide(
        self: grouping.Grouper, index: Any, counts: Any, fp: Any, keys: Any, rarity: Any, *rest: Any
    ) -> Any:
        _last.clear()
        _found.clear()
        _rebuilt.clear()
        copies_seen: dict[int, float] = {}
        closed_seen: set[int] = set()
        original_copies, original_closed = self._copies, self._closed

        def copies(found: dict[int, float], *args: Any, **named: Any) -> None:
            original_copies(found, *args, **named)
            copies_seen.update(found)

        def closed(*args: Any) -> set[int]:
            answer = original_closed(*args)
            closed_seen.update(answer)
            if PRUNE:  # the rule tried (not kept): an archived story sharing fewer keys is not read
                least: dict[int, int] = {}
                for story, article in _found:
                    least[story] = max(least.get(story, 0), _last.get(article, 0))
                pruned = {s for s in args[0] if least.get(s, PRUNE) < PRUNE}
                placements["stories pruned"] += len(pruned)
                answer = answer | pruned
            return answer

        self._copies, self._closed = copies, closed  # type: ignore[method-assign]
        try:
            decision = original_decide(self, index, counts, fp, keys, rarity, *rest)
        finally:
            del self._copies, self._closed
        report = rest[1] if len(rest) > 1 else None
        if report is None or rarity.documents < grouping.COLD_START or not _last:
            placements["not counted (cold start, SQL or no candidates)"] += 1
            return decision
        placements["counted"] += 1
        by_story: dict[int, int] = {}
        first: dict[int, int] = {}
        fewest: dict[int, int] = {}
        for story, article in _found:
            fewest[story] = min(fewest.get(story, 10**9), _fewest.get(article, 10**9))
            by_story[story] = max(by_story.get(story, 0), _last.get(article, 0))
            first[story] = min(first.get(story, 99), _first.get(article, 99))
        norm = math.sqrt(sum(map(mul, report.values(), report.values())))
        view = self.settings
        chosen_shared = None
        rank = 0
        for story, shared in by_story.items():  # in candidates()'s order: most shared, then newest
            kind = "copy" if story in copies_seen else "other"
            held = self._profiles.get(story)
            if story in closed_seen:
                rows[(shared, kind)]["closed"] += 1
                continue
            rank += 1
            counted = [rows[(shared, kind)], ranks[(rank, kind)]]
            if shared == 1:
                counted.append(positions[(first[story], kind)])
                counted.append(spread[(_bucket(fewest[story]), kind)])
            for row in counted:
                _count(row, story, shared, held, report, rarity, norm, fp, view, decision)
            if decision.story == story:
                chosen_shared = shared
        if decision.story is None:
            placements["new story"] += 1
        elif chosen_shared is None:
            placements["joined a story not among the archive's candidates (this batch's)"] += 1
        return decision

    grouping.Grouper._decide = decide  # type: ignore[method-assign]


def _count(
    row: Counter[str],
    story: int,
    shared: int,
    held: Any,
    report: Any,
    rarity: Any,
    norm: float,
    fp: Any,
    view: Any,
    decision: Any,
) -> None:
    row["candidates"] += 1
    row["rebuilt"] += story in _rebuilt
    reached = False
    if held is not None and profile.is_open(held, fp.published, view.quiet_hours):
        cosine, _ = profile._similarity(report, held, rarity, norm)
        score = cosine * profile.closeness(held, fp.published) / profile.breadth(held)
        reached = score >= view.min_similarity
    row["reached"] += reached
    row["reached & rebuilt"] += reached and story in _rebuilt
    if decision.story == story:
        row["chosen"] += 1
        row["chosen & rebuilt"] += story in _rebuilt


def _bucket(n: int) -> int:
    """The least of 1, 2, 3, 5, 10, 20, 50, 100 at or above n."""
    return next((b for b in (1, 2, 3, 5, 10, 20, 50, 100) if n <= b), n)


def table(rows: dict[tuple[int, str], Counter[str]], name: str) -> str:
    columns = [
        "candidates",
        "closed",
        "rebuilt",
        "reached",
        "reached & rebuilt",
        "chosen",
        "chosen & rebuilt",
    ]
    lines = [f"| {name} | kind | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    total: dict[str, Counter[str]] = defaultdict(Counter)
    for (shared, kind), row in sorted(rows.items()):
        lines.append(f"| {shared} | {kind} | " + " | ".join(str(row[c]) for c in columns) + " |")
        total[kind].update(row)
    for kind, row in sorted(total.items()):
        lines.append(f"| all | {kind} | " + " | ".join(str(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def pairs(least: int = 2) -> str:
    """stories_quality's labelled pairs (and held-out ones) by keys the two reports share
    (profile.keys, as its index-key recall counts them), and precision/recall as it measures
    them, then with the rule: a pair sharing fewer than `least` keys (not a copy) kept apart."""
    import stories_quality as quality

    from monitor.types import StorySettings

    settings = StorySettings()
    sets = {"pairs": quality.load_pairs(quality.PAIRS, settings)}
    sets["held out"] = quality.load_pairs(quality.HOLDOUT, settings)
    reports = [
        *quality.load_reports(quality.BACKGROUND),
        *(w for ps in sets.values() for p in ps for w in p.terms),
    ]
    rarity = quality.rarity_of(reports)
    lines = []
    for name, labelled in sets.items():
        by: Counter[tuple[int, bool, bool]] = Counter()
        scores = {0: Counter[str](), least: Counter[str]()}  # 0: as stories_quality (no index)
        for pair in labelled:
            keys_a = profile.keys(pair.terms[0], rarity)
            keys_b = profile.keys(pair.terms[1], quality.before(rarity, pair.terms[1]))
            shared = len(set(keys_a) & set(keys_b))
            verdict = quality.verdict(pair, rarity, settings)
            by[(shared, pair.same, verdict.same)] += 1
            for need, score in scores.items():
                joined = verdict.same and (shared >= need or verdict.reason.startswith("copy"))
                score["tp" if joined and pair.same else "fp" if joined else "fn" if pair.same else "tn"] += 1
        lines.append(f"{name}: keys shared, same event?, joined? -> pairs")
        lines += [
            f"  {k} {'same' if s else 'different'} {'joined' if j else 'apart'}: {n}"
            for (k, s, j), n in sorted(by.items())
        ]
        for need, score in scores.items():
            precision = score["tp"] / max(score["tp"] + score["fp"], 1)
            recall = score["tp"] / max(score["tp"] + score["fn"], 1)
            rule = f"at least {need} keys shared or a copy" if need else "as stories_quality"
            lines.append(f"  {rule}: precision {precision:.3f} recall {recall:.3f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    what, rest = argv[0], argv[1:]
    if what == "pairs":
        print(pairs())
        return 0
    _install()
    if what == "archive":
        import stories_archive_bench

        stories_archive_bench.main(rest)
    elif what == "cold":
        import cold_place

        cold_place.main(rest)
    elif what == "real":
        import stories_real

        stories_real.main(rest)
    else:
        raise SystemExit(f"prune_census: archive, cold, real or pairs, not {what!r}")
    print(table(rows, "keys shared"))
    print(table(ranks, "rank (open)"))
    print(table(positions, "one key shared: its position (0 strongest)"))
    print(table(spread, "one key shared: its window articles (up to)"))
    print("placements: " + ", ".join(f"{k} {v}" for k, v in placements.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
