"""Stories: does a new article report an event already in a recent story? Pure.

    fingerprint(title, summary, published) → ArticleFingerprint   (stored per article: to_json)
    candidate_keys(fp) → index keys     (the archive finds the window's articles sharing one)
    choose_story(new, [(story, fp), ...]) → story id | None      (same_story on each candidate)

Method
------
Two reports are one story when they are copies of one text, or when they share enough
*specific* facts (names, figures, dates) and nothing says they are different events. Topic
words never decide: in the eval set (tests/data/stories_eval) every different-event pair is
on the same topic, often with the same people, as on this beat, so what separates the
classes is which specific facts agree or conflict. Overlap of ordinary words in the leads
was measured and separates nothing; it is not used.

1. Copies. Word 3-shingles (stop words dropped) go into a 64-slot one-permutation MinHash:
   each shingle is hashed once (crc32, stable across processes, mixed to 64 bits) and the
   smallest value per slot kept, which keeps fingerprint() under a millisecond in pure
   Python (64 independent hashes per shingle would cost 64 times the hashing). Jaccard ≥ 0.4 joins
   whatever else differs: wire copies, retitled republications and updates with a new toll
   score 0.45-0.85 on the eval set, reworded reports of one event at most 0.05, same-topic
   reports of other events at most 0.22.
2. Specific terms, weighted by cues in the text itself (there are no corpus statistics at
   fingerprint time). A capitalised word is a name (1.0) unless it is on a short list of
   beat-generic words (India, Japan, Minister, Security, Digital...), is written in lower case
   elsewhere in the text or has a common-noun suffix (-tion, -ment: 0.3), is a big place
   (Gujarat, Seoul: 0.5), or is capitalised only where every word is, at a sentence start or
   in a Title Case headline (0.5, unless the other report shows it is a name). Names after
   "spokesperson" are sources, not actors (0.3). A run of names also gives the full name
   ("vikram misri", one entity with its parts) and, for organisations, the initials
   ("Bharat Electronics Ltd" → bel, to meet "BEL"). Dates ("27 November", "2026-03-06")
   weigh 2, amounts with a currency or unit 2, percentages 1.5, other figures 0.5-1, years
   0.2. Also kept: ordinals of recurring events ("second round", "9th edition"), weekdays,
   and which terms are in the lead (title and first sentence) and which names in the title.
3. Vetoes, for "same topic, different event": both texts give calendar dates and share none;
   or both number the same kind of event (round/meeting/summit, edition, match, tranche)
   with different numbers.
4. Evidence points: each shared name or figure counts once, at half weight when neither
   lead has it; plus up to 1 for "the same day" (published together, fading over 24 h, or
   naming the same weekday); minus 1 when the leads name different weekdays, 1.5 when both
   give several figures and none agrees, 1.5 when each title names someone or somewhere the
   other report never mentions (another counterpart, another site). One story takes 2
   points, of which at least 1.5 from shared names and figures (one name and good timing is
   not a story), and, below 4 points, a name or figure that both leads have (a name in one
   lead only is a passing mention in the other). A false merge hides news: every rule errs
   towards a new story.
5. Index keys (at most 29): 16 LSH bands of 2 slots over the MinHash (copies at Jaccard 0.4
   share one with probability 0.94, at 0.5 with 0.99), the 3 first names alone and all pairs
   of the 5 first specific terms, ranked sure names and figures first, lead first, then by
   weight, then by a fixed hash so that two reports pick the same terms from what they
   share. Generic words, big places, years and weekdays are never keys; a figure is a key
   only in a pair. Among the 234 same-beat reports of the rules eval set a report shares a
   key with 0.9% of the others.
   The archive should still skip keys that already have many articles in the window: the
   index knows how common a key is, this module does not.

Measured with bench/stories_quality.py: on the 86 pairs written before the method,
precision 1.00 and recall 0.86, and every same-story pair shares a key. On 40 pairs written
after it (holdout/) precision 1.00, recall 0.65, keys 0.95 now; at first contact precision
was 0.67 and then 0.91; each miss led to a rule above (tests/data/stories_eval/README.md). What it
misses: reports sharing one rare name and nothing else (a named cyclone reported from two
districts, a submarine's launch told by the shipyard and by the navy) stay separate
stories, and so does a visit reported on its first and its last day.
"""

from __future__ import annotations

import base64
import json
import operator
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from types import MappingProxyType

from monitor.stories.evidence import _KINDS, _MAYBE, _PLACES, _STOP, _salient, _tokens, folded_words
from monitor.types import StorySettings

FINGERPRINT_VERSION = 2  # bump when fingerprint() changes meaning (2: 16-bit slots, archive m017)


@dataclass(frozen=True)
class ArticleFingerprint:
    published: datetime  # UTC
    signature: tuple[int, ...]  # 64-slot one-permutation MinHash of word 3-shingles, 16 bits; -1 = empty
    terms: tuple[tuple[str, float], ...]  # specific terms and their weights, sorted (see "Method")
    central: frozenset[str] = frozenset()  # the terms of the lead: title and first sentence
    headline: frozenset[str] = frozenset()  # the names in the title, acronyms aside

    # Derived lookups, built on first use and kept (frozen: cached_property writes __dict__).
    # Most candidates are turned down on weights alone (_may_join): their kinds are never built.
    @cached_property
    def weights(self) -> Mapping[str, float]:
        """Term → weight."""
        return MappingProxyType(dict(self.terms))

    @cached_property
    def _kinds(self) -> dict[str, frozenset[str]]:
        kinds: dict[str, set[str]] = {}
        for term in self.weights:
            kinds.setdefault(term[0] if term[0] in _KINDS else "", set()).add(term)
        return {k: frozenset(v) for k, v in kinds.items()}

    def __reduce__(self) -> tuple[type[ArticleFingerprint], tuple[object, ...]]:
        # Pickled between processes (analyse.py): the derived lookups are rebuilt, not sent.
        return (type(self), (self.published, self.signature, self.terms, self.central, self.headline))

    def of_kind(self, prefix: str) -> frozenset[str]:
        """Terms of one kind: "@" dates, "#" figures, "^" ordinals, "~" weekdays, "" names."""
        return self._kinds.get(prefix, frozenset())

    def to_json(self) -> str:
        unsigned = [v & 0xFFFFFFFF for v in self.signature]  # the empty slot, -1, packs as 0xFFFFFFFF
        data = {
            "v": FINGERPRINT_VERSION,
            "p": self.published.isoformat(),
            "s": base64.b64encode(struct.pack(f"<{len(self.signature)}I", *unsigned)).decode(),
            "t": dict(self.terms),
            "c": sorted(self.central),
            "h": sorted(self.headline),
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ArticleFingerprint:
        data = json.loads(text)
        if data.get("v") != FINGERPRINT_VERSION:
            raise ValueError(f"fingerprint version {data.get('v')!r}, expected {FINGERPRINT_VERSION}")
        raw = base64.b64decode(data["s"])
        values: tuple[int, ...] = struct.unpack(f"<{len(raw) // 4}I", raw)
        if 0xFFFFFFFF in values:  # rare: only a text of fewer shingles than slots has empty ones
            values = tuple(_EMPTY if v == 0xFFFFFFFF else v for v in values)
        terms = data["t"]  # written sorted, with float weights, by to_json
        return cls(
            published=datetime.fromisoformat(data["p"]),
            signature=values,
            terms=tuple(zip(terms, map(float, terms.values()), strict=True)),
            central=frozenset(data["c"]),
            headline=frozenset(data["h"]),
        )


@dataclass(frozen=True)
class Verdict:
    same: bool  # the two articles report one event
    score: float  # evidence points, or 100 × Jaccard for copies: higher is stronger
    reason: str  # for humans: "near-identical text 0.93", "4.2 points: misri, oue, 03-06"


# --- the API -------------------------------------------------------------------


def fingerprint(
    title: str, summary: str, published: datetime, settings: StorySettings | None = None
) -> ArticleFingerprint:
    """What to store per article. Nothing in `settings` changes it, so stored fingerprints stay
    valid when thresholds are tuned; only FINGERPRINT_VERSION does."""
    if published.tzinfo is None:
        raise ValueError("published must be timezone-aware (UTC)")
    toks = _tokens(title, summary)
    terms = _salient(toks)
    return ArticleFingerprint(
        published=published.astimezone(UTC),
        signature=_signature([t.fold for t in toks if t.fold not in _STOP]),
        terms=tuple(sorted(terms.weights.items())),
        central=frozenset(terms.central),
        headline=frozenset(terms.headline),
    )


def copy_signature(title: str, summary: str, published: datetime) -> ArticleFingerprint:
    """fingerprint() without its terms: the signature alone (all finding copies reads), at 60% of
    the cost; grouping makes the whole one only while rarity cannot decide (its COLD_START)."""
    if published.tzinfo is None:
        raise ValueError("published must be timezone-aware (UTC)")
    return ArticleFingerprint(published.astimezone(UTC), _signature(folded_words(title, summary)), ())


def candidate_keys(fp: ArticleFingerprint, settings: StorySettings | None = None) -> tuple[str, ...]:
    """Index keys: an article of the same story shares at least one (see "Method", 5)."""
    settings = settings or StorySettings()
    keys = _band_keys(fp.signature, settings.bands, settings.rows)
    ranked = _key_terms(fp)
    names = [t for t in ranked if t[0] not in _KINDS]  # a figure alone recurs in other news
    keys += [f"t{_short(term)}" for term in names[: settings.single_terms]]
    paired = ranked[: settings.key_terms]
    keys += [f"p{_short(a + '|' + b)}" for i, a in enumerate(paired) for b in paired[i + 1 :]]
    return tuple(dict.fromkeys(keys))


def same_story(
    a: ArticleFingerprint, b: ArticleFingerprint, settings: StorySettings | None = None
) -> Verdict:
    """Whether a and b report one event, how strongly, and why (see "Method", 1-4)."""
    settings = settings or StorySettings()
    hours = abs((a.published - b.published).total_seconds()) / 3600
    if hours > settings.window_hours:
        return Verdict(False, 0.0, f"{hours:.0f} h apart")
    similarity = _jaccard(a.signature, b.signature)
    if similarity >= settings.near_duplicate:
        return Verdict(True, 100 * similarity, f"near-identical text {similarity:.2f}")
    conflict = _conflict(a, b)
    if conflict:
        return Verdict(False, 0.0, conflict)
    points, content, shown = _evidence(a, b, hours)
    reason = f"{points:.1f} points: {', '.join(shown)}"
    if content < _MIN_CONTENT:
        return Verdict(False, points, "too little in common; " + reason)
    if points < 2 * settings.min_points and not _lead_shared(a, b):
        return Verdict(False, points, "leads share no name or figure; " + reason)
    return Verdict(points >= settings.min_points, points, reason)


def choose_story(
    new: ArticleFingerprint,
    candidates: Sequence[tuple[int, ArticleFingerprint]],
    settings: StorySettings | None = None,
) -> int | None:
    """The story the new article joins, or None for a new story.

    `candidates` are (story id, fingerprint of one of its articles), e.g. the articles that
    share an index key with the new one; articles outside the window never match. The best
    score wins; a tie goes to the older (smaller) story id.
    """
    best = best_story(new, candidates, settings)
    return None if best is None else best[1]


Choice = tuple[float, int]  # (score, story id) of the story an article would join


def best_story(
    new: ArticleFingerprint,
    candidates: Sequence[tuple[int, ArticleFingerprint]],
    settings: StorySettings | None = None,
    best: Choice | None = None,
) -> Choice | None:
    """choose_story with its score: the best of `best` (found among other candidates) and
    `candidates`, so candidates looked at in parts choose as all of them at once would."""
    settings = settings or StorySettings()
    for story, fp in candidates:
        if not _may_join(new, fp, settings):
            continue  # most candidates: the full comparison would say no
        verdict = same_story(new, fp, settings)
        if verdict.same and (best is None or (verdict.score, -story) > (best[0], -best[1])):
            best = (verdict.score, story)
    return best


def near_copy(a: ArticleFingerprint, b: ArticleFingerprint) -> float:
    """Estimated shingle Jaccard of two reports' texts (copies score 0.4 and more)."""
    return _jaccard(a.signature, b.signature)


# --- the decision --------------------------------------------------------------


def _may_join(a: ArticleFingerprint, b: ArticleFingerprint, settings: StorySettings) -> bool:
    """False only where same_story is surely False, at a fraction of its cost: outside the
    window, or sharing too few names and figures (their summed weights bound the evidence's
    content from above) while the texts are no near-copies."""
    if abs((a.published - b.published).total_seconds()) > settings.window_hours * 3600:
        return False
    wa, wb = a.weights, b.weights
    bound = 0.0  # as _evidence weighs shared terms, before names are merged (which only lowers it)
    for term in wa.keys() & wb.keys() - a.of_kind("~"):
        low, high = (wa[term], wb[term]) if wa[term] <= wb[term] else (wb[term], wa[term])
        weight = high if low == _MAYBE else low
        bound += weight if term in a.central or term in b.central else weight / 2
    if bound >= _MIN_CONTENT and (
        bound + max(_SOON, _SAME_WEEKDAY) >= 2 * settings.min_points or _lead_shared(a, b)
    ):
        return True
    return _jaccard(a.signature, b.signature) >= settings.near_duplicate


# Evidence points (see "Method", 4): what one shared or conflicting feature is worth.
_MIN_CONTENT = 1.5  # shared names and figures needed whatever the timing: one name is not a story
_SOON = 1.0  # for two reports published together, fading to 0 at a day apart
_SAME_WEEKDAY = 1.0  # both say the news happened on the same weekday
_OTHER_WEEKDAY = 1.0  # both leads say on which day, and the days differ
_OTHER_NUMBERS = 1.5  # both give several figures and none agrees (updates and units differ too)
_OTHER_HEADLINE = 1.5  # each headline names someone or somewhere the other report never mentions


def _conflict(a: ArticleFingerprint, b: ArticleFingerprint) -> str | None:
    dates_a, dates_b = a.of_kind("@"), b.of_kind("@")
    if dates_a and dates_b and not dates_a & dates_b:
        return f"different dates: {_show(dates_a)} / {_show(dates_b)}"
    ordinals_a, ordinals_b = _ordinals(a), _ordinals(b)
    for noun in ordinals_a.keys() & ordinals_b.keys():
        if not ordinals_a[noun] & ordinals_b[noun]:
            return f"different {noun}: {_show(ordinals_a[noun])} / {_show(ordinals_b[noun])}"
    return None


def _ordinals(fp: ArticleFingerprint) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for term in fp.of_kind("^"):
        noun, _, n = term[1:].partition(":")
        found.setdefault(noun, set()).add(n)
    return found


def _evidence(a: ArticleFingerprint, b: ArticleFingerprint, hours: float) -> tuple[float, float, list[str]]:
    """(points, the part of them that shared names and figures give, what to show)."""
    wa, wb = a.weights, b.weights
    shared = {}
    for term in wa.keys() & wb.keys() - a.of_kind("~"):  # weekdays: see _same_day
        low, high = sorted((wa[term], wb[term]))
        # one report capitalises it only where every word is capitalised; the other shows it is a name
        weight = high if low == _MAYBE else low
        if term not in a.central and term not in b.central:
            weight /= 2  # both mention it in passing: background, not the news
        shared[term] = weight
    entities = sorted(_entities(shared), key=lambda item: (-item[0], item[1]))
    content = sum(w for w, _ in entities)
    points = content + _same_day(a, b, hours)
    shown = [t for _, t in entities[:5]]
    for penalty, why in _disagreements(a, b):
        points -= penalty
        shown.append(why)
    return points, content, shown


def _entities(shared: dict[str, float]) -> list[tuple[float, str]]:
    """One piece of evidence per name: "narendra modi", "narendra" and "modi" count once."""
    owner = {t: t for t in shared}
    for term in shared:
        for part in term.split(" ") if " " in term else ():
            if owner.get(part) == part:
                owner[part] = term
    best: dict[str, float] = {}
    for term, weight in shared.items():
        best[owner[term]] = max(weight, best.get(owner[term], 0.0))
    return [(w, t) for t, w in best.items()]


def _same_day(a: ArticleFingerprint, b: ArticleFingerprint, hours: float) -> float:
    """Published together, or a day or two apart and naming the same weekday (in the window a
    weekday names one day). The larger counts: both say "the same day"."""
    same_weekday = _SAME_WEEKDAY if a.of_kind("~") & b.of_kind("~") else 0.0
    return max(_SOON * max(0.0, 1 - hours / 24), same_weekday)


def _disagreements(a: ArticleFingerprint, b: ArticleFingerprint) -> list[tuple[float, str]]:
    found = []
    # the lead says when the news happened; later sentences may look back or ahead
    days_a, days_b = a.of_kind("~") & a.central, b.of_kind("~") & b.central
    if days_a and days_b and not days_a & days_b:
        found.append((_OTHER_WEEKDAY, "other weekday"))
    numbers_a = {t for t in a.of_kind("#") if a.weights[t] >= 1}
    numbers_b = {t for t in b.of_kind("#") if b.weights[t] >= 1}
    if len(numbers_a) >= 2 and len(numbers_b) >= 2 and not numbers_a & numbers_b:
        found.append((_OTHER_NUMBERS, "other numbers"))
    only_a, only_b = _unmentioned(a.headline, b), _unmentioned(b.headline, a)
    if only_a and only_b:
        found.append((_OTHER_HEADLINE, f"other names: {_show(only_a)} / {_show(only_b)}"))
    return found


def _unmentioned(names: Iterable[str], other: ArticleFingerprint) -> set[str]:
    """The names the other report never mentions, singular or plural ("Philippine", "Philippines")."""
    said = other.weights
    return {n for n in names if n not in said and n + "s" not in said and n.removesuffix("s") not in said}


def _lead_shared(a: ArticleFingerprint, b: ArticleFingerprint) -> bool:
    """Two reports of one event name the same someone, somewhere or figure in their leads."""
    both = a.central & b.central - a.of_kind("~")
    return any(min(a.weights[t], b.weights[t]) >= _MAYBE for t in both)


def _show(terms: Iterable[str]) -> str:
    return ", ".join(sorted(t.lstrip("@^~#") for t in terms))


# --- index keys ----------------------------------------------------------------


def _band_keys(signature: Sequence[int], bands: int, rows: int) -> list[str]:
    """LSH: texts with shingle Jaccard J share a band with probability 1 - (1 - J**rows)**bands."""
    filled = [i for i, v in enumerate(signature) if v != _EMPTY]
    if not filled:
        return []
    dense = list(signature)
    for i, v in enumerate(signature):
        if v == _EMPTY:  # rotation densification: borrow the next filled slot, marked by the distance
            j = next((k for k in filled if k > i), filled[0])
            dense[i] = (signature[j] + (j - i) % _BINS) & 0xFFFFFFFF
    rows_of = [dense[band * rows : band * rows + rows] for band in range(min(bands, _BINS // rows))]
    return [f"b{band:02d}{_short(repr(values))}" for band, values in enumerate(rows_of)]


def _key_terms(fp: ArticleFingerprint) -> list[str]:
    """The terms specific enough to index: sure names and figures, then words capitalised only at a
    sentence start (a report may name its subject nowhere else), each group lead first and by
    weight; a fixed hash breaks ties so that two reports pick the same terms from what they share.
    A full name is left to its parts, which another report may write alone ("Misri")."""
    weights = fp.weights

    def usable(term: str) -> bool:
        sure = weights[term] >= 1.0 or (weights[term] == _MAYBE and term not in _PLACES)
        return sure and term[0] not in "~^" and " " not in term

    rank = {t: (weights[t] < 1, t not in fp.central, -weights[t], zlib.crc32(t.encode())) for t in weights}
    return sorted(filter(usable, weights), key=rank.__getitem__)


def _short(text: str) -> str:
    return f"{zlib.crc32(text.encode()):08x}"


# --- MinHash -------------------------------------------------------------------

_BINS = 64
_EMPTY = -1
_MIX = 0x9E3779B97F4A7C15  # 2**64 / golden ratio: spreads crc32's 32 bits over 64
_MASK64 = (1 << 64) - 1


def _signature(words: list[str]) -> tuple[int, ...]:
    """One-permutation MinHash of the folded words (stop words out): each shingle hashed once,
    the smallest value kept per slot."""
    shingles = map(" ".join, zip(words, words[1:], words[2:], strict=False)) if len(words) > 2 else words
    sig = [_EMPTY] * _BINS
    for shingle in shingles:
        h = (zlib.crc32(shingle.encode()) * _MIX) & _MASK64
        slot, value = h >> 58, (h >> 32) & 0xFFFE  # 16 bits (issue 18), even: never 0xFFFF, the packed empty
        if sig[slot] == _EMPTY or value < sig[slot]:
            sig[slot] = value
    return tuple(sig)


def _jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated shingle Jaccard: equal slots over the slots either text filled."""
    if len(a) != len(b):
        raise ValueError(f"signatures of {len(a)} and {len(b)} slots")
    # Counted in C (map, sum): a candidate costs one of these, and most are turned down.
    match, both = sum(map(operator.eq, a, b)), len(a)
    if _EMPTY in a and _EMPTY in b:  # slots neither text filled count for neither (a few, if any)
        empty, i = 0, -1
        while _EMPTY in a[i + 1 :]:
            i = a.index(_EMPTY, i + 1)
            empty += b[i] == _EMPTY
        match, both = match - empty, both - empty
    return match / both if both else 0.0
