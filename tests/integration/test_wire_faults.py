"""Faults on the wire between the gateway and the teleservice, from a TCP relay of our own
(:mod:`tests.support.proxy`) placed between the real gateway and the real mock.

The relay sees TLS records only, so it works in bytes: the *answer* is what the mock sends
after its handshake flight and its TLS session tickets, i.e. the HTTP response (both sizes
measured on a clean exchange first). Each case checks the status and problem type the README
documents, how many calls reached the mock (its request log) and the relay (connections),
that no request hangs (client timeout far above the gateway's bounds) and that the
gunicorn worker is never restarted (same pid before and after).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.pki.devpki import DevPki
from testbed.processes import only_worker
from tests.integration.conftest import GatewayFactory, GatewayServer, MockServer
from tests.integration.personas import PERSONAS
from tests.integration.servers import LOOPBACK
from tests.support.proxy import ConnectionRecord, Fault, FaultProxy
from tests.support.upstreams import Launcher, Reaper

pytestmark = pytest.mark.integration

DOMINIQUE = PERSONAS[0].traits()
MATRICULE = "297022A020778"
PROBLEM = "urn:insi-gateway:problem:"
READ_TIMEOUT = 1.5  # INSI_READ_TIMEOUT of the gateway under test
CLIENT_TIMEOUT = 30  # far above connect (5) + read (1.5) timeouts and the deadline (10)


@dataclass
class Wire:
    mock: MockServer
    proxy: FaultProxy
    gateway: GatewayServer
    worker: int  # pid of the gateway's gunicorn worker when the module started
    skip: int = 0  # the mock's bytes before its answer: handshake flight and session tickets
    response_size: int = 0  # the mock's bytes for one search answer (TLS records)


@dataclass(frozen=True)
class Call:
    status: int
    body: dict[str, Any]
    seconds: float
    mock_calls: int  # /lps calls the mock logged for it
    connections: list[ConnectionRecord]  # connections the relay accepted for it

    @property
    def slug(self) -> str:
        return str(self.body.get("type", "")).removeprefix(PROBLEM)


@pytest.fixture(scope="module")
def wire(gateway_factory: GatewayFactory, dev_pki: DevPki, log_dir: Path) -> Iterator[Wire]:
    reaper = Reaper()
    launcher = Launcher(gateway_factory, dev_pki, log_dir, reaper)
    try:
        mock = launcher.mock()
        with FaultProxy(mock.port) as proxy:
            gateway = launcher.gateway(
                f"https://{LOOPBACK}:{proxy.port}/lps",
                INSI_CONNECT_TIMEOUT="5",
                INSI_READ_TIMEOUT=str(READ_TIMEOUT),
                INSI_DEADLINE="10",
                INSI_BREAKER_MIN_CALLS="1000",  # every case here reaches the wire
            )
            wire = Wire(mock, proxy, gateway, only_worker(gateway.process.process.pid))
            _calibrate(wire)
            yield wire
    finally:
        launcher.close()
        reaper.join()


def _calibrate(wire: Wire) -> None:
    """Two clean searches on one connection: the second one's bytes are one answer alone."""
    wire.proxy.set_fault(Fault())
    first = call(wire)
    assert first.status == 200
    assert len(first.connections) == 1
    record = first.connections[0]
    after_one = record.server_bytes
    second = call(wire)
    assert second.status == 200
    assert second.connections == []  # the gateway kept its connection alive
    wire.response_size = record.server_bytes - after_one
    wire.skip = after_one - wire.response_size
    assert wire.response_size > 500, record.chunks
    assert wire.skip > 2000, record.chunks  # certificates, CertificateRequest, tickets
    wire.proxy.set_fault(Fault(skip=wire.skip))
    third = call(wire)  # a fresh connection: the answer is exactly one response
    assert third.status == 200
    assert [c.answer_bytes for c in third.connections] == [wire.response_size]


def call(wire: Wire, fault: Fault | None = None) -> Call:
    if fault is not None:
        wire.proxy.set_fault(fault)
    logged, accepted = len(wire.mock.logged_requests()), len(wire.proxy.connections)
    started = time.monotonic()
    response = wire.gateway.session.post(
        wire.gateway.base_url + "/v1/ins/search",
        json=DOMINIQUE,
        headers={"Authorization": f"Bearer {wire.gateway.api_key}"},
        verify=str(wire.gateway.ca_bundle),
        timeout=CLIENT_TIMEOUT,
    )
    seconds = time.monotonic() - started
    if response.status_code >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"
    return Call(
        response.status_code,
        response.json(),
        seconds,
        len(wire.mock.logged_requests()) - logged,
        wire.proxy.records_since(accepted),
    )


@pytest.fixture
def same_worker(wire: Wire) -> Iterator[None]:
    """The gunicorn worker that served the case is the one that started (no crash, no kill)."""
    yield
    assert only_worker(wire.gateway.process.process.pid) == wire.worker


def found(result: Call) -> bool:
    return result.status == 200 and result.body["ins"]["matricule"] == MATRICULE


@pytest.mark.usefixtures("same_worker")
def test_latency_below_the_read_timeout_gives_the_answer(wire: Wire) -> None:
    result = call(wire, Fault(skip=wire.skip, latency=0.4))

    assert found(result), result.body
    assert result.seconds >= 0.4
    assert [c.delays >= 1 for c in result.connections] == [True]
    assert result.mock_calls == 1


@pytest.mark.usefixtures("same_worker")
def test_one_byte_fragments_are_reassembled(wire: Wire) -> None:
    result = call(wire, Fault(fragment=True))  # every byte of the mock, handshake included

    assert found(result), result.body
    assert result.body["identity"]["birth_name"] == "ADRTROIS"
    assert [c.server_bytes for c in result.connections] == [wire.skip + wire.response_size]
    assert result.mock_calls == 1


@pytest.mark.usefixtures("same_worker")
def test_reset_in_the_middle_of_the_answer_is_503_not_retried(wire: Wire) -> None:
    half = wire.response_size // 2
    result = call(wire, Fault(skip=wire.skip, reset_after=half))

    # README: 503 upstream-unavailable, "the teleservice cannot be reached"; the request was
    # sent (the mock logged it), so it is not retried (docs/configuration.md, INSI_MAX_RETRIES)
    assert (result.status, result.slug) == (503, "upstream-unavailable"), result.body
    assert [c.fired for c in result.connections] == ["reset"]
    assert result.mock_calls == 1


@pytest.mark.usefixtures("same_worker")
def test_clean_close_in_the_middle_of_the_answer_is_503_not_retried(wire: Wire) -> None:
    half = wire.response_size // 2
    result = call(wire, Fault(skip=wire.skip, cut_after=half))

    # a truncated answer never reaches the parser as if complete (that would be 502):
    # the transport sees the connection end early, "connection broken while reading"
    assert (result.status, result.slug) == (503, "upstream-unavailable"), result.body
    assert [c.fired for c in result.connections] == ["cut"]
    assert result.mock_calls == 1


@pytest.mark.usefixtures("same_worker")
def test_close_before_any_answer_byte_is_503_not_retried(wire: Wire) -> None:
    result = call(wire, Fault(skip=wire.skip, cut_after=0))

    assert (result.status, result.slug) == (503, "upstream-unavailable"), result.body
    assert [c.fired for c in result.connections] == ["cut"]
    assert result.mock_calls == 1


@pytest.mark.usefixtures("same_worker")
def test_a_tls_error_in_the_answer_is_not_retried(wire: Wire) -> None:
    """One byte of the answer flipped: the TLS record fails to decrypt after the mock has
    processed the request, so the call must not be sent again (docs/configuration.md)."""
    result = call(wire, Fault(skip=wire.skip, corrupt_at=wire.response_size // 2))

    assert result.status in (502, 503), result.body
    assert result.slug in ("upstream-unavailable", "upstream-bad-response")
    assert all(c.fired == "corrupt" for c in result.connections)
    assert result.mock_calls == 1  # a TLS error in the answer: processed, never retried
    assert len(result.connections) == 1


@pytest.mark.usefixtures("same_worker")
def test_latency_above_the_read_timeout_is_504_not_retried(wire: Wire) -> None:
    result = call(wire, Fault(skip=wire.skip, latency=READ_TIMEOUT + 2))

    assert (result.status, result.slug) == (504, "upstream-timeout"), result.body
    assert READ_TIMEOUT - 0.1 < result.seconds < READ_TIMEOUT + 1.5  # one wait, no retry
    assert len(result.connections) == 1
    assert result.mock_calls == 1  # the mock did answer: only the relay held it back


@pytest.mark.usefixtures("same_worker")
def test_reset_during_the_tls_handshake_is_503_not_retried(wire: Wire) -> None:
    """A reset cannot be told apart from one after the request left: never retried
    (docs/operations.md), even here where nothing had been sent."""
    result = call(wire, Fault(reset_after=200))  # in the mock's first handshake flight

    assert (result.status, result.slug) == (503, "upstream-unavailable"), result.body
    assert result.mock_calls == 0  # nothing reached the teleservice
    assert all(c.fired == "reset" for c in result.connections)
    assert len(result.connections) == 1


@pytest.mark.usefixtures("same_worker")
def test_the_gateway_is_fine_after_every_fault(wire: Wire) -> None:
    result = call(wire, Fault())

    assert found(result), result.body
    assert result.mock_calls == 1
    health = wire.gateway.session.get(
        wire.gateway.base_url + "/healthz", verify=str(wire.gateway.ca_bundle), timeout=5
    )
    assert health.status_code == 200
