"""One alert per story: place each new article in a story and decide what it alerts.

For the articles of one feed update (a batch), in order:

    fingerprint + candidate_keys          (stories.py, pure)
    | storyfind.archived_story             the best archived story in a snapshot: a parser
                                           worker's (analyse.py), or this process's archive
      + the articles archived after it     (archive.story_candidates_after)
      + this batch's earlier articles      (not in the archive yet)
    | stories.best_story                    an existing story, or a new one
    then: a new story alerts as before; a report joining a story alerts nothing new in the
    chats that story already alerted. Joining an archived story is an event (StoryJoined, in
    `joins`): alerts.redraw draws that story's alerts again with "Also reported by"
    (rewritten while still queued, edited in the chat once sent). Grouping renders nothing.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from monitor.archive.store import Archive
from monitor.archive.stories import MAX_CANDIDATES, MAX_POSTINGS
from monitor.stories.fingerprint import ArticleFingerprint, best_story
from monitor.stories.lookup import FingerprintCache, StoryGuess, archived_story
from monitor.types import AlertIntent, EntryData, RuleMatch, StoryJoined, StorySettings

Report = tuple[str | None, str | None]  # (outlet, link) of one article in a story
AlertsFor = Callable[[EntryData, str | None, Sequence[RuleMatch], Sequence[Report]], list[AlertIntent]]


@dataclass(frozen=True)
class Placement:
    story: int  # an archived story's id, or < 0 for a story this batch starts
    fingerprint: str  # ArticleFingerprint JSON, to store
    keys: tuple[str, ...]  # its index keys, to store
    alerts: list[AlertIntent]  # alerts this article adds (none in chats its story already alerted)


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
    joins: list[StoryJoined] = field(default_factory=list)  # in order; their alerts are redrawn
    _batch: list[tuple[int, ArticleFingerprint]] = field(default_factory=list)  # (story, fingerprint)
    # key → this batch's latest articles with it (indexes into _batch): bounded as the archive's
    # candidates are, so a feed of thousands of look-alike items costs no more per item than 50.
    _postings: dict[str, deque[int]] = field(default_factory=dict)
    _new: dict[int, _NewStory] = field(default_factory=dict)
    _joined: dict[int, list[Report]] = field(default_factory=dict)  # archived story → this batch's reports
    _latest_article: int | None = None  # read once: nothing is archived while a batch is placed

    def _latest(self) -> int:
        if self._latest_article is None:
            self._latest_article = self.archive.latest_article()
        return self._latest_article

    def place(
        self,
        entry: EntryData,
        outlet: str | None,
        matches: Sequence[RuleMatch],
        fp: ArticleFingerprint,
        keys: Sequence[str],
        guess: StoryGuess | None = None,
    ) -> Placement:
        """`fp` and `keys`: stories.fingerprint and candidate_keys (distinct) of the entry;
        `guess`: what a parser worker found in its snapshot of the archive (analyse.py)."""
        story = self._choose(fp, keys, guess)
        report = (outlet, entry.link)
        if story is None:
            story = -(len(self._new) + 1)
            alerts = self.alerts_for(entry, outlet, matches, ())
            self._new[story] = _NewStory(entry, outlet, matches, alerts)
        elif story < 0:
            alerts = self._join_new(self._new[story], report, entry, outlet, matches)
        else:
            alerts = self._join_archived(story, report, entry, outlet, matches)
        for key in keys:
            self._postings.setdefault(key, deque(maxlen=MAX_POSTINGS)).append(len(self._batch))
        self._batch.append((story, fp))
        return Placement(story, fp.to_json(), tuple(keys), alerts)

    def _choose(self, fp: ArticleFingerprint, keys: Sequence[str], guess: StoryGuess | None) -> int | None:
        if guess is None:  # analysed in this process: the archive is looked at here, as a worker does
            index = self.archive.story_index()
            guess = archived_story(index, self.fingerprints, fp, keys, self.settings, index.latest_article())
        found = []  # what was archived after the snapshot
        if guess.snapshot < self._latest():
            window = self.settings.window_hours
            found = self.archive.story_candidates_after(guess.keys, fp.published, window, guess.snapshot)
        candidates = self.fingerprints.candidates(found, self.archive.fingerprints)
        candidates += self._batch_candidates(keys)
        best = best_story(fp, candidates, self.settings, guess.best)
        return None if best is None else best[1]

    def _batch_candidates(self, keys: Sequence[str]) -> list[tuple[int, ArticleFingerprint]]:
        """This batch's earlier articles sharing a key, those sharing the most first (as
        storystore.sharing ranks the archive's)."""
        shared: Counter[int] = Counter()
        for key in keys:
            shared.update(self._postings.get(key, ()))
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
        return self._uncovered(entry, outlet, matches, {a.chat_id for a in redrawn})

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
        chats = {chat_id for _, chat_id, _, _ in self.archive.story_alerts(story_id)}
        return self._uncovered(entry, outlet, matches, chats)

    def _uncovered(
        self, entry: EntryData, outlet: str | None, matches: Sequence[RuleMatch], covered: set[str]
    ) -> list[AlertIntent]:
        """Alerts for chats the story has not alerted yet (its rules sent it elsewhere)."""
        return [a for a in self.alerts_for(entry, outlet, matches, ()) if a.chat_id not in covered]
