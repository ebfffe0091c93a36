"""One alert per story: place each new article in a story and decide what it alerts.

For the articles of one feed update (a batch), in order:

    words.report (boilerplate of this feed dropped)      the report's words, pure: made in a
                                                         parser worker (workers.describe_fresh)
    | archive.story_index().document_frequencies         how rare each is in the archive (per language)
    | profile.keys                                       its rarest terms: the index keys (≤ 8)
    | archive.story_index().candidates                   the window's stories sharing a key
      + this batch's stories                             (not in the archive yet)
    | screen.reach                                       a story out of reach of min_similarity,
                                                         read from its text: not parsed
    | profile.place                                      join the closest open story's profile, a
                                                         copy's story, or start a story
    The archive answers from memory (archive/storymemory.py), and the pipeline keeps the
    profiles it parsed (stories.lookup caches); archived copy signatures are compared as stored
    (lookup.Slots): no SQL, no JSON per report.
    then: a new story alerts as before; a report joining a story alerts for the rules no earlier
    report of the story matched. Joining an archived story is an event (StoryJoined, in `joins`):
    alerts.redraw draws that story's alerts again with "Also reported by" (rewritten while still
    queued, edited in the chat once sent). Grouping renders nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from monitor.archive.store import Archive
from monitor.archive.stories import MAX_CANDIDATES, MAX_POSTINGS
from monitor.stories import profile, screen, words
from monitor.stories.fingerprint import (
    ArticleFingerprint,
    best_story,
    candidate_keys,
    fingerprint,
    near_copy,
)
from monitor.stories.lookup import FingerprintCache, ProfileCache, Slots, StoryIndex, signature_of
from monitor.types import AlertIntent, EntryData, RuleMatch, StoryJoin, StoryJoined, StorySettings

CANDIDATES = 16  # archived articles looked at per report (their stories' profiles, copies)
COLD_START = 10  # articles of a language the archive needs before rarity weighs words
Report = tuple[str | None, str | None]  # (outlet, link) of one article in a story
AlertsFor = Callable[[EntryData, str | None, Sequence[RuleMatch], Sequence[Report]], list[AlertIntent]]


@dataclass(frozen=True)
class Placement:
    story: int  # an archived story's id, or < 0 for a story this batch starts
    fingerprint: str | bytes  # to store (lookup.stored_fingerprint: its signature alone after COLD_START)
    keys: tuple[str, ...]  # its index keys, to store (profile.keys: at most 8)
    alerts: list[AlertIntent]  # its own alerts: a new story's, or the rules new to its story
    joined: StoryJoin  # why it is where it is, its story's new profile, its terms (for rarity)


@dataclass
class _NewStory:
    entry: EntryData  # the article that started it (its alerts carry the story)
    outlet: str | None
    matches: Sequence[RuleMatch]
    alerts: list[AlertIntent]  # its alerts; redrawn in place as reports join
    reports: list[Report] = field(default_factory=list)  # later reports, in order


@dataclass
class Grouper:
    """Places the articles of one batch; `joins` collects the archived stories they joined."""

    archive: Archive
    settings: StorySettings
    alerts_for: AlertsFor
    fingerprints: FingerprintCache = field(default_factory=lambda: FingerprintCache())
    parsed: ProfileCache = field(default_factory=lambda: ProfileCache())  # archived profiles, parsed
    joins: list[StoryJoined] = field(default_factory=list)  # in order; their alerts are redrawn
    boilerplate: frozenset[str] = frozenset()  # sentences this feed repeats (see learn_feed)
    _summaries: Sequence[str] | None = None  # the feed's, until its boilerplate is needed
    _batch: list[tuple[int, ArticleFingerprint]] = field(default_factory=list)  # (story, fingerprint)
    # key → this batch's latest articles with it (indexes into _batch): bounded as the archive's
    # candidates are, so a feed of thousands of look-alike items costs no more per item than 50.
    _postings: dict[str, list[int]] = field(default_factory=dict)
    _new: dict[int, _NewStory] = field(default_factory=dict)
    _joined: dict[int, list[Report]] = field(default_factory=dict)  # archived story → this batch's reports
    _profiles: dict[int, profile.Profile] = field(default_factory=dict)  # stories this batch touched
    _index: StoryIndex | None = None  # the archive's look-ups (story_index), taken at the first report
    # archived stories a report of this batch left unparsed (stories.screen), as its text: held as
    # if parsed (in _profiles), as the batch held every story it read before the screen
    _unread: dict[int, str] = field(default_factory=dict)
    _own: set[int] = field(default_factory=set)  # of those, the ones whose profile is this batch's copy
    _rules: dict[int, set[str]] = field(default_factory=dict)  # story → rules it alerted for
    _df: dict[str, Counter[str]] = field(default_factory=dict)  # language → this batch's document counts
    _docs: Counter[str] = field(default_factory=Counter)  # language → this batch's articles

    def learn_feed(self, summaries: Sequence[str]) -> None:
        """The feed's repeated sentences ("Continue reading…", related links) count for nothing:
        found when a report comes without its words made (a parser worker drops them itself)."""
        self._summaries = summaries

    def place(
        self,
        entry: EntryData,
        outlet: str | None,
        matches: Sequence[RuleMatch],
        fp: ArticleFingerprint,
        keys: Sequence[str] = (),
        made: words.Report | None = None,
        packed: bytes | None = None,
    ) -> Placement:
        """`fp`: stories.copy_signature (or the whole stories.fingerprint) of the entry: its text
        signature finds copies; `keys`: its stories.candidate_keys, if known. While the archive
        is too small for rarity (COLD_START) the evidence decides: the whole fingerprint and its
        keys are made here when `fp` has no terms. `made`: words.report of the entry with this
        feed's boilerplate, if made already (a parser worker makes it: workers.describe_fresh);
        `packed`: lookup.signature_of(fp), if made already (the worker makes it too)."""
        if made is None:
            if self._summaries is not None:
                self.boilerplate, self._summaries = profile.boilerplate(self._summaries), None
            made = words.report(entry.title, entry.summary, self.boilerplate)
        counts, lang = made.counts, made.language
        if self._index is None:  # one per batch: nothing is archived while a batch is placed
            self._index = self.archive.story_index()
        index = self._index
        # for its weights and its story's profile (made with its words, most often)
        scaled = made.scaled if made.scaled is not None else words.scaled(counts)
        # its rarity and weighted terms: for its keys and its placing
        rarity, weighted = self._rarity(index, lang, counts, scaled)
        if rarity.documents < COLD_START and not fp.terms:  # the evidence decides: all of it
            fp = fingerprint(entry.title, entry.summary, fp.published)
            keys = candidate_keys(fp, self.settings)
            packed = None
        index_keys = words.strongest(weighted)
        # what copies are compared with (Slots), and what is kept
        signature = signature_of(fp) if packed is None else packed
        decision = self._decide(index, counts, fp, index_keys, rarity, keys, weighted, signature)
        report = (outlet, entry.link)
        story = decision.story
        if story is None:
            story = -(len(self._new) + 1)
            alerts = self.alerts_for(entry, outlet, matches, ())
            self._new[story] = _NewStory(entry, outlet, matches, alerts)
            self._rules[story] = {m.rule_id for m in matches}
            self._profiles[story] = profile.Profile(story)
            self._own.add(story)
        elif story < 0:
            alerts = self._join_new(self._new[story], report, entry, outlet, matches)
        else:
            alerts = self._join_archived(story, report, entry, outlet, matches)
        if story not in self._profiles:  # joined by evidence (COLD_START) or a story without a profile
            self._profiles.update(self.parsed.many(index.profiles([story]), index))
            if story not in self._profiles:
                self._profiles[story] = profile.Profile(story)
                self._own.add(story)
        if story not in self._own:  # the shared parse (ProfileCache): this batch's own copy to add to
            shared = self._profiles[story]
            self._profiles[story] = replace(
                shared, counts=dict(shared.counts), reported=dict(shared.reported)
            )
            self._own.add(story)
        story_profile = self._profiles[story]
        story_profile.add_scaled(scaled, fp.published)
        if (df := self._df.get(lang)) is None:
            df = self._df[lang] = Counter()
        df.update(counts.keys())
        self._docs[lang] += 1
        postings, at = self._postings, len(self._batch)
        for key in (*index_keys, *keys):  # each key's latest MAX_POSTINGS (a list: no deque per key)
            if (found := postings.get(key)) is None:
                postings[key] = [at]
            else:
                found.append(at)
                if len(found) > MAX_POSTINGS:
                    del found[0]
        self._batch.append((story, fp))
        # what the archive keeps of its profile (a new story's: alone()'s, its article makes it
        # again), and its text; remembered parsed
        stored, text = self.parsed.stored(story_profile, made if decision.story is None else None)
        joined = StoryJoin(
            lang, tuple(counts), stored, decision.score, decision.reason, text if stored != text else ""
        )
        if rarity.documents < COLD_START:  # the evidence keys are looked up while the archive is small
            index_keys = tuple(dict.fromkeys((*index_keys, *keys)))
        # Once rarity weighs words, a stored fingerprint serves only to find copies: its signature.
        kept = self.fingerprints.written(fp) if rarity.documents < COLD_START else signature
        return Placement(story, kept, index_keys, alerts, joined)

    def _rarity(
        self, index: StoryIndex, lang: str, counts: profile.Terms, scaled: Mapping[str, float]
    ) -> tuple[profile.Rarity, dict[str, float]]:
        """The report's terms' rarity, this batch's reports counted (added as the archive's are
        looked up: one pass), and its weighted terms."""
        df, documents = index.document_frequencies(lang, list(counts), self._df.get(lang) or None)
        return words.weighed(scaled, df, documents + self._docs[lang])

    def _decide(
        self,
        index: StoryIndex,
        counts: profile.Terms,
        fp: ArticleFingerprint,
        keys: Sequence[str],
        rarity: profile.Rarity,
        evidence_keys: Sequence[str] = (),
        report: Mapping[str, float] | None = None,
        signature: str | bytes | None = None,
    ) -> profile.Decision:
        window = self.settings.window_hours
        # The articles sharing most keys first: a report of the same event shares several.
        found = index.candidates(keys, fp.published, window, CANDIDATES)
        # A story closed at this report's time (no report for quiet_hours) takes nothing: its
        # profile and its articles' fingerprints are not read (profile.place would skip it).
        archived = {story for story, _ in found}
        closed = self._closed(archived, fp.published, index)
        copies: dict[int, float] = {}
        near = [(story, article) for story, article in found if story not in closed]
        self._copies(copies, fp, near, index, signature)
        batch = self._batch_candidates(keys)
        for story, other in batch:
            self._copy(copies, story, fp, other)
        stories = archived | {story for story, _ in batch}
        view = profile.StorySettingsView(self.settings.min_similarity, self.settings.quiet_hours)
        unread, held = self._unread, self._profiles
        missing = [s for s in stories if s not in held and s not in unread and s > 0 and s not in closed]
        worth = reader = None
        if rarity.documents >= COLD_START and report is not None:
            # A story that cannot reach min_similarity (stories.screen: read from its text, an
            # upper bound of profile.place's score) is never chosen: it is not parsed nor compared
            # (ProfileCache keeps it as its text). A copy's story is always read.
            reader = screen.Report(report, rarity, fp.published)
            least = view.min_similarity * (1 - screen.MARGIN)

            def worth(story: int, text: str) -> bool:
                return story in copies or screen.reach(text, reader) >= least

        for story in [s for s in stories if s in unread]:  # left unparsed by an earlier report:
            if worth is not None and not worth(story, unread[story]):
                continue  # still out of reach: screened again, not parsed (as across batches)
            self._profiles[story] = self.parsed.parsed_now(story, unread.pop(story))  # found again
        if copies and rarity.documents >= COLD_START:
            # A copy joins the best open story it copies whatever the others score (profile.place):
            # the copies' stories are read first, the others not at all when one of them is open
            # (most are stories of one report, each made again from its article: lookup.rebuild).
            copied = [s for s in missing if s in copies]
            self._profiles.update(self.parsed.many(index.profiles(copied), index, worth, unread))
            if any(s in held and profile.is_open(held[s], fp.published, view.quiet_hours) for s in copies):
                missing = []
            else:
                missing = [s for s in missing if s not in copies]
        self._profiles.update(self.parsed.many(index.profiles(missing), index, worth, unread))
        if rarity.documents < COLD_START:
            # Too few articles to tell a rare word from a common one: the pairwise evidence of
            # specific names, figures and dates (stories.fingerprint) decides, as it did before.
            found += index.sharing(index.selective(evidence_keys, fp.published, window), fp.published, window)
            articles = self.fingerprints.candidates(found, index.fingerprints)
            batch = self._batch_candidates([*keys, *evidence_keys])
            best = best_story(fp, articles + batch, self.settings)
            if best is None:
                return profile.Decision(None, 0.0, "new story")
            return profile.Decision(
                best[1], best[0], f"few articles archived yet: {best[0]:.1f} evidence points"
            )
        candidates = [self._profiles[s] for s in sorted(stories) if s in self._profiles]
        norm, unweighed = (None, None) if reader is None else (reader.norm, reader.unweighed)
        return profile.place(counts, fp.published, candidates, rarity, view, copies, report, norm, unweighed)

    def _closed(self, stories: set[int], published: datetime, index: StoryIndex) -> set[int]:
        """Of these archived stories, those that take no report published then (profile.is_open
        on when their last report came), and those without a profile."""
        asked = [s for s in stories if s not in self._profiles and s not in self._unread]
        return index.closed(asked, published, self.settings.quiet_hours)

    def _copies(
        self,
        copies: dict[int, float],
        fp: ArticleFingerprint,
        near: list[tuple[int, int]],
        index: StoryIndex,
        signature: str | bytes | None = None,
    ) -> None:
        """_copy of each (story, article) in `near`: compared as stored (lookup.Slots), not parsed;
        only a fingerprint that is not a BLOB of the report's slots (JSON) is parsed. `signature`:
        lookup.signature_of(fp), if made already."""
        if not near:
            return
        stored = index.fingerprints([article for _, article in near])
        slots, threshold, other = Slots(fp, signature), self.settings.near_duplicate, []
        for story, article in near:
            if (data := stored.get(article)) is None:
                continue
            if (similarity := slots.jaccard(data)) is None:
                other.append((story, article))
            elif similarity >= threshold and similarity > copies.get(story, 0.0):
                copies[story] = similarity
        for story, parsed in self.fingerprints.candidates(
            other, lambda missing: {a: stored[a] for a in missing}
        ):
            self._copy(copies, story, fp, parsed)

    def _copy(
        self, copies: dict[int, float], story: int, fp: ArticleFingerprint, other: ArticleFingerprint
    ) -> None:
        similarity = near_copy(fp, other)
        if similarity >= self.settings.near_duplicate and similarity > copies.get(story, 0.0):
            copies[story] = similarity

    def _batch_candidates(self, keys: Sequence[str]) -> list[tuple[int, ArticleFingerprint]]:
        """This batch's earlier articles sharing a key, those sharing the most first (as
        storystore.sharing ranks the archive's)."""
        shared: dict[int, int] = {}
        postings = self._postings
        for key in keys:
            for i in postings.get(key, ()):
                shared[i] = shared.get(i, 0) + 1
        best = sorted(shared, key=lambda i: (-shared[i], -i))[:MAX_CANDIDATES]
        return [self._batch[i] for i in best]

    def _join_new(
        self,
        story: _NewStory,
        report: Report,
        entry: EntryData,
        outlet: str | None,
        matches: Sequence[RuleMatch],
    ) -> list[AlertIntent]:
        story.reports.append(report)
        redrawn = self.alerts_for(story.entry, story.outlet, story.matches, story.reports)
        story.alerts[:] = redrawn
        return self._new_rules(self._story_of(story), entry, outlet, matches)

    def _join_archived(
        self,
        story_id: int,
        report: Report,
        entry: EntryData,
        outlet: str | None,
        matches: Sequence[RuleMatch],
    ) -> list[AlertIntent]:
        joined = self._joined.setdefault(story_id, [])
        joined.append(report)
        self.joins.append(StoryJoined(story_id, tuple(joined)))
        # its archived alerts, read once a batch (none come meanwhile), and only for a report
        # that matched a rule: what it alerts for is the rules none of them did (_new_rules)
        if matches and story_id not in self._rules:
            alerted = self._rules[story_id] = set()
            for _alert_id, _chat_id, _article_id, rule_ids in self.archive.story_alerts(story_id):
                alerted.update(rule_ids)
        return self._new_rules(story_id, entry, outlet, matches)

    def _story_of(self, new: _NewStory) -> int:
        return next(story for story, s in self._new.items() if s is new)

    def _new_rules(
        self, story: int, entry: EntryData, outlet: str | None, matches: Sequence[RuleMatch]
    ) -> list[AlertIntent]:
        """The report's own alert for the rules that no earlier report of its story alerted for:
        a story holds back only what its alert already said."""
        if not matches:
            return []
        alerted = self._rules.setdefault(story, set())
        fresh = [m for m in matches if m.rule_id not in alerted]
        alerted.update(m.rule_id for m in fresh)
        return self.alerts_for(entry, outlet, fresh, ()) if fresh else []
