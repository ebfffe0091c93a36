"""How well the shipped rules find India–Japan news: precision and recall on a labelled set.

    tests/data/rules_eval/*.toml ─load_articles→ Articles (title, body, topics)
    rules/ ─load_rules→ RuleSet ─evaluate(rules, articles)→ Quality ─report→ text

An alert is any shipped rule firing; an article is relevant when it has at least
one topic label. Topic recall is micro-averaged over the labels of relevant
articles. Topics per true alert is the mean number of rules that fired on the relevant
articles that alerted: an analyst who routes topics to different chats wants it near 1.
Run from the repository root:

    python bench/rules_quality.py [--verbose] [--rules rules] [--articles tests/data/rules_eval]

--articles is a folder (all its *.toml files) or one file, e.g. a held-out batch.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rates import Rate  # noqa: E402 (a sibling script)

from monitor.rules.matcher import RuleSet
from monitor.rules.rulefile import load_rules
from monitor.types import RuleMatch

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
ARTICLES = ROOT / "tests" / "data" / "rules_eval"
_KEYS = {"title", "body", "topics", "note"}


@dataclass(frozen=True)
class Article:
    title: str  # the headline
    body: str  # the summary, as a feed would carry it
    topics: frozenset[str]  # the shipped topic ids it is about; empty = must not alert
    source: str  # "file.toml#3": where it is written, for reports
    note: str = ""  # why the label is what it is, when not obvious


@dataclass(frozen=True)
class Outcome:
    article: Article
    matches: tuple[RuleMatch, ...]  # the rules that fired, in rule order

    @property
    def fired(self) -> frozenset[str]:
        return frozenset(match.rule_id for match in self.matches)


@dataclass(frozen=True)
class Quality:
    outcomes: tuple[Outcome, ...]
    topics: tuple[str, ...]  # the rule ids, in rule order
    alert_precision: Rate = field(init=False)
    alert_recall: Rate = field(init=False)
    topic_recall: Rate = field(init=False)
    topics_per_alert: Rate = field(init=False)  # rules fired per true alert (value: the mean)

    def __post_init__(self) -> None:
        alerted = [o for o in self.outcomes if o.fired]
        relevant = [o for o in self.outcomes if o.article.topics]
        set_ = object.__setattr__  # frozen: derived fields are set once, here
        set_(self, "alert_precision", Rate(sum(bool(o.article.topics) for o in alerted), len(alerted)))
        set_(self, "alert_recall", Rate(sum(bool(o.fired) for o in relevant), len(relevant)))
        found = sum(len(o.article.topics & o.fired) for o in relevant)
        set_(self, "topic_recall", Rate(found, sum(len(o.article.topics) for o in relevant)))
        true_alerts = [o for o in alerted if o.article.topics]
        set_(self, "topics_per_alert", Rate(sum(len(o.fired) for o in true_alerts), len(true_alerts)))

    def per_topic(self, topic: str) -> tuple[Rate, Rate]:
        """(precision, recall) of one rule against its own label."""
        fired = [o for o in self.outcomes if topic in o.fired]
        labelled = [o for o in self.outcomes if topic in o.article.topics]
        precision = Rate(sum(topic in o.article.topics for o in fired), len(fired))
        return precision, Rate(sum(topic in o.fired for o in labelled), len(labelled))

    @property
    def false_positives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.fired and not o.article.topics]

    @property
    def false_negatives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.article.topics and not o.fired]

    @property
    def missed_topics(self) -> list[Outcome]:
        """Alerted, but some labelled topics did not fire."""
        return [o for o in self.outcomes if o.fired and o.article.topics - o.fired]

    @property
    def extra_topics(self) -> list[Outcome]:
        """Relevant and alerted, but a rule fired whose topic is not labelled."""
        return [o for o in self.outcomes if o.article.topics and o.fired - o.article.topics]


def load_articles(folder: Path = ARTICLES, topics: Iterable[str] | None = None) -> list[Article]:
    """Every [[article]] in folder/*.toml (or in one file), in file-name order; labels checked."""
    known = frozenset(topics) if topics is not None else None
    articles = []
    for path in [folder] if folder.is_file() else sorted(folder.glob("*.toml")):
        tables = tomllib.loads(path.read_text(encoding="utf-8")).get("article", [])
        for number, table in enumerate(tables, 1):
            articles.append(_article(table, f"{path.name}#{number}", known))
    return articles


def _article(table: dict, source: str, known: frozenset[str] | None) -> Article:
    unknown = set(table) - _KEYS
    if unknown or not {"title", "body", "topics"} <= set(table):
        raise ValueError(f"{source}: an article has title, body, topics and optional note: {table}")
    labels = frozenset(table["topics"])
    if known is not None and labels - known:
        raise ValueError(f"{source}: unknown topics {sorted(labels - known)}")
    return Article(table["title"], table["body"], labels, source, table.get("note", ""))


def evaluate(rules: RuleSet, articles: Sequence[Article]) -> Quality:
    outcomes = tuple(Outcome(a, rules.match(a.title, a.body)) for a in articles)
    return Quality(outcomes, tuple(rule.id for rule in rules.rules))


def report(quality: Quality, verbose: bool = False) -> str:
    relevant = sum(bool(o.article.topics) for o in quality.outcomes)
    lines = [
        f"articles: {len(quality.outcomes)} ({relevant} relevant, {len(quality.outcomes) - relevant} not)",
        f"alert precision: {quality.alert_precision}",
        f"alert recall:    {quality.alert_recall}",
        f"topic recall:    {quality.topic_recall}",
        f"topics per true alert: {quality.topics_per_alert.value:.2f} ({quality.topics_per_alert.hits} topics"
        f" on {quality.topics_per_alert.total} true alerts)",
        "",
        f"{'topic':<20} {'precision':>16} {'recall':>16}",
    ]
    for topic in quality.topics:
        precision, recall = quality.per_topic(topic)
        lines.append(f"{topic:<20} {precision!s:>16} {recall!s:>16}")
    if verbose:
        sections = [
            ("false positives (alerted, no topic)", quality.false_positives),
            ("false negatives (relevant, no alert)", quality.false_negatives),
            ("missed topics (alerted, a labelled topic did not fire)", quality.missed_topics),
            ("extra topics (a rule fired outside its label)", quality.extra_topics),
        ]
        for heading, outcomes in sections:
            lines += ["", f"## {heading}: {len(outcomes)}"]
            lines += [_explain(outcome) for outcome in outcomes]
    return "\n".join(lines)


def _explain(outcome: Outcome) -> str:
    article = outcome.article
    labels = ", ".join(sorted(article.topics)) or "-"
    text = [f"- {article.source}: {article.title}", f"    labelled: {labels}"]
    for match in outcome.matches:
        text.append(f"    fired {match.rule_id}: {', '.join(match.found)}")
    missed = article.topics - outcome.fired
    if missed and outcome.fired:
        text.append(f"    missed: {', '.join(sorted(missed))}")
    if article.note:
        text.append(f"    note: {article.note}")
    return "\n".join(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="list every error with its terms")
    parser.add_argument("--rules", type=Path, default=RULES, help="rule file or folder")
    parser.add_argument("--articles", type=Path, default=ARTICLES, help="folder or file of articles")
    args = parser.parse_args(argv)
    rules = load_rules([args.rules])
    try:
        articles = load_articles(args.articles, [rule.id for rule in rules.rules])
    except ValueError as exc:  # a mislabelled file: say where, in one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report(evaluate(rules, articles), args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
