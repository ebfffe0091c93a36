"""/story ID and /split ARTICLE_ID: a story's reports and why each joined, and a report taken
out of its story (with the alert the merge held back). Allowed users only, as every command.
The text is service.storyfix's, the same as `monitor stories show|split` prints."""

from __future__ import annotations

from datetime import datetime
from html import escape

from monitor.archive.store import Archive
from monitor.rules.ruleset import RuleSet
from monitor.service import storyfix
from monitor.types import Config

STORY_USAGE = "/story ID"
SPLIT_USAGE = "/split ARTICLE_ID"
_LIMIT = 3500  # Telegram takes 4096 characters; a long story's list is cut


def story_text(archive: Archive, args: str) -> str:
    if not args.strip().isdigit():
        return f"Usage: <code>{STORY_USAGE}</code> (the number after “story” in an alert)"
    try:
        text = storyfix.explain(archive, int(args))
    except storyfix.StoryNotFound as exc:
        return escape(str(exc))
    if len(text) > _LIMIT:
        text = text[:_LIMIT] + "\n…"
    return f"<pre>{escape(text)}</pre>"


def split_text(archive: Archive, config: Config, rules: RuleSet, args: str, now: datetime) -> str:
    if not args.strip().isdigit():
        return f"Usage: <code>{SPLIT_USAGE}</code> (an article number from /story)"
    try:
        return escape(storyfix.split(archive, config, rules, int(args), now))
    except storyfix.StoryNotFound as exc:
        return escape(str(exc))
