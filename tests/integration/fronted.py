"""Gateways as they run behind the front proxy: plain HTTP on loopback, the shipped threads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import requests

from gateway.pki.devpki import DevPki
from tests.integration.conftest import APP, GatewayServer, register_app
from tests.integration.servers import CLI, LOOPBACK, ServerProcess, free_port


def start_backend(
    dev_pki: DevPki,
    log_dir: Path,
    env: Mapping[str, str],
    *,
    name: str,
    threads: int = 64,
    extra: tuple[str, ...] = (),
) -> GatewayServer:
    """``insi-gateway serve`` without TLS (nginx terminates it), one app registered.

    ``env`` must name the ``DATABASE_URL`` (replicas share one database).
    """
    port = free_port()
    api_key = register_app(
        env,
        f"{APP}-{name}",
        "--operations",
        "search,verify,jobs",
        "--rate",
        "1000",
        "--burst",
        "1000",
        "--max-concurrent",
        "256",
    )
    argv = [
        *CLI,
        "serve",
        "--bind",
        f"{LOOPBACK}:{port}",
        "--workers",
        "1",
        "--threads",
        str(threads),
        *extra,
    ]
    process = ServerProcess(name, argv, env, log_dir)
    server = GatewayServer(port, dev_pki.ca_bundle, process, api_key, env)
    process.wait_until(lambda: healthy(f"http://{LOOPBACK}:{port}"))
    return server


def healthy(base_url: str) -> bool:
    try:
        return requests.get(base_url + "/healthz", timeout=1).ok
    except requests.RequestException:
        return False
