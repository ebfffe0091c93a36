"""`monitor stories show ID` and `monitor stories split ARTICLE_ID`: explain a story, and take a
report out of it (service/storyfix.py holds the text, shared with the chat's /story and /split)."""

from __future__ import annotations

import argparse
import sys

from monitor.archive.store import Archive
from monitor.cli.context import Context, now
from monitor.rules.rulefile import load_rules
from monitor.service import storyfix


def cmd_stories(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    archive = Archive.open(config.storage_path, create=False)
    try:
        if args.stories_command == "show":
            print(storyfix.explain(archive, args.id))
        else:
            rules = load_rules(config.rule_paths)
            print(storyfix.split(archive, config, rules, args.article, now()))
    except storyfix.StoryNotFound as exc:
        print(f"monitor: error: {exc}", file=sys.stderr)
        return 1
    finally:
        archive.close()
    return 0
