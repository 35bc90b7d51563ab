"""``insi-gateway``: the one console command of the gateway, its mock and their tools.

Every subcommand is registered on :func:`_parser` (some by their own module:
``admin.py``, ``pki/cards_cli.py``); each shows its defaults in ``--help``
(:class:`HelpParser`) and says where its settings come from.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gateway import docs_reference, logs
from gateway.cli.admin import add_commands
from gateway.cli.cards import add_card_commands
from gateway.cli.reviewers import add_reviewer_commands
from gateway.config import ConfigReader, config_file_path
from gateway.exceptions import ConfigurationError, GatewayError
from gateway.render.problems import problem_document
from gateway.server import gunicorn_config


def _serve(args: argparse.Namespace) -> int:
    from gateway.server import serving

    config: ConfigReader = args.config
    # Before prometheus_client is imported; its copy in each worker reads the environment.
    metrics_dir = serving.metrics_directory(os.environ, config.text("PROMETHEUS_MULTIPROC_DIR"))
    from gateway.interfaces import ops
    from gateway.pki.credentials import load_ca_bundle
    from gateway.server import safety
    from gateway.server.app import create_app, load_credentials, open_storage
    from gateway.server.reloading import ReloadableSettings, read_settings

    # Read before forking: bad values stop the master, the workers get these settings; SIGHUP
    # reads the file again for the new workers (a renewed certificate's new passphrase).
    source = ReloadableSettings(
        functools.partial(read_settings, args.environment, config.source, metrics_dir)
    )
    settings = source.current()
    logs.configure(settings.log_level)
    for warning in safety.shared_state_warnings(settings, workers=args.workers):
        logs.event(logging.getLogger("gateway.startup"), warning, level=logging.WARNING)
    safety.check_timeouts(settings, worker_timeout=args.timeout)
    safety.check_certificates(
        load_credentials(settings), load_ca_bundle(settings.cert_ca, setting="INSI_CERT_CA")
    )
    database, _ = open_storage(settings.storage)  # migrate before the workers start
    database.close()  # no connection of the master's may be inherited by a worker
    ops_port = ops.ops_port(args.ops_bind) if args.ops_bind else None
    if args.ops_bind == args.bind:
        raise ConfigurationError("--ops-bind", "must differ from --bind")
    serving.run(
        lambda: create_app(ops_port=ops_port, settings=source.current()),
        gunicorn_config.options(
            bind=[args.bind, args.ops_bind] if args.ops_bind else args.bind,
            workers=args.workers,
            threads=args.threads,
            timeout=args.timeout,
            certfile=args.certfile,
            keyfile=args.keyfile,
            drain_seconds=settings.drain_seconds,
            pidfile=args.pid_file,
        )
        | {"child_exit": serving.forget_worker(metrics_dir), "on_reload": source.reload},
    )
    return 0


def _config_check(args: argparse.Namespace) -> int:
    """The effective configuration, secrets masked; exit 2 on the first problem.

    It builds what a worker builds (:func:`gateway.server.app.build_runtime`:
    credentials, WSDL, signers, storage), so it fails wherever ``serve`` would.
    """
    from gateway.server import safety
    from gateway.server.app import build_runtime
    from gateway.settings import Settings, effective

    config: ConfigReader = args.config
    settings = Settings.from_config(config)
    print(json.dumps(effective(settings), indent=2))
    source = config.source or "none (environment only)"
    print(f"configuration file: {source}", file=sys.stderr)
    safety.check_timeouts(settings, worker_timeout=args.timeout)
    runtime = build_runtime(settings)
    runtime.database.check_writable()
    if settings.shared.redis_url is not None:
        check_redis(settings.shared.redis_url.reveal())
    for warning in safety.shared_state_warnings(settings, workers=args.workers):
        print(f"warning: {warning}", file=sys.stderr)
    print("configuration OK", file=sys.stderr)
    return 0


def check_redis(url: str) -> None:
    """``REDIS_URL`` answers (the quotas fail closed without it)."""
    import redis

    from gateway.admission.shared_quotas import connect

    try:
        connect(url).ping()
    except redis.RedisError as error:
        reason = f"Redis does not answer ({type(error).__name__}): every call would get a 503"
        raise ConfigurationError("REDIS_URL", reason) from None


def _check_cert(args: argparse.Namespace) -> int:
    from gateway.pki.credentials import credential_from_bytes, load_ca_bundle
    from gateway.pki.inspection import inspect

    config: ConfigReader = args.config
    passphrase = None
    if args.passphrase_env:
        passphrase = config.get(args.passphrase_env)
        if passphrase is None:
            raise ConfigurationError("--passphrase-env", f"{args.passphrase_env} is not set")
    # A PEM certificate and its key in another file are read as one PEM (cert, chain, key).
    data = b"".join(_read_file(Path(p), p) for p in (args.path, args.key) if p)
    credential = credential_from_bytes(data, passphrase, setting=args.path)
    ca = args.ca or config.get("INSI_CERT_CA") or config.get("INSI_UPSTREAM_CA")
    if not ca:
        raise ConfigurationError("--ca", "give the CA bundle (or set INSI_CERT_CA)")
    report = inspect(credential, trusted=load_ca_bundle(Path(ca), setting="--ca"))
    print("\n".join(report.lines()))
    return 0 if report.usable else 1


def _read_file(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigurationError(setting, f"cannot read {path}: {error.strerror}") from None


def _mock(args: argparse.Namespace) -> int:
    from gateway.mock.server import serve_mock

    pki_dir = Path(args.pki)
    config: ConfigReader = args.config
    serve_mock(config, bind=args.bind, pki_dir=pki_dir, workers=args.workers, threads=args.threads)
    return 0


def _dev_pki(args: argparse.Namespace) -> int:
    from gateway.pki.devcards import generate_dev_cards
    from gateway.pki.devpki import generate_dev_pki

    pki = generate_dev_pki(Path(args.directory))
    generate_dev_cards(pki.directory)  # the test CPS cards of CPx mode
    files = {k: v for k, v in asdict(pki).items() if k != "passphrase"}
    print(json.dumps(files, indent=2, default=str))
    return 0


def _search(args: argparse.Namespace) -> int:
    from gateway.ids import new_message_id
    from gateway.ins.queries import search_query
    from gateway.logs import configure
    from gateway.models import CallContext
    from gateway.render.answers import search_answer_json
    from gateway.server.app import build_runtime
    from gateway.settings import Settings

    request_id = str(uuid.uuid4())
    try:
        settings = Settings.from_config(args.config)
        configure(settings.log_level)
        query = search_query(
            {
                "birth_name": args.birth_name,
                "first_names": args.first_names,
                "sex": args.sex,
                "birth_date": args.birth_date,
                "birth_place": args.birth_place,
            }
        )
        context = CallContext(
            request_id=request_id, message_id=new_message_id(), user_id=args.user, app="cli"
        )
        answer = build_runtime(settings).service.search_by_traits(query, context)
    except GatewayError as error:
        print(json.dumps(problem_document(error, request_id=request_id), indent=2), file=sys.stderr)
        return 2 if isinstance(error, ConfigurationError) else 1
    print(json.dumps(search_answer_json(answer), indent=2, ensure_ascii=False))
    return 0


def _jobs_submit(args: argparse.Namespace) -> int:
    from gateway.jobs.client import submit

    config: ConfigReader = args.config
    key = config.secret("GATEWAY_APP_KEY")
    if key is None:
        raise ConfigurationError("GATEWAY_APP_KEY", "set it to the application's API key")
    ca_bundle = Path(args.ca_bundle) if args.ca_bundle else None
    output = Path(args.output)
    return submit(
        Path(args.file), base_url=args.url, api_key=key.reveal(), ca_bundle=ca_bundle, output=output
    )


NO_CONFIG_HINT = (
    "insi-gateway: no configuration file was read: set the variable in the environment, or"
    " in a file of NAME=value lines named by GATEWAY_CONFIG_FILE (default: var/gateway.env"
    f" of the working directory); every setting: {docs_reference('configuration.md')}"
)
SETTINGS_EPILOG = (
    "Settings come from the environment, then from the file of NAME=value lines named by"
    " GATEWAY_CONFIG_FILE (default: var/gateway.env of the working directory, when it"
    f" exists). Every setting: {docs_reference('configuration.md')}"
)
DESCRIPTION = (
    "insi-gateway: the gateway between hospital applications and the INSi teleservice,"
    " its mock and their tools. 'insi-gateway COMMAND --help' shows a command's options"
    " and their defaults."
)


class HelpParser(argparse.ArgumentParser):
    """Every (sub)command's help shows the defaults and where settings come from.

    ``add_subparsers`` builds its subparsers with the parent's class, so a
    subcommand added later, by any module, gets the same help.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsShown)
        kwargs.setdefault("epilog", SETTINGS_EPILOG)
        super().__init__(*args, **kwargs)


class DefaultsShown(argparse.HelpFormatter):
    """``(default: X)`` after every option that has one, help text or not."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS)
        if shown and "%(default)" not in text and action.option_strings:
            text = f"{text} (default: %(default)s)".strip()
        return text

    def _format_action(self, action: argparse.Action) -> str:
        shown = action.default not in (None, False, argparse.SUPPRESS)
        if action.option_strings and shown and not (action.help or "").strip():
            action.help = "(default: %(default)s)"  # argparse expands only a help text
        return super()._format_action(action)


def _parser() -> argparse.ArgumentParser:
    parser = HelpParser(prog="insi-gateway", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_server_commands(commands)
    _add_tool_commands(commands)
    _add_job_commands(commands)
    add_commands(commands)
    add_card_commands(commands)
    add_reviewer_commands(commands)
    return parser


def _add_server_commands(commands: Any) -> None:
    """``serve`` and ``mock``: the two servers."""
    serve = commands.add_parser("serve", help="run the gateway under gunicorn")
    serve.add_argument("--bind", default="127.0.0.1:8080", help="the API's HOST:PORT")
    serve.add_argument(
        "--ops-bind",
        metavar="HOST:PORT",
        help="serve /metrics and /readyz only here, not on --bind",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=gunicorn_config.default_workers(),
        help="worker processes (one per core)",
    )
    serve.add_argument(
        "--threads", type=int, default=gunicorn_config.DEFAULT_THREADS, help="threads per worker"
    )
    serve.add_argument("--timeout", type=int, default=60, help="gunicorn worker timeout (s)")
    serve.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--keyfile", help="private key of --certfile (PEM)")
    serve.add_argument(
        "--pid-file", metavar="FILE", help="write the arbiter's pid there (kill -HUP: reload)"
    )
    serve.set_defaults(run=_serve)

    mock = commands.add_parser("mock", help="run the mock INSi teleservice (HTTPS, mutual TLS)")
    mock.add_argument("--bind", default="127.0.0.1:8443", help="HOST:PORT (HTTPS)")
    mock.add_argument("--pki", required=True, help="dev PKI directory (see dev-pki)")
    mock.add_argument("--workers", type=int, default=1, help="gunicorn worker processes")
    mock.add_argument("--threads", type=int, default=8, help="threads per worker")
    mock.set_defaults(run=_mock)


def _add_tool_commands(commands: Any) -> None:
    """``config check``, ``check-cert``, ``dev-pki`` and one in-process ``search``."""
    config = commands.add_parser("config", help="the effective configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_check = config_sub.add_parser(
        "check", help="print it (secrets masked), exit non-zero on any problem"
    )
    config_check.add_argument("--timeout", type=int, default=60, help="the serve --timeout")
    config_check.add_argument(
        "--workers", type=int, default=gunicorn_config.default_workers(), help="the serve --workers"
    )
    config_check.set_defaults(run=_config_check)

    check = commands.add_parser(
        "check-cert", help="is this PKCS#12/PEM fit for INSi? (exit 0 if so)"
    )
    check.add_argument("path", help="PKCS#12, or PEM (certificate and chain, with or without key)")
    check.add_argument("--key", help="the PEM private key, when it is not in PATH")
    check.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help="name of the variable holding the passphrase (never the passphrase itself)",
    )
    check.add_argument("--ca", help="CA bundle (default: INSI_CERT_CA, then INSI_UPSTREAM_CA)")
    check.set_defaults(run=_check_cert)

    pki = commands.add_parser("dev-pki", help="generate the development PKI (idempotent)")
    pki.add_argument("directory", help="where to write it (created if needed)")
    pki.set_defaults(run=_dev_pki)

    search = commands.add_parser("search", help="one search by identity traits, printed as JSON")
    search.add_argument("--birth-name", required=True, help="nom de naissance")
    search.add_argument("--first-names", nargs="+", required=True, help="prénoms, in order")
    search.add_argument("--sex", required=True, choices=["F", "M"], help="F or M")
    search.add_argument("--birth-date", required=True, help="YYYY-MM-DD (lunar dates allowed)")
    search.add_argument("--birth-place", help="INSEE COG code")
    search.add_argument("--user", help="the person on whose behalf (VIHF subject, journal)")
    search.set_defaults(run=_search)


def _add_job_commands(commands: Any) -> None:
    """``jobs submit``: the client of ``/v1/jobs``."""
    jobs = commands.add_parser("jobs", help="batch verification jobs (client of /v1/jobs)")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    submit = jobs_sub.add_parser(
        "submit",
        help="submit a CSV or JSON-lines file, follow it, write its results",
        description="Submit a CSV or JSON-lines file as a batch job, follow it, write its"
        " results (mode 0600). The application's key is read from GATEWAY_APP_KEY (the"
        " environment or the configuration file), never from the command line.",
    )
    submit.add_argument("file", help="patients to verify (.csv or .jsonl)")
    submit.add_argument("--output", required=True, help="results file (.csv or .jsonl)")
    submit.add_argument("--url", default="http://127.0.0.1:8080", help="the gateway's base URL")
    submit.add_argument("--ca-bundle", help="CA bundle verifying an HTTPS gateway")
    submit.set_defaults(run=_jobs_submit)


def _configuration(env: Mapping[str, str], path: str) -> ConfigReader:
    """The one reader of this process: the environment over the configuration file.

    The file is ``GATEWAY_CONFIG_FILE``, else ``var/gateway.env`` of the working
    directory (what ``scripts/demo`` writes): so a fresh shell needs no export.
    The environment wins over the file; nothing is written into ``os.environ``.
    """
    config = ConfigReader.layered(env, path)  # an unreadable file is a configuration error
    if path and Path(path).stat().st_mode & 0o077:
        print(f"insi-gateway: warning: {path} is readable by others (chmod 600)", file=sys.stderr)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand with the process's one reader of configuration (``args.config``),
    built here from ``os.environ`` and the file; exit 2 on a configuration problem."""
    args = _parser().parse_args(argv)
    path = config_file_path(os.environ, Path.cwd())
    path = str(Path(path).resolve()) if path else ""
    try:
        args.config = _configuration(os.environ, path)  # what every subcommand reads
        args.environment = dict(os.environ)  # serve reads the file again over it on SIGHUP
        code: int = args.run(args)
    except ConfigurationError as error:
        print(f"insi-gateway: configuration error: {error.message}", file=sys.stderr)
        if not path:
            print(NO_CONFIG_HINT, file=sys.stderr)
        return 2
    except GatewayError as error:  # e.g. an unknown app name, a bad --rate
        print(f"insi-gateway: {error.message}", file=sys.stderr)
        return 1
    return code
