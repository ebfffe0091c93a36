"""Speed of the pure part of monitor.stories.fingerprint: fingerprint, keys, JSON, same_story.

The archive-scale benchmark (index lookups over 100,000 stored articles) belongs with storage;
this one times what a new article costs before and after the lookup. Texts are the seeds cut
to 1,500 characters (the budget's article size) and the eval-set reports (feed-summary size).
Run from the repository root:

    python bench/stories_bench.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitor.stories.fingerprint import (
    ArticleFingerprint,
    candidate_keys,
    choose_story,
    fingerprint,
    same_story,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import stories_quality  # noqa: E402 (a sibling script, not a package)

NOW = datetime(2026, 3, 6, 9, tzinfo=UTC)
BUDGET_US = {"fingerprint 1,500 chars": 1000.0, "same_story": 50.0}


def seed_texts(size: int = 1500) -> list[tuple[str, str]]:
    texts = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        title, _, body = path.read_text(encoding="utf-8").strip().partition("\n")
        if len(title) > 200:
            title, body = title.split(". ")[0], title + "\n" + body
        texts.append((title[:200], body[: size - len(title[:200])]))
    return texts


def timed(label: str, call: Callable[[], object], repeat: int) -> tuple[str, float, float]:
    """(label, median µs, 95th percentile µs) over `repeat` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return label, statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def run(repeat: int) -> list[tuple[str, float, float]]:
    seeds = seed_texts()
    pairs = stories_quality.load_pairs(stories_quality.PAIRS)
    summaries = [(p.titles[0], "") for p in pairs]  # titles only: the cheapest realistic input
    fps = [fingerprint(t, b, NOW) for t, b in seeds]
    stored = [fp.to_json() for fp in fps]
    candidates = [(i, p.a) for i, p in enumerate(pairs[:20])]
    cycle = iter(range(10**9))

    def pick(items: Sequence) -> object:
        return items[next(cycle) % len(items)]

    return [
        timed("fingerprint 1,500 chars", lambda: fingerprint(*pick(seeds), NOW), repeat),
        timed("fingerprint a headline", lambda: fingerprint(*pick(summaries), NOW), repeat),
        timed("candidate_keys", lambda: candidate_keys(pick(fps)), repeat),
        timed("to_json", lambda: pick(fps).to_json(), repeat),
        timed("from_json", lambda: ArticleFingerprint.from_json(pick(stored)), repeat),
        timed("same_story", lambda: same_story(pick(pairs).a, pick(pairs).b), repeat * 10),
        timed("choose_story, 20 candidates", lambda: choose_story(pick(pairs).b, candidates), repeat),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200, help="calls per measurement")
    args = parser.parse_args(argv)
    sizes = [len(fingerprint(t, b, NOW).to_json().encode()) for t, b in seed_texts()]
    print(f"{'':30} {'median µs':>10} {'p95 µs':>10} {'budget µs':>10}")
    for label, median, p95 in run(args.repeat):
        budget = BUDGET_US.get(label)
        print(f"{label:30} {median:10.1f} {p95:10.1f} {'' if budget is None else f'{budget:10.0f}'}")
    print(f"stored fingerprint of a 1,500-char article: {min(sizes)}-{max(sizes)} bytes of JSON")
    return 0


if __name__ == "__main__":
    sys.exit(main())
