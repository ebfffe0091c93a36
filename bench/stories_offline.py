"""The story method on a labelled JSONL corpus without the pipeline: seconds instead of minutes,
and several feed orders, to screen a change before bench/stories_real.py judges it.

    corpus.jsonl (stories_real's format) → day by day, the day's outlets in a shuffled order
      (as feeds answer), each article: profile.terms → rarity over the articles placed so far
      → profile.place among the stories whose last report is within the window → scores

With --published, a day's outlets after the first day are placed by their earliest report of
the day (ties by name), as the pipeline places a pass's late news (service/backlog.py: a feed
whose new articles were all published over an hour before the pass waits for the pass's end);
the first day's feeds are new to it, and go in the shuffled order. Without it, every day's
outlets go in the shuffled order: the method alone, in the worst case.

It stands in for the pipeline's grouping (service/grouping.py) and leaves out what the method
does not decide: the index look-up of candidates (here every story in the window is one), the
copy test, the first 10 articles' pairwise evidence, batches. Its figures are close to the
pipeline's, not equal; a decision is taken on stories_real.py. With --joins it also says, of
the joins that were right and those that were wrong (the story's first report of another
event), how often the report's strongest word is absent from the story's profile.

    python bench/stories_offline.py --corpus ../shared/storybench/allsides-dev.jsonl [--orders 4] [--joins]
        [--published]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stories_real import Doc, Scores, load, score  # noqa: E402 (a sibling script)

from monitor.stories import profile
from monitor.types import StorySettings

# (the report, its words, the open stories in the window, rarity, settings) → the story it joins
Decider = [Doc, Mapping[str, float], Sequence[profile.Profile], profile.Rarity, profile.StorySettingsView]
Choose = Callable[Decider, int | None]


def run(
    docs: Sequence[Doc],
    order: int,
    settings: StorySettings,
    joins: Counter[str] | None = None,
    published: bool = False,
    choose: Choose | None = None,
    placed_in: Callable[[Doc, int], None] | None = None,
) -> Scores:
    """Place the corpus with the day's outlets in the shuffled order `order` (`published`: after
    the first day, by their earliest report of the day); count in `joins` ("right"/"wrong",
    "right absent"/"wrong absent") if given. `choose`: the story a report joins, in place of
    profile.place's (bench/stories_semantic.py tries other deciders); `placed_in(doc, story)`
    is told where each report went."""
    shuffle = random.Random(order).shuffle
    days: dict[object, dict[str, list[Doc]]] = defaultdict(lambda: defaultdict(list))
    for doc in docs:
        days[doc.published.date()][doc.outlet].append(doc)
    df: Counter[str] = Counter()
    placed = 0
    stories: dict[int, profile.Profile] = {}
    first: dict[int, str] = {}  # story → the event of its first report
    story_of: dict[str, int] = {}
    alerts: Counter[str] = Counter()
    view = profile.StorySettingsView(settings.min_similarity, settings.quiet_hours)
    window = timedelta(hours=settings.window_hours)
    for day in sorted(days):  # type: ignore[type-var]
        outlets = sorted(days[day])
        shuffle(outlets)
        if published and day != min(days):  # type: ignore[type-var]
            outlets.sort(key=lambda outlet: (min(d.published for d in days[day][outlet]), outlet))
        for outlet in outlets:
            for doc in days[day][outlet]:
                counts = profile.terms(doc.title, doc.summary)
                rarity = profile.Rarity({t: df[t] for t in counts}, placed)
                near = [p for p in stories.values() if p.last and abs(doc.published - p.last) <= window]
                if choose is None:
                    chosen = profile.place(counts, doc.published, near, rarity, view).story
                else:
                    chosen = choose(doc, counts, near, rarity, view)
                if chosen is None:
                    story = len(stories) + 1
                    stories[story], first[story] = profile.Profile(story), doc.cluster
                    alerts[doc.id] += 1
                else:
                    story = chosen
                    if joins is not None:
                        verdict = "right" if first[story] == doc.cluster else "wrong"
                        vector = profile.vector(counts, rarity)
                        strongest = max(vector, key=lambda t: (vector[t], t))
                        joins[verdict] += 1
                        joins[f"{verdict} absent"] += strongest not in stories[story].counts
                stories[story].add(counts, doc.published)
                story_of[doc.id] = story
                if placed_in is not None:
                    placed_in(doc, story)
                df.update(counts.keys())
                placed += 1
    return score(docs, story_of, alerts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="JSONL in bench/stories_real.py's format")
    parser.add_argument("--orders", type=int, default=4, help="feed orders to run (seeds 0, 1, ...)")
    parser.add_argument("--joins", action="store_true", help="how often a join's strongest word is absent")
    parser.add_argument(
        "--published", action="store_true", help="late news in publication order (the pipeline's)"
    )
    args = parser.parse_args(argv)
    docs = load(args.corpus, None, None)
    if not docs:
        raise SystemExit(f"stories_offline: {args.corpus}: no article")
    settings = StorySettings()
    joins: Counter[str] = Counter()
    results = [
        run(docs, order, settings, joins if args.joins else None, args.published)
        for order in range(args.orders)
    ]
    for order, s in enumerate(results):
        p = "—" if s.pair_p is None else f"{s.pair_p:.3f}"
        print(f"order {order}: pair P {p} R {s.pair_r:.3f} B3 F1 {s.b3_f1:.3f}", end="")
        print(f" hidden {s.hidden} of {s.events}")
    precisions = [s.pair_p for s in results if s.pair_p is not None]
    print(
        f"mean of {len(results)}: pair P {statistics.mean(precisions) if precisions else 0:.3f}"
        f" R {statistics.mean(s.pair_r for s in results):.3f}"
        f" B3 F1 {statistics.mean(s.b3_f1 for s in results):.3f}"
        f" hidden {statistics.mean(s.hidden for s in results):.2f} (at most {max(s.hidden for s in results)})"
    )
    print(
        f"min of {len(results)}: pair P {min(precisions, default=0):.3f}"
        f" R {min(s.pair_r for s in results):.3f} B3 F1 {min(s.b3_f1 for s in results):.3f}"
    )
    if args.joins:
        for verdict in ("right", "wrong"):
            n = joins[verdict]
            share = joins[f"{verdict} absent"] / n if n else 0.0
            print(f"{verdict} joins: {n}, the report's strongest word absent from the story in {share:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
