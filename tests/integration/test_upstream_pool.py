"""The upstream pool keeps one connection per slot, and the CA bundle is read once.

Real mock teleservice (gunicorn, mutual TLS, 300 ms per call), the gateway's own
``MutualTlsTransport``; connections counted from urllib3's own log lines.
"""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gateway.models import CertificateMode
from gateway.pki.credentials import load_credential
from gateway.pki.devpki import DevPki
from gateway.server.app import Settings, mutual_tls_transports
from gateway.transport.transports import MutualTlsTransport, UpstreamRequest
from tests.integration.conftest import gateway_env, start_mock

pytestmark = pytest.mark.integration
NEW_CONNECTION = "Starting new HTTPS connection"


def transport(dev_pki: DevPki, ca_bundle: Path, pool_size: int) -> MutualTlsTransport:
    credential = load_credential(dev_pki.insi_manu.p12, dev_pki.passphrase, setting="t")
    return MutualTlsTransport(
        credential,
        ca_bundle=ca_bundle,
        connect_timeout=5,
        read_timeout=30,
        max_response_bytes=1 << 20,
        pool_size=pool_size,
    )


def round_of(sender: MutualTlsTransport, url: str, calls: int) -> list[int]:
    """``calls`` calls at once (each holds its connection ~300 ms at the mock)."""
    request = UpstreamRequest(url, b"<not-soap/>", {"Content-Type": "application/soap+xml"})
    with ThreadPoolExecutor(max_workers=calls) as pool:
        return [r.status for r in pool.map(lambda _: sender.send(request), range(calls))]


def opened(caplog: pytest.LogCaptureFixture) -> int:
    return sum(NEW_CONNECTION in r.getMessage() for r in caplog.records)


def test_a_pool_sized_to_the_slots_reuses_its_connections_and_reads_the_ca_once(
    dev_pki: DevPki, log_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    ca_copy = tmp_path / "ca.pem"
    shutil.copyfile(dev_pki.ca_bundle, ca_copy)
    mock = start_mock(dev_pki, log_dir, MOCK_LATENCY_MS="300", MOCK_AUTH="tls")
    try:
        sized = transport(dev_pki, ca_copy, pool_size=24)
        statuses = round_of(sized, mock.url, 24) + round_of(sized, mock.url, 24)
        sized_opened = opened(caplog)
        ca_copy.write_bytes(b"not a certificate")  # a new connection must not read it again
        statuses += round_of(sized, mock.url, 30)  # 6 more connections than the pool keeps
        caplog.clear()
        small = transport(dev_pki, dev_pki.ca_bundle, pool_size=16)  # the former default
        round_of(small, mock.url, 24)
        round_of(small, mock.url, 24)
        small_opened = opened(caplog)
    finally:
        mock.process.stop()

    assert len(statuses) == 78
    assert set(statuses) <= {200, 400, 500}, statuses  # answered, whatever the fault
    assert sized_opened <= 24, sized_opened  # the second round reused every connection
    assert small_opened > 24, small_opened  # a smaller pool discards and re-handshakes


def test_the_gateway_sizes_its_pools_from_insi_max_concurrent(
    dev_pki: DevPki, log_dir: Path
) -> None:
    env = gateway_env(dev_pki, "https://127.0.0.1:9/lps", INSI_MAX_CONCURRENT="40")
    env["DATABASE_URL"] = f"sqlite:///{log_dir / 'pool.db'}"
    settings = Settings.from_env(env)
    credentials = {
        CertificateMode.MANU: load_credential(
            dev_pki.insi_manu.p12, dev_pki.passphrase, setting="t"
        )
    }
    transports = mutual_tls_transports(settings, credentials)

    assert transports[CertificateMode.MANU].pool_size == 40
