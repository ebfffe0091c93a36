"""How well monitor.stories.fingerprint groups reports into stories: pairwise precision and recall.

    tests/data/stories_eval/*.toml ─load_pairs→ Pairs (two reports, published offsets, same?)
      ─evaluate(pairs, settings)→ Quality (verdicts, shared index keys) ─report→ text

The positive class is "same story". A pair is predicted same when same_story() says so
(which includes the time window). Index-key recall is the share of same=true pairs whose two
articles share at least one candidate key, i.e. that the archive index would bring together.
The pairs in tests/data/stories_eval/holdout/ were written after the method and are reported
on their own (see the README there). With --background (default: the rules evaluation
reports, if present) the script also counts how many unrelated reports on the same beat share
a key with each report: a proxy for how many candidates a lookup returns per article in the
window. Run from the repository root:

    python bench/stories_quality.py [--verbose] [--pairs DIR] [--holdout DIR] [--background DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rates import Rate  # noqa: E402 (a sibling script)

from monitor.stories.fingerprint import (
    ArticleFingerprint,
    StorySettings,
    Verdict,
    candidate_keys,
    fingerprint,
    same_story,
)

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT / "tests" / "data" / "stories_eval"
HOLDOUT = PAIRS / "holdout"
BACKGROUND = ROOT / "tests" / "data" / "rules_eval"
# Offsets in the files are hours from here; only their difference and weekday-free text matter.
EPOCH = datetime(2025, 1, 6, tzinfo=UTC)
_KEYS = {"a_title", "a_body", "a_hours", "b_title", "b_body", "b_hours", "same", "note"}


@dataclass(frozen=True)
class Pair:
    a: ArticleFingerprint
    b: ArticleFingerprint
    same: bool  # the label: one event
    source: str  # "file.toml#3"
    titles: tuple[str, str]  # for reports
    note: str = ""


@dataclass(frozen=True)
class Outcome:
    pair: Pair
    verdict: Verdict
    shares_key: bool  # the two articles have a candidate key in common


@dataclass(frozen=True)
class Quality:
    outcomes: tuple[Outcome, ...]
    keys_per_article: float  # mean number of candidate keys
    precision: Rate = field(init=False)
    recall: Rate = field(init=False)
    key_recall: Rate = field(init=False)
    different_sharing: Rate = field(init=False)  # different-event pairs that share a key

    def __post_init__(self) -> None:
        said_same = [o for o in self.outcomes if o.verdict.same]
        same = [o for o in self.outcomes if o.pair.same]
        different = [o for o in self.outcomes if not o.pair.same]
        set_ = object.__setattr__  # frozen: derived fields are set once, here
        set_(self, "precision", Rate(sum(o.pair.same for o in said_same), len(said_same)))
        set_(self, "recall", Rate(sum(o.verdict.same for o in same), len(same)))
        set_(self, "key_recall", Rate(sum(o.shares_key for o in same), len(same)))
        set_(self, "different_sharing", Rate(sum(o.shares_key for o in different), len(different)))

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict.same != o.pair.same]

    @property
    def unindexed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.pair.same and not o.shares_key]


def load_pairs(folder: Path = PAIRS, settings: StorySettings | None = None) -> list[Pair]:
    """Every [[pair]] in folder/*.toml, in file-name order, fingerprinted."""
    pairs = []
    for path in sorted(folder.glob("*.toml")):
        for number, table in enumerate(tomllib.loads(path.read_text(encoding="utf-8")).get("pair", []), 1):
            pairs.append(_pair(table, f"{path.name}#{number}", settings))
    return pairs


def _pair(table: dict, source: str, settings: StorySettings | None) -> Pair:
    missing = (_KEYS - {"note"}) - set(table)
    if missing or set(table) - _KEYS:
        raise ValueError(f"{source}: a pair has {sorted(_KEYS)} (note optional): {table}")
    a = fingerprint(table["a_title"], table["a_body"], EPOCH + timedelta(hours=table["a_hours"]), settings)
    b = fingerprint(table["b_title"], table["b_body"], EPOCH + timedelta(hours=table["b_hours"]), settings)
    titles = (table["a_title"], table["b_title"])
    return Pair(a, b, bool(table["same"]), source, titles, table.get("note", ""))


def evaluate(pairs: Sequence[Pair], settings: StorySettings | None = None) -> Quality:
    settings = settings or StorySettings()
    outcomes, counts = [], []
    for pair in pairs:
        keys_a, keys_b = candidate_keys(pair.a, settings), candidate_keys(pair.b, settings)
        counts += [len(keys_a), len(keys_b)]
        verdict = same_story(pair.a, pair.b, settings)
        outcomes.append(Outcome(pair, verdict, bool(set(keys_a) & set(keys_b))))
    return Quality(tuple(outcomes), statistics.mean(counts) if counts else 0.0)


def background_candidates(folder: Path, settings: StorySettings | None = None) -> tuple[int, float, int]:
    """(reports, mean and max number of other reports sharing a key with one) over folder/*.toml."""
    keys = []
    for path in sorted(folder.glob("*.toml")):
        for table in tomllib.loads(path.read_text(encoding="utf-8")).get("article", []):
            fp = fingerprint(table["title"], table["body"], EPOCH, settings)
            keys.append(set(candidate_keys(fp, settings)))
    shared = [sum(bool(k & other) for j, other in enumerate(keys) if j != i) for i, k in enumerate(keys)]
    return len(keys), statistics.mean(shared) if shared else 0.0, max(shared, default=0)


def report(quality: Quality, verbose: bool = False, timeless: Quality | None = None) -> str:
    pairs = [o.pair for o in quality.outcomes]
    same = sum(p.same for p in pairs)
    lines = [
        f"pairs: {len(pairs)} ({same} same story, {len(pairs) - same} different events)",
        f"precision: {quality.precision}",
        f"recall:    {quality.recall}",
        f"index-key recall (same-story pairs sharing a key): {quality.key_recall}",
        f"different-event pairs sharing a key:               {quality.different_sharing}",
        f"keys per article: {quality.keys_per_article:.1f}",
    ]
    if timeless is not None:
        lines.append(f"ignoring the time window: precision {timeless.precision}, recall {timeless.recall}")
    if verbose:
        lines += ["", f"## errors: {len(quality.errors)}"] + [_explain(o) for o in quality.errors]
        lines += ["", f"## same story, no shared key: {len(quality.unindexed)}"]
        lines += [_explain(o) for o in quality.unindexed]
    return "\n".join(lines)


def _explain(outcome: Outcome) -> str:
    pair, verdict = outcome.pair, outcome.verdict
    label = "same story" if pair.same else "different events"
    hours = abs((pair.a.published - pair.b.published).total_seconds()) / 3600
    text = [
        f"- {pair.source} ({label}, {hours:.0f} h apart): score {verdict.score:.2f}: {verdict.reason}",
        f"    a: {pair.titles[0]}",
        f"    b: {pair.titles[1]}",
    ]
    if pair.note:
        text.append(f"    note: {pair.note}")
    return "\n".join(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="list every error with its scores")
    parser.add_argument("--pairs", type=Path, default=PAIRS, help="folder of labelled pairs")
    parser.add_argument("--holdout", type=Path, default=HOLDOUT, help="folder of held-out pairs")
    parser.add_argument("--background", type=Path, default=BACKGROUND, help="folder of [[article]] reports")
    args = parser.parse_args(argv)
    settings = StorySettings()
    try:
        pairs = load_pairs(args.pairs, settings)
    except ValueError as exc:  # a malformed pair: say where, in one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    timeless = evaluate(pairs, replace(settings, window_hours=float("inf")))
    print(report(evaluate(pairs, settings), args.verbose, timeless))
    held_out = load_pairs(args.holdout, settings) if args.holdout.is_dir() else []
    if held_out:
        print(f"\n# held out: {len(held_out)} pairs written after the method (see its README; not asserted)")
        print(report(evaluate(held_out, settings), args.verbose))
    if args.background.is_dir():
        count, mean, most = background_candidates(args.background, settings)
        print(
            f"\nbackground: each of {count} same-beat reports shares a key with {mean:.2f} others "
            f"on average ({100 * mean / max(count - 1, 1):.1f}%), at most {most}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
