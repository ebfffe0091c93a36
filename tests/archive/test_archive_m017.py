"""Migration m017 (issue 18: bytes per article): the full-text index as (summary, title), copy
signatures of 16-bit slots; and the code since: a new story of one report keeps its report's time
and a digest (stories.lookup.alone), not its profile, made again from its article when needed.

An archive filled by `monitor poll` (invented reports: five events of several reports, one
feed's boilerplate sentence in each of its items; enough of them for rarity to place), then put
back in the forms m016 left (the index as (title, summary), 32-bit slots, whole profiles),
upgrades when opened and answers as the archive the new code wrote: search, `search --stories`,
`stories show`, `status`, and the placement of new reports, polled into each (a copy, a report
of a story of one report, of a story of several, of a new event)."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
import sqlite3
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from monitor.archive.store import Archive, migrations
from monitor.cli.demo import Item
from monitor.cli.main import main
from monitor.stories import profile, words
from monitor.stories.lookup import ProfileCache, alone, is_alone, rebuild
from monitor.stories.textform import rounded_counts
from tests.archive.test_archive_m019 import M019
from tests.archive.test_archive_m019 import TRIGGER as M019_TRIGGER
from tests.archive.upgrades import before_m020, poll, schema
from tests.conftest import rss

M017 = "m017_smaller_index_and_stories"
WHEN = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=10)
OLD_FTS = (
    'CREATE VIRTUAL TABLE "articles_fts" USING FTS5 (\n    "title", "summary",\n'
    "    tokenize='porter',\n    content=\"articles\"\n)"
)
BOILERPLATE = "Follow the Brindle wire for more reports like this one every day."


def _words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(n)]


def events(rng: random.Random, count: int) -> list[list[tuple[str, str]]]:
    """`count` invented events, each told in four reports (title, summary) that share its names
    and figures, worded apart."""
    told = []
    for _ in range(count):
        names = [w.capitalize() for w in _words(rng, 4)]
        figure = f"{rng.randint(100, 9_999):,}"
        reports = []
        for _ in range(4):
            filler = " ".join(_words(rng, 18))
            title = f"{names[0]} {rng.choice(['halts', 'opens', 'delays'])} {names[1]} plan"
            summary = (
                f"{names[0]} said on the record that {figure} people in {names[2]} face the change. "
                f"{names[3]} officials gave {filler}. The {names[1]} plan was announced in {names[2]}."
            )
            reports.append((title, summary))
        told.append(reports)
    return told


def feeds(told: list[list[tuple[str, str]]], reports: dict[int, range]) -> tuple[list[Item], list[Item]]:
    """Of each event e, its reports `reports[e]` as two feeds' items: the even ones Brindle's (with
    its boilerplate sentence), the odd ones Corvel's."""
    brindle, corvel = [], []
    for e, event in enumerate(told):
        for r in reports.get(e, range(0)):
            title, summary = event[r]
            when = WHEN + timedelta(hours=e * 30 + r)
            if r % 2 == 0:
                brindle.append(Item(title, f"{summary} {BOILERPLATE}", when, f"https://brindle.test/{e}/{r}"))
            else:
                corvel.append(Item(title, summary, when, f"https://corvel.test/{e}/{r}"))
    return brindle, corvel


def answers(config: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """What the reading commands print, and every placement."""
    out: dict[str, object] = {}
    conn = sqlite3.connect(db)
    try:
        joins = conn.execute(
            "select article_id, story_id, score, reason from story_joins order by 1"
        ).fetchall()
        shared = conn.execute("select id from stories where articles > 1 order by id").fetchall()
        lone = conn.execute("select id from stories where articles = 1 order by id").fetchall()
    finally:
        conn.close()
    out["joins"] = joins
    capsys.readouterr()
    for name, args in {
        "search": ["search", "--json", "plan OR officials"],
        "phrase": ["search", "--json", '"plan was announced"'],
        "title": ["search", "--json", "title: halts"],
        "stories": ["search", "--stories", "--json", "plan"],
        "status": ["status"],
        "show shared": ["stories", "show", str(shared[0][0])],
        "show lone": ["stories", "show", str(lone[0][0])],
    }.items():
        assert main(["--config", str(config), *args]) == 0, name
        out[name] = capsys.readouterr().out
    return out


def back_to_m016(db: Path) -> None:
    """The archive as m016 left it: what an older monitor wrote (the index as (title, summary),
    32-bit slots, every story's whole profile). Its slots' bits 16 to 31 are the 16-bit ones."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("begin")
        conn.execute("drop table articles_fts")
        conn.execute(OLD_FTS)
        conn.execute("insert into articles_fts (articles_fts) values ('rebuild')")
        for article_id, data in conn.execute("select article_id, data from fingerprints").fetchall():
            conn.execute("update fingerprints set data = ? where article_id = ?", [_wide(data), article_id])
        rows = conn.execute(
            "select p.story_id, p.data, a.title, a.summary from story_profiles p"
            " join articles a on a.story_id = p.story_id"
        ).fetchall()
        for story, data, title, summary in rows:
            if is_alone(data):
                conn.execute(
                    "update story_profiles set data = ? where story_id = ?",
                    [_whole(data, title, summary), story],
                )
        conn.execute("delete from _sqlite_migrations where name = ?", [M017])
        conn.execute(M019_TRIGGER)  # and m019's before it: the trigger back, its record gone
        conn.execute("delete from _sqlite_migrations where name = ?", [M019])
        before_m020(conn)
        conn.execute("commit")
    finally:
        conn.close()


def _whole(mark: str, title: str, summary: str) -> str:
    """The whole profile a mark (lookup.alone) stands for, made as the writer made it (with
    profile.without and the feed's boilerplate, not with lookup.rebuild): its digest must be the
    mark's."""
    last, _, digest = mark.partition(" =")
    made = profile.Profile(0)
    dropped = frozenset({BOILERPLATE}) if ":" in digest else frozenset()  # Brindle's, or none
    made.add(profile.terms(title, profile.without(summary, dropped)), datetime.fromisoformat(last))
    text = made.to_text()
    assert hashlib.blake2b(text.encode(), digest_size=4).hexdigest() == digest.partition(":")[0]
    return text


def _wide(data: str | bytes) -> str | bytes:
    if isinstance(data, bytes):
        values = struct.unpack_from(f"<{(len(data) - 8) // 2}H", data, 8)
        return data[:8] + struct.pack(f"<{len(values)}I", *(_wide_slot(v, 0xFFFF) for v in values))
    parsed = json.loads(data)
    raw = base64.b64decode(parsed["s"])
    values = struct.unpack(f"<{len(raw) // 4}I", raw)
    parsed["v"], parsed["s"] = (
        1,
        base64.b64encode(
            struct.pack(f"<{len(values)}I", *(_wide_slot(v, 0xFFFFFFFF) for v in values))
        ).decode(),
    )
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


def _wide_slot(value: int, empty: int) -> int:
    return 0xFFFFFFFF if value == empty else (value << 16) | 0x5A3C


def test_an_archive_at_m016_upgrades_in_place_and_answers_and_places_the_same(
    feed_server, write_config, tmp_path, capsys
):
    told = events(random.Random(17), 5)
    # three events told thrice; one told once by Brindle (its boilerplate dropped), one by Corvel
    brindle, corvel = feeds(told, {0: range(3), 1: range(3), 2: range(3), 3: range(1), 4: range(1, 2)})
    urls = [
        feed_server.add("/brindle.xml", rss("Brindle", brindle)),
        feed_server.add("/corvel.xml", rss("Corvel", corvel)),
    ]
    config = write_config(urls)
    poll(config)
    db = tmp_path / "monitor.db"
    conn = sqlite3.connect(db)
    try:  # the code's own forms: one-report stories kept as a time and a digest, 16-bit slots
        marks = [
            d.partition(" =")[2] for (d,) in conn.execute("select data from story_profiles") if is_alone(d)
        ]
        assert any(":" in d for d in marks) and any(
            ":" not in d for d in marks
        )  # boilerplate dropped or none
        assert conn.execute("select count(*) from fingerprints where length(data) = 136").fetchone()[0] > 0
    finally:
        conn.close()
    written = answers(config, db, capsys)
    keep = tmp_path / "written.db"
    shutil.copy(db, keep)

    back_to_m016(db)
    older = tmp_path / "m016.db"
    made = sqlite_utils.Database(older)
    migrations.apply(made, stop_before=M017)
    made.close()
    assert schema(db) == schema(older)
    assert main(["--config", str(config), "search", "plan"]) == 1  # a reader asks for the upgrade
    assert "run 'monitor poll' to upgrade it" in capsys.readouterr().err
    Archive.open(db).close()  # as `monitor poll` or `run` opens it: upgraded in place
    assert answers(config, db, capsys) == written
    fresh = tmp_path / "fresh.db"
    Archive.open(fresh).close()
    assert schema(db) == schema(fresh)
    conn = sqlite3.connect(db)
    try:
        conn.execute("insert into articles_fts (articles_fts, rank) values ('integrity-check', 1)")
        assert conn.execute("select count(*) from fingerprints where length(data) = 264").fetchone()[0] == 0
    finally:
        conn.close()

    # New reports, polled into the upgraded archive and into the one the new code wrote: each
    # placed the same (a copy, a report of a story of one report or of several, a new event).
    brindle2, corvel2 = feeds(told, dict.fromkeys(range(5), range(4)))
    copy = Item(corvel2[0].title, corvel2[0].body, corvel2[0].published, "https://corvel.test/copy")
    other = feeds(events(random.Random(99), 1), {0: range(1)})[0][0]
    new_event = [Item(other.title, other.body, other.published, "https://brindle.test/new")]
    feed_server.add("/brindle.xml", rss("Brindle", [*brindle2, *new_event]))
    feed_server.add("/corvel.xml", rss("Corvel", [*corvel2, copy]))
    placed = {}
    for name in ("upgraded", "written"):
        if name == "written":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            shutil.copy(keep, db)
        poll(config)
        conn = sqlite3.connect(db)
        try:
            placed[name] = conn.execute(
                "select a.link, j.story_id, j.score, j.reason from story_joins j"
                " join articles a on a.id = j.article_id where j.article_id > ? order by a.link",
                [max(row[0] for row in written["joins"])],  # type: ignore[index, union-attr]
            ).fetchall()
        finally:
            conn.close()
    assert placed["upgraded"] == placed["written"]
    reasons = [reason for _, _, _, reason in placed["written"]]
    assert len(reasons) == 3 + 3 + 3 + 1 + 1, reasons
    assert any(r.startswith("copy") for r in reasons) and "new story" in reasons
    assert sum(not r.startswith(("copy", "new")) for r in reasons) >= 6, reasons  # joined by their words


class _OneArticle:
    """The look-ups ProfileCache.many makes of a story of one article (StoryIndex's)."""

    def __init__(self, title: str, summary: str) -> None:
        self.text, self.told = (title, summary), []

    def lone_reports(self, story_ids: list[int]) -> dict[int, tuple[str, str]]:
        return dict.fromkeys(story_ids, self.text)

    def made(self, story_id: int, stored: str, text: str) -> None:
        self.told.append((story_id, stored, text))


def test_a_story_of_one_report_is_made_again_from_its_article_the_same() -> None:
    told = events(random.Random(5), 3)
    cache = ProfileCache()
    bp = frozenset({BOILERPLATE})
    for event in told:
        for title, summary in event:
            for text, boilerplate in ((summary, frozenset()), (f"{summary} {BOILERPLATE}", bp)):
                made = words.report(title, text, boilerplate)
                story = profile.Profile(7)
                story.add(made.counts, WHEN)
                stored, whole = cache.stored(story, made)
                assert is_alone(stored) and len(stored) < 48 and whole == story.to_text()
                assert cache.get(7, stored) == cache.get(7, whole) == profile.Profile.parse(7, whole)
                again, again_text = rebuild(7, stored, title, text)
                assert again_text == whole
                assert again == profile.Profile.parse(7, whole)
                assert list(again.counts) == list(profile.Profile.parse(7, whole).counts)  # same order
                assert alone(again.to_text(), made.dropped) == stored
                index = _OneArticle(title, text)
                fresh = ProfileCache().many({7: stored}, index)  # type: ignore[arg-type]
                assert fresh[7] == again and index.told == [(7, stored, whole)]


def test_a_new_story_written_here_is_read_back_as_its_text_parses_in_its_reports_order() -> None:
    """ProfileCache keeps a new story's scaled counts compact (its terms and an array of their
    values): read back, as its text or its stored form, it is the profile its text parses to,
    its terms in its report's order (as Profile.add made them), not the text's."""
    for event in events(random.Random(8), 4):
        for title, summary in event:
            made = words.report(title, summary, frozenset())
            story = profile.Profile(7)
            story.add(made.counts, WHEN)
            for read_as in (0, 1):
                cache = ProfileCache()
                stored, whole = cache.stored(story, made)
                got = cache.get(7, (stored, whole)[read_as])
                assert got == profile.Profile.parse(7, whole)
                assert list(got.counts) == list(story.counts)
                assert got.counts == rounded_counts(story.counts)


def test_a_story_of_one_report_whose_words_are_made_another_way_now_is_made_the_new_way() -> None:
    """After an upgrade that changes how words are made, the digest no longer names what the
    article gives: the profile is made from the article as a report placed now would be, and
    that text is what the cache and the archive's memory answer for the stored form."""
    (title, summary), (_, other) = events(random.Random(11), 2)[0][0], events(random.Random(12), 1)[0][0]
    made = words.report(title, summary, frozenset())
    story = profile.Profile(7)
    story.add(made.counts, WHEN)
    stored, whole = ProfileCache().stored(story, made)
    now = words.report(title, other, frozenset())  # the words this article gives "now"
    expected = profile.Profile(7)
    expected.add(now.counts, WHEN)
    again, again_text = rebuild(7, stored, title, other)
    assert again_text == expected.to_text() != whole
    assert again == profile.Profile.parse(7, again_text)
    index = _OneArticle(title, other)
    cache = ProfileCache()
    assert cache.many({7: stored}, index)[7] == again  # type: ignore[arg-type]
    assert index.told == [(7, stored, again_text)]
    assert cache.get(7, stored) == again  # the stored form now stands for the new text


def test_a_story_of_one_report_is_made_again_as_profile_add_and_to_text_make_it() -> None:
    """lookup.rebuild makes the profile and its text without a Profile to add to (its counts' few
    values each log-scaled and rounded once): the same text as Profile.add and to_text, and the
    same profile, in the same order, as parsing it, for reports of any size: one of more than
    PROFILE_TERMS * 2 terms keeps its strongest, as Profile.add_scaled does."""
    rng = random.Random(3)
    vocabulary = [f"word{i}" for i in range(400)] + ["Tokyo", "tokyo", "COVID-19", "1,000", "G7", "Rises"]
    for size in (0, 1, 5, 40, 159, 161, 170, 300):
        title = " ".join(rng.choices(vocabulary, k=size))
        summary = " ".join(rng.choices(vocabulary, k=rng.randint(0, 120)))
        story = profile.Profile(7)
        story.add(profile.terms(title, summary), WHEN)
        whole = story.to_text()
        again, again_text = rebuild(7, alone(whole, None), title, summary)
        assert again_text == whole
        parsed = profile.Profile.parse(7, whole)
        assert again == parsed and list(again.counts) == list(parsed.counts)
    assert len(profile.terms(title, summary)) > profile.PROFILE_TERMS * 2 >= len(again.counts)
