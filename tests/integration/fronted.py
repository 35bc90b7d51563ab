"""Gateways as they run behind the front proxy: plain HTTP on loopback, the shipped threads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gateway.pki.devpki import DevPki
from tests.integration.conftest import APP, GatewayServer, register_app
from tests.integration.servers import CLI, LOOPBACK, answers, free_port, launch


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
    health = f"http://{LOOPBACK}:{port}/healthz"
    process = launch(name, argv, env, log_dir, ready=lambda: answers(health))
    return GatewayServer(port, dev_pki.ca_bundle, process, api_key, env)
