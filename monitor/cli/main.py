"""The command line: arguments in, one-line errors and exit codes out.

Exit codes: 0 done (a pass with failing feeds is still done), 1 nothing could
run (bad config, bad rules, unusable archive), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor import __version__
from monitor.app import poll_once, run_service
from monitor.archive.store import Archive
from monitor.cli import manage
from monitor.config.load import config_path, load_config
from monitor.config.values import MAX_AGE, parse_duration, redact_urls
from monitor.errors import MonitorError
from monitor.ingest.schedule import is_stale
from monitor.rules.examples import check_examples
from monitor.rules.explain import explain, format_explanation
from monitor.rules.rulefile import load_rules
from monitor.rules.ruleset import RuleSet
from monitor.rules.trial import TrialReport, trial
from monitor.service.logs import setup_logging
from monitor.service.workers import tune_gc
from monitor.types import ChatState, Config, SearchHit


@dataclass(frozen=True)
class Context:
    config_arg: str | None  # --config as given
    log_level: str  # --log-level

    def config(self) -> Config:
        return load_config(config_path(self.config_arg, os.environ))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description="Watch news feeds, match rules, alert.")
    parser.add_argument(
        "--config", metavar="PATH", help="config file (default: $MONITOR_CONFIG or ./monitor.toml)"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="the service: poll on schedule and deliver alerts until stopped")
    sub.add_parser("poll", help="one pass over every feed, deliver pending alerts, exit")
    match = sub.add_parser("match", help="run the rules over text files (first line: title)")
    match.add_argument("--json", action="store_true", help="one JSON object per file")
    match.add_argument("--explain", action="store_true", help="per rule, which clauses held on which terms")
    match.add_argument("files", nargs="+", metavar="FILE")
    search = sub.add_parser("search", help="full-text search of the archive, newest first")
    search.add_argument("--json", action="store_true", help="one JSON object per article")
    search.add_argument("--since", metavar="DURATION", help="only articles published within, e.g. 7d")
    search.add_argument("--rule", metavar="ID", help="only articles this rule matched")
    search.add_argument("--limit", type=int, default=20, help="at most this many results (default 20)")
    search.add_argument("--stories", action="store_true", help="one line per story, with its outlets")
    search.add_argument("query", metavar="QUERY")
    sub.add_parser("status", help="each feed's last check, last error, articles; pending alerts")
    rules = sub.add_parser("rules", help="check the rule files, or try a rule on the archive")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    rules_sub.add_parser("check", help="load every rule file and run every rule's examples")
    trial = rules_sub.add_parser("test", help="what a rule or a query would have alerted in the archive")
    trial.add_argument("target", metavar="ID|QUERY", help="a rule id, or a query in the rule language")
    trial.add_argument("--since", default="30d", metavar="DURATION", help="look back this far (default 30d)")
    trial.add_argument("--samples", type=int, default=10, help="titles to show (default 10)")
    trial.add_argument("--json", action="store_true", help="the report as one JSON object")
    trial.add_argument("--explain", action="store_true", help="per sample, which clauses held on which terms")
    sub.add_parser("demo", help="offline demo: serve feeds built from seeds/ and poll them once")
    manage.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = Context(args.config, args.log_level)
    try:
        return COMMANDS[args.command](ctx, args)
    except MonitorError as exc:
        print(f"monitor: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    setup_logging(ctx.log_level, [config.telegram.token or ""])
    tune_gc()
    asyncio.run(run_service(config))
    return 0


def cmd_poll(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    setup_logging("WARNING" if ctx.log_level == "INFO" else ctx.log_level, [config.telegram.token or ""])
    tune_gc()
    report, delivery = asyncio.run(poll_once(config))
    for error in report.errors:  # credentials in a feed's URL are never shown
        print(redact_urls(f"monitor: feed {error.url}: {error.message}"), file=sys.stderr)
    for feed, note in report.notes:
        print(redact_urls(f"monitor: feed {feed}: {note}"), file=sys.stderr)
    for line in delivery.errors:
        print(f"monitor: {line}", file=sys.stderr)
    print(
        f"polled {report.feeds} feeds in {report.seconds:.1f}s: {report.new_articles} new articles, "
        f"{report.not_modified} unchanged, {len(report.errors)} failed; alerts: {report.alerts} queued, "
        f"{delivery.sent} sent, {delivery.deferred} pending, {delivery.failed} rejected",
        file=sys.stderr,
    )
    return 0


def cmd_match(ctx: Context, args: argparse.Namespace) -> int:
    rules = load_rules(ctx.config().rule_paths)
    status = 0
    for name in args.files:
        try:
            text = Path(name).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            print(f"monitor: error: {name}: {exc.strerror}", file=sys.stderr)
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
            print(json.dumps(found, ensure_ascii=False))
        else:
            listed = ", ".join(f"{m.rule_id} ({', '.join(m.terms)})" for m in matches) or "no match"
            print(f"{name}: {listed}")
            if args.explain:
                print("\n".join(format_explanation(explain(rules, title.strip(), body.strip()))))
    return status


def cmd_search(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    since = _since(args.since) if args.since else None
    if args.since and since is None:
        return 2
    archive = Archive.open(config.storage_path, create=False)
    try:
        hits = archive.search(args.query, since=since, rule=args.rule, limit=args.limit)
        if args.stories:
            hits = _newest_per_story(hits)
            outlets = {h.id: archive.story_outlets(h.story_id) if h.story_id else [] for h in hits}
    finally:
        archive.close()
    for hit in hits:
        line = json.dumps(_hit_json(hit), ensure_ascii=False) if args.json else _hit_text(hit)
        if args.stories:
            line = _story_json(line, outlets[hit.id]) if args.json else _story_text(hit, outlets[hit.id])
        print(line)
    if not hits and not args.json:
        print("no articles found", file=sys.stderr)
    return 0


def _newest_per_story(hits: list[SearchHit]) -> list[SearchHit]:
    """Hits come newest first; keep each story's newest."""
    newest: dict[int, SearchHit] = {}
    for hit in hits:
        newest.setdefault(hit.story_id if hit.story_id is not None else -hit.id, hit)
    return list(newest.values())


def _story_json(hit_line: str, outlets: list[str]) -> str:
    data = json.loads(hit_line)
    data["outlets"] = outlets
    return json.dumps(data, ensure_ascii=False)


def _story_text(hit: SearchHit, outlets: list[str]) -> str:
    date = hit.published.strftime("%Y-%m-%d %H:%M") if hit.published else "????-??-?? ??:??"
    reported = f"{len(outlets)} reports: {', '.join(outlets)}" if len(outlets) > 1 else hit.outlet or "?"
    return f"{date}  {hit.title}  ({reported})"


def _hit_json(hit: SearchHit) -> dict[str, object]:
    return {
        "id": hit.id,
        "story": hit.story_id,
        "title": hit.title,
        "link": hit.link,
        "outlet": hit.outlet,
        "published": hit.published.isoformat() if hit.published else None,
        "feed": hit.feed,
        "rules": list(hit.rules),
    }


def _hit_text(hit: SearchHit) -> str:
    date = hit.published.strftime("%Y-%m-%d %H:%M") if hit.published else "????-??-?? ??:??"
    rules = f"  [{', '.join(hit.rules)}]" if hit.rules else ""
    return f"{date}  {hit.outlet or hit.feed or '?'}  {hit.title}{rules}\n    {hit.link or '(no link)'}"


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    archive = Archive.open(config.storage_path, create=False)
    try:
        statuses = archive.feed_statuses(datetime.now(UTC), is_stale)
        counts = archive.outbox_counts()
        by_chat = archive.outbox_by_chat()
        chat_states = {s.chat_id: s for s in archive.chat_states()}
        mutes = {chat: archive.muted_rules(chat, datetime.now(UTC)) for chat in by_chat}
    finally:
        archive.close()
    for s in statuses:
        checked = s.last_checked.strftime("%Y-%m-%d %H:%M UTC") if s.last_checked else "never checked"
        state = f"ERROR ({s.error_count}x): {s.last_error}" if s.last_error else "ok"
        if s.status == "suspended":
            state = f"SUSPENDED: {s.suspended_reason} (monitor feeds resume URL); last error: {s.last_error}"
        if s.warning:
            state += f"; warning: {s.warning}"
        if s.stale:
            state += (
                f"; STALE: nothing new since {s.last_new:%Y-%m-%d %H:%M UTC}" if s.last_new else "; STALE"
            )
        print(f"{s.name or s.url}\n    {s.url}\n    last check {checked}; {s.articles} articles; {state}")
    failing = sum(1 for s in statuses if s.last_error)
    suspended = sum(1 for s in statuses if s.status == "suspended")
    stale = sum(1 for s in statuses if s.stale)
    print(
        f"feeds: {len(statuses)} ({failing} failing, {suspended} suspended, {stale} stale); "
        f"alerts: {counts.get('pending', 0)} pending, "
        f"{counts.get('held', 0)} held for digests, {counts.get('sent', 0)} sent, "
        f"{counts.get('failed', 0)} rejected"
    )
    for chat in sorted(set(by_chat) | set(chat_states)):
        print(_chat_line(chat, by_chat.get(chat, {}), chat_states.get(chat), mutes.get(chat, {})))
    return 0


def _chat_line(chat: str, counts: dict[str, int], state: ChatState | None, mutes: dict[str, datetime]) -> str:
    pending, held, sent = (counts.get(k, 0) for k in ("pending", "held", "sent"))
    line = f"chat {chat}: {pending} pending, {held} held, {sent} sent"
    if state is not None and state.status == "disabled":
        line += (
            f"; DISABLED since {state.changed:%Y-%m-%d %H:%M UTC}: {state.reason}"
            if state.changed
            else "; DISABLED"
        )
    if state is not None and state.status == "moved":
        line += f"; moved to {state.moved_to} (update chat_id in the config)"
    for rule, until in sorted(mutes.items()):
        line += f"; {rule} muted until {until:%Y-%m-%d %H:%M UTC}"
    return line


def cmd_rules(ctx: Context, args: argparse.Namespace) -> int:
    return cmd_rules_check(ctx) if args.rules_command == "check" else cmd_rules_test(ctx, args)


def cmd_rules_check(ctx: Context) -> int:
    rules = load_rules(ctx.config().rule_paths)
    failures = check_examples(rules)
    for failure in failures:
        print(f"monitor: {failure}", file=sys.stderr)
    examples = sum(len(r.must_match) + len(r.must_not_match) for r in rules.rules)
    files = len({r.path for r in rules.rules})
    verdict = f"{len(failures)} failed" if failures else "all pass"
    print(f"{len(rules.rules)} rules in {files} files, {examples} examples: {verdict}")
    return 1 if failures else 0


def cmd_rules_test(ctx: Context, args: argparse.Namespace) -> int:
    config = ctx.config()
    since = _since(args.since)
    if since is None:
        return 2
    rules = load_rules(config.rule_paths)
    rule_id = args.target if rules.get(args.target) else AD_HOC
    if rule_id == AD_HOC:
        rules = rules.with_query(AD_HOC, args.target)
    archive = Archive.open(config.storage_path, create=False)
    try:
        report = trial(rules, rule_id, archive.articles_since(since), samples=args.samples)
    finally:
        archive.close()
    print(json.dumps(_trial_json(report, args.since)) if args.json else _trial_text(report, args, rules))
    return 0


AD_HOC = "query"  # the id an ad-hoc query gets in `monitor rules test`


def _since(value: str) -> datetime | None:
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(value, MAX_AGE))
    except ValueError as exc:
        print(f"monitor: error: --since: {exc}", file=sys.stderr)
        return None


def _trial_json(report: TrialReport, since: str) -> dict[str, object]:
    return {
        "rule": report.rule_id,
        "since": since,
        "articles": report.articles,
        "alerted": report.alerted,
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
    lines = [
        f"{name}: {report.alerted} of {report.articles} articles in the last {args.since} would have alerted"
    ]
    lines += [f"  {day.isoformat()}  {n}" for day, n in sorted(report.per_day.items())]
    if report.samples:
        lines.append("newest:")
    for article, match in report.samples:
        lines.append(f"  {article.published:%Y-%m-%d}  {article.outlet or '?'}  {article.title}")
        lines.append(f"      terms: {', '.join(match.terms)}")
        if args.explain and rules is not None:
            found = explain(rules, article.title, article.summary, only=[report.rule_id])
            lines += ["    " + line for line in format_explanation(found)[1:]]
    return "\n".join(lines)


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    from monitor.cli.demo import run_demo

    setup_logging("WARNING" if ctx.log_level == "INFO" else ctx.log_level)
    return run_demo(ctx.config_arg)


COMMANDS = {
    "run": cmd_run,
    "poll": cmd_poll,
    "match": cmd_match,
    "search": cmd_search,
    "status": cmd_status,
    "rules": cmd_rules,
    "demo": cmd_demo,
    "feeds": lambda ctx, args: manage.cmd_feeds(ctx.config(), args),
    "backup": lambda ctx, args: manage.cmd_backup(ctx.config(), args),
    "prune": lambda ctx, args: manage.cmd_prune(ctx.config, args),  # checks its arguments first
}
