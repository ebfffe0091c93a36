"""A candidate story's closeness to a report read from its stored text, without parsing it. Pure.

    reach(text, report) → at least the closeness profile.place would find, or inf

Most candidate stories are far from a report (in a cold pass 0.44 of 8.2 reach min_similarity,
docs/stories-log.md), yet each was parsed into a Profile (two dicts of ~80 terms) to be compared:
the costliest step of placing a report (issue 17). `reach` reads the text once (Profile.to_text's
lines: a count, how many reports have its terms, the terms) and computes the same cosine as
profile._similarity with the report's terms only, times closeness ÷ breadth: grouping parses
only the stories that reach min_similarity (and the copies' stories), and places the report
among them, which is the decision with every candidate, as a story below min_similarity is never
chosen. It is an upper bound, not a second method: the MIN_SHARED rule (which only lowers a
score to 0) is not applied, and grouping leaves a story out only below min_similarity by a
margin far above the rounding of summing in another order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from operator import mul

from monitor.stories.profile import AGE_HOURS, ALONE, SIZE, Rarity
from monitor.stories.textform import HEADS, head

MARGIN = 1e-9  # relative: a story is left out below min_similarity × (1 - MARGIN)


class Report:
    """What reach reads of a report, made once for all its candidates (as profile.place makes it)."""

    __slots__ = ("weighted", "rarity", "norm", "unweighed", "published", "top", "terms")

    def __init__(self, weighted: Mapping[str, float], rarity: Rarity, published: datetime) -> None:
        self.weighted = weighted  # profile.vector of the report (words.weighed)
        self.rarity = rarity
        self.norm = math.sqrt(sum(map(mul, weighted.values(), weighted.values())))  # x * x each, in C
        # its terms rarity has no count for (weighed top), in its order: most often none (a difference in C)
        unweighed = weighted.keys() - rarity.df.keys()
        self.unweighed = [t for t in weighted if t in unweighed] if unweighed else []
        self.published = published
        self.top = math.log(rarity.documents + 1) + 1.0  # rarity.weight of a term it has no count for
        # What reach looks a text's words up in: the weighted terms, and those rarity counts that
        # they lack (none, as words.weighed makes them) at 0.0: their part of the story's norm counts
        self.terms = weighted
        if len(rarity.df) != len(weighted) - len(self.unweighed):
            self.terms = dict.fromkeys(rarity.df, 0.0) | dict(weighted)


def reach(text: str, report: Report) -> float:
    """cosine × closeness ÷ breadth (profile.place's score) of the story whose Profile.to_text is
    `text`, as profile._similarity computes it but for the MIN_SHARED rule: never below it (up to
    the rounding of another order of sums). inf for a text it does not read (JSON)."""
    if text.startswith("{") or not report.norm:
        return math.inf
    lines = text.split("\n")
    _last, first, reports = lines[0].split(" ")
    several = int(reports) > 1
    a, top = report.terms, report.top
    weight = report.rarity.weights.get
    top_squared = top * top
    terms = a.keys()
    shared = correction = squares = 0.0
    for line in lines[1:]:
        words = line.split(" ")  # its head first: never a term (a term has no "/")
        count, n = HEADS.get(words[0]) or head(words[0])
        part = count * ALONE if several and n <= 1 else count  # Profile.agreement
        squares += part * part * (len(words) - 1)
        for t in terms & words:  # a term rarity has no count for weighs top: no correction
            w = weight(t, top)
            correction += part * part * (w * w - top_squared)
            shared += a[t] * part * w
    if not shared:
        return 0.0
    cosine = shared / (report.norm * math.sqrt(max(top_squared * squares + correction, 1e-300)))
    if first != "-":  # profile.closeness
        age = abs((report.published - datetime.fromisoformat(first)).total_seconds()) / 3600
        cosine *= math.exp(-age / AGE_HOURS)
    return cosine / (1.0 + SIZE * math.log(int(reports)) if several else 1.0)  # profile.breadth
