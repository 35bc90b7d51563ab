"""``insi-gateway reviewers ...``: the people who may open the identity-vigilance page.

Like ``apps add`` prints a key once, ``reviewers add`` prints a generated password
once (or reads one from standard input with ``--password-stdin``, never from the
command line, where ``ps`` and the shell history would show it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gateway.config import ConfigReader
from gateway.exceptions import InvalidInput
from gateway.settings import StorageSettings
from gateway.vigilance.reviewers import ReviewerRegistry


def _registry(args: argparse.Namespace) -> ReviewerRegistry:
    from gateway.server.app import open_storage

    config: ConfigReader = args.config  # the process's one reader (cli/main.py)
    return ReviewerRegistry(open_storage(StorageSettings.from_config(config))[0])


def _stdin_password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidInput("--password-stdin", "no password on standard input")
    return password


def _reviewers(args: argparse.Namespace) -> int:
    registry = _registry(args)
    command = args.reviewers_command
    if command == "add":
        reviewer, password = registry.add(args.name, _stdin_password(args))
        shown = {"name": reviewer.name, "created_at": reviewer.created_at.isoformat()}
        if not args.password_stdin:
            shown["password"] = password
            print("The password is shown once: hand it to the reviewer.", file=sys.stderr)
        print(json.dumps(shown, indent=2))
    elif command == "list":
        listed = [
            {"name": r.name, "created_at": r.created_at.isoformat(), "revoked": r.revoked}
            for r in registry.list()
        ]
        print(json.dumps(listed, indent=2))
    elif command == "revoke":
        registry.revoke(args.name)
        print(json.dumps({"name": args.name, "revoked": True}))
    else:
        password = registry.reset_password(args.name, _stdin_password(args))
        shown = (
            {"name": args.name}
            if args.password_stdin
            else {"name": args.name, "password": password}
        )
        print(json.dumps(shown, indent=2))
    return 0


def add_reviewer_commands(commands: Any) -> None:
    """Register ``reviewers`` on the CLI's subparsers."""
    reviewers = commands.add_parser(
        "reviewers", help="people of the identity-vigilance cell (see docs/vigilance.md)"
    )
    sub = reviewers.add_subparsers(dest="reviewers_command", required=True)
    add = sub.add_parser("add", help="add a reviewer and print a generated password once")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub.add_parser("list", help="reviewers, revoked ones included")
    revoke = sub.add_parser("revoke", help="no more logins; open sessions end")
    revoke.add_argument("name")
    reset = sub.add_parser("reset-password", help="a new password; open sessions end")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    reviewers.set_defaults(run=_reviewers)
