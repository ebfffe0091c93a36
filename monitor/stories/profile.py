"""A report joins a story, not an article: story profiles weighted by the archive's rarity. Pure.

    terms(title, summary) → Terms                 (words of a report, title counted twice)
    Rarity(df, documents)                         (document frequencies the archive keeps, per language)
    keys(terms, rarity) → index keys             (its rarest terms: at most MAX_KEYS rows)
    Profile                                       (a story: summed terms of its reports, time span)
    place(terms, published, candidates, rarity, settings) → Decision

Method
------
A report is the words of its title and lead (the summary's first LEAD_CHARS characters),
lower-cased, stop words and weekdays out, each cut to its stem (Snowball's English stemmer:
"vaccine" and "vaccination" are one word), the title's twice, a capitalised one (most often a
name) one and a half times; a word joined to a number by a hyphen or run together with it
("COVID-19", "G7", "F-35") is one word, a name, not a figure, and "1,000" is one figure. How
much a word says is how rare it is in the archive: inverse document frequency over the
articles archived so far in the report's language, kept as counts that every saved article
increments (archive.stories), so "Biden" weighs little in an archive full of US politics and a
rare name weighs a lot, with no list of words in the code. Outlet boilerplate (a sentence the
same feed repeats in several items: "Continue reading…", a list of related links) is dropped
before counting (`boilerplate`).

A story's profile is the sum of its reports' term counts (log-scaled per report) and the
times of its first and last report. A report's closeness to a story is the cosine of their
TF-IDF vectors, times e^(-age / AGE_HOURS) (age: hours between the report and the story's
first report: an event is told within hours, and the same words a day later more often tell
its sequel), divided by 1 + SIZE·ln(reports) (`breadth`: every report adds words to a profile,
so any report finds more of its own in a big story than in a small one). It joins the open
story it is closest to when that closeness reaches `min_similarity`; it is decided against the
story as a whole, so a report that resembles only the story's newest member cannot pull the
story to another event; and in a story of several reports, a term only one of them has counts
half (ALONE), so a report that speaks of two events lends the second one little. A report
that shares fewer than MIN_SHARED words with a story is not close to it (headlines alone
excepted): one name and a figure ("Hitachi", "1,000") tell of the same actor, not of one
event. A story stops taking reports `quiet_hours` after its last one: a long-running event
then starts a new story, shown as its own alert. Copies (shingle Jaccard ≥ near_duplicate
with one of the story's reports) always join.

The constants were set on the first two months of a real labelled corpus and the project's
labelled pairs (README, "Stories"); a story's stored profile is unchanged by them.

TEXT_FORMAT, how the archive keeps a profile (Profile.to_text; half the bytes of its JSON, read
in half the time): a first line "LAST FIRST REPORTS" (ISO times, "-" for none), then one line
per count: "COUNT/REPORTS term term ...", REPORTS being how many of its reports have those
terms. Profile.parse reads it and the JSON that archives kept before (archive migration m015
rewrites those).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from itertools import chain, repeat, starmap
from operator import mul

# A report's sentences and script (the feed's boilerplate, the rarity counts' language): re-exported
from monitor.stories.sentences import _NOT_LATIN, boilerplate, language, without  # noqa: F401

# A report's words (terms), re-exported
from monitor.stories.stems import LEAD_CHARS, NAME_WEIGHT, TITLE_WEIGHT, WORD, Terms, _word, terms  # noqa: F401
from monitor.stories.textform import HEADS, by_count, head, iso, rounded_counts  # noqa: F401 (rounded_counts: re-exported)

MAX_KEYS = 8  # index rows per article
PROFILE_TERMS = 80  # a story's profile keeps its strongest terms only
ALONE = 0.5  # in a story of several reports, a term only one of them has counts half
AGE_HOURS = 24.0  # a story's closeness fades by e every this many hours after its first report
SIZE = 1.3  # a story of n reports needs 1 + SIZE·ln(n) times the closeness of a story of one
MIN_SHARED = 3  # words a report shares with a story before it can be close to it (see _similarity)
HEADLINE_TERMS = 12  # a report or story of fewer words is a headline alone: one shared word may do

WORDS = "stems"  # what terms() counts: rarity counts kept for other words (before stems) are not read


def rarity_key(text: str) -> str:
    """Where the archive keeps the rarity counts of a report's words: its language and what
    terms() makes of words, so an archive counted before stemming starts its counts afresh
    (its unstemmed counts would make every stem look rare) instead of over-joining."""
    return f"{language(text)}/{WORDS}"


@dataclass(frozen=True)
class Rarity:
    """Inverse document frequencies: `df` of the terms asked about, out of `documents`."""

    df: Mapping[str, int]
    documents: int

    def weight(self, term: str) -> float:
        w = self.weights.get(term)
        return w if w is not None else math.log(self.documents + 1) + 1.0

    @cached_property
    def weights(self) -> dict[str, float]:
        """weight() of each term of `df`, made once: every candidate story asks for them."""
        n = self.documents + 1
        return {t: math.log(n / (df + 1)) + 1.0 for t, df in self.df.items()}


def vector(counts: Mapping[str, float], rarity: Rarity) -> dict[str, float]:
    return {t: (1.0 + math.log(c) if c >= 1 else c) * rarity.weight(t) for t, c in counts.items() if c > 0}


def keys(
    counts: Mapping[str, float],
    rarity: Rarity,
    limit: int = MAX_KEYS,
    report: Mapping[str, float] | None = None,
) -> tuple[str, ...]:
    """Index keys: the report's strongest terms (count × rarity), at most `limit`; `report`: its
    vector(counts, rarity), when made already."""
    weights = vector(counts, rarity) if report is None else report
    ranked = sorted(weights, key=lambda t: (-weights[t], t))[:limit]
    return tuple(f"w{t}" for t in ranked)


@dataclass
class Profile:
    """A story as a whole: its reports' terms, summed, and when its reports came."""

    story: int  # story id (< 0: started in this batch)
    counts: dict[str, float] = field(default_factory=dict)  # term → sum of log-scaled counts
    # term → how many reports have it, only where more than one: a term of `counts` not here is
    # one report's (most terms of most stories: a third of a parsed profile's memory, issue 18)
    reported: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    reports: int = 0
    # Σ (count × agreement)² over its terms (similarity's norm without rarity), made when first
    # needed after a change
    _squares: float | None = field(default=None, init=False, repr=False, compare=False)

    def add(self, counts: Mapping[str, float], published: datetime) -> None:
        self.add_scaled({t: 1.0 + math.log(c) if c >= 1 else c for t, c in counts.items()}, published)

    def add_scaled(self, scaled: Mapping[str, float], published: datetime) -> None:
        """add() of a report's terms already log-scaled (Report.scaled)."""
        self._squares = None
        if not self.counts:  # a new story: its report's terms as they are (0.0 + c is c)
            self.counts = dict(scaled)
            self.reported = {}
        else:
            counts, reported = self.counts, self.reported
            for term, c in scaled.items():
                if term in counts:
                    counts[term] += c
                    reported[term] = reported.get(term, 1) + 1
                else:
                    counts[term] = c
        if len(self.counts) > PROFILE_TERMS * 2:  # ties by term: the same terms kept in any order
            self.counts = dict(sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:PROFILE_TERMS])
            reported = self.reported
            self.reported = {t: n for t in self.counts if (n := reported.get(t))}
        self.first = published if self.first is None else min(self.first, published)
        self.last = published if self.last is None else max(self.last, published)
        self.reports += 1

    def agreement(self, term: str) -> float:
        """What one report of a story alone says weighs less than what its reports agree on: a
        report about two events cannot hand the second one to its story."""
        return 1.0 if self.reports <= 1 or self.reported.get(term, 1) > 1 else ALONE

    def squares(self) -> float:
        if self._squares is None:
            if self.reports <= 1:  # every agreement is 1.0: the same sum, without asking each term
                self._squares = sum(map(pow, self.counts.values(), repeat(2)))  # c**2 each, in C
            else:
                agree = [1.0 if n > 1 else ALONE for n in map(self.reported.get, self.counts, repeat(1))]
                self._squares = sum(map(pow, map(mul, self.counts.values(), agree), repeat(2)))
        return self._squares

    def to_json(self) -> str:
        data = {
            "c": {t: round(c, 3) for t, c in self.counts.items()},
            "d": {t: n for t in self.counts if (n := self.reported.get(t, 1)) > 1},
            "f": self.first.isoformat() if self.first else None,
            "l": self.last.isoformat() if self.last else None,
            "n": self.reports,
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    def to_text(self) -> str:
        """The profile as the archive keeps it (TEXT_FORMAT): its last and first report's times
        and its number of reports, then one line per (count, reports having it) and its terms."""
        return self.written()[0]

    def written(self) -> tuple[str, dict[str, float]]:
        """(to_text(), its counts as the text holds them: what parsing the text gives)."""
        reported, rounded = self.reported, rounded_counts(self.counts)
        groups: dict[tuple[float, int], list[str]] = {}
        if max(reported.values(), default=1) == 1:  # a story of one report: every term's is 1
            groups = {(r, 1): ts for r, ts in by_count(rounded).items()}
        else:
            for term, r in rounded.items():
                groups.setdefault((r, reported.get(term, 1)), []).append(term)
        times = f"{iso(self.last)} {iso(self.first)} {self.reports}"
        return "\n".join([times, *(f"{c!r}/{n} {' '.join(ts)}" for (c, n), ts in groups.items())]), rounded

    @classmethod
    def parse(cls, story: int, text: str) -> Profile:
        """A profile as to_text wrote it, or as to_json did (archives before TEXT_FORMAT)."""
        if text.startswith("{"):
            return cls.from_json(story, text)
        lines = text.split("\n")
        last, first, reports = lines[0].split(" ")
        counts: dict[str, float] = {}
        shared: dict[str, int] = {}
        several = int(reports) > 1  # a term of one report then counts ALONE (agreement)
        parts: list[tuple[float, int]] = []  # per line: a term's part of squares(), how many terms
        for line in lines[1:]:
            value, *words = line.split(" ")
            count, n = HEADS.get(value) or head(value)
            counts.update(zip(words, repeat(count)))  # each word inserted once (not twice: fromkeys)
            if n != 1:
                shared.update(zip(words, repeat(n)))
            parts.append((pow(count * ALONE if several and n <= 1 else count, 2), len(words)))
        profile = cls(
            story=story,
            counts=counts,
            reported=shared,
            first=None if first == "-" else datetime.fromisoformat(first),
            last=None if last == "-" else datetime.fromisoformat(last),
            reports=int(reports),
        )
        # squares(), the same sum of the same values in its terms' order, from a power per line
        # instead of a multiplication and a power per term (each term once, as to_text writes)
        if sum(n for _, n in parts) == len(counts):
            profile._squares = sum(chain.from_iterable(starmap(repeat, parts)))
        return profile

    @classmethod
    def from_json(cls, story: int, text: str) -> Profile:
        data = json.loads(text)
        return cls(
            story=story,
            counts={t: float(c) for t, c in data["c"].items()},
            reported={t: n for t, d in data.get("d", {}).items() if t in data["c"] and (n := int(d)) > 1},
            first=datetime.fromisoformat(data["f"]) if data.get("f") else None,
            last=datetime.fromisoformat(data["l"]) if data.get("l") else None,
            reports=int(data.get("n", 0)),
        )


@dataclass(frozen=True)
class StorySettingsView:
    min_similarity: float  # cosine from which a report joins a story's profile
    quiet_hours: float  # a story takes no report this long after its last one


@dataclass(frozen=True)
class Decision:
    story: int | None  # the story joined, or None: a new story
    score: float  # closeness to its profile (see place; 1.0 + Jaccard for a copy)
    reason: str  # for humans: "0.41: facebook, oversight, board" or "copy 0.82"


def similarity(counts: Mapping[str, float], profile: Profile, rarity: Rarity) -> tuple[float, list[str]]:
    """Cosine of the report's and the story's TF-IDF vectors (the story's terms weighed by
    Profile.agreement), and the shared terms that weigh most."""
    a = vector(counts, rarity)
    score, shared = _similarity(a, profile, rarity, math.sqrt(sum(x * x for x in a.values())))
    return score, _strongest(shared, score)


def _strongest(shared: Mapping[str, float], score: float) -> list[str]:
    """The shared terms that weigh most (5; all of them for a score of 0): for the chosen story only."""
    return sorted(shared, key=lambda t: -shared[t])[: 5 if score else None]


def _similarity(
    a: Mapping[str, float],
    profile: Profile,
    rarity: Rarity,
    norm_a: float,
    unweighed: Sequence[str] | None = None,
) -> tuple[float, dict[str, float]]:
    """similarity with the report's vector `a` made once for all candidates, and the shared
    terms' parts (_strongest). A term rarity has
    no count for weighs the most (`top`); the story's norm is that weight times its squares,
    corrected for the terms rarity counts: the cost is in the report's terms, not the story's.
    A report sharing fewer than MIN_SHARED words with the story is not close to it, however
    rare they are: one name (a company, a court, a spokesperson), with perhaps a figure, tells
    of the same actor, not of one event. Headlines alone (fewer than HEADLINE_TERMS words: a
    feed without summaries) have few words to share, and are exempt. `norm_a`: the report
    vector's norm; `unweighed`: its terms rarity has no count for, in its order (made once)."""
    top_weight = math.log(rarity.documents + 1) + 1.0  # rarity.weight of a term it has no count for
    top_squared = top_weight * top_weight
    story = profile.counts
    shared: dict[str, float] = {}
    correction = 0.0
    weights = rarity.weights
    single, reported = profile.reports <= 1, profile.reported  # agreement() inlined: x * 1.0 is x
    for t in sorted(weights.keys() & story.keys()):  # in one order: the same sums, to the last bit
        w = weights[t]
        part = story[t] if single or reported.get(t, 1) > 1 else story[t] * ALONE
        correction += part * part * (w * w - top_squared)
        if t in a:
            shared[t] = a[t] * part * w
    for t in [t for t in a if t not in rarity.df] if unweighed is None else unweighed:
        if t in story:
            shared[t] = a[t] * story[t] * profile.agreement(t) * top_weight
    if not shared or (len(shared) < MIN_SHARED and min(len(a), len(story)) >= HEADLINE_TERMS):
        return 0.0, shared
    squares_b = max(top_squared * profile.squares() + correction, 1e-300)
    norm = norm_a * math.sqrt(squares_b)
    return sum(shared.values()) / norm, shared


def closeness(profile: Profile, published: datetime) -> float:
    """How much of its similarity a story keeps for a report this long after its first one:
    an event is told within hours; a day later the same words are more often its sequel."""
    if profile.first is None:
        return 1.0
    age = abs((published - profile.first).total_seconds()) / 3600
    return math.exp(-age / AGE_HOURS)


def breadth(profile: Profile) -> float:
    """A story's profile grows broader with each report, and any report finds more of its words
    in it: the closeness it needs grows with the log of its reports."""
    return 1.0 + SIZE * math.log(profile.reports) if profile.reports > 1 else 1.0


def is_open(profile: Profile, published: datetime, quiet_hours: float) -> bool:
    if profile.last is None:
        return True
    return abs((published - profile.last).total_seconds()) <= quiet_hours * 3600


def place(
    counts: Mapping[str, float],
    published: datetime,
    profiles: Iterable[Profile],
    rarity: Rarity,
    settings: StorySettingsView,
    copies: Mapping[int, float] | None = None,
    report: Mapping[str, float] | None = None,
    norm: float | None = None,
    unweighed: Sequence[str] | None = None,
) -> Decision:
    """The story a report joins: a copy's (`copies`: story → best Jaccard, already ≥ the copy
    threshold), else the open story the report is closest to (cosine × closeness ÷ breadth),
    if close enough; else None. `report`, `norm`, `unweighed`: vector(counts, rarity), its norm and
    its terms rarity has no count for (in its order), when made already (screen.Report)."""
    open_profiles = [p for p in profiles if is_open(p, published, settings.quiet_hours)]
    if copies:
        allowed = {p.story for p in open_profiles}
        found = [(j, s) for s, j in copies.items() if s in allowed]
        if found:
            best_j, best_s = max(found, key=lambda x: (x[0], -x[1]))
            return Decision(best_s, 1.0 + best_j, f"copy {best_j:.2f}")
    best: tuple[float, int, list[str]] | None = None
    if report is None:
        report = vector(counts, rarity)
    if norm is None:
        norm = math.sqrt(sum(map(mul, report.values(), report.values())))  # x * x each, in C
    if unweighed is None:
        unweighed = [t for t in report if t not in rarity.df]
    for profile in open_profiles:
        cosine, shared = _similarity(report, profile, rarity, norm, unweighed)
        score = cosine * (closeness(profile, published) / breadth(profile))
        if score >= settings.min_similarity and (
            best is None or (score, -profile.story) > (best[0], -best[1])
        ):
            best = (score, profile.story, _strongest(shared, cosine))
    if best is None:
        return Decision(None, 0.0, "new story")
    return Decision(best[1], best[0], f"{best[0]:.2f}: {', '.join(best[2])}")
