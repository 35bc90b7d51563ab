"""``/metrics`` adds up every worker: whichever worker answers a scrape, the count is whole.

Two-worker gateways under gunicorn, real scrapes over HTTPS on fresh connections (so
gunicorn hands them to either worker). Without the multiprocess mode each worker would
report only the requests it served itself, and the scrapes would disagree.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from gateway.pki.devpki import DevPki
from tests.integration.conftest import MockServer, gateway_env, register_app
from tests.integration.personas import PERSONAS
from tests.integration.servers import CLI, LOOPBACK, answers, free_port, launch

pytestmark = pytest.mark.integration
APP = "counted"


class TwoWorkers:
    """``insi-gateway serve --workers 2`` over HTTPS; every call on a new connection."""

    def __init__(self, dev_pki: DevPki, log_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.verify = str(dev_pki.ca_bundle)
        argv = [*CLI, "serve", "--bind", f"{LOOPBACK}:{self.port}", "--workers", "2"]
        argv += ["--threads", "8", "--certfile", str(dev_pki.mock_server.pem)]
        argv += ["--keyfile", str(dev_pki.mock_server.key)]
        health = self._url("/healthz")
        self.process = launch(
            f"metrics-{self.port}",
            argv,
            env,
            log_dir,
            ready=lambda: answers(health, verify=self.verify),
        )

    def _url(self, path: str) -> str:
        return f"https://localhost:{self.port}{path}"

    def search(self, key: str) -> int:
        response = requests.post(
            self._url("/v1/ins/search"),
            json=PERSONAS[0].traits(),
            headers={"Authorization": f"Bearer {key}"},
            verify=self.verify,
            timeout=60,
        )
        return response.status_code

    def scrape(self) -> dict[str, float]:
        """This app's requests counted, and the requests in flight, from one scrape."""
        text = requests.get(self._url("/metrics"), verify=self.verify, timeout=30).text
        counted = in_flight = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "gateway_requests_total" and sample.labels["app"] == APP:
                    counted += sample.value
                if sample.name == "gateway_requests_in_flight":
                    in_flight += sample.value
        return {"requests": counted, "in_flight": in_flight}


def test_every_scrape_of_a_two_worker_gateway_counts_every_request(
    dev_pki: DevPki, log_dir: Path, mock_server: MockServer
) -> None:
    metrics_dir = log_dir / f"metrics-{secrets.token_hex(4)}"
    env = gateway_env(
        dev_pki,
        mock_server.url,
        DATABASE_URL=f"sqlite:///{log_dir / f'metrics-{secrets.token_hex(4)}.db'}",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        GATEWAY_JOB_WORKERS="0",
    )
    key = register_app(env, APP, "--rate", "1000", "--burst", "1000")

    first = TwoWorkers(dev_pki, log_dir, env)
    try:
        statuses = [first.search(key) for _ in range(7)]
        first_scrapes = [first.scrape() for _ in range(6)]
    finally:
        first.process.stop()
    # the same directory again: what the first run left must not be counted
    second = TwoWorkers(dev_pki, log_dir, env)
    try:
        statuses += [second.search(key) for _ in range(5)]
        second_scrapes = [second.scrape() for _ in range(6)]
    finally:
        second.process.stop()

    assert statuses == [200] * 12
    assert [s["requests"] for s in first_scrapes] == [7.0] * 6
    assert [s["requests"] for s in second_scrapes] == [5.0] * 6
    # the scrape itself is the one request in flight, summed over the live workers
    assert {s["in_flight"] for s in first_scrapes + second_scrapes} == {1.0}
    assert len(list(metrics_dir.glob("counter_*.db"))) == 2  # both workers of the second run
