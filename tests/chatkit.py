"""Feeds and configs for the chat-delivery tests: generated items that each stay their own story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.cli.demo import Item
from tests.conftest import rss

RULES = """
[[rule]]
id = "chips"
name = "Semiconductors"
query = "semiconductor"

[[rule]]
id = "rail"
name = "High-speed rail"
query = "shinkansen"
priority = "low"
{rail_chat}

[[rule]]
id = "navy"
name = "Defence"
query = "destroyer"
priority = "high"
"""
# Unrelated vocabulary per item, so that story grouping keeps every item its own story.
WORDS = (
    "amber basalt cobalt delta ember fjord granite harbor indigo juniper kelp lagoon meadow nickel "
    "orchid pepper quartz raven saffron tundra umber violet walnut xenon yarrow zephyr acorn birch "
    "cedar dune falcon glacier heron iris jasper kestrel lotus marble nectar onyx pine quill reef "
    "sable thistle urchin vale willow yew zinc"
).split()


def items(topic: str, count: int, start: int = 0) -> list[Item]:
    found = []
    for i in range(start, start + count):
        words = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(6))
        title = f"{topic.capitalize()} report {i}: {words}"
        link = f"https://news.example.com/2026/03/06/{topic}-{i}-" + "-".join(words.split()) + "?utm=feed"
        published = datetime(2026, 3, 6, 1, 0, tzinfo=UTC) + timedelta(minutes=i)
        found.append(Item(title, f"A {topic} story about {words}, number {i}.", published, link))
    return found


def write_chat_config(
    tmp_path: Path,
    feed_url: str,
    api_url: str,
    extra: str = "",
    rail_chat: str = "",
    telegram: str = "",
) -> Path:
    """A monitor.toml with the test rules, story grouping off, the default chat 1001, one feed."""
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "test.toml").write_text(RULES.format(rail_chat=rail_chat), encoding="utf-8")
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "monitor.db"}"\n'
        f'[rules]\npaths = ["{tmp_path / "rules"}"]\n'
        "[stories]\nnear_duplicate = 1\nmin_points = 1000\nmin_similarity = 2\n"
        f'[telegram]\nchat_id = "1001"\napi_url = "{api_url}"\n{telegram}\n'
        # the items are dated March 2026: alerted as the tests expect, whenever they run
        + ("" if "[alerts]" in extra else '[alerts]\nbackfill = "all"\n')
        + f"{extra}\n"
        f'[[feeds]]\nurl = "{feed_url}"\n',
        encoding="utf-8",
    )
    return config


def feed_of(items: list[Item]) -> bytes:
    return rss("Wire", items)
