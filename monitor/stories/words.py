"""A report's words as placing reads them, made once per report, without the archive.

    report(title, summary, boilerplate) → Report   (in a parser worker, beside its fingerprint)
    reports(items) → [Report]                      (a feed's: its boilerplate found and dropped)
    weigh(report.counts, rarity) → its weighted terms (profile.vector, without a call per term)
    weighed(scaled(counts), df, documents) → (Rarity, weigh's terms): each weight made once
    strongest(weighted) → its index keys             (profile.keys)
    kept(summary, report.dropped)                    (the text its counts were made of, again)
    lone_text(report, published)                     (a new story's profile text, from Report.lone)

The writer (service/grouping.py) only looks up the rarity of the words and compares: the words
themselves (profile.terms: the regex, the stemmer, the language key) cost as much as the rest
of a placement and need nothing of the archive, so the parser workers make them (issue 17).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.stories.profile import MAX_KEYS, PROFILE_TERMS, Profile, Rarity, rarity_key, terms
from monitor.stories.sentences import _GAP_AFTER, repeated, sentences_of
from monitor.stories.textform import lone_head, lone_line


@dataclass(frozen=True)
class Report:
    """What placing reads of a report's words, made once, without the archive (a parser worker
    makes it beside the fingerprint): its rarity_key and its profile.terms() (`counts`)."""

    language: str
    counts: dict[str, float]
    # Which sentences of its summary were the feed's boilerplate (dropping): None, the
    # summary was read as it is. With the article's text, what makes `counts` again
    # (kept): the archive keeps no profile of a story of this report alone (lookup.alone).
    dropped: tuple[int, ...] | None = None
    # Made with it (report, reports: in the parser worker), so that the writer need not: its
    # counts log-scaled (scaled()), and the text (Profile.to_text) of the profile of a story of
    # this report alone, but for its first line (its times): a new story's (lone_text).
    scaled: dict[str, float] | None = None
    lone: str | None = None


def report(title: str, summary: str, boilerplate: frozenset[str] = frozenset()) -> Report:
    """A report's Report: terms(title, summary without the feed's `boilerplate`)."""
    read, dropped = dropping(summary, boilerplate)
    return _made(_key(title, summary), terms(title, read), dropped)


def _made(language: str, counts: dict[str, float], dropped: tuple[int, ...] | None) -> Report:
    """The Report of these words, with what the writer would otherwise make of them: scaled(counts)
    and Profile.written's lines of a story of them alone. A report's counts have few values
    (multiples of 0.5), so each value is log-scaled and rounded once, not once per term (h-words):
    the same floats, and the same lines (textform.by_count's) as Profile.written makes."""
    log_scaled, lines = scaled_lines(counts)
    if len(log_scaled) > PROFILE_TERMS * 2:  # a story keeps its strongest terms: Profile's way
        alone = Profile(0)
        alone.add_scaled(log_scaled, _SOME_TIME)
        return Report(language, counts, dropped, log_scaled, alone.written()[0].partition("\n")[2])
    lone = "\n".join(lone_line(c, ts) for c, ts in lines.items())
    return Report(language, counts, dropped, log_scaled, lone)


_SOME_TIME = datetime(2000, 1, 1, tzinfo=UTC)  # lone: the lines after the first (the times) do not hold it


def lone_text(report: Report, published: datetime) -> str | None:
    """Profile.to_text of a story of `report` alone, published then (its `lone` lines and their
    first line); None when the report was made without them."""
    if report.lone is None:
        return None
    head = lone_head(published)
    return f"{head}\n{report.lone}" if report.lone else head


def _key(title: str, summary: str) -> str:
    return rarity_key(f"{title} {summary[:400]}")  # language() reads 400 characters


def dropping(summary: str, sentences: frozenset[str]) -> tuple[str, tuple[int, ...] | None]:
    """(profile.without(summary, sentences), which of its sentences that took out: None when
    there were no `sentences` to take out, the summary as it is); kept() makes the text again."""
    if not sentences:
        return summary, None
    parts = sentences_of(summary)  # as without() splits it
    return _drop(parts, list(map(str.strip, parts)), sentences)


def _drop(
    parts: Sequence[str], stripped: Sequence[str], sentences: frozenset[str]
) -> tuple[str, tuple[int, ...]]:
    """dropping() of a summary split into `parts` (stripped: `stripped`)."""
    dropped = tuple(i for i, s in enumerate(stripped) if s in sentences)
    return " ".join(p for p, s in zip(parts, stripped, strict=True) if s not in sentences), dropped


def kept(summary: str, dropped: tuple[int, ...] | None, enough: int | None = None) -> str:
    """The summary as profile.without left it, from the sentences it took out (dropping's);
    `enough`: its first `enough` characters at least (or all of it), the rest left unsplit:
    profile.terms reads no further than LEAD_CHARS + 1 of it."""
    if dropped is None:
        return summary
    parts: list[str] = []
    length, at, index = -1, 0, 0  # length: of " ".join(parts); at: where sentence `index` starts
    for gap in _GAP_AFTER.finditer(summary):  # sentences_of, a sentence at a time
        if index not in dropped:  # a gap's mark ends its sentence; its line break does not
            parts.append(summary[at : gap.start() if gap[1] == "\n" else gap.end(1)])
            length += len(parts[-1]) + 1
            if enough is not None and length >= enough:
                return " ".join(parts)
        at, index = gap.end(), index + 1
    if index not in dropped:
        parts.append(summary[at:])
    return " ".join(parts)


def reports(items: Sequence[tuple[str, str]], at_least: int = 3) -> list[Report]:
    """report() of each (title, summary) of one feed, without the feed's boilerplate
    (profile.boilerplate of the summaries): the same Reports, each summary split into sentences
    once instead of twice (profile.boilerplate, then profile.without)."""
    split = [sentences_of(summary) for _, summary in items]
    stripped = [list(map(str.strip, sentences)) for sentences in split]
    boilerplate = repeated(stripped, at_least)
    made = []
    for (title, summary), sentences, bare in zip(items, split, stripped, strict=True):
        lead, dropped = summary, None
        if boilerplate:  # dropping(), on the sentences split already
            lead, dropped = _drop(sentences, bare, boilerplate)
        made.append(_made(_key(title, summary), terms(title, lead), dropped))
    return made


def weigh(counts: Mapping[str, float], rarity: Rarity) -> dict[str, float]:
    """profile.vector(counts, rarity): the same weights, without a call per term."""
    weights = rarity.weights
    top = math.log(rarity.documents + 1) + 1.0  # rarity.weight of a term it has no count for
    get, log = weights.get, math.log
    return {t: (1.0 + log(c) if c >= 1 else c) * get(t, top) for t, c in counts.items() if c > 0}


def scaled(counts: Mapping[str, float]) -> dict[str, float]:
    """A report's counts log-scaled, as Profile.add and profile.vector scale them: its counts are
    a few values (multiples of 0.5), each log-scaled once, not once per term."""
    log = math.log
    values = {c: 1.0 + log(c) if c >= 1 else c for c in set(counts.values())}
    return dict(zip(counts, map(values.__getitem__, counts.values()), strict=True))


def lone_lines(counts: Mapping[str, float]) -> dict[float, list[str]]:
    """The lines of the text of a story of this report alone (textform.by_count of its counts
    log-scaled and rounded as Profile.written rounds them, each of their few values once), for a
    report of at most PROFILE_TERMS * 2 terms (a Profile keeps the strongest of more)."""
    return scaled_lines(counts)[1]


def scaled_lines(counts: Mapping[str, float]) -> tuple[dict[str, float], dict[float, list[str]]]:
    """(scaled(counts), lone_lines(counts)) in one pass over the counts: a count's float hashed
    once per term, not four times (a set and a look-up for each), and each of the few values
    log-scaled and rounded once (h-words2: 249K -> 132K instructions a farm report)."""
    log, made, lines = math.log, dict[str, float](), dict[float, list[str]]()
    values: dict[float, tuple[float, list[str]]] = {}  # count → (log-scaled, its line)
    for term, c in counts.items():  # by_count of the rounded counts: the text's order
        if (value := values.get(c)) is None:
            s = 1.0 + log(c) if c >= 1 else c
            if (line := lines.get(r := round(s, 3))) is None:  # two counts may round alike
                line = lines[r] = []
            value = values[c] = (s, line)
        made[term] = value[0]
        value[1].append(term)
    return made, lines


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
