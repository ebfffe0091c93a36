"""What stories asks of the archive to place a new report, and caches of what it parses.

    StoryIndex.document_frequencies   how rare the report's terms are (stories.profile.Rarity)
    StoryIndex.candidates    the window's articles sharing one of the report's index keys
                              (stories.profile.keys) that is not common there (selective), those
                              sharing most first (sharing): both in one pass
    | Slots                   their fingerprints compared as stored (copies are found by their
                              signatures); FingerprintCache: those stored as JSON, parsed
    | ProfileCache            their stories' profiles (StoryIndex.profiles), parsed (or, where
                              stories.screen finds one out of reach, kept as its text); that of a
                              story of one report made again from its article (alone, rebuild:
                              StoryIndex.lone_reports), for the archive keeps only a digest of it

archive.stories answers the protocol (on the writer, from memory: archive/storymemory.py);
service/grouping.py uses it, with the candidate stories' profiles, to place each report.
"""

from __future__ import annotations

import hashlib
import struct
from array import array
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from monitor.stories.fingerprint import ArticleFingerprint
from monitor.stories.profile import LEAD_CHARS, PROFILE_TERMS, Profile, rounded_counts, terms
from monitor.stories.textform import EPOCH, MICROSECOND, by_count, lone, signature_blob
from monitor.stories.words import Report, kept, lone_lines, lone_text, scaled


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

    def candidates(
        self, keys: Sequence[str], published: datetime, window_hours: float, limit: int
    ) -> list[tuple[int, int]]:
        """sharing(selective(keys, ...), ...)[:limit]: the window's articles sharing one of `keys`
        that is not common there, most shared first, at most `limit` (in one pass, from memory)."""
        ...

    def fingerprints(self, article_ids: Sequence[int]) -> Mapping[int, str | bytes]:
        """Article id → its ArticleFingerprint as stored (stored_fingerprint)."""
        ...

    def profiles(self, story_ids: Sequence[int]) -> Mapping[int, str]:
        """Story id → its Profile as text (Profile.to_text; stories without one left out)."""
        ...

    def lone_reports(self, story_ids: Sequence[int]) -> Mapping[int, tuple[str, str]]:
        """Story id → (title, summary) of its article, for the stories of one article (what a
        profile stored as alone() is made again from)."""
        ...

    def made(self, story_id: int, stored: str, text: str) -> None:
        """The text (Profile.to_text) that a story's profile stored as alone() was made into
        (rebuild): the archive may answer it instead, to be parsed, not made again."""
        ...

    def last_reports(self, story_ids: Sequence[int]) -> Mapping[int, datetime | None]:
        """Story id → when its last report was published (its profile's: None when it has
        none); stories without a profile left out. Cheaper than their profiles."""
        ...

    def closed(self, story_ids: Sequence[int], published: datetime, quiet_hours: float) -> set[int]:
        """Of these stories, those that take no report published then: without a profile, or
        whose last report came more than quiet_hours away (profile.is_open on last_reports's
        times, their profiles not made)."""
        ...

    def document_frequencies(
        self, lang: str, terms: Sequence[str], extra: Mapping[str, int] | None = None
    ) -> tuple[Mapping[str, int], int]:
        """(term → archived articles of `lang` with it, archived articles of `lang`); with
        `extra` (counts not archived yet, a batch's) added, and then every term (0 for none)."""
        ...


def stored_fingerprint(fp: ArticleFingerprint) -> str | bytes:
    """What the archive keeps of a fingerprint: its JSON, or for a copy signature alone (all that
    finding copies reads) a BLOB of its publication (µs since 1970, int64) and its 16-bit slots
    (uint16, the empty slot -1 as 0xFFFF), little-endian: 136 bytes (264 with the 32-bit slots
    kept before archive m017, about 420 as JSON before m015)."""
    if fp.terms or fp.central or fp.headline:
        return fp.to_json()
    return signature_blob(fp.published, fp.signature)


def parse_fingerprint(data: str | bytes) -> ArticleFingerprint:
    """A fingerprint as stored_fingerprint wrote it (or as JSON, the archive's form before m015)."""
    if isinstance(data, str):
        return ArticleFingerprint.from_json(data)
    (micros,) = struct.unpack_from("<q", data)
    values: tuple[int, ...] = struct.unpack_from(f"<{(len(data) - 8) // 2}H", data, 8)
    if 0xFFFF in values:  # rare: only a text of fewer shingles than slots has empty ones
        values = tuple(-1 if v == 0xFFFF else v for v in values)
    return ArticleFingerprint(EPOCH + micros * MICROSECOND, values, ())


class Slots:
    """A report's copy signature as one integer, to find copies among archived fingerprints as
    stored (stored_fingerprint's BLOBs) without parsing them: the estimated Jaccard (near_copy)
    of two signatures is how many 16-bit slots are equal, a few big-integer operations on the
    two BLOBs' slots (XOR, then each slot's bits folded into its lowest), each slot not made a
    Python int. The same counts as fingerprint._jaccard, so the same float (issue 18)."""

    __slots__ = ("bits", "slots", "low", "full", "empty")

    def __init__(self, fp: ArticleFingerprint, packed: str | bytes | None = None) -> None:
        """`packed`: stored_fingerprint of fp's signature alone, if made already (signature_of)."""
        packed = signature_of(fp) if packed is None else packed
        assert isinstance(packed, bytes)  # a signature alone is stored as a BLOB
        # slots a BLOB keeps as they are (-1 for empty; fingerprint._signature's are even, below
        # 0xFFFF): else no BLOB is compared here (-1 slots), and near_copy decides as before
        fits = -1 <= min(fp.signature, default=0) and max(fp.signature, default=0) < 0xFFFF
        slots = len(fp.signature)
        self.slots = slots if fits else -1
        self.bits = int.from_bytes(packed[8:], "little")
        masks = _MASKS.get(slots)
        if masks is None:  # the lowest bit of each slot; every bit of them: made once per length
            masks = _MASKS[slots] = (int.from_bytes(b"\x01\x00" * slots, "little"), (1 << 16 * slots) - 1)
        self.low, self.full = masks
        self.empty = -1 in fp.signature  # an empty slot (-1, stored 0xFFFF): rare

    def jaccard(self, data: str | bytes) -> float | None:
        """near_copy of this report and the stored fingerprint `data`; None when `data` is not a
        BLOB of as many slots (JSON, or another length: parse it and ask near_copy)."""
        if isinstance(data, str) or len(data) != 8 + 2 * self.slots:
            return None
        other = int.from_bytes(data[8:], "little")
        match = both = self.slots
        match -= _nonzero(self.bits ^ other, self.low)
        if self.empty:  # slots neither text filled count for neither (fingerprint._jaccard)
            empty = self.slots - _nonzero((self.bits & other) ^ self.full, self.low)
            match, both = match - empty, both - empty
        return match / both if both else 0.0


_MASKS: dict[int, tuple[int, int]] = {}  # Slots' masks by number of slots


def signature_of(fp: ArticleFingerprint) -> str | bytes:
    """stored_fingerprint of fp's signature alone: what the archive keeps of a report's
    fingerprint once rarity weighs words (grouping), and what Slots compares."""
    return signature_blob(fp.published, fp.signature)


def _nonzero(x: int, low: int) -> int:
    """How many 16-bit slots of `x` are not 0: each slot's 16 bits ORed into its lowest bit."""
    x |= x >> 1
    x |= x >> 2
    x |= x >> 4
    x |= x >> 8
    return (x & low).bit_count()


class FingerprintCache:
    """Archived fingerprints, parsed: an article is a candidate for many later ones, and
    reading its JSON again each time cost more than comparing. Bounded; oldest out first."""

    # 1,024 (2,048 before): half the entries took a 300-feed cold pass's peak 120 -> 106 MB with
    # the caches below halved too, for 1.03x the CPU (bench/ab.py, issue 18)
    def __init__(self, size: int = 1024) -> None:  # about 6 KB each, parsed
        self.size = size
        self._parsed: OrderedDict[int, ArticleFingerprint] = OrderedDict()
        # The fingerprints this process wrote (JSON → itself): a report is most often a
        # candidate soon after it was archived, and its JSON needs no parse then.
        self._written: OrderedDict[str | bytes, ArticleFingerprint] = OrderedDict()

    def written(self, fp: ArticleFingerprint) -> str | bytes:
        """stored_fingerprint(fp), remembered: read back (the same text), it is not parsed again.
        A BLOB is not remembered: it is compared as stored (Slots), never parsed."""
        text = stored_fingerprint(fp)
        if isinstance(text, str):
            self._written[text] = fp
            if len(self._written) > self.size // 2:
                self._written.popitem(last=False)
        return text

    def _parse(self, text: str | bytes) -> ArticleFingerprint:
        fp = self._written.get(text)  # stored_fingerprint and parse_fingerprint are exact inverses
        return fp if fp is not None else parse_fingerprint(text)

    def candidates(
        self, found: Sequence[tuple[int, int]], read: Callable[[list[int]], Mapping[int, str | bytes]]
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


def alone(text: str, dropped: tuple[int, ...] | None) -> str:
    """What the archive keeps of the profile of a story of one report (`text`, its to_text)
    instead of the text: "LAST =DIGEST" or "LAST =DIGEST:i,j", its report's time, 8 hex digits of
    the text's BLAKE2b (which profile this is) and, after ":", the sentences of the article's
    summary that were its feed's boilerplate (words.Report.dropped). About 36 bytes, not 450: the
    text is made again, the same, from the article's title and summary (rebuild)."""
    digest = hashlib.blake2b(text.encode(), digest_size=4).hexdigest()
    drops = "" if dropped is None else ":" + ",".join(map(str, dropped))
    return f"{text[: text.index(' ')]} ={digest}{drops}"


def is_alone(data: str) -> bool:
    """Whether a stored profile is alone()'s, to be rebuilt from its story's article."""
    return " =" in data[:48]  # a profile's text has no "=" (its words are letters and digits)


def rebuild(story: int, data: str, title: str, summary: str) -> tuple[Profile, str]:
    """The profile `data` (alone()'s) stands for, from its story's one article, and its text:
    what parsing the text it replaced gives (its counts rounded as written, in the text's order).
    The digest in `data` names that text (a cache key, the same for the same profile); it is not
    checked against what is made here. Articles are never rewritten, so the two differ only after
    an upgrade that changed how words are made; the profile is then made the new way, as a report
    placed now would be, which is what its comparisons with new reports need."""
    last, _, rest = data.partition(" =")
    _digest, marked, drops = rest.partition(":")
    dropped = tuple(int(i) for i in drops.split(",") if i) if marked else None
    when = datetime.fromisoformat(last)
    # Profile.add of its terms to an empty profile, then Profile.written (one report's lines),
    # without the Profile: words.lone_lines, as a parser worker makes a new story's (words._made)
    made = terms(title, kept(summary, dropped, LEAD_CHARS + 1))
    if len(made) > PROFILE_TERMS * 2:  # its strongest, ties by term (Profile.add_scaled): rare
        strongest = sorted(scaled(made).items(), key=lambda kv: (-kv[1], kv[0]))[:PROFILE_TERMS]
        lines = by_count(rounded_counts(dict(strongest)))
    else:
        lines = lone_lines(made)
    counts = {term: c for c, line in lines.items() for term in line}
    return Profile(story, counts, {}, when, when, 1), lone(when, lines)


# alone()'s forms kept with their text, per parsed profile kept: a story's text found again costs
# a parse (about 14 µs), not a rebuild from its article (about 100 µs). 1, not 8: the archive's
# memory keeps the text itself (stories.record_join, StoryIndex.made), so 4,096 forms saved the
# same rebuilds as 512 (a 300-feed cold pass then a changed pass in one app: 1,096 and 810 vs
# 1,091 and 801) for about 0.9 MB held by them alone (h-rebuild)
ALIASES = 1


class ProfileCache:
    """Archived story profiles, parsed: an open story is a candidate for many reports, and
    parsing its text each time cost more than comparing. Keyed by story and checked against
    the text the archive holds now (a story that took a report has a new one). Bounded."""

    def __init__(self, size: int = 512) -> None:  # 10-20 KB each, parsed (1,024 before: issue 18)
        self.size = size
        # (story → its text and its profile parsed; None: left unparsed by many, parsed when asked)
        self._parsed: OrderedDict[int, tuple[str, Profile | None]] = OrderedDict()
        # The profiles this process wrote (text → itself, as parsing the text gives it): a
        # story is most often a candidate while it is open, soon after its last report.
        # (a new story's, whose text the parser worker made: its report's scaled counts, as its
        # terms and an array of their values (not a dict of floats: ~2.8 KB less each), and its
        # time, made a Profile when read back)
        self._written: OrderedDict[str, Profile | tuple[tuple[str, ...], array[float], datetime]] = (
            OrderedDict()
        )
        # alone()'s forms → their text: of profiles this process wrote, or made again (rebuild)
        self._alone: OrderedDict[str, str] = OrderedDict()

    def written(self, profile: Profile) -> str:
        """profile.to_text(), remembered: read back (as the same text), it is not parsed again."""
        return self.stored(profile)[0]

    def stored(self, profile: Profile, lone: Report | None = None) -> tuple[str, str]:
        """(what the archive keeps of the profile, its to_text()), remembered: read back as
        either, it is not parsed again. `lone`: the profile is that of a new story of this report
        alone, its words made of its article's title and summary: what is kept is alone()'s."""
        last = profile.last
        if lone is not None and last is not None and (made := lone_text(lone, last)) is not None:
            text = made  # made in the parser worker: read back, made a Profile then (_mine)
            counts = lone.scaled if lone.scaled is not None else scaled(lone.counts)
            self._written[text] = (tuple(counts), array("d", counts.values()), last)
        else:
            text, rounded = profile.written()
            # A copy (the writer goes on adding to its own), rounded as the text holds it when read.
            self._written[text] = Profile(
                profile.story, rounded, dict(profile.reported), profile.first, profile.last, profile.reports
            )
        # Half as many as parsed: of a 300-feed cold pass's 11,500 found
        # again, a third were written more than 256 profiles before, 0.2% of its CPU to parse
        # again; 256 kept fewer are some 1.7 MB of the service's peak (issue 18)
        if len(self._written) > self.size // 2:
            self._written.popitem(last=False)
        if lone is None:
            return text, text
        kept = alone(text, lone.dropped)
        self._alone[kept] = text
        if len(self._alone) > ALIASES * self.size:
            self._alone.popitem(last=False)
        return kept, text

    def get(self, story: int, data: str) -> Profile:
        """The profile `data` (Profile.to_text, or alone()'s of a profile this process wrote)
        parsed: shared, not to be changed (copy it to add to it)."""
        parsed = self._parsed
        hit = parsed.get(story)
        if hit is not None and (hit[0] is data or hit[0] == self._alone.get(data, data)):
            parsed.move_to_end(story)
            if hit[1] is None:  # left unparsed (many, worth): parsed now, as it would have been then
                profile = Profile.parse(story, hit[0])
                parsed[story] = (hit[0], profile)
                return profile
            return hit[1]
        mine = self._mine(data)
        if mine is None:
            if is_alone(data):
                raise ValueError(f"story {story}: its profile is made from its article (ProfileCache.many)")
            profile = Profile.parse(story, data)
        else:  # what parsing `data` gives, without parsing it (rounded as written): its own copy
            profile = mine
            profile.story = story
        parsed[story] = (data, profile)
        if len(parsed) > self.size:
            parsed.popitem(last=False)
        return profile

    def _held(self, story: int, text: str) -> bool:
        """Whether get(story, text) answers without the screen: parsed already or written here.
        One left unparsed before is screened again, not parsed (a 300-feed cold pass: 5,500
        fewer parses, about 35 µs each, and 8,700 fewer comparisons for 9,100 more screens of
        about 18 µs; issue 18, h-cold). `text` is a profile's text, never alone()'s (many asks
        after resolving it), so it is its own alias."""
        hit = self._parsed.get(story)
        if hit is not None and hit[0] == text:  # (== is `is` first)
            return hit[1] is not None
        return text in self._written

    def parsed_now(self, story: int, text: str) -> Profile:
        """The profile of a story many() left unparsed as `text`, parsed and kept where it is
        (not moved, as get() would: the batch held it as if parsed, grouping._unread)."""
        hit = self._parsed.get(story)
        profile = Profile.parse(story, text)
        if hit is not None and hit[1] is None and hit[0] == text:
            self._parsed[story] = (text, profile)
        return profile

    def _unparsed(self, story: int, text: str) -> None:
        """What get(story, text) does to the cache, for a profile it would parse (not _held), left
        as its text:
        the cache keeps the same stories in the same order (get parses it if asked), so whether
        later reports find a profile parsed or written here (the order of its terms) is the same."""
        parsed = self._parsed
        hit = parsed.get(story)
        parsed[story] = (text, None)  # a stale entry (another text) stays where it is, as in get()
        if hit is not None and hit[0] == text:  # left unparsed before: moved last, as get() moves a hit
            parsed.move_to_end(story)
        if len(parsed) > self.size:
            parsed.popitem(last=False)

    def _mine(self, data: str) -> Profile | None:
        """The profile this process wrote as `data` (its text or alone()'s), taken out."""
        mine = self._written.pop(self._alone.get(data, data), None)
        if isinstance(mine, tuple):  # a new story's (stored): its report's scaled counts, and when
            terms_scaled, values, when = mine
            made = Profile(0)
            made.add_scaled(dict(zip(terms_scaled, values, strict=True)), when)
            return Profile(0, rounded_counts(made.counts), {}, when, when, 1)
        return mine

    def many(
        self,
        found: Mapping[int, str],
        index: StoryIndex,
        worth: Callable[[int, str], bool] | None = None,
        left: dict[int, str] | None = None,
    ) -> dict[int, Profile]:
        """get() of each (story → its stored profile); one stored as alone() and not known here
        is made again from its story's article (index.lone_reports), and its text handed back
        (index.made). A story whose article is gone is left out. `worth(story, text)`: whether a
        story that would be parsed is worth parsing (stories.screen); one that is not is left out
        (in `left`: story → its text)."""
        out: dict[int, Profile] = {}
        missing: list[int] = []
        for story, data in found.items():
            text = self._alone.get(data, data)  # alone()'s form: its text, if known here
            if is_alone(text):
                missing.append(story)
            elif worth is None or self._held(story, text) or worth(story, text):
                out[story] = self.get(story, text)
            else:
                self._unparsed(story, text)
                if left is not None:
                    left[story] = text
        if missing:
            for story, (title, summary) in index.lone_reports(missing).items():
                data = found[story]
                profile, text = rebuild(story, data, title, summary)
                self._parsed[story] = (text, profile)  # found again as either
                self._alone[data] = text
                out[story] = profile
                index.made(story, data, text)  # what the archive's memory answers now
            while len(self._alone) > ALIASES * self.size:
                self._alone.popitem(last=False)
            while len(self._parsed) > self.size:
                self._parsed.popitem(last=False)
        return out
