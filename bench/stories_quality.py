"""How well monitor groups reports into stories, by the method the pipeline uses: pairwise
precision and recall of "same story" on labelled pairs.

    tests/data/stories_eval/*.toml ─load_pairs→ Pairs (two reports, published offsets, same?)
      ─evaluate(pairs, rarity, settings)→ Quality (verdicts, shared index keys) ─report→ text

Each pair is put through stories.profile as service/grouping does it: report a starts a story
(its profile), and report b joins it or not (`profile.place`, with the copy test of
stories.fingerprint); how rare each word is comes from an archive of the evaluation's own
reports plus the background reports (`--archive`, default the rules evaluation reports), as
the pipeline's rarity counts come from its archive, less report b itself (the archive counts a
report once it is placed). The positive class is "same story".
Index-key recall is the share of same=true pairs whose two reports share one of their index
keys (`profile.keys`), i.e. that the archive index would bring together. The pairs in
tests/data/stories_eval/holdout/ were written after the first method and are reported on
their own (see the README there). With --background the script also counts how many unrelated
reports on the same beat share a key with each report: a proxy for how many candidates a
lookup returns per article. Run from the repository root:

    python bench/stories_quality.py [--verbose] [--pairs DIR] [--holdout DIR] [--background DIR]
        [--archive DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rates import Rate  # noqa: E402 (a sibling script)

from monitor.stories import profile
from monitor.stories.fingerprint import ArticleFingerprint, fingerprint, near_copy
from monitor.types import StorySettings

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT / "tests" / "data" / "stories_eval"
HOLDOUT = PAIRS / "holdout"
BACKGROUND = ROOT / "tests" / "data" / "rules_eval"
# Offsets in the files are hours from here; only their difference and weekday-free text matter.
EPOCH = datetime(2025, 1, 6, tzinfo=UTC)
_KEYS = {"a_title", "a_body", "a_hours", "b_title", "b_body", "b_hours", "same", "note"}


@dataclass(frozen=True)
class Report:
    fingerprint: ArticleFingerprint  # its text signature: copies are found by it
    terms: profile.Terms  # its words (stories.profile.terms)


@dataclass(frozen=True)
class Pair:
    a: ArticleFingerprint
    b: ArticleFingerprint
    same: bool  # the label: one event
    source: str  # "file.toml#3"
    titles: tuple[str, str]  # for reports
    note: str = ""
    terms: tuple[profile.Terms, profile.Terms] = ({}, {})  # the two reports' words


@dataclass(frozen=True)
class Verdict:
    same: bool  # b joins the story a started
    score: float  # profile.place's score: closeness, or 1 + Jaccard for a copy
    reason: str  # the shared terms that weigh most, "copy 0.82" or "new story"


@dataclass(frozen=True)
class Outcome:
    pair: Pair
    verdict: Verdict
    shares_key: bool  # the two reports have an index key in common


@dataclass(frozen=True)
class Quality:
    outcomes: tuple[Outcome, ...]
    keys_per_article: float  # mean number of index keys
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


def pair_tables(folder: Path) -> Iterator[tuple[str, dict]]:
    """(source "FILE#N", table) of every [[pair]] in folder/*.toml, in file-name order."""
    for path in sorted(folder.glob("*.toml")):
        for number, table in enumerate(tomllib.loads(path.read_text(encoding="utf-8")).get("pair", []), 1):
            yield f"{path.name}#{number}", table


def load_pairs(folder: Path = PAIRS, settings: StorySettings | None = None) -> list[Pair]:
    """Every [[pair]] in folder/*.toml, in file-name order, fingerprinted and read into words."""
    return [_pair(table, source, settings) for source, table in pair_tables(folder)]


def _pair(table: dict, source: str, settings: StorySettings | None) -> Pair:
    missing = (_KEYS - {"note"}) - set(table)
    if missing or set(table) - _KEYS:
        raise ValueError(f"{source}: a pair has {sorted(_KEYS)} (note optional): {table}")
    a = fingerprint(table["a_title"], table["a_body"], EPOCH + timedelta(hours=table["a_hours"]), settings)
    b = fingerprint(table["b_title"], table["b_body"], EPOCH + timedelta(hours=table["b_hours"]), settings)
    titles = (table["a_title"], table["b_title"])
    terms = (
        profile.terms(table["a_title"], table["a_body"]),
        profile.terms(table["b_title"], table["b_body"]),
    )
    return Pair(a, b, bool(table["same"]), source, titles, table.get("note", ""), terms)


def load_reports(folder: Path) -> list[profile.Terms]:
    """The words of every [[article]] in folder/*.toml (reports that are no pair's)."""
    found = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        for table in tomllib.loads(path.read_text(encoding="utf-8")).get("article", []):
            found.append(profile.terms(table["title"], table["body"]))
    return found


def rarity_of(reports: Iterable[profile.Terms]) -> profile.Rarity:
    """Document frequencies over `reports`, as the archive keeps them (archive.stories)."""
    df: Counter[str] = Counter()
    documents = 0
    for words in reports:
        df.update(words.keys())
        documents += 1
    return profile.Rarity(df, documents)


def before(rarity: profile.Rarity, report: profile.Terms) -> profile.Rarity:
    """The counts without `report`: the archive counts a report once it is placed, not before."""
    df = dict(rarity.df)
    for term in report:
        df[term] -= 1
    return profile.Rarity(df, rarity.documents - 1)


def verdict(pair: Pair, rarity: profile.Rarity, settings: StorySettings) -> Verdict:
    """Report a starts a story; does b join it? As service/grouping.Grouper decides, with the
    rarity counts of an archive holding every report of the evaluation but b."""
    rarity = before(rarity, pair.terms[1])
    story = profile.Profile(1)
    story.add(pair.terms[0], pair.a.published)
    copy = near_copy(pair.a, pair.b)
    copies = {1: copy} if copy >= settings.near_duplicate else {}
    view = profile.StorySettingsView(settings.min_similarity, settings.quiet_hours)
    decision = profile.place(pair.terms[1], pair.b.published, [story], rarity, view, copies)
    if decision.story is None:  # the closeness it fell short with, for the report
        score, top = profile.similarity(pair.terms[1], story, rarity)
        score *= profile.closeness(story, pair.b.published)
        shown = ", ".join(top[:5]) or "nothing shared"
        if score == 0 and 0 < len(top) < profile.MIN_SHARED:
            shown += f"; fewer than {profile.MIN_SHARED} words shared"
        open_ = profile.is_open(story, pair.b.published, settings.quiet_hours)
        return Verdict(False, score, f"new story ({score:.2f}: {shown}{'' if open_ else '; closed'})")
    return Verdict(True, decision.score, decision.reason)


def evaluate(pairs: Sequence[Pair], rarity: profile.Rarity, settings: StorySettings | None = None) -> Quality:
    settings = settings or StorySettings()
    outcomes, counts = [], []
    for pair in pairs:
        keys_a, keys_b = profile.keys(pair.terms[0], rarity), profile.keys(pair.terms[1], rarity)
        counts += [len(keys_a), len(keys_b)]
        outcomes.append(Outcome(pair, verdict(pair, rarity, settings), bool(set(keys_a) & set(keys_b))))
    return Quality(tuple(outcomes), statistics.mean(counts) if counts else 0.0)


def background_candidates(reports: Sequence[profile.Terms], rarity: profile.Rarity) -> tuple[int, float, int]:
    """(reports, mean and max number of other reports sharing an index key with one)."""
    keys = [set(profile.keys(words, rarity)) for words in reports]
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
        lines.append(f"ignoring time: precision {timeless.precision}, recall {timeless.recall}")
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


def _timeless(pairs: Sequence[Pair]) -> list[Pair]:
    """The pairs with both reports at one time: are the two events told apart by their words?"""
    return [replace(p, b=replace(p.b, published=p.a.published)) for p in pairs]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="list every error with its scores")
    parser.add_argument("--pairs", type=Path, default=PAIRS, help="folder of labelled pairs")
    parser.add_argument("--holdout", type=Path, default=HOLDOUT, help="folder of held-out pairs")
    parser.add_argument("--background", type=Path, default=BACKGROUND, help="folder of [[article]] reports")
    parser.add_argument(
        "--archive", type=Path, default=BACKGROUND, help="[[article]] reports the rarity counts see"
    )
    args = parser.parse_args(argv)
    settings = StorySettings()
    try:
        pairs = load_pairs(args.pairs, settings)
        held_out = load_pairs(args.holdout, settings) if args.holdout.is_dir() else []
    except ValueError as exc:  # a malformed pair: say where, in one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    archive = load_reports(args.archive)
    rarity = rarity_of([*archive, *(w for p in [*pairs, *held_out] for w in p.terms)])
    timeless = evaluate(_timeless(pairs), rarity, settings)
    print(report(evaluate(pairs, rarity, settings), args.verbose, timeless))
    if held_out:
        print(f"\n# held out: {len(held_out)} pairs written after the first method (see its README)")
        print(report(evaluate(held_out, rarity, settings), args.verbose))
    if args.background.is_dir():
        count, mean, most = background_candidates(load_reports(args.background), rarity)
        print(
            f"\nbackground: each of {count} same-beat reports shares a key with {mean:.2f} others "
            f"on average ({100 * mean / max(count - 1, 1):.1f}%), at most {most}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
