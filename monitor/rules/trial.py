"""`monitor rules test`: what a rule would have alerted over the archive. Pure.

Runs a rule set over stored articles and tallies, per day, the articles one
rule would have alerted, keeping the newest few as samples, so a user can try
a rule before turning it on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from monitor.rules.matcher import RuleSet
from monitor.types import RuleMatch, StoredArticle


@dataclass
class TrialReport:
    rule_id: str  # the rule tried
    articles: int = 0  # articles looked at
    alerted: int = 0  # articles the rule matched
    alerts: int = 0  # alerts it would have sent: one per story (a report joining a story adds none)
    per_day: Counter[date] = field(default_factory=Counter)  # matches per UTC publication day
    samples: list[tuple[StoredArticle, RuleMatch]] = field(default_factory=list)  # newest first


def trial(rules: RuleSet, rule_id: str, articles: Iterable[StoredArticle], samples: int = 10) -> TrialReport:
    """Articles must come newest first (as Archive.articles_since gives them)."""
    report = TrialReport(rule_id)
    stories: set[int] = set()
    for article in articles:
        report.articles += 1
        match = next((m for m in rules.match(article.title, article.summary) if m.rule_id == rule_id), None)
        if match is None:
            continue
        report.alerted += 1
        if article.story_id is None or article.story_id not in stories:
            report.alerts += 1
        if article.story_id is not None:
            stories.add(article.story_id)
        report.per_day[article.published.date()] += 1
        if len(report.samples) < samples:
            report.samples.append((article, match))
    return report
