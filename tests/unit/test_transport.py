"""The mutual-TLS transport against real loopback sockets: what was sent, what was not."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from gateway.exceptions import UpstreamUnavailable
from gateway.pki.credentials import load_credential
from gateway.pki.devpki import DevPki
from gateway.transport.transports import MutualTlsTransport, UpstreamRequest


def _transport(dev_pki: DevPki) -> MutualTlsTransport:
    credential = load_credential(dev_pki.insi_manu.p12, dev_pki.passphrase, setting="t")
    return MutualTlsTransport(
        credential,
        ca_bundle=dev_pki.ca_bundle,
        connect_timeout=2,
        read_timeout=2,
        max_response_bytes=1 << 20,
    )


@pytest.fixture
def closes_after_request(dev_pki: DevPki) -> Iterator[int]:
    """A TLS server that reads the request, then closes without answering."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(dev_pki.mock_server.pem, dev_pki.mock_server.key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        raw, _ = listener.accept()
        with context.wrap_socket(raw, server_side=True) as conn:
            conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    thread.join(5)
    listener.close()


def test_refused_connection_is_known_unsent(dev_pki: DevPki) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens

    with pytest.raises(UpstreamUnavailable) as refused:
        _transport(dev_pki).send(UpstreamRequest(f"https://127.0.0.1:{port}/lps", b"<x/>", {}))

    assert refused.value.nothing_sent is True


def test_connection_closed_after_sending_is_not_known_unsent(
    dev_pki: DevPki, closes_after_request: int
) -> None:
    url = f"https://127.0.0.1:{closes_after_request}/lps"

    with pytest.raises(UpstreamUnavailable) as lost:
        _transport(dev_pki).send(UpstreamRequest(url, b"<x/>", {}))

    assert lost.value.nothing_sent is False
