"""Which archived story a new article joins, looked up in one read of the archive.

    storystore.selective     the article's index keys that are not common in its window
    | storystore.sharing      the window's articles sharing one, those sharing most first
    | FingerprintCache        their fingerprints, parsed (each is a candidate many times)
    | stories.best_story      the best story, with its score

A parser worker (analyse.py) runs this on its read-only connection, in the read transaction
that also checked the identity keys, so the snapshot is one. The main process (grouping.py)
then looks only at what that snapshot could not hold: the articles archived after it
(storystore.sharing with `after`) and the feed's own earlier ones. Comparing candidates is
most of story grouping's cost; done in the worker, it runs on another core than the fetches
and the archive writes.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from monitor import storystore
from monitor.stories import ArticleFingerprint, Choice, best_story
from monitor.types import StorySettings


@dataclass(frozen=True)
class StoryGuess:
    """What one snapshot of the archive says of a new article's story."""

    snapshot: int  # the greatest article id the snapshot held (storystore.latest_article)
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
    conn: sqlite3.Connection,
    cache: FingerprintCache,
    fp: ArticleFingerprint,
    keys: Sequence[str],
    settings: StorySettings,
    snapshot: int,
) -> StoryGuess:
    """The best archived story for `fp` (with index keys `keys`), in the snapshot `conn` reads."""
    useful = storystore.selective(conn, keys, fp.published, settings.window_hours)
    found = storystore.sharing(conn, useful, fp.published, settings.window_hours)
    read = lambda ids: storystore.fingerprints(conn, ids)  # noqa: E731
    return StoryGuess(snapshot, useful, best_story(fp, cache.candidates(found, read), settings))
