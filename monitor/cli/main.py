"""The command line's wiring: argparse in, one command module run, one-line errors out.

This module parses arguments and nothing else; each command group lives in its own module
(COMMANDS below says which) and is imported only when its command runs, so `monitor status`
never loads the service's modules (python-telegram-bot, httpx, APScheduler...).

Exit codes: 0 done (a pass with failing feeds is still done), 1 nothing could
run (bad config, bad rules, unusable archive), 2 bad arguments.

Global options (--config, --log-level) are accepted before the command or after it.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, cast

from monitor import __version__
from monitor.cli.context import Context, UsageError
from monitor.errors import MonitorError

# command -> "module:function"; the module is imported when the command runs.
COMMANDS = {
    "run": "monitor.cli.service:cmd_run",
    "poll": "monitor.cli.service:cmd_poll",
    "demo": "monitor.cli.demo:cmd_demo",
    "search": "monitor.cli.archive:cmd_search",
    "status": "monitor.cli.archive:cmd_status",
    "backup": "monitor.cli.archive:cmd_backup",
    "prune": "monitor.cli.archive:cmd_prune",
    "match": "monitor.cli.rules:cmd_match",
    "rules": "monitor.cli.rules:cmd_rules",
    "feeds": "monitor.cli.feeds:cmd_feeds",
    "stories": "monitor.cli.stories:cmd_stories",
}

JSON_HELP = "JSON Lines: one JSON object per line"


@functools.cache  # one parent for all ~30 (sub)commands: argparse copies its actions
def _global_options(defaults: bool) -> argparse.ArgumentParser:
    """--config and --log-level: on `monitor` itself with their defaults, and on every command
    without (SUPPRESS), so that one given after the command wins and none given keeps the default."""
    parser = argparse.ArgumentParser(add_help=False, formatter_class=_formatter())
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=None if defaults else argparse.SUPPRESS,
        help="config file (default: $MONITOR_CONFIG or ./monitor.toml)",
    )
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default="INFO" if defaults else argparse.SUPPRESS,
    )
    return parser


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given the arguments, only the command they name is built with
    its own arguments (the others are listed, for --help and for a mistyped name)."""
    _translate_once()
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Watch news feeds, match rules, alert. New here? Try `monitor demo`.",
        parents=[_global_options(defaults=True)],
        formatter_class=_formatter(),
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = None if argv is None else _named_command(argv)
    for names, parsers in _GROUPS:
        parsers(sub if chosen is None or chosen in names else cast("SubParsers[Any]", _Unbuilt(sub)))
    return parser


SubParsers = argparse._SubParsersAction  # what add_subparsers returns


def _translate_once() -> None:
    """argparse translates each heading it makes ("options", "show this help message...")
    through gettext, which looks for its catalogue on disk every time: 3 ms of every command
    for some 40 of them. The same text translates the same way for the whole command."""
    if not isinstance(argparse._, functools._lru_cache_wrapper):  # type: ignore[attr-defined]
        argparse._ = functools.lru_cache(maxsize=256)(argparse._)  # type: ignore[attr-defined]


def _named_command(argv: Sequence[str]) -> str | None:
    """The command the arguments name, if it is sure: the first that is neither an option nor
    a global option's value (--config PATH, --log-level L, or an abbreviation of either)."""
    words = iter(argv)
    for word in words:
        if word.startswith("--") and "=" not in word and len(word) > 2:
            if "--config".startswith(word) or "--log-level".startswith(word):
                next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


class _Unbuilt:
    """A command group that will not run: its commands listed with their help, their own
    arguments not made (argparse's add_argument is most of a parser's cost)."""

    def __init__(self, sub: SubParsers[Any] | None = None) -> None:
        self._sub = sub

    def add_parser(self, name: str, help: str = "", **_: object) -> _Unbuilt:
        if self._sub is not None:
            self._sub.add_parser(name, help=help, formatter_class=_formatter())
        return _Unbuilt()

    def __getattr__(self, name: str) -> Callable[..., _Unbuilt]:
        return lambda *_, **__: _Unbuilt()  # add_argument, add_subparsers: nothing to make


def command(parent: SubParsers[argparse.ArgumentParser], name: str, help: str) -> argparse.ArgumentParser:
    """A command (or an action of one) that takes the global options too."""
    return parent.add_parser(
        name,
        help=help,
        description=help,
        parents=[_global_options(defaults=False)],
        formatter_class=_formatter(),
    )


@functools.cache
def _formatter() -> Callable[..., argparse.HelpFormatter]:
    """argparse's HelpFormatter at the terminal's width, asked once: argparse makes a formatter
    for each argument it is given, and each asked the terminal's size (6 ms of every command)."""
    return functools.partial(argparse.HelpFormatter, width=_columns() - 2)


def _columns() -> int:
    """shutil.get_terminal_size().columns, without importing shutil (with bz2 and lzma, 2 ms)."""
    try:
        columns = int(os.environ.get("COLUMNS", 0))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _service_parsers(sub: SubParsers[argparse.ArgumentParser]) -> None:
    command(sub, "run", "the service: poll on schedule and deliver alerts until stopped")
    command(sub, "poll", "one pass over every feed, deliver pending alerts, exit")
    command(sub, "demo", "offline demo: serve feeds built from the seed articles and poll them once")


def _archive_parsers(sub: SubParsers[argparse.ArgumentParser]) -> None:
    search = command(sub, "search", "full-text search of the archive, newest first")
    search.add_argument("--json", action="store_true", help=f"{JSON_HELP}, one per article")
    search.add_argument("--since", metavar="DURATION", help="only articles published within, e.g. 7d")
    search.add_argument("--rule", metavar="ID", help="only articles this rule matched")
    search.add_argument("--limit", type=int, default=20, help="at most this many results (default 20)")
    search.add_argument("--stories", action="store_true", help="one line per story, with its outlets")
    search.add_argument("query", metavar="QUERY")
    status = command(sub, "status", "each feed's last check, last error, articles; pending alerts")
    status.add_argument("--json", action="store_true", help=f"{JSON_HELP}: the whole status as one line")
    backup = command(sub, "backup", "a consistent copy of the archive, safe while monitor runs")
    backup.add_argument("target", metavar="PATH")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    prune = command(sub, "prune", "delete old unmatched articles from the archive")
    prune.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 180d")
    prune.add_argument("--include-matched", action="store_true", help="delete matched articles too")
    prune.add_argument("--dry-run", action="store_true", help="show what would be deleted, delete nothing")


def _rules_parsers(sub: SubParsers[argparse.ArgumentParser]) -> None:
    match = command(sub, "match", "run the rules over text files (first line: title); - reads stdin")
    match.add_argument("--json", action="store_true", help=f"{JSON_HELP}, one per file")
    match.add_argument("--explain", action="store_true", help="per rule, which clauses held on which terms")
    match.add_argument("files", nargs="+", metavar="FILE")
    rules = command(sub, "rules", "check the rule files, or try a rule on the archive")
    actions = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    command(actions, "check", "load every rule file and run every rule's examples")
    trial = command(actions, "test", "what a rule or a query would have alerted in the archive")
    trial.add_argument("target", metavar="ID|QUERY", help="a rule id, or a query in the rule language")
    trial.add_argument("--since", default="30d", metavar="DURATION", help="look back this far (default 30d)")
    trial.add_argument("--samples", type=int, default=10, help="titles to show (default 10)")
    trial.add_argument("--json", action="store_true", help=f"{JSON_HELP}: the report as one line")
    trial.add_argument("--explain", action="store_true", help="per sample, which clauses held on which terms")


def _stories_parsers(sub: SubParsers[argparse.ArgumentParser]) -> None:
    stories = command(sub, "stories", "explain a story, or take a report out of it")
    actions = stories.add_subparsers(dest="stories_command", required=True, metavar="ACTION")
    show = command(actions, "show", "a story's reports: when each joined and why")
    show.add_argument("id", type=int, metavar="ID", help="story id (articles.story_id, /story ID)")
    split = command(actions, "split", "take a report out into a story of its own, and alert it")
    split.add_argument("article", type=int, metavar="ARTICLE_ID", help="the report's article id")


def _feeds_parsers(sub: SubParsers[argparse.ArgumentParser]) -> None:
    feeds = command(sub, "feeds", "list, import, export, resume or remove feeds")
    actions = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    listing = command(actions, "list", "every feed with its folder, state and schedule")
    listing.add_argument("--json", action="store_true", help=f"{JSON_HELP}, one per feed")
    imports = command(actions, "import", "watch the feeds of an OPML file too (folders kept)")
    imports.add_argument("file", metavar="FILE.opml")
    exports = command(actions, "export", "every watched feed as OPML 2.0, in its folder")
    exports.add_argument("--output", "-o", metavar="FILE", help="write here instead of to stdout")
    exports.add_argument("--force", action="store_true", help="replace FILE if it exists")
    resume = command(actions, "resume", "check a suspended feed again, now")
    resume.add_argument("url", metavar="URL")
    add = command(actions, "add", "watch one more feed, checked at once")
    add.add_argument("url", metavar="URL")
    add.add_argument("--name", help="display name (the feed's own title otherwise)")
    add.add_argument("--interval", metavar="DURATION", help="e.g. 5m ([schedule] interval otherwise)")
    remove = command(
        actions, "remove", "stop checking a feed (its articles stay); a configured one leaves the config file"
    )
    remove.add_argument("url", metavar="URL")


_GROUPS = (  # the commands each function adds, in the order --help lists them
    (("run", "poll", "demo"), _service_parsers),
    (("search", "status", "backup", "prune"), _archive_parsers),
    (("match", "rules"), _rules_parsers),
    (("feeds",), _feeds_parsers),
    (("stories",), _stories_parsers),
)


def main(argv: Sequence[str] | None = None) -> int:
    # As service.workers.tune_gc, for every command: its start allocates some 100,000 objects
    # (the rules' terms, 2,000 feeds' records) that live until it ends, and the collector,
    # run every 700 allocations, re-scanned them (6% of `rules check`). `run` and `poll` tune it
    # again, with their frozen start-up.
    gc.set_threshold(20_000, 20, 20)
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    ctx = Context(args.config, args.log_level)
    try:
        return _command(args.command)(ctx, args)
    except UsageError as exc:
        print(f"monitor: error: {exc}", file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(f"monitor: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


def _command(name: str) -> Callable[[Context, argparse.Namespace], int]:
    module, function = COMMANDS[name].split(":")
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def _reader_gone() -> int:
    """stdout's reader left (`monitor status | head -1`): no traceback, and none at exit either
    when Python flushes stdout again (the Python docs' recipe: point stdout at /dev/null)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, as a command killed by the signal would report
