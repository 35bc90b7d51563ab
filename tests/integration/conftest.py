"""Integration fixtures: the real mock teleservice and the real gateway, under gunicorn.

Both listen on free ports of 127.0.0.1 over HTTPS; the gateway reaches the
mock with mutual TLS using the generated dev PKI. Nothing is patched.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.pki.devpki import DevPki
from tests.integration.servers import (
    CLI,
    LOOPBACK,
    ServerProcess,
    answers,
    free_port,
    launch,
    port_open,
)
from tests.paths import REFERENCE_DIR
from tests.support.fr_core import check_document

IDAM = "INSI-GW-DEV-IDAM"
AUDIT_KEY = "integration-audit-key-0123456789"
APP = "integration"


@dataclass
class MockServer:
    port: int
    request_log: Path
    process: ServerProcess

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}/lps"

    def logged_requests(self) -> list[dict[str, Any]]:
        if not self.request_log.exists():
            return []
        lines = self.request_log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@dataclass
class GatewayServer:
    port: int
    ca_bundle: Path
    process: ServerProcess
    api_key: str
    env: Mapping[str, str]
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.port}"

    def post(
        self,
        path: str,
        payload: Any = None,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | None = None,
    ) -> requests.Response:
        sent = {"Authorization": f"Bearer {key if key is not None else self.api_key}"}
        if payload is not None:
            sent["Content-Type"] = "application/json"
            data = json.dumps(payload).encode()
        sent.update(headers or {})
        response = self.session.post(
            self.base_url + path, data=data, headers=sent, verify=str(self.ca_bundle), timeout=60
        )
        check_fhir_patient(response)
        return response


def check_fhir_patient(response: requests.Response) -> None:
    """Every FHIR document a test receives passes the R4 checks, and every Patient in it
    the FR Core ones (docs/fhir.md)."""
    if response.headers.get("Content-Type", "").split(";")[0] != "application/fhir+json":
        return
    check_document(response.json())


def start_mock(
    dev_pki: DevPki, log_dir: Path, *, port: int | None = None, **env: str
) -> MockServer:
    """The mock (on ``port``, else a free one), refusing any envelope the official XSDs
    reject (``MOCK_CONTRACT_DIR``)."""
    port = port or free_port()
    request_log = log_dir / f"mock-{port}-requests.jsonl"
    process = launch(
        f"mock-{port}",
        [*CLI, "mock", "--bind", f"{LOOPBACK}:{port}", "--pki", str(dev_pki.directory)],
        {
            "MOCK_REQUEST_LOG": str(request_log),
            "MOCK_ALLOWED_IDAM": IDAM,
            "MOCK_CONTRACT_DIR": str(REFERENCE_DIR),
            **env,
        },
        log_dir,
        ready=lambda: port_open(port),  # it wants a client certificate: an open port will do
    )
    return MockServer(port, request_log, process)


def gateway_env(dev_pki: DevPki, upstream_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "INSI_UPSTREAM_URL": upstream_url,
        "INSI_UPSTREAM_CA": str(dev_pki.ca_bundle),
        "INSI_CERT_MANU": str(dev_pki.insi_manu.p12),
        "INSI_CERT_MANU_PASSPHRASE": dev_pki.passphrase,
        "INSI_CERT_AUTO": str(dev_pki.insi_auto.p12),
        "INSI_CERT_AUTO_PASSPHRASE": dev_pki.passphrase,
        "INSI_IDAM": IDAM,
        "GATEWAY_AUDIT_KEY": AUDIT_KEY,
        "INSI_READ_TIMEOUT": "10",
        "GATEWAY_DRAIN_SECONDS": "0",  # stop at once (test_graceful_shutdown.py sets a drain)
        # Shared gateways see the wrong keys of every test file (fuzzing included): the
        # per-address throttle is tested on its own gateway (test_floods.py), not here.
        "GATEWAY_AUTH_FAILURE_LIMIT": "100000",
    }
    env.update(overrides)
    return env


def cli(env: Mapping[str, str], *args: str) -> str:
    """Run ``insi-gateway ARGS`` with ``env``; its standard output (it must succeed)."""
    completed = subprocess.run(
        [*CLI, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def register_app(env: Mapping[str, str], name: str, *options: str) -> str:
    """Register an application in the gateway's database; its API key."""
    return str(json.loads(cli(env, "apps", "add", name, *options))["api_key"])


def start_gateway(
    dev_pki: DevPki, log_dir: Path, env: Mapping[str, str], *, threads: int = 4
) -> GatewayServer:
    """A gateway on its own SQLite file (unless ``DATABASE_URL`` is given), one app registered.

    ``threads``: gunicorn threads (production runs 64, tests 4 unless they need more).
    """
    port = free_port()
    env = {"DATABASE_URL": f"sqlite:///{log_dir / f'gateway-{port}.db'}", **env}
    api_key = register_app(
        env,
        APP,
        "--operations",
        "search,search_vitale,verify,jobs",
        "--rate",
        "1000",
        "--burst",
        "1000",
        "--max-concurrent",
        "64",
    )
    return launch_gateway(dev_pki, log_dir, env, api_key, port=port, threads=threads)


def launch_gateway(
    dev_pki: DevPki,
    log_dir: Path,
    env: Mapping[str, str],
    api_key: str,
    *,
    name: str = "gateway",
    port: int | None = None,
    workers: int = 1,
    threads: int = 4,
    extra: Sequence[str] = (),
    timeout: float = 60.0,
) -> GatewayServer:
    """``insi-gateway serve`` over HTTPS on ``port`` (else a free one), once /healthz answers."""
    port = port or free_port()
    argv = [*CLI, "serve", "--bind", f"{LOOPBACK}:{port}", "--workers", str(workers)]
    argv += ["--threads", str(threads), "--certfile", str(dev_pki.mock_server.pem)]
    argv += ["--keyfile", str(dev_pki.mock_server.key), *extra]
    session = requests.Session()
    health = f"https://localhost:{port}/healthz"
    process = launch(
        f"{name}-{port}",
        argv,
        env,
        log_dir,
        ready=lambda: answers(health, verify=str(dev_pki.ca_bundle), session=session),
        timeout=timeout,
    )
    return GatewayServer(port, dev_pki.ca_bundle, process, api_key, env, session)


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def mock_server(dev_pki: DevPki, log_dir: Path) -> Iterator[MockServer]:
    server = start_mock(dev_pki, log_dir)
    yield server
    server.process.stop()


GatewayFactory = Callable[..., GatewayServer]


@pytest.fixture(scope="session")
def gateway_factory(dev_pki: DevPki, log_dir: Path) -> Iterator[GatewayFactory]:
    """Start extra gateways with other settings (``upstream_url`` + env overrides)."""
    started: list[GatewayServer] = []

    def start(upstream_url: str, *, threads: int = 4, **overrides: str) -> GatewayServer:
        env = gateway_env(dev_pki, upstream_url, **overrides)
        server = start_gateway(dev_pki, log_dir, env, threads=threads)
        started.append(server)
        return server

    yield start
    for server in started:
        server.process.stop()
    crashed = [server.process.name for server in started if _answered_500(server)]
    assert not crashed, f"a gateway answered HTTP 500 during the suite: {crashed}"


def _answered_500(server: GatewayServer) -> bool:
    """Whether the gateway's request log shows an internal error (a bug: never expected).

    SOAP 1.1 answers every fault with HTTP 500, as the protocol says: the
    outcome, not the status, tells a bug from a fault.
    """
    for line in server.process.output().splitlines():
        if line.startswith("{") and json.loads(line).get("outcome") in BUG_OUTCOMES:
            return True
    return False


BUG_OUTCOMES = frozenset({"internal-error", "http-500"})


def closed_lines(output: str) -> list[dict[str, Any]]:
    """The ``worker resources closed`` lines a gateway's workers logged at their exit."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "worker resources closed"]


@pytest.fixture(scope="session")
def gateway(gateway_factory: GatewayFactory, mock_server: MockServer) -> GatewayServer:
    """The default gateway: signing on, INSI-MANU, in front of the default mock."""
    return gateway_factory(mock_server.url)
