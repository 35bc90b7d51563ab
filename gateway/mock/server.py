"""Serving the mock teleservice under real gunicorn, HTTPS with mutual TLS, like the real one.

The client certificate is required at the TLS layer and must chain to the
dev CA bundle; a client without one (or from another CA) never reaches the
app. The ``MOCK_*`` settings are read once, by the master before it forks,
from the reader its entry point hands in (a test starts the server with the
variables it wants); the app itself is built inside each worker from them.

``insi-gateway mock --bind HOST:PORT --pki DIR`` calls :func:`serve_mock`;
``python -m gateway.mock.server`` does the same without the gateway's CLI.
"""

from __future__ import annotations

import argparse
import functools
import os
import ssl
from collections.abc import Sequence
from pathlib import Path

from gateway.config import ConfigReader
from gateway.exceptions import ConfigurationError
from gateway.logs import configure
from gateway.mock.app import MockApp, create_mock_app
from gateway.mock.settings import CA_BUNDLE_NAME, AuthMode, MockSettings
from gateway.server.serving import run

SERVER_CERT_NAME = "mock-server.pem"
SERVER_KEY_NAME = "mock-server.key"


def build_app(settings: MockSettings) -> MockApp:
    """gunicorn app factory: build the app in the worker, after the fork, from the settings
    the master read (no request log or random state is shared across the fork).

    The mock's own events (each fault it answers) go to stdout as JSON lines.
    """
    configure("INFO")
    return create_mock_app(settings)


def tls_options(pki_dir: Path, *, client_certificate: bool = True) -> dict[str, object]:
    """gunicorn TLS settings: server cert+chain, clear key, client cert required from the dev CA.

    ``client_certificate=False`` is the CPx endpoint: server-authenticated TLS only,
    the caller is authenticated by the card-signed assertion.
    """
    paths = {name: pki_dir / name for name in (SERVER_CERT_NAME, SERVER_KEY_NAME, CA_BUNDLE_NAME)}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise ConfigurationError("pki_dir", f"missing in {pki_dir}: {', '.join(missing)}")
    return {
        "certfile": str(paths[SERVER_CERT_NAME]),
        "keyfile": str(paths[SERVER_KEY_NAME]),
        "ca_certs": str(paths[CA_BUNDLE_NAME]),
        "cert_reqs": int(ssl.CERT_REQUIRED if client_certificate else ssl.CERT_NONE),
    }


def serve_mock(
    config: ConfigReader, *, bind: str, pki_dir: Path, workers: int = 1, threads: int = 8
) -> None:
    """Serve the mock on ``bind`` until SIGTERM/SIGINT (fails fast if the PKI is incomplete).

    ``config`` is the process's one reader; bad ``MOCK_*`` values stop it before any fork.
    """
    pki_dir = pki_dir.resolve()
    settings = MockSettings.from_config(config, pki_dir=pki_dir)
    options = {
        "bind": [bind],
        "workers": workers,
        "threads": threads,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "insi-mock",
        **tls_options(pki_dir, client_certificate=settings.auth is not AuthMode.CPX),
    }
    run(functools.partial(build_app, settings), options)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m gateway.mock.server --bind 127.0.0.1:8443 --pki DIR``.

    A process entry point: it hands its environment (no configuration file, unlike
    ``insi-gateway mock``) to the one reader.
    """
    parser = argparse.ArgumentParser(prog="python -m gateway.mock.server", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:8443", help="HOST:PORT to listen on")
    parser.add_argument("--pki", type=Path, required=True, help="dev PKI directory")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    serve_mock(
        ConfigReader(os.environ),
        bind=args.bind,
        pki_dir=args.pki,
        workers=args.workers,
        threads=args.threads,
    )


if __name__ == "__main__":
    main()
