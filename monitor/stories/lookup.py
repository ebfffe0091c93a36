"""What stories asks of the archive to find a new report's candidate stories, and a cache.

    StoryIndex.selective     the report's index keys (stories.profile.keys) not common in its window
    | StoryIndex.sharing      the window's articles sharing one, those sharing most first
    | FingerprintCache        their fingerprints, parsed (copies are found by their signatures)

archive.stories.StoryIndex answers the protocol; service/grouping.py uses it, with the
candidate stories' profiles (stories.profile), to place each report.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from monitor.stories.fingerprint import ArticleFingerprint


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
