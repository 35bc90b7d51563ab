"""Upstream cookies are refused: one ``requests`` session serves every application.

Issue 10, point 8: the shared session kept a cookie jar, so a cookie the
teleservice (or a load balancer in front of it) set on one application's call
went back with the next call of any application. The mock here sets a cookie on
every answer (``MOCK_SET_COOKIE``) and logs whether each request carried one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.pki.devpki import DevPki
from tests.integration.conftest import GatewayFactory
from tests.integration.test_resilience import search
from tests.support.upstreams import Launcher, Reaper

pytestmark = pytest.mark.integration


@pytest.fixture
def launch(gateway_factory: GatewayFactory, dev_pki: DevPki, log_dir: Path) -> Iterator[Launcher]:
    reaper = Reaper()
    launcher = Launcher(gateway_factory, dev_pki, log_dir, reaper)
    yield launcher
    launcher.close()
    reaper.join()


def test_a_cookie_set_by_the_teleservice_is_never_sent_back(launch: Launcher) -> None:
    mock, server = launch.mock_and_gateway({"MOCK_SET_COOKIE": "1"})

    outcomes = [search(server) for _ in range(3)]  # one connection, kept alive: same session

    assert [o.status for o in outcomes] == [200, 200, 200]
    logged = mock.logged_requests()
    assert len(logged) == 3  # each answer set a cookie...
    assert [r["cookie"] for r in logged] == [False, False, False]  # ...none came back
