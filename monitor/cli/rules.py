"""Commands about the rules: `monitor rules check`, `rules test`, `match`.

They load the rule files (monitor.rules) and, for `rules test`, read the archive; nothing of
the service. A rule id that no rule file defines is an error that lists the ids there are.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.cli.context import Context, json_line, say, since
from monitor.errors import MonitorError
from monitor.rules.examples import check_examples
from monitor.rules.rulefile import load_rules
from monitor.rules.ruleset import RuleSet

if TYPE_CHECKING:  # `rules check` needs neither: imported by the commands that do
    from monitor.rules.trial import TrialReport

AD_HOC = "query"  # the id an ad-hoc query gets in `monitor rules test`


def cmd_rules(ctx: Context, args: argparse.Namespace) -> int:
    return cmd_rules_check(ctx) if args.rules_command == "check" else cmd_rules_test(ctx, args)


def cmd_rules_check(ctx: Context) -> int:
    import os

    from monitor.rules.loadcache import default_folder, load_rules_cached

    # the rules as loaded last time when their files' bytes are the same (README "Rules")
    rules = load_rules_cached(ctx.config().rule_paths, default_folder(os.environ))
    failures = check_examples(rules)
    for failure in failures:
        say(f"monitor: {failure}")
    examples = sum(len(r.must_match) + len(r.must_not_match) for r in rules.rules)
    files = len({r.path for r in rules.rules})
    verdict = f"{len(failures)} failed" if failures else "all pass"
    print(f"{len(rules.rules)} rules in {files} files, {examples} examples: {verdict}")
    return 1 if failures else 0


def looks_like_an_id(target: str) -> bool:
    """`high-speed-rail`, `chips2`: one word of letters, digits, - and _ with a - or _ in it
    (a query of one plain word, `Motegi`, is a query)."""
    return bool(target) and all(c.isalnum() or c in "-_" for c in target) and any(c in "-_" for c in target)


def rule_or_query(rules: RuleSet, target: str) -> tuple[RuleSet, str]:
    """The rule set to try and the id to look at: a known rule's, or an ad-hoc query's. An
    id-shaped target no rule has is an error naming the rules there are, not a query for it."""
    if rules.get(target) is not None:
        return rules, target
    known = ", ".join(sorted(r.id for r in rules.rules)) or "(none)"
    if looks_like_an_id(target):
        raise MonitorError(
            f"no rule with id {target!r}; the rules are: {known} (to try it as a query, quote it: "
            f"'\"{target}\"')"
        )
    if target.isalnum() and target.islower():  # a rule id's shape as much as a query's: say which
        say(f"monitor: no rule with id {target!r}, so it was run as a query (the rules are: {known})")
    return rules.with_query(AD_HOC, target), AD_HOC


def cmd_rules_test(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.archive.store import Archive
    from monitor.rules.trial import trial

    after = since(args.since)
    config = ctx.config()
    rules, rule_id = rule_or_query(load_rules(config.rule_paths), args.target)
    archive = Archive.open(config.storage_path, create=False)
    try:
        report = trial(rules, rule_id, archive.articles_since(after), samples=args.samples)
    finally:
        archive.close()
    print(json_line(_trial_json(report, args.since)) if args.json else _trial_text(report, args, rules))
    return 0


def _trial_json(report: TrialReport, since: str) -> dict[str, object]:
    return {
        "rule": report.rule_id,
        "since": since,
        "articles": report.articles,
        "matched": report.alerted,
        "alerted": report.alerted,  # the name before "matched" and "alerts" (kept for scripts)
        "alerts": report.alerts,
        "per_day": {day.isoformat(): n for day, n in sorted(report.per_day.items())},
        "samples": [
            {
                "id": a.id,
                "title": a.title,
                "outlet": a.outlet,
                "published": a.published.isoformat(),
                "terms": list(m.terms),
            }
            for a, m in report.samples
        ],
    }


def _trial_text(report: TrialReport, args: argparse.Namespace, rules: RuleSet | None = None) -> str:
    name = f"rule {report.rule_id}" if report.rule_id != AD_HOC else f"query {args.target!r}"
    stories = report.alerted - report.alerts
    grouped = f" ({stories} joined a story already alerted)" if stories else ""
    lines = [
        f"{name}: {report.alerted} of {report.articles} articles in the last {args.since} matched; "
        f"it would have sent {report.alerts} alerts{grouped}"
    ]
    lines += [f"  {day.isoformat()}  {n}" for day, n in sorted(report.per_day.items())]
    if report.samples:
        lines.append("newest:")
    for article, match in report.samples:
        lines.append(f"  {article.published:%Y-%m-%d}  {article.outlet or '?'}  {article.title}")
        lines.append(f"      terms: {', '.join(match.terms)}")
        if args.explain and rules is not None:
            from monitor.rules.explain import explain, format_explanation

            found = explain(rules, article.title, article.summary, only=[report.rule_id])
            lines += ["    " + line for line in format_explanation(found)[1:]]
    return "\n".join(lines)


def cmd_match(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.rules.explain import explain, format_explanation

    rules = load_rules(ctx.config().rule_paths)
    status = 0
    for name in args.files:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text("utf-8", errors="replace")
        except OSError as exc:
            say(f"monitor: error: {name}: {exc.strerror}")
            status = 1
            continue
        title, _, body = text.strip().partition("\n")
        matches = rules.match(title.strip(), body.strip())
        if args.json:
            found: dict[str, object] = {
                "path": name,
                "matches": [{"rule": m.rule_id, "terms": list(m.terms)} for m in matches],
            }
            if args.explain:
                found["explain"] = [asdict(e) for e in explain(rules, title.strip(), body.strip())]
            print(json_line(found))
        else:
            listed = ", ".join(f"{m.rule_id} ({', '.join(m.terms)})" for m in matches) or "no match"
            print(f"{name}: {listed}")
            if args.explain:
                print("\n".join(format_explanation(explain(rules, title.strip(), body.strip()))))
    return status
