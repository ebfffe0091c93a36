"""Stories through the real pipeline (loopback feeds, a real archive): a report joins a story's
profile, never one article of it; copies join; a feed's boilerplate says nothing; a report that
joins a story still alerts for a rule new to it; `monitor stories show|split` explain and correct.

The texts are invented. An archive of BACKGROUND everyday reports comes first, so that rarity is
known (grouping.COLD_START), as in an archive that has run for a while."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli.demo import Item
from monitor.service.grouping import COLD_START
from tests.cli.test_cli import monitor
from tests.conftest import rss
from tests.service.test_pipeline import poll

NOW = datetime.now(UTC).replace(microsecond=0)
BACKGROUND = COLD_START + 20
_WORDS = """council budget school road water market weather police court hospital festival
election tax housing energy bus train bridge museum library park farm port airport factory
strike union wage price rent health teacher student football match season coach concert
film book garden river storm heat snow fire crime trial judge mayor minister party vote""".split()


def background(rng: random.Random) -> list[Item]:
    """Everyday local news, each naming the same mayor (Varnock): a name common in this archive."""
    items = []
    for i in range(BACKGROUND):
        words = rng.sample(_WORDS, 6)
        items.append(
            Item(
                title=f"Mayor Varnock on {words[0]} and {words[1]} plans",
                body=f"Mayor Varnock said the {words[2]} and the {words[3]} would change; "
                f"the {words[4]} and {words[5]} stay as they are.",
                published=NOW - timedelta(days=6, hours=i % 48),
                link=f"https://local.example/{i}",
            )
        )
    return items


def item(slug: str, title: str, body: str, hours_ago: float) -> Item:
    return Item(title, body, NOW - timedelta(hours=hours_ago), f"https://news.example/{slug}")


DAM_1 = item(
    "dam-1",
    "Zorvath dam breaks above Kelmira after days of rain",
    "The Zorvath dam above Kelmira broke on Tuesday after days of heavy rain, flooding the lower "
    "town, the regional governor said.",
    10,
)
DAM_2 = item(
    "dam-2",
    "Kelmira flooded as Zorvath dam fails; residents evacuate",
    "Residents of Kelmira began to evacuate on Tuesday when the Zorvath dam failed after heavy rain "
    "and water reached the lower town.",
    9,
)
BRIDGE = item(
    "bridge",
    "Zorvath dam disaster in Kelmira overshadows Quintar trade pact talks in Oslavia",
    "The Zorvath dam failure in Kelmira cast a shadow over the Quintar trade pact talks in Oslavia, "
    "where ministers met to sign the pact on tariffs and ports.",
    8,
)
PACT = item(
    "pact",
    "Oslavia ministers sign Quintar trade pact after marathon talks",
    "Ministers in Oslavia signed the Quintar trade pact after marathon talks on tariffs, ports and "
    "shipping quotas.",
    7,
)


def story_of(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {
            link.rsplit("/", 1)[1]: story
            for link, story in conn.execute("select link, story_id from articles")
        }
    finally:
        conn.close()


@pytest.fixture
def newsroom(feed_server, write_config, tmp_path):
    """poll(items per feed) → the archive's stories; the background is archived first."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.toml").write_text(
        '[[rule]]\nid = "dams"\nname = "Dams"\nquery = "dam"\n\n'
        '[[rule]]\nid = "evacuations"\nname = "Evacuations"\nquery = "evacuat*"\n\n'
        '[[rule]]\nid = "trade"\nname = "Trade"\nquery = "pact"\n',
        encoding="utf-8",
    )
    urls = [feed_server.add("/local.xml", rss("Local", background(random.Random(7))))]
    path = write_config(urls, rules=rules)
    poll(path)

    def run(*feeds: list[Item]) -> dict[str, int]:
        for i, items in enumerate(feeds):
            # Feeds are handled as they answer: outlet i answers 0.4 s after outlet i-1, so the
            # reports come in the order the test lists them.
            url = feed_server.add(f"/outlet{i}.xml", rss(f"Outlet {i}", items), delay=0.4 * i)
            if url not in urls:
                urls.append(url)
        poll(write_config(urls, rules=rules))
        return story_of(tmp_path / "monitor.db")

    run.config = path  # type: ignore[attr-defined]
    run.db = tmp_path / "monitor.db"  # type: ignore[attr-defined]
    return run


def test_a_story_does_not_chain_to_another_event_through_a_bridging_report(newsroom):
    stories = newsroom([DAM_1], [DAM_2], [BRIDGE], [PACT])
    assert stories["dam-1"] == stories["dam-2"]  # one event, two wordings
    assert stories["bridge"] == stories["dam-1"]  # the bridge is mostly about the dam
    # The pact report resembles the bridging report, not the dam story as a whole.
    assert stories["pact"] != stories["dam-1"]


def _join_reason(db, link: str) -> str:
    """Why the article at `link` joined its story, as the archive recorded it."""
    conn = sqlite3.connect(db)
    try:
        (reason,) = conn.execute(
            "select reason from story_joins j join articles a on a.id = j.article_id where a.link = ?", [link]
        ).fetchone()
    finally:
        conn.close()
    return str(reason)


def test_a_copy_under_another_address_and_title_joins(newsroom):
    copy = Item(
        "Latest: dam failure", DAM_1.body, DAM_1.published + timedelta(hours=2), "https://wire.example/x"
    )
    stories = newsroom([DAM_1], [copy])
    assert stories["x"] == stories["dam-1"]
    assert _join_reason(newsroom.db, copy.link).startswith("copy")


def test_a_copy_joins_its_story_when_another_open_story_shares_its_words(newsroom):
    """A copy's story is read whatever stories.screen finds of it (grouping._decide): the report
    joins it, with its copy's reason, when another open story is among its candidates."""
    copy = Item(
        DAM_1.title,  # the dam report again, with the pact's words added
        DAM_1.body + " Ministers in Oslavia signed the Quintar trade pact on tariffs and ports.",
        DAM_1.published + timedelta(hours=3),
        "https://wire.example/y",
    )
    stories = newsroom([DAM_1], [PACT], [copy])
    assert stories["pact"] != stories["dam-1"]
    assert stories["y"] == stories["dam-1"]
    assert _join_reason(newsroom.db, copy.link).startswith("copy")


def test_a_feeds_boilerplate_counts_for_nothing(newsroom):
    tail = " Continue reading the full story, with photos and related coverage, on our website today."
    items = [
        item(
            "harbour", "Harbour festival draws record crowds", "Boats and music filled the harbour." + tail, 5
        ),
        item("rail", "Mountain rail line reopens after repairs", "Trains run again on the pass." + tail, 5),
        item("chess", "Teenager wins national chess title", "A sixteen-year-old took the crown." + tail, 5),
    ]
    stories = newsroom(items)
    assert len({stories["harbour"], stories["rail"], stories["chess"]}) == 3


def test_a_report_joining_a_story_still_alerts_a_rule_new_to_it(newsroom):
    third = item(
        "dam-3",
        "Zorvath dam break floods lower Kelmira",
        "Water from the broken Zorvath dam flooded the lower town of Kelmira on Tuesday after heavy rain.",
        8,
    )
    stories = newsroom([DAM_1], [DAM_2], [third])
    assert stories["dam-1"] == stories["dam-2"] == stories["dam-3"]
    conn = sqlite3.connect(newsroom.db)
    alerts = {
        link.rsplit("/", 1)[1]: rules
        for link, rules in conn.execute(
            "select a.link, l.rules from alerts l join articles a on a.id = l.article_id"
            " where l.kind = 'send'"
        )
    }
    conn.close()
    assert alerts["dam-1"] == '["dams"]'
    assert alerts["dam-2"] == '["evacuations"]'  # the story's alert said nothing of evacuations
    assert "dam-3" not in alerts  # nothing new: held back, listed under the story's alert


@pytest.mark.slow
def test_stories_show_explains_and_split_corrects(newsroom):
    stories = newsroom([DAM_1], [DAM_2])
    story = stories["dam-1"]
    assert stories["dam-2"] == story
    shown = monitor("--config", str(newsroom.config), "stories", "show", str(story))
    assert shown.returncode == 0, shown.stderr
    assert DAM_1.title in shown.stdout and DAM_2.title in shown.stdout
    assert "joined, 0." in shown.stdout and "kelmira" in shown.stdout  # score and shared terms

    conn = sqlite3.connect(newsroom.db)
    (article,) = conn.execute("select id from articles where link = ?", [DAM_2.link]).fetchone()
    conn.close()
    split = monitor("--config", str(newsroom.config), "stories", "split", str(article))
    assert split.returncode == 0, split.stderr
    assert f"article {article} left story {story}" in split.stdout
    after = story_of(newsroom.db)
    assert after["dam-2"] != story and after["dam-1"] == story
    conn = sqlite3.connect(newsroom.db)
    queued = conn.execute(
        "select rules from alerts where article_id = ? and kind = 'send' order by id", [article]
    ).fetchall()
    conn.close()
    assert queued[-1] == ('["dams", "evacuations"]',)  # the alert the merge held back, in full

    missing = monitor("--config", str(newsroom.config), "stories", "show", "999999")
    assert missing.returncode == 1 and missing.stderr.strip() == "monitor: error: no story 999999"


def test_a_name_common_in_the_archive_stops_counting_as_evidence(newsroom):
    """Two reports of two events share a name and little else (their other shared words are
    everyday ones): while the name is rare, it is evidence of one story; the background's
    mayor, named in every report, is none."""

    def reports(name: str) -> tuple[Item, Item]:
        festival = item(
            f"{name}-festival",
            f"Mayor {name} opens harbour festival",
            f"Mayor {name} opened the harbour festival with boats and music; stalls stay till late.",
            5,
        )
        fares = item(
            f"{name}-fares",
            f"Mayor {name} rejects bus fare rise",
            f"Mayor {name} said bus fares stay as they are this year.",
            4,
        )
        return festival, fares

    rare = newsroom(*[[report] for report in reports("Quellbrand")])
    assert rare["Quellbrand-festival"] == rare["Quellbrand-fares"]
    common = newsroom(*[[report] for report in reports("Varnock")])
    assert common["Varnock-festival"] != common["Varnock-fares"]
