"""``insi-gateway apps ...`` and ``insi-gateway audit ...``: the registry and the journal,
on the same database the server uses (``DATABASE_URL``, ``GATEWAY_AUDIT_KEY``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from gateway.config import ConfigReader
from gateway.models import CertificateMode
from gateway.protocol.vihf import DEFAULT_ACTIVITY_SECTOR
from gateway.settings import StorageSettings
from gateway.storage.apps import OPERATIONS, App, AppRegistry
from gateway.storage.audit import AuditJournal
from gateway.storage.database import Database
from gateway.vigilance.store import EventStore


def _storage(args: argparse.Namespace) -> tuple[Database, AuditJournal]:
    from gateway.server.app import open_storage

    config: ConfigReader = args.config  # the process's one reader (cli/main.py)
    return open_storage(StorageSettings.from_config(config))


def _app_json(app: App) -> dict[str, Any]:
    return {
        "name": app.name,
        "operations": sorted(app.operations),
        "rate_per_second": app.rate_per_second,
        "burst": app.burst,
        "max_concurrent": app.max_concurrent,
        "cert_mode": app.cert_mode.value,
        "activity_sector": app.activity_sector or DEFAULT_ACTIVITY_SECTOR,
        "modes": sorted(app.modes),
        "revoked": app.revoked,
        "created_at": app.created_at.isoformat(),
    }


def _apps(args: argparse.Namespace) -> int:
    registry = AppRegistry(_storage(args)[0])
    if args.apps_command == "add":
        app, key = registry.add(
            args.name,
            operations=frozenset(args.operations.split(",")),
            rate_per_second=args.rate,
            burst=args.burst,
            max_concurrent=args.max_concurrent,
            cert_mode=CertificateMode(args.cert_mode),
            activity_sector=args.activity_sector,
            modes=frozenset(args.modes.split(",")),
        )
        print(json.dumps({**_app_json(app), "api_key": key}, indent=2))
        print("The API key is shown once: store it in the application's secrets.", file=sys.stderr)
    elif args.apps_command == "list":
        print(json.dumps([_app_json(app) for app in registry.list()], indent=2))
    elif args.apps_command == "revoke":
        print(json.dumps(_app_json(registry.revoke(args.name)), indent=2))
    else:
        print(json.dumps({"name": args.name, "api_key": registry.rotate_key(args.name)}, indent=2))
    return 0


def new_audit_key() -> str:
    """A fresh ``GATEWAY_AUDIT_KEY``: 256 random bits, URL-safe (no quoting in an env file)."""
    import secrets

    return secrets.token_urlsafe(32)


def _audit(args: argparse.Namespace) -> int:
    if args.audit_command == "new-key":  # before the storage: no setting is needed yet
        print(new_audit_key())
        return 0
    database, journal = _storage(args)
    if args.audit_command == "head":
        seq, head_hash = journal.head()
        print(json.dumps({"seq": seq, "hash": head_hash}))
        return 0
    if args.audit_command == "purge":
        record = journal.purge(args.before)
        purged = None if record is None else {"purged": record.count, "through_seq": record.ref_seq}
        events = EventStore(database).purge(args.before)  # same retention as the journal
        print(json.dumps({**(purged or {"purged": 0}), "vigilance_events_purged": events}))
        return 0
    if args.audit_command == "verify":
        report = journal.verify(expect=args.expect)
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "checked": report.checked,
                    "first_broken_seq": report.first_broken_seq,
                    "reason": report.reason,
                }
            )
        )
        return 0 if report.ok else 1
    if args.audit_command == "search":
        records = journal.search(
            matricule=args.matricule,
            app=args.app,
            user_id=args.user,
            since=args.since,
            until=args.until,
            limit=args.limit,
        )
        for record in records:
            print(json.dumps(_record_json(record)))
        return 0
    output = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        count = journal.export(output, since=args.since, until=args.until, fmt=args.format)
    finally:
        if output is not sys.stdout:
            output.close()
    print(f"{count} records exported", file=sys.stderr)
    return 0


def _record_json(record: Any) -> dict[str, Any]:
    data = {name: getattr(record, name) for name in record.__slots__}
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def _moment(text: str) -> datetime:
    """ISO 8601 with a timezone (``2026-11-23T00:00:00+01:00`` or ``...Z``)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a timezone, e.g. 2026-11-23T00:00:00Z")
    return moment


def _cutoff(text: str) -> datetime:
    """A day (``2026-11-01``: its start, UTC) or a moment with a timezone."""
    if len(text) == 10:
        try:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError:
            raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from None
    return _moment(text)


def _anchor(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as printed by ``audit head`` (or logged as ``audit head``)."""
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise argparse.ArgumentTypeError("expected SEQ:HASH, e.g. 42:<64 hex digits>")
    return int(seq), digest


def add_commands(commands: Any) -> None:
    """Register ``apps`` and ``audit`` on the CLI's subparsers."""
    _add_apps_commands(commands)
    _add_audit_commands(commands)


def _add_apps_commands(commands: Any) -> None:
    apps = commands.add_parser("apps", help="the registry of calling applications")
    apps_sub = apps.add_subparsers(dest="apps_command", required=True)
    add = apps_sub.add_parser("add", help="register an application and print its API key once")
    add.add_argument("name", help="the application's name (journal, metrics, logs)")
    add.add_argument(
        "--operations",
        default="search,search_vitale,verify",
        help=f"comma-separated, among: {', '.join(sorted(OPERATIONS))}",
    )
    add.add_argument("--rate", type=float, default=5.0, help="requests per second")
    add.add_argument("--burst", type=int, default=10, help="requests at once above the rate")
    add.add_argument("--max-concurrent", type=int, default=4, help="requests in flight")
    add.add_argument(
        "--cert-mode",
        help="the establishment certificate of its calls",
        default=CertificateMode.MANU.value,
        choices=[mode.value for mode in CertificateMode],
    )
    add.add_argument(
        "--activity-sector",
        default=None,
        help="TRE_R02 SecteurActivite code sent as the VIHF secteurActivite "
        f"(default {DEFAULT_ACTIVITY_SECTOR}, public hospital); see docs/vihf.md",
    )
    add.add_argument(
        "--modes",
        default="certificate",
        help="comma-separated: certificate (the establishment certificate signs), "
        "cpx (the application relays its users' card-signed assertions), or both",
    )
    apps_sub.add_parser("list", help="every application (never their keys)")
    for verb, text in (
        ("revoke", "revoke an application for good"),
        ("rotate-key", "give an application a new key (the old one stops)"),
    ):
        apps_sub.add_parser(verb, help=text).add_argument("name")
    apps.set_defaults(run=_apps)


def _add_audit_commands(commands: Any) -> None:
    audit = commands.add_parser("audit", help="the tamper-evident audit journal")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="walk the hash chain; exit 1 at the first broken record"
    )
    verify.add_argument(
        "--expect",
        type=_anchor,
        help="SEQ:HASH of an anchor kept outside the database: fail unless the journal holds it",
    )
    audit_sub.add_parser("head", help="the last seq and hash (the anchor to keep)")
    audit_sub.add_parser(
        "new-key",
        help="print a new random GATEWAY_AUDIT_KEY (once per deployment; keep it with the backups)",
    )
    purge = audit_sub.add_parser(
        "purge", help="delete the records older than --before (export them first)"
    )
    purge.add_argument("--before", type=_cutoff, required=True, help="YYYY-MM-DD (UTC) or ISO 8601")
    search = audit_sub.add_parser("search", help="records by matricule (hashed), app, user, time")
    search.add_argument("--matricule", help="the matricule (hashed with GATEWAY_AUDIT_KEY)")
    search.add_argument("--app", help="the calling application's name")
    search.add_argument("--user", help="the X-User-Id the application gave")
    search.add_argument("--limit", type=int, default=1000, help="records at most")
    export = audit_sub.add_parser("export", help="records of a time range as CSV or JSON lines")
    export.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
    export.add_argument("--output", help="file to write (default: stdout)")
    for parser in (search, export):
        parser.add_argument("--since", type=_moment, help="ISO 8601 with a timezone")
        parser.add_argument("--until", type=_moment, help="ISO 8601 with a timezone")
    audit.set_defaults(run=_audit)
