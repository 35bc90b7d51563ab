"""``insi-gateway serve --ops-bind``: the ops endpoints on their own listener, against a real
gunicorn with two listening sockets (issue 10, point 7).

``/readyz`` names certificate serials and ``/metrics`` application names: with
``--ops-bind`` the applications' port exposes only the API (and ``/healthz``),
and the ops port only those endpoints.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gateway.pki.devpki import DevPki
from tests.integration.conftest import (
    APP,
    GatewayServer,
    MockServer,
    gateway_env,
    register_app,
)
from tests.integration.personas import PERSONAS
from tests.integration.servers import CLI, LOOPBACK, answers, free_port, launch

pytestmark = pytest.mark.integration
DOMINIQUE = PERSONAS[0].traits()
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


@pytest.fixture(scope="module")
def split(
    dev_pki: DevPki, log_dir: Path, mock_server: MockServer
) -> Iterator[tuple[GatewayServer, GatewayServer]]:
    """The gateway seen from its API port and from its ops port (same process)."""
    api_port, ops_port = free_port(), free_port()
    env = gateway_env(
        dev_pki, mock_server.url, DATABASE_URL=f"sqlite:///{log_dir / f'ops-{api_port}.db'}"
    )
    key = register_app(env, APP, "--operations", "search", "--rate", "100", "--burst", "100")
    argv = [
        *CLI,
        "serve",
        "--bind",
        f"{LOOPBACK}:{api_port}",
        "--ops-bind",
        f"{LOOPBACK}:{ops_port}",
    ]
    argv += ["--threads", "4", "--certfile", str(dev_pki.mock_server.pem)]
    argv += ["--keyfile", str(dev_pki.mock_server.key)]
    ready = f"https://localhost:{ops_port}/readyz"
    verify = str(dev_pki.ca_bundle)
    process = launch(
        f"ops-split-{api_port}", argv, env, log_dir, ready=lambda: answers(ready, verify=verify)
    )
    api = GatewayServer(api_port, dev_pki.ca_bundle, process, key, env)
    ops = GatewayServer(ops_port, dev_pki.ca_bundle, process, key, env)
    yield api, ops
    process.stop()


def get(server: GatewayServer, path: str) -> requests.Response:
    return server.session.get(server.base_url + path, verify=str(server.ca_bundle), timeout=30)


def test_the_api_port_serves_the_api_and_not_the_ops_endpoints(
    split: tuple[GatewayServer, GatewayServer],
) -> None:
    api, _ = split

    found = api.post("/v1/ins/search", DOMINIQUE)
    metrics, ready = get(api, "/metrics"), get(api, "/readyz")

    assert found.status_code == 200
    assert found.json()["ins"]["matricule"] == "297022A020778"
    for refused in (metrics, ready):
        assert refused.status_code == 404
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert "gateway_" not in refused.text
        assert "serial" not in refused.text
    assert get(api, "/healthz").status_code == 200  # liveness, for the load balancer


def test_the_ops_port_serves_only_the_ops_endpoints(
    split: tuple[GatewayServer, GatewayServer],
) -> None:
    api, ops = split
    api.post("/v1/ins/search", DOMINIQUE)

    metrics, ready = get(ops, "/metrics"), get(ops, "/readyz")
    search = ops.post("/v1/ins/search", DOMINIQUE)
    soap = ops.session.post(
        ops.base_url + "/soap12",
        data=f'<e:Envelope xmlns:e="{SOAP12}"><e:Body/></e:Envelope>'.encode(),
        headers={"Content-Type": "application/soap+xml"},
        verify=str(ops.ca_bundle),
        timeout=30,
    )

    assert metrics.status_code == 200
    assert f'gateway_requests_total{{app="{APP}"' in metrics.text  # the search made on the API port
    assert ready.status_code == 200
    assert json.loads(ready.text)["status"] == "ready"
    assert [search.status_code, soap.status_code, get(ops, "/openapi.json").status_code] == [
        404,
        404,
        404,
    ]
    assert get(ops, "/healthz").status_code == 200


def test_ops_bind_must_be_host_and_port(
    dev_pki: DevPki, mock_server: MockServer, log_dir: Path
) -> None:
    env = gateway_env(dev_pki, mock_server.url, DATABASE_URL=f"sqlite:///{log_dir / 'ops-bad.db'}")
    completed = subprocess.run(
        [*CLI, "serve", "--bind", f"{LOOPBACK}:{free_port()}", "--ops-bind", "9100"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode != 0
    assert "--ops-bind" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_the_vigilance_page_is_served_on_the_ops_port_only(
    split: tuple[GatewayServer, GatewayServer],
) -> None:
    """The page is for people of the hospital, its API for applications (docs/vigilance.md)."""
    api, ops = split

    assert get(api, "/vigilance/login").status_code == 404
    assert get(api, "/vigilance/").status_code == 404
    assert get(ops, "/vigilance/login").status_code == 200
    to_login = ops.session.get(
        ops.base_url + "/vigilance/", verify=str(ops.ca_bundle), timeout=30, allow_redirects=False
    )
    assert to_login.status_code == 303  # to the login form: no session
    assert get(api, "/v1/vigilance/events").status_code == 401
    assert get(ops, "/v1/vigilance/events").status_code == 404
