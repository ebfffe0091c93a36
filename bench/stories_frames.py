"""Ideas against look-alike joins (issue 17), measured without changing the method: story
frequencies ("frame words"), headline slots, and three ideas for same-event pairs told in other
words. Prints, per idea, the project's pairs and a real corpus, as the README table has them.

    labelled pairs (bench/stories_quality.py's) ─ each idea → precision / recall per folder
    corpus.jsonl (bench/stories_real.py's format) ─ day by day, as bench/stories_offline.py
      --published places it, each idea → pair P / R, B³F1, hidden (the minimum over orders)

Story frequency (sf): in how many stories a word is, as an archive would count it beside the
document frequency (df): a report that starts a story counts each of its words, one that joins
counts the words its story did not have yet. On the corpus the stories are the ones the
placement forms; on the pairs they are the labels (a same-event pair is one story, any other
report its own; report b not yet counted), the most favourable archive for the idea.

Ideas (--idea, repeatable; default all):
    none              the method as it is (profile.place)
    sf-idf            rarity from story frequencies over stories instead of df over reports
    mix               the geometric mean of the two weights
    gate:F:M          a story is a candidate only if the report shares with it M words that are
                      in fewer than max(2, F × stories) stories (not frame words)
    lead:W            a summary's first sentence counts W times
    stem:N            stems cut to N letters (a coarser stemmer)
    rare:K:F          a report that joins nothing may join, at F × the threshold, a story that
                      shares a word with df ≤ K × reports with it
    slots:WHERE:WHAT  two reports attach different names (WHAT names) or names or figures
                      (WHAT figures) to one word ("Japanese FM" / "Australian FM", "magnitude
                      5.9" / "magnitude 5.4"), and neither names the other's: two events;
                      WHERE title (headlines) or lead (title and lead). A name is a capitalised
                      word inside a sentence, a figure a number (not a year); slots:W:W:2 needs
                      two such words
    A+B               both (e.g. slots:lead:names+lead:1.5)

    python bench/stories_frames.py [--corpus ../shared/storybench/allsides-dev.jsonl] [--orders 8]
        [--idea IDEA ...]

The corpus's text is read from its path, never stored. Nothing here is the pipeline's code.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stories_quality import HOLDOUT, PAIRS, Pair, load_pairs  # noqa: E402
from stories_real import Doc, load, score  # noqa: E402 (sibling scripts)

from monitor.stories import profile
from monitor.stories.fingerprint import near_copy
from monitor.types import StorySettings

FRESH = PAIRS / "fresh"
BACKGROUND = PAIRS.parent / "rules_eval"
IDEAS = (
    "none sf-idf mix gate:0.01:1 gate:0.02:1 gate:0.005:1 gate:0.01:2 lead:1.5 lead:2 stem:5 stem:6"
    " rare:0.005:0.75 rare:0.01:0.6 slots:lead:names slots:lead:figures slots:title:names"
    " slots:title:figures slots:lead:names+lead:1.5"
).split()
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+%?|[^\W_]+(?:[-'’.][^\W_]+)*%?|[.!?;:]")
_YEAR = re.compile(r"(?:19|20)\d\d")
Slot = tuple[str, str, str, str]  # (side of the word, the word, "N" name or "#" figure, value)


@dataclass(frozen=True)
class Idea:
    name: str
    weights: str = "df"  # df, sf or mix
    gate: tuple[float, int] | None = None
    lead: float = 1.0
    stem: int = 0
    rare: tuple[float, float] | None = None
    slots: tuple[str, bool, int] | None = None  # (title|lead, figures too, conflicts needed)

    @classmethod
    def parse(cls, text: str) -> Idea:
        idea = cls(text)
        for part in text.split("+"):
            kind, *args = part.split(":")
            if kind in ("sf-idf", "mix"):
                idea = replace(idea, weights="sf" if kind == "sf-idf" else "mix")
            elif kind == "gate":
                idea = replace(idea, gate=(float(args[0]), int(args[1])))
            elif kind == "lead":
                idea = replace(idea, lead=float(args[0]))
            elif kind == "stem":
                idea = replace(idea, stem=int(args[0]))
            elif kind == "rare":
                idea = replace(idea, rare=(float(args[0]), float(args[1])))
            elif kind == "slots":
                idea = replace(idea, slots=(args[0], args[1] == "figures", int(args[2]) if args[2:] else 1))
            elif kind != "none":
                raise SystemExit(f"stories_frames: unknown idea {part!r}")
        return idea

    def terms(self, title: str, summary: str) -> profile.Terms:
        if self.lead != 1.0:
            lead = summary[: profile.LEAD_CHARS]
            cut = re.search(r"(?<=[.!?])\s+", lead)
            first, rest = (lead[: cut.start()], lead[cut.end() :]) if cut else (lead, "")
            counts = profile.terms(title, rest)
            for t, c in profile.terms("", first).items():
                counts[t] = counts.get(t, 0.0) + c * self.lead
        else:
            counts = profile.terms(title, summary)
        if self.stem:
            cut_counts: dict[str, float] = {}
            for t, c in counts.items():
                key = t[: self.stem] if t.isalpha() else t
                cut_counts[key] = cut_counts.get(key, 0.0) + c
            counts = cut_counts
        return counts

    def slots_of(self, title: str, summary: str) -> frozenset[Slot]:
        if self.slots is None:
            return frozenset()
        text = title if self.slots[0] == "title" else f"{title} . {summary[: profile.LEAD_CHARS]}"
        tokens = _TOKEN.findall(text)
        found = set()
        for i, token in enumerate(tokens):
            if token[0].isdigit() and not any(c.isalpha() for c in token):
                if not self.slots[1] or _YEAR.fullmatch(token):
                    continue
                value = ("#", token.rstrip("%"))
            elif token[0].isupper() and i > 0 and tokens[i - 1] not in ".!?;:" and profile._word(token):
                value = ("N", profile._word(token) or "")
            else:
                continue
            for j in (i - 1, i + 1):
                if 0 <= j < len(tokens) and tokens[j][0].isalpha() and tokens[j][0].islower():
                    word = profile._word(tokens[j])
                    if word:
                        found.add(("L" if j < i else "R", word, *value))
        return frozenset(found)


def clash(
    mine: frozenset[Slot], my_terms: Iterable[str], theirs: Iterable[Slot], their_terms: set[str], need: int
) -> bool:
    """Do the two attach different values to `need` words, neither value named by the other side?"""
    their_values: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for side, word, kind, value in theirs:
        their_values[side, word, kind].add(value)
    my_values: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for side, word, kind, value in mine:
        my_values[side, word, kind].add(value)
    mine_named = set(my_terms)
    found = 0
    for key, values in my_values.items():
        other = their_values.get(key)
        if other and not values & other and not values & their_terms and not other & mine_named:
            found += 1
    return found >= need


def weighted(idea: Idea, rarity: profile.Rarity, sf: Mapping[str, int], stories: int) -> profile.Rarity:
    if idea.weights == "sf":
        return profile.Rarity({t: sf.get(t, 0) for t in rarity.df}, stories)
    if idea.weights == "mix":
        n = stories + 1
        mixed = {
            t: math.sqrt(w * (math.log(n / (sf.get(t, 0) + 1)) + 1.0)) for t, w in rarity.weights.items()
        }
        rarity.__dict__["weights"] = mixed  # its cached_property, set before first use
    return rarity


def decide(
    idea: Idea,
    counts: profile.Terms,
    published: object,
    candidates: Sequence[profile.Profile],
    rarity: profile.Rarity,
    view: profile.StorySettingsView,
    copies: Mapping[int, float],
    sf: Mapping[str, int],
    stories: int,
    refused: set[int],
) -> int | None:
    """The story the report joins under `idea` (copies first, as profile.place has them), of
    stories counting `stories` (story frequencies `sf`), the stories in `refused` excepted."""
    if idea.gate and not copies:
        floor, need = max(2.0, idea.gate[0] * stories), idea.gate[1]
        candidates = [p for p in candidates if sum(t in p.counts and sf[t] < floor for t in counts) >= need]
    if not copies:
        candidates = [p for p in candidates if p.story not in refused]
    decision = profile.place(counts, published, candidates, rarity, view, copies)  # type: ignore[arg-type]
    if decision.story is None and idea.rare:
        limit = max(1.0, idea.rare[0] * rarity.documents)
        near = [p for p in candidates if any(t in p.counts and rarity.df.get(t, 0) <= limit for t in counts)]
        lower = replace(view, min_similarity=view.min_similarity * idea.rare[1])
        decision = profile.place(counts, published, near, rarity, lower)  # type: ignore[arg-type]
    return decision.story


def background() -> list[tuple[str, str]]:
    """(title, body) of each [[article]] of the rules evaluation: the reports stories_quality's
    rarity counts beside the pairs."""
    found = []
    for path in sorted(BACKGROUND.glob("*.toml")):
        for table in tomllib.loads(path.read_text(encoding="utf-8")).get("article", []):
            found.append((table["title"], table["body"]))
    return found


def pairs_score(
    idea: Idea, folders: Sequence[Sequence[Pair]], texts: Mapping[str, tuple[str, ...]]
) -> list[tuple[int, int, int]]:
    """Precision and recall on each folder of pairs (rarity over the background reports and
    every folder's reports, as stories_quality counts it), and the story frequencies of the
    labels' archive: (right joins, joins, same-event pairs) per folder."""
    settings = StorySettings()
    view = profile.StorySettingsView(settings.min_similarity, settings.quiet_hours)
    pairs = [
        replace(p, terms=(idea.terms(*texts[p.source][:2]), idea.terms(*texts[p.source][2:])))
        for f in folders
        for p in f
    ]
    reports = [idea.terms(t, b) for t, b in background()]
    df: Counter[str] = Counter()
    sf: Counter[str] = Counter()
    for words in reports:
        df.update(words.keys())
        sf.update(words.keys())
    stories = len(reports)
    for p in pairs:
        df.update(p.terms[0].keys())
        df.update(p.terms[1].keys())
        sf.update(set(p.terms[0]) | set(p.terms[1]) if p.same else p.terms[0].keys())
        sf.update({} if p.same else p.terms[1].keys())
        stories += 1 if p.same else 2
    documents = len(reports) + 2 * len(pairs)
    out, at = [], 0
    for folder in folders:
        right = joined = same = 0
        for p in pairs[at : at + len(folder)]:
            a, b = p.terms
            b_df = {t: df[t] - (t in b) for t in df}  # the archive has not counted b yet
            b_sf = Counter(sf)
            for t in b:
                b_sf[t] -= not (p.same and t in a)
            b_stories = stories - (not p.same)
            rarity = weighted(idea, profile.Rarity(b_df, documents - 1), b_sf, b_stories)
            story = profile.Profile(1)
            story.add(a, p.a.published)
            copy = near_copy(p.a, p.b)
            copies = {1: copy} if copy >= settings.near_duplicate else {}
            t = texts[p.source]
            slots_a, slots_b = idea.slots_of(t[0], t[1]), idea.slots_of(t[2], t[3])
            refused = {1} if idea.slots and clash(slots_b, b, slots_a, set(a), idea.slots[2]) else set()
            joins = decide(idea, b, p.b.published, [story], rarity, view, copies, b_sf, b_stories, refused)
            joins = joins is not None
            right += joins and p.same
            joined += joins
            same += p.same
        out.append((right, joined, same))
        at += len(folder)
    return out


def corpus_score(idea: Idea, docs: Sequence[Doc], order: int) -> tuple[float, float, float, int]:
    """bench/stories_offline.py --published, one order, with the idea: (pair P, R, B³F1, hidden)."""
    settings = StorySettings()
    view = profile.StorySettingsView(settings.min_similarity, settings.quiet_hours)
    window = timedelta(hours=settings.window_hours)
    days: dict[object, dict[str, list[Doc]]] = defaultdict(lambda: defaultdict(list))
    for doc in docs:
        days[doc.published.date()][doc.outlet].append(doc)
    shuffle = random.Random(order).shuffle
    df: Counter[str] = Counter()
    sf: Counter[str] = Counter()
    stories: dict[int, profile.Profile] = {}
    words: dict[int, set[str]] = {}  # every word a story has had (its profile keeps the strongest)
    slots: dict[int, set[Slot]] = {}
    story_of: dict[str, int] = {}
    alerts: Counter[str] = Counter()
    placed = 0
    for day in sorted(days):  # type: ignore[type-var]
        outlets = sorted(days[day])
        shuffle(outlets)
        if day != min(days):  # type: ignore[type-var]
            outlets.sort(key=lambda outlet: (min(d.published for d in days[day][outlet]), outlet))
        for outlet in outlets:
            for doc in days[day][outlet]:
                counts = idea.terms(doc.title, doc.summary)
                mine = idea.slots_of(doc.title, doc.summary)
                rarity = weighted(idea, profile.Rarity({t: df[t] for t in counts}, placed), sf, len(stories))
                near = [p for p in stories.values() if p.last and abs(doc.published - p.last) <= window]
                need = idea.slots[2] if idea.slots else 0
                refused = {
                    p.story
                    for p in near
                    if need and clash(mine, counts, slots[p.story], words[p.story], need)
                }
                story = decide(idea, counts, doc.published, near, rarity, view, {}, sf, len(stories), refused)
                if story is None:
                    story = len(stories) + 1
                    stories[story], words[story], slots[story] = profile.Profile(story), set(), set()
                    alerts[doc.id] += 1
                sf.update(set(counts) - words[story])
                words[story] |= set(counts)
                slots[story] |= mine
                stories[story].add(counts, doc.published)
                story_of[doc.id] = story
                df.update(counts.keys())
                placed += 1
    s = score(docs, story_of, alerts)
    return s.pair_p or 0.0, s.pair_r, s.b3_f1, s.hidden


def _rates(counts: tuple[int, int, int]) -> str:
    right, joined, same = counts
    return f"{right / max(joined, 1):.3f} ({right}/{joined}) / {right / max(same, 1):.3f}"


def _texts(folders: Iterable[Path]) -> dict[str, tuple[str, ...]]:
    found = {}
    for folder in folders:
        for path in sorted(folder.glob("*.toml")):
            for n, t in enumerate(tomllib.loads(path.read_text(encoding="utf-8")).get("pair", []), 1):
                found[f"{path.name}#{n}"] = (t["a_title"], t["a_body"], t["b_title"], t["b_body"])
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--corpus", type=Path, help="JSONL in bench/stories_real.py's format")
    parser.add_argument(
        "--orders", type=int, default=8, help="feed orders on the corpus (the minimum is shown)"
    )
    parser.add_argument("--idea", action="append", help="an idea (see the docstring); default: all")
    args = parser.parse_args(argv)
    settings = StorySettings()
    texts = _texts([PAIRS, HOLDOUT, FRESH])
    main_pairs, held, fresh = (load_pairs(f, settings) for f in (PAIRS, HOLDOUT, FRESH))
    docs = load(args.corpus, None, None) if args.corpus else []
    print(
        "| idea | fresh P / R | pairs P / R | holdout P / R | pooled R | real min P / R / B³F1 / max hidden |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.idea or IDEAS:
        idea = Idea.parse(name)
        pairs_r, held_r = pairs_score(idea, [main_pairs, held], texts)
        fresh_r = pairs_score(idea, [main_pairs, fresh], texts)[1]  # as --holdout fresh counts rarity
        pooled = (pairs_r[0] + held_r[0]) / (pairs_r[2] + held_r[2])
        real = "—"
        if docs:
            runs = [corpus_score(idea, docs, order) for order in range(args.orders)]
            real = (
                f"{min(r[0] for r in runs):.3f} / {min(r[1] for r in runs):.3f} /"
                f" {min(r[2] for r in runs):.3f} / {max(r[3] for r in runs)}"
            )
        cells = " | ".join(_rates(r) for r in (fresh_r, pairs_r, held_r))
        print(f"| {name} | {cells} | {pooled:.3f} | {real} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
