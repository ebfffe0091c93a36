"""What stories asks of the archive to place a new report, and caches of what it parses.

    StoryIndex.document_frequencies   how rare the report's terms are (stories.profile.Rarity)
    StoryIndex.selective     the report's index keys (stories.profile.keys) not common in its window
    | StoryIndex.sharing      the window's articles sharing one, those sharing most first
    | FingerprintCache        their fingerprints, parsed (copies are found by their signatures)
    | ProfileCache            their stories' profiles (StoryIndex.profiles), parsed

archive.stories answers the protocol (on the writer, from memory: archive/storymemory.py);
service/grouping.py uses it, with the candidate stories' profiles, to place each report.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from monitor.stories.fingerprint import ArticleFingerprint
from monitor.stories.profile import Profile


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

    def profiles(self, story_ids: Sequence[int]) -> Mapping[int, str]:
        """Story id → its Profile as JSON (stories without one left out)."""
        ...

    def last_reports(self, story_ids: Sequence[int]) -> Mapping[int, str]:
        """Story id → when its last report was published, ISO (its profile's: "" when it has
        none); stories without a profile left out. Cheaper than their profiles."""
        ...

    def document_frequencies(self, lang: str, terms: Sequence[str]) -> tuple[Mapping[str, int], int]:
        """(term → archived articles of `lang` with it, archived articles of `lang`)."""
        ...


class FingerprintCache:
    """Archived fingerprints, parsed: an article is a candidate for many later ones, and
    reading its JSON again each time cost more than comparing. Bounded; oldest out first."""

    def __init__(self, size: int = 2048) -> None:  # about 6 KB each, parsed
        self.size = size
        self._parsed: OrderedDict[int, ArticleFingerprint] = OrderedDict()
        # The fingerprints this process wrote (JSON → itself): a report is most often a
        # candidate soon after it was archived, and its JSON needs no parse then.
        self._written: OrderedDict[str, ArticleFingerprint] = OrderedDict()

    def written(self, fp: ArticleFingerprint) -> str:
        """fp.to_json(), remembered: read back (as the same text), it is not parsed again."""
        text = fp.to_json()
        self._written[text] = fp
        if len(self._written) > self.size // 2:
            self._written.popitem(last=False)
        return text

    def _parse(self, text: str) -> ArticleFingerprint:
        fp = self._written.get(text)  # to_json and from_json are exact inverses
        return fp if fp is not None else ArticleFingerprint.from_json(text)

    def candidates(
        self, found: Sequence[tuple[int, int]], read: Callable[[list[int]], Mapping[int, str]]
    ) -> list[tuple[int, ArticleFingerprint]]:
        """(story id, fingerprint) for `found` (story id, article id): the cached ones, and the
        rest read (article id → JSON) and kept. An article without a fingerprint is left out."""
        parsed = self._parsed
        missing = [article for _, article in found if article not in parsed]
        if missing:
            parsed.update((a, self._parse(data)) for a, data in read(missing).items())
        out = []
        for story, article in found:
            fp = parsed.get(article)
            if fp is not None:
                parsed.move_to_end(article)
                out.append((story, fp))
        while len(parsed) > self.size:
            parsed.popitem(last=False)
        return out


class ProfileCache:
    """Archived story profiles, parsed: an open story is a candidate for many reports, and
    parsing its JSON each time cost more than comparing. Keyed by story and checked against
    the JSON the archive holds now (a story that took a report has a new one). Bounded."""

    def __init__(self, size: int = 1024) -> None:  # 10-20 KB each, parsed
        self.size = size
        self._parsed: OrderedDict[int, tuple[str, Profile]] = OrderedDict()

    def get(self, story: int, data: str) -> Profile:
        """The profile `data` (JSON) parsed: shared, not to be changed (copy it to add to it)."""
        parsed = self._parsed
        hit = parsed.get(story)
        if hit is not None and (hit[0] is data or hit[0] == data):
            parsed.move_to_end(story)
            return hit[1]
        profile = Profile.from_json(story, data)
        parsed[story] = (data, profile)
        if len(parsed) > self.size:
            parsed.popitem(last=False)
        return profile
