"""The command line is built for the command that runs: the same answers as the whole parser."""

from __future__ import annotations

import argparse

import pytest

from monitor.cli.main import _GROUPS, COMMANDS, _named_command, build_parser

ARGV = [
    (["status"], "status"),
    (["--config", "x.toml", "feeds", "list"], "feeds"),
    (["--conf", "status", "search", "x"], "search"),  # an abbreviated --config takes its value too
    (["--config=status", "rules", "check"], "rules"),
    (["--log-level", "DEBUG", "search", "--json", "q"], "search"),
    (["--log-l", "INFO", "match", "-"], "match"),
    (["-h"], None),
    (["--version"], None),
    (["statsu"], None),  # a mistyped name: the whole parser, for argparse's list of choices
    ([], None),
]


@pytest.mark.parametrize(("argv", "named"), ARGV, ids=[" ".join(a) or "nothing" for a, _ in ARGV])
def test_the_command_named_is_found(argv: list[str], named: str | None) -> None:
    assert _named_command(argv) == named


def test_every_command_is_in_a_group_in_the_order_help_lists_them() -> None:
    listed = [name for names, _ in _GROUPS for name in names]
    assert sorted(listed) == sorted(COMMANDS) and len(listed) == len(set(listed))


def namespace(argv: list[str], parser: argparse.ArgumentParser) -> argparse.Namespace | str:
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return f"exit {exc.code}"


@pytest.mark.parametrize(
    "argv",
    [
        ["--conf", "status", "search", "--limit", "3", "rare earth"],
        ["feeds", "list", "--json", "--config", "c.toml"],
        ["rules", "test", "x", "--since", "7d", "--explain"],
        ["stories", "show", "12"],
        ["prune", "--older-than", "30d", "--dry-run"],
        ["search"],  # missing QUERY: an error either way
        ["status", "--nope"],
    ],
)
def test_the_parser_for_one_command_parses_as_the_whole_one(argv: list[str]) -> None:
    assert namespace(argv, build_parser(argv)) == namespace(argv, build_parser())


def test_help_lists_every_command_whichever_is_built() -> None:
    whole = build_parser().format_help()
    assert build_parser(["status"]).format_help() == whole
    assert all(f"    {name} " in whole for name in COMMANDS)
