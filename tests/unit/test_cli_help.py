"""Every subcommand's ``--help`` against the docs, whatever module registered it.

The walk goes over argparse's own subparsers, so a subcommand added later
(``reviewers``, say) is checked as soon as it exists: its help must show its
defaults and where settings come from (``GATEWAY_CONFIG_FILE``), the README's
command table must name it, and each of its options must be documented
somewhere in README.md or docs/.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from gateway.cli.main import _parser
from tests.paths import ROOT

README = (ROOT / "README.md").read_text()
DOCS = README + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
COMMANDS_TABLE = README[README.index("## Commands") : README.index("## Local JSON interface")]


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for name, child in subparsers[0].choices.items():
        yield from _leaves(child, (*path, name))


LEAVES = dict(_leaves(_parser()))
IDS = [" ".join(path) for path in LEAVES]


def test_the_walk_finds_every_command() -> None:
    assert {"serve", "mock", "jobs submit", "apps add", "audit new-key", "config check"} <= set(
        IDS
    )
    assert len(IDS) >= 18


def test_top_level_help_lists_every_command_and_enumerates_none_by_hand() -> None:
    text = _parser().format_help()
    for name in {path[0] for path in LEAVES}:
        assert re.search(rf"^\s+{re.escape(name)}\b", text, re.MULTILINE), name
    assert "(serve, mock" not in text  # the stale hand-made list of four


@pytest.mark.parametrize("command", IDS)
def test_help_shows_defaults_and_where_settings_come_from(command: str) -> None:
    parser = LEAVES[tuple(command.split())]
    text = " ".join(parser.format_help().split())
    assert "GATEWAY_CONFIG_FILE" in text
    assert "scripts/demo" not in text  # a wheel's user has no scripts/
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            assert f"(default: {action.default})" in text, (command, action.option_strings)


@pytest.mark.parametrize("command", IDS)
def test_each_command_and_option_is_documented(command: str) -> None:
    table = " ".join(COMMANDS_TABLE.split())
    assert re.search(rf"[`/] ?(insi-gateway )?{re.escape(command)}\b", table), (
        f"README's command table does not name `{command}`"
    )
    parser = LEAVES[tuple(command.split())]
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert option in DOCS, f"{command} {option} is in no page of README.md or docs/"


def test_jobs_submit_help_names_the_key_variable() -> None:
    text = " ".join(LEAVES[("jobs", "submit")].format_help().split())
    assert "GATEWAY_APP_KEY" in text
    assert "0600" in text
