"""A report's words as placing reads them, made once per report, without the archive.

    report(title, summary, boilerplate) → Report   (in a parser worker, beside its fingerprint)
    reports(items) → [Report]                      (a feed's: its boilerplate found and dropped)
    weigh(report.counts, rarity) → its weighted terms (profile.vector, without a call per term)
    weighed(scaled(counts), df, documents) → (Rarity, weigh's terms): each weight made once
    strongest(weighted) → its index keys             (profile.keys)

The writer (service/grouping.py) only looks up the rarity of the words and compares: the words
themselves (profile.terms: the regex, the stemmer, the language key) cost as much as the rest
of a placement and need nothing of the archive, so the parser workers make them (issue 17).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.stories.profile import MAX_KEYS, Rarity, rarity_key, terms, without
from monitor.stories.sentences import _SENTENCE


@dataclass(frozen=True)
class Report:
    """What placing reads of a report's words, made once, without the archive (a parser worker
    makes it beside the fingerprint): its rarity_key and its profile.terms() (`counts`)."""

    language: str
    counts: dict[str, float]


def report(title: str, summary: str, boilerplate: frozenset[str] = frozenset()) -> Report:
    """A report's Report: terms(title, summary without the feed's `boilerplate`)."""
    key = rarity_key(f"{title} {summary[:400]}")  # language() reads 400 characters
    return Report(key, terms(title, without(summary, boilerplate)))


def reports(items: Sequence[tuple[str, str]], at_least: int = 3) -> list[Report]:
    """report() of each (title, summary) of one feed, without the feed's boilerplate
    (profile.boilerplate of the summaries): the same Reports, each summary split into sentences
    once instead of twice (profile.boilerplate, then profile.without)."""
    split = [_SENTENCE.split(summary) for _, summary in items]
    stripped = [[s.strip() for s in sentences] for sentences in split]
    seen: Counter[str] = Counter()
    for sentences in stripped:
        seen.update({s for s in sentences if len(s) > 12})
    boilerplate = {s for s, n in seen.items() if n >= at_least}
    made = []
    for (title, summary), sentences, bare in zip(items, split, stripped, strict=True):
        lead = summary
        if boilerplate:  # profile.without, on the sentences split already
            lead = " ".join(s for s, b in zip(sentences, bare, strict=True) if b not in boilerplate)
        made.append(Report(rarity_key(f"{title} {summary[:400]}"), terms(title, lead)))
    return made


def weigh(counts: Mapping[str, float], rarity: Rarity) -> dict[str, float]:
    """profile.vector(counts, rarity): the same weights, without a call per term."""
    weights = rarity.weights
    top = math.log(rarity.documents + 1) + 1.0  # rarity.weight of a term it has no count for
    get, log = weights.get, math.log
    return {t: (1.0 + log(c) if c >= 1 else c) * get(t, top) for t, c in counts.items() if c > 0}


def scaled(counts: Mapping[str, float]) -> dict[str, float]:
    """A report's counts log-scaled, as Profile.add and profile.vector scale them."""
    log = math.log
    return {t: 1.0 + log(c) if c >= 1 else c for t, c in counts.items()}


def weighed(
    scaled: Mapping[str, float], df: Mapping[str, int], documents: int
) -> tuple[Rarity, dict[str, float]]:
    """(Rarity(df, documents), weigh() of the report whose counts log-scale to `scaled`): each
    term's rarity weight computed once, for both (Rarity.weights, made here, is what it would
    make), and the counts' logs not again (a count is scaled once, for the profile too)."""
    rarity = Rarity(df, documents)
    n, log = documents + 1, math.log
    weights = rarity.__dict__["weights"] = {t: log(n / (d + 1)) + 1.0 for t, d in df.items()}
    get, top = weights.get, log(documents + 1) + 1.0  # rarity.weight of a term it has no count for
    return rarity, {t: s * get(t, top) for t, s in scaled.items() if s > 0}  # s > 0 exactly when c > 0


def strongest(weighted: Mapping[str, float], limit: int = MAX_KEYS) -> tuple[str, ...]:
    """profile.keys() of a weighted report (vector or weigh): its `limit` strongest terms, ties by term.
    Only the terms weighing at least the limit-th weight are sorted with their names (a list of
    floats sorts fast): the same first `limit`."""
    if len(weighted) > limit > 0:
        cut = sorted(weighted.values(), reverse=True)[limit - 1]
        pairs = [(-w, t) for t, w in weighted.items() if w >= cut]
    else:
        pairs = [(-w, t) for t, w in weighted.items()]
    return tuple(f"w{t}" for _, t in sorted(pairs)[:limit])
