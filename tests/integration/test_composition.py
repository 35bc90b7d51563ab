"""The composition root on the real servers: every breaker in /readyz, all closed at exit.

A gateway whose CPx endpoint is down while the certificate endpoint answers:
only the CPx circuit opens, and ``/readyz`` answers 503 naming it. A gateway
that reached both endpoints, stopped by SIGTERM: its worker logs that it
closed every transport (with the connections they held), its journal's
writer and its database engine.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.pki.cardsigner import sign_card_assertion
from gateway.pki.devcards import DevCards, generate_dev_cards
from gateway.pki.devpki import DevPki
from tests.integration.conftest import (
    GatewayFactory,
    GatewayServer,
    MockServer,
    closed_lines,
    register_app,
    start_mock,
)
from tests.integration.personas import PERSONAS
from tests.integration.servers import LOOPBACK, free_port

pytestmark = pytest.mark.integration
DOMINIQUE = PERSONAS[0].traits()


@pytest.fixture(scope="module")
def cards(dev_pki: DevPki) -> DevCards:
    return generate_dev_cards(dev_pki.directory)


@pytest.fixture(scope="module")
def cpx_mock(dev_pki: DevPki, log_dir: Path) -> Iterator[MockServer]:
    server = start_mock(dev_pki, log_dir, MOCK_AUTH="cpx")
    yield server
    server.process.stop()


def cpx_search(server: GatewayServer, key: str, cards: DevCards) -> int:
    """One search in CPx mode with a valid card assertion; the HTTP status."""
    assertion = sign_card_assertion(cards.card, chain=(cards.card_ca,))
    headers = {"X-INSi-Assertion": base64.b64encode(assertion).decode()}
    return server.post("/v1/ins/search", DOMINIQUE, key=key, headers=headers).status_code


def readiness(server: GatewayServer) -> tuple[int, dict[str, Any]]:
    response = server.session.get(
        server.base_url + "/readyz", verify=str(server.ca_bundle), timeout=30
    )
    return response.status_code, response.json()


def test_readyz_names_the_cpx_circuit_when_only_it_is_open(
    gateway_factory: GatewayFactory, mock_server: MockServer, cards: DevCards
) -> None:
    server = gateway_factory(
        mock_server.url,
        INSI_CPX_URL=f"https://{LOOPBACK}:{free_port()}/cpx",  # nothing listens there
        INSI_CPX_CA=str(cards.ca_bundle),
        INSI_BREAKER_MIN_CALLS="1",
        INSI_MAX_RETRIES="0",
        INSI_BREAKER_COOLDOWN="600",
    )
    key = register_app(server.env, "cpx-down", "--modes", "cpx,certificate")
    assert readiness(server)[0] == 200

    assert cpx_search(server, key, cards) == 503  # refused connection: the CPx circuit opens
    status, document = readiness(server)

    assert status == 503
    assert document["status"] == "not_ready"
    assert document["checks"]["circuit cpx"] == {"ok": False, "detail": "open"}
    assert document["checks"]["circuit"] == {"ok": True, "detail": "closed"}
    failing = {name for name, check in document["checks"].items() if not check["ok"]}
    assert failing == {"circuit cpx"}
    # the certificate endpoint's circuit is its own: calls through it still succeed
    assert server.post("/v1/ins/search", DOMINIQUE, key=key).status_code == 200


def test_the_worker_closes_every_transport_at_shutdown(
    gateway_factory: GatewayFactory, mock_server: MockServer, cpx_mock: MockServer,
    cards: DevCards,
) -> None:  # fmt: skip
    server = gateway_factory(
        mock_server.url, INSI_CPX_URL=cpx_mock.url, INSI_CPX_CA=str(cards.ca_bundle)
    )
    key = register_app(server.env, "cpx-closing", "--modes", "cpx,certificate")
    assert server.post("/v1/ins/search", DOMINIQUE, key=key).status_code == 200
    assert cpx_search(server, key, cards) == 200
    assert not closed_lines(server.process.output())

    server.process.stop()  # SIGTERM to the arbiter, which stops its worker

    (closed,) = closed_lines(server.process.output())
    assert closed["transports"] == 3  # INSI-MANU, INSI-AUTO, CPx: each built once
    assert closed["connections"] >= 2  # the pooled connections of both endpoints, closed
    assert closed["journal_flushed"] is True
    assert closed["redis"] is False
