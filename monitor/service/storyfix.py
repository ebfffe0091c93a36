"""Explain and correct a story: `monitor stories show|split` and the chat's /story, /split.

explain(archive, story id) → text     each report: when it came, how it joined (score, the
                                      strongest shared terms, "copy", "new story")
split(archive, config, rules, article id, now) → text
                                      the report leaves for a story of its own (both stories'
                                      profiles rebuilt from their reports), and the alert the
                                      merge held back is queued for its rules' chats
"""

from __future__ import annotations

from datetime import datetime

from monitor.alerts.routing import alerts_for
from monitor.archive.store import Archive
from monitor.rules.matcher import RuleSet
from monitor.stories import profile
from monitor.types import Config


class StoryNotFound(LookupError):
    """No story or article with that id (a one-line message for the user)."""


def explain(archive: Archive, story_id: int) -> str:
    reports = archive.story_joins(story_id)
    if not reports:
        raise StoryNotFound(f"no story {story_id}")
    lines = [f"story {story_id}: {len(reports)} report{'s' if len(reports) != 1 else ''}"]
    for article_id, published, outlet, title, score, reason in reports:
        how = reason or "placed before story profiles were kept"
        if score and reason and not reason.startswith(("copy", "new", "split")):
            how = f"joined, {reason}"
        lines.append(f"  #{article_id} {published[:16].replace('T', ' ')} {outlet or '?'}: {title}")
        lines.append(f"      {how}")
    lines.append(
        "wrong? monitor stories split ARTICLE_ID (in the chat: /split ARTICLE_ID) takes a report out"
    )
    return "\n".join(lines)


def rebuild(texts: list[tuple[str, str, str]]) -> str | None:
    """A story's profile from its reports' (title, summary, published ISO)."""
    story = profile.Profile(0)
    for title, summary, published in texts:
        story.add(profile.terms(title, summary), datetime.fromisoformat(published.replace("Z", "+00:00")))
    return story.to_text()


def split(archive: Archive, config: Config, rules: RuleSet, article_id: int, now: datetime) -> str:
    try:
        old, new = archive.split_article(article_id, now, rebuild)
    except KeyError:
        raise StoryNotFound(f"no article {article_id}") from None
    if old == new:
        return f"article {article_id} is the only report of story {old}: nothing to split"
    entry, outlet, matches = archive.alerted_article(article_id)
    alerts = alerts_for(config, rules, entry, outlet, matches)
    archive.queue_story_alerts(article_id, new, alerts, now)
    sent = f"; its alert is queued for {len(alerts)} chat{'s' if len(alerts) != 1 else ''}" if alerts else ""
    return f"article {article_id} left story {old}: it is story {new} now{sent}"
