"""A story's alerts drawn again when a report joins it (grouping's StoryJoined): one StoryEdit
per alert the story has sent or queued, listing the other outlets ("Also reported by").

The archive rewrites an edit's alert while it still waits, or queues an edit of the message
once sent (archive.outbox.queue_edit); the notifier renders it at send time.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.alerts.compose import compose_alert
from monitor.archive.store import Archive
from monitor.types import StoryEdit, StoryJoined


def story_edits(archive: Archive, joined: StoryJoined, rule_names: Mapping[str, str]) -> list[StoryEdit]:
    """The story's alerts, each with its own article and its chat's rules, and every other
    report: the archived ones, then this batch's (`joined.reports`)."""
    alerts = archive.story_alerts(joined.story_id)
    if not alerts:  # most stories a report joins alerted nothing: their reports are not read
        return []
    reports = archive.story_reports(joined.story_id)
    edits = []
    for alert_id, _chat_id, article_id, rule_ids in alerts:
        first, first_outlet, first_matches = archive.alerted_article(article_id)
        shown = [m for m in first_matches if m.rule_id in rule_ids]  # this chat's rules only
        also = [(o, link) for other, o, link in reports if other != article_id] + list(joined.reports)
        edits.append(StoryEdit(alert_id, compose_alert(first, first_outlet, shown, rule_names, also)))
    return edits
