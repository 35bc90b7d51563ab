"""SIGTERM under load through the front proxy: /readyz turns 503, nobody gets a reset.

Two replicas on one PostgreSQL schema behind the shipped nginx configuration,
the mock answering in 150 ms so requests are in flight when the signal comes.
Client threads keep posting searches through nginx while one replica gets
SIGTERM (its arbiter only, as Kubernetes sends it). Every request must be
answered 200: during the drain the replica still serves (``Connection:
close``), then its listener closes and nginx's retry of a refused connection
carries the next requests to the other replica.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gateway.pki.devpki import DevPki
from testbed.postgres import fresh_schema
from testbed.waiting import wait_until
from tests.integration.conftest import MockServer, gateway_env, start_mock
from tests.integration.fronted import start_backend
from tests.integration.personas import FOUND
from tests.integration.servers import LOOPBACK
from tests.support.nginx import start_nginx

pytestmark = pytest.mark.integration
CLIENTS = 16
DRAIN_SECONDS = 4


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_schema("gw_drain") as url:
        yield url


@pytest.fixture
def slow_mock(dev_pki: DevPki, log_dir: Path) -> Iterator[MockServer]:
    server = start_mock(dev_pki, log_dir, MOCK_LATENCY_MS="150")
    yield server
    server.process.stop()


class Load:
    """Client threads posting searches through the proxy until stopped; every outcome kept."""

    def __init__(self, url: str, key: str, verify: str) -> None:
        self._url, self._key, self._verify = url, key, verify
        self._stop = threading.Event()
        self.outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self) -> None:
        session = requests.Session()  # keep-alive to nginx, as an application would
        headers = {"Authorization": f"Bearer {self._key}"}
        while not self._stop.is_set():
            try:
                response = session.post(
                    self._url,
                    json=FOUND[1].traits(),
                    headers=headers,
                    verify=self._verify,
                    timeout=30,
                )
                outcome = str(response.status_code)
                problem = "json" in response.headers.get("Content-Type", "")
                if response.status_code != 200 and problem:
                    outcome += " " + str(response.json().get("type", "")).rsplit(":", 1)[-1]
            except requests.RequestException as error:
                outcome = type(error).__name__
            with self._lock:
                self.outcomes[outcome] += 1

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def _ready(port: int) -> int:
    try:
        return requests.get(f"http://{LOOPBACK}:{port}/readyz", timeout=2).status_code
    except requests.RequestException:
        return 0


def _served_by_both(lines: list[str], *ports: int) -> bool:
    """Whether nginx's access log shows answers from each of ``ports`` (10 at least each)."""
    return all(sum(f'"upstream":"{LOOPBACK}:{port}"' in x for x in lines) >= 10 for port in ports)


def test_sigterm_under_load_through_the_proxy_fails_no_request(
    dev_pki: DevPki,
    log_dir: Path,
    slow_mock: MockServer,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = gateway_env(
        dev_pki,
        slow_mock.url,
        DATABASE_URL=database_url,
        GATEWAY_TRUSTED_PROXIES="127.0.0.1",
        GATEWAY_DRAIN_SECONDS=str(DRAIN_SECONDS),
    )
    stopping = start_backend(dev_pki, log_dir, env, name="replica-a", threads=16)
    staying = start_backend(dev_pki, log_dir, env, name="replica-b", threads=16)
    proxy = start_nginx(
        log_dir,
        upstreams=[stopping.port, staying.port],
        cert=dev_pki.mock_server.pem,
        key=dev_pki.mock_server.key,
        name="nginx-drain",
    )
    try:
        assert _ready(stopping.port) == 200
        url = proxy.base_url + "/v1/ins/search"
        with Load(url, stopping.api_key, str(dev_pki.ca_bundle)) as load:
            wait_until(
                lambda: _served_by_both(proxy.access_lines(), stopping.port, staying.port),
                60,
                "both replicas serving the load",
            )
            before = len(proxy.access_lines())
            signalled = time.monotonic()
            os.kill(stopping.process.process.pid, signal.SIGTERM)
            readiness_in_drain = wait_until(  # the first answer that is not "ready"
                lambda: (code,) if (code := _ready(stopping.port)) != 200 else None,
                DRAIN_SECONDS,
                "/readyz of the stopping replica no longer 200",
            )[0]
            exit_code = stopping.process.process.wait(timeout=DRAIN_SECONDS + 40)
            exited_after = time.monotonic() - signalled
            alone = len(proxy.access_lines())
            wait_until(  # the survivor alone
                lambda: len(proxy.access_lines()) >= alone + 20, 60, "20 answers of the survivor"
            )
        after = proxy.access_lines()[before:]
    finally:
        proxy.process.stop()
        staying.process.stop()
        stopping.process.stop()

    a, b = f"{LOOPBACK}:{stopping.port}", f"{LOOPBACK}:{staying.port}"
    served_by_stopping = sum(1 for line in after if f'"upstream":"{a}"' in line)
    answers = sum(count for outcome, count in load.outcomes.items() if outcome == "200")
    failed = sum(count for outcome, count in load.outcomes.items() if outcome != "200")
    # A replica answering that the teleservice (the mock) failed it is the gateway working,
    # not a failure of the shutdown; anything else (nginx's 502/504, a reset, a refused
    # connection, a 5xx of the stopping replica) is.
    teleservice = sum(
        count for outcome, count in load.outcomes.items() if outcome.startswith("503 upstream-")
    )
    with capsys.disabled():
        print(
            f"\n[SIGTERM under load through nginx, {CLIENTS} clients, drain {DRAIN_SECONDS} s] "
            f"{answers + failed} requests, {failed} failed {dict(load.outcomes)}; "
            f"/readyz during the drain: {readiness_in_drain}; the stopping replica answered "
            f"{served_by_stopping} after SIGTERM and exited (code {exit_code}) after "
            f"{exited_after:.1f} s"
        )
    assert failed - teleservice == 0, dict(load.outcomes)
    assert teleservice <= 3, dict(load.outcomes)  # rare: the mock's keep-alive, not the stop
    assert answers > 50
    assert readiness_in_drain == 503
    assert exit_code == 0
    assert served_by_stopping > 0  # it kept serving during the drain
    assert DRAIN_SECONDS <= exited_after < DRAIN_SECONDS + 35
    assert any(f'"upstream":"{b}"' in line for line in after[-20:])
