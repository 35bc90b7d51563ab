"""The shipped nginx configuration in front of the real gateway: slow clients, limits, URLs.

The figures the tests print (``-s`` or the ``-rA`` summary shows them) are the
ones quoted in docs/deployment.md.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.pki.devpki import DevPki
from testbed.waiting import wait_until
from tests.integration.conftest import GatewayServer, MockServer, gateway_env
from tests.integration.fronted import start_backend
from tests.integration.personas import FOUND
from tests.integration.servers import LOOPBACK
from tests.support import slow_clients
from tests.support.nginx import Nginx, start_nginx
from tests.support.slow_clients import ProbeFigures

pytestmark = pytest.mark.integration
SLOW_HEADERS = 100
SLOW_BODIES = 100
PROBE_SECONDS = 8.0
# The target is 1 s (printed); the assertion leaves room for this shared 2-core machine.
BOUND_SECONDS = 4.0


@pytest.fixture(scope="module")
def backend(dev_pki: DevPki, log_dir: Path, mock_server: MockServer) -> Iterator[GatewayServer]:
    env = gateway_env(
        dev_pki,
        mock_server.url,
        DATABASE_URL=f"sqlite:///{log_dir / 'fronted.db'}",
        GATEWAY_TRUSTED_PROXIES="127.0.0.1",
    )
    server = start_backend(dev_pki, log_dir, env, name="fronted-gateway")
    yield server
    server.process.stop()


@pytest.fixture(scope="module")
def nginx(dev_pki: DevPki, log_dir: Path, backend: GatewayServer) -> Iterator[Nginx]:
    proxy = start_nginx(
        log_dir,
        upstreams=[backend.port],
        cert=dev_pki.mock_server.pem,
        key=dev_pki.mock_server.key,
    )
    yield proxy
    proxy.process.stop()


def _client_tls(dev_pki: DevPki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(dev_pki.ca_bundle))


def _payloads(key: str) -> list[tuple[bytes, bytes]]:
    bodies = [slow_clients.slow_body(key if i % 2 else None) for i in range(SLOW_BODIES)]
    return [slow_clients.slow_header()] * SLOW_HEADERS + bodies


def _measure(
    base_url: str,
    key: str,
    verify: str | bool,
    address: tuple[str, int],
    tls: ssl.SSLContext | None,
) -> tuple[ProbeFigures, ProbeFigures, slow_clients.AttackCounters]:
    """Attack ``address`` with 200 slow connections; probe /healthz and a search meanwhile."""
    health, search = ProbeFigures("/healthz"), ProbeFigures("authenticated search")
    traits = FOUND[0].traits()

    def get_health() -> requests.Response:
        return requests.get(base_url + "/healthz", verify=verify, timeout=5)

    def post_search() -> requests.Response:
        return requests.post(
            base_url + "/v1/ins/search",
            json=traits,
            verify=verify,
            timeout=5,
            headers={"Authorization": f"Bearer {key}"},
        )

    def found(response: requests.Response) -> bool:
        return response.status_code == 200 and response.json().get("status") == "found"

    total = SLOW_HEADERS + SLOW_BODIES
    with slow_clients.attack(address, tls, _payloads(key), max_seconds=60) as counters:
        wait_until(lambda: counters.connected >= total, 60, f"{total} attackers connected")
        assert counters.connected >= total, f"only {counters.connected} attackers got in"
        run = functools.partial(slow_clients.probe, seconds=PROBE_SECONDS)
        slow_clients.probe_in_parallel(
            [
                (health, lambda: run(health, get_health, lambda r: r.status_code == 200)),
                (search, lambda: run(search, post_search, found)),
            ]
        )
    return health, search, counters


def _report(capsys: pytest.CaptureFixture[str], title: str, *lines: str) -> None:
    with capsys.disabled():
        print(f"\n[{title}] " + "\n  ".join(lines))


def test_slow_clients_through_nginx_leave_the_gateway_answering(
    nginx: Nginx, backend: GatewayServer, dev_pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    health, search, counters = _measure(
        nginx.base_url,
        backend.api_key,
        str(dev_pki.ca_bundle),
        (LOOPBACK, nginx.port),
        _client_tls(dev_pki),
    )

    _report(
        capsys,
        f"through nginx: {SLOW_HEADERS} slow headers + {SLOW_BODIES} slow bodies",
        health.line(),
        search.line(),
        f"attack connections: {counters.connected} opened, {counters.cut_by_server} cut by nginx",
    )
    for figures in (health, search):
        assert figures.sent >= 5
        assert figures.failures == [], figures.line()
        assert max(figures.latencies) < BOUND_SECONDS, figures.line()


def test_the_same_attack_straight_at_gunicorn_stalls_it(
    dev_pki: DevPki,
    log_dir: Path,
    mock_server: MockServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = gateway_env(
        dev_pki, mock_server.url, DATABASE_URL=f"sqlite:///{log_dir / 'unfronted.db'}"
    )
    server = start_backend(dev_pki, log_dir, env, name="unfronted-gateway")
    try:
        base = f"http://{LOOPBACK}:{server.port}"
        health, search, counters = _measure(
            base, server.api_key, False, (LOOPBACK, server.port), None
        )
    finally:
        server.process.stop()

    _report(
        capsys,
        f"straight at gunicorn (64 threads): {SLOW_HEADERS} slow headers + "
        f"{SLOW_BODIES} slow bodies",
        health.line(),
        search.line(),
        f"attack connections: {counters.connected} opened, {counters.cut_by_server} cut",
    )
    # What the proxy is for: without it, honest clients are not served in time.
    assert health.within_target + search.within_target < (health.sent + search.sent) / 2


def test_wsdl_address_follows_the_proxy_it_trusts(
    nginx: Nginx, backend: GatewayServer, dev_pki: DevPki
) -> None:
    through_proxy = requests.get(
        nginx.base_url + "/soap?wsdl", verify=str(dev_pki.ca_bundle), timeout=10
    )
    forged = requests.get(
        f"http://{LOOPBACK}:{backend.port}/soap?wsdl",
        timeout=10,
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )

    assert f'location="https://localhost:{nginx.port}/soap"' in through_proxy.text
    # 127.0.0.1 is trusted here (nginx runs there): a forged header from it is believed.
    assert 'location="https://evil.example/soap"' in forged.text


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
    dev_pki: DevPki, log_dir: Path, mock_server: MockServer
) -> None:
    env = gateway_env(
        dev_pki,
        mock_server.url,
        DATABASE_URL=f"sqlite:///{log_dir / 'untrusting.db'}",
        GATEWAY_TRUSTED_PROXIES="10.0.0.0/8",
    )
    server = start_backend(dev_pki, log_dir, env, name="untrusting-gateway", threads=4)
    proxy = start_nginx(
        log_dir,
        upstreams=[server.port],
        cert=dev_pki.mock_server.pem,
        key=dev_pki.mock_server.key,
        name="nginx-untrusted",
    )
    try:
        wsdl = requests.get(
            proxy.base_url + "/soap12?wsdl", verify=str(dev_pki.ca_bundle), timeout=10
        ).text
    finally:
        proxy.process.stop()
        server.process.stop()

    # The request as the gateway received it: plain HTTP, nginx's Host header.
    assert 'location="http://localhost/soap12"' in wsdl


def test_limits_and_access_log(nginx: Nginx, backend: GatewayServer, dev_pki: DevPki) -> None:
    verify = str(dev_pki.ca_bundle)
    auth = {"Authorization": f"Bearer {backend.api_key}", "X-Request-ID": "access-log-check"}

    too_big = requests.post(
        nginx.base_url + "/v1/ins/search",
        data=b"{" + b" " * 70_000 + b"}",
        verify=verify,
        headers={**auth, "Content-Type": "application/json"},
        timeout=10,
    )
    job = requests.post(
        nginx.base_url + "/v1/jobs",
        data=b"x" * 200_000,
        verify=verify,
        timeout=30,
        headers={**auth, "Content-Type": "text/csv"},
    )
    metrics = requests.get(nginx.base_url + "/metrics", verify=verify, timeout=10)
    health = requests.get(
        nginx.base_url + "/healthz?birth_name=SECRETNAME", verify=verify, timeout=10, headers=auth
    )

    assert too_big.status_code == 413
    assert job.status_code != 413  # the jobs limit (32 MiB), not the search one
    assert job.status_code < 500
    assert metrics.status_code == 404
    assert health.status_code == 200
    # nginx writes a request's line after answering it: wait for both lines read below
    records = wait_until(
        lambda: _with_health_and_413(nginx), 30, "nginx logged the /healthz and the 413 lines"
    )
    logged = next(r for r in records if r["path"] == "/healthz" and "access-log" in r["request_id"])
    assert logged["status"] == 200
    assert logged["upstream"] == f"{LOOPBACK}:{backend.port}"
    text = "\n".join(nginx.access_lines())
    assert "SECRETNAME" not in text
    assert backend.api_key not in text
    rejected = next(r for r in records if r["status"] == 413)
    assert rejected["upstream"] == ""  # refused by nginx: the gateway never saw it


def _with_health_and_413(nginx: Nginx) -> list[dict[str, Any]]:
    """The access log's records once it holds this test's /healthz and 413 lines, else []."""
    records = [json.loads(line) for line in nginx.access_lines()]
    health = any(r["path"] == "/healthz" and "access-log" in r["request_id"] for r in records)
    return records if health and any(r["status"] == 413 for r in records) else []
