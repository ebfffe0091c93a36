"""Which archived story a new article joins, looked up in one read of the archive.

    StoryIndex.selective     the article's index keys that are not common in its window
    | StoryIndex.sharing      the window's articles sharing one, those sharing most first
    | FingerprintCache        their fingerprints, parsed (each is a candidate many times)
    | stories.best_story      the best story, with its score

A parser worker (analyse.py) runs this on its read-only connection, in the read transaction
that also checked the identity keys, so the snapshot is one. The main process (grouping.py)
then looks only at what that snapshot could not hold: the articles archived after it
(StoryIndex.sharing with `after`) and the feed's own earlier ones. Comparing candidates is
most of story grouping's cost; done in the worker, it runs on another core than the fetches
and the archive writes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.stories.fingerprint import ArticleFingerprint, Choice, best_story
from monitor.types import StorySettings


class StoryIndex(Protocol):
    """What stories asks of the archive (archive.stories.StoryIndex answers it, in one snapshot)."""

    def selective(self, keys: Sequence[str], published: datetime, window_hours: float) -> tuple[str, ...]:
        """The keys that are not common in the window around `published`."""
        ...

    def sharing(
        self, keys: Sequence[str], published: datetime, window_hours: float, after: int = 0
    ) -> list[tuple[int, int]]:
        """(story id, article id) of the window's articles sharing one of `keys`, most shared first;
        `after`: only articles archived after the snapshot that held up to that id."""
        ...

    def fingerprints(self, article_ids: Sequence[int]) -> Mapping[int, str]:
        """Article id → its ArticleFingerprint as JSON."""
        ...

    def latest_article(self) -> int:
        """The greatest article id this snapshot holds (0 for none)."""
        ...


@dataclass(frozen=True)
class StoryGuess:
    """What one snapshot of the archive says of a new article's story."""

    snapshot: int  # the greatest article id the snapshot held (StoryIndex.latest_article)
    keys: tuple[str, ...]  # the article's selective index keys (common ones left out)
    best: Choice | None  # (score, story id) of the best archived story, or None


class FingerprintCache:
    """Archived fingerprints, parsed: an article is a candidate for many later ones, and
    reading its JSON again each time cost more than comparing. Bounded; oldest out first."""

    def __init__(self, size: int = 2048) -> None:  # about 6 KB each, parsed
        self.size = size
        self._parsed: OrderedDict[int, ArticleFingerprint] = OrderedDict()

    def candidates(
        self, found: Sequence[tuple[int, int]], read: Callable[[list[int]], Mapping[int, str]]
    ) -> list[tuple[int, ArticleFingerprint]]:
        """(story id, fingerprint) for `found` (story id, article id): the cached ones, and the
        rest read (article id → JSON) and kept. An article without a fingerprint is left out."""
        parsed = self._parsed
        missing = [article for _, article in found if article not in parsed]
        if missing:
            parsed.update((a, ArticleFingerprint.from_json(data)) for a, data in read(missing).items())
        out = []
        for story, article in found:
            fp = parsed.get(article)
            if fp is not None:
                parsed.move_to_end(article)
                out.append((story, fp))
        while len(parsed) > self.size:
            parsed.popitem(last=False)
        return out


def archived_story(
    index: StoryIndex,
    cache: FingerprintCache,
    fp: ArticleFingerprint,
    keys: Sequence[str],
    settings: StorySettings,
    snapshot: int,
) -> StoryGuess:
    """The best archived story for `fp` (with index keys `keys`), in the snapshot `index` reads."""
    useful = index.selective(keys, fp.published, settings.window_hours)
    found = index.sharing(useful, fp.published, settings.window_hours)
    return StoryGuess(snapshot, useful, best_story(fp, cache.candidates(found, index.fingerprints), settings))
