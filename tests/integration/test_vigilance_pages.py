"""The vigilance page's login, sessions and anti-forgery tokens, refusals included (HTTP level).

A gateway of its own: the failed logins of these tests throttle its address.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import GatewayFactory, GatewayServer, MockServer, cli
from tests.integration.vigilance_scenario import Cell, add_reviewer, json_calls

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def page_gateway(gateway_factory: GatewayFactory, mock_server: MockServer) -> GatewayServer:
    gateway = gateway_factory(mock_server.url)
    json_calls(gateway, prefix="P")
    return gateway


def journal(gateway: GatewayServer, *args: str) -> list[dict[str, object]]:
    lines = cli(gateway.env, "audit", "search", *args).splitlines()
    return [record for record in map(json.loads, lines) if record["operation"] == "vigilance-login"]


def test_login_sets_a_strict_cookie_and_forms_need_their_token(page_gateway: GatewayServer) -> None:
    password = add_reviewer(page_gateway, "carol")
    cell = Cell(page_gateway)

    form = cell.get("/vigilance/login")
    without_token = cell.post("/vigilance/login", data={"name": "carol", "password": password})
    forged = cell.post(
        "/vigilance/login", data={"name": "carol", "password": password, "csrf_token": "forged"}
    )
    logged_in = cell.login("carol", password)

    assert form.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert (without_token.status_code, forged.status_code) == (403, 403)
    assert "Jeton anti-falsification" in without_token.text
    assert logged_in.status_code == 303
    cookie = logged_in.headers["Set-Cookie"]
    assert "vigilance_session=" in cookie
    assert all(flag in cookie for flag in ("Secure", "HttpOnly", "SameSite=Strict"))
    assert cell.get("/vigilance/").status_code == 200

    # a review without the session's token is refused, the event stays open
    refused = cell.post("/vigilance/events/1/resolve", data={"comment": "x"})
    assert refused.status_code == 403
    page = cell.get("/vigilance/events/1")
    assert 'id="etat">Ouvert' in page.text
    token = cell.form_token("/vigilance/events/1")
    done = cell.post("/vigilance/events/1/acknowledge", data={"comment": "vu", "csrf_token": token})
    assert done.status_code == 303
    assert "Pris en compte par carol" in cell.get(done.headers["Location"]).text

    # logout needs the token too, and ends the session
    assert cell.post("/vigilance/logout", data={}).status_code == 403
    assert cell.get("/vigilance/").status_code == 200
    out = cell.post("/vigilance/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert cell.get("/vigilance/").status_code == 303
    outcomes = [record["outcome"] for record in journal(page_gateway, "--user", "carol")]
    assert outcomes == ["login", "logout"]


def test_failed_logins_are_journaled_then_throttled(page_gateway: GatewayServer) -> None:
    password = add_reviewer(page_gateway, "dave")
    cell = Cell(page_gateway)

    statuses = [cell.login("dave", "wrong password 0123").status_code for _ in range(5)]
    throttled = cell.login("dave", password)  # even the right password waits now

    assert statuses == [401] * 5
    assert throttled.status_code == 429
    assert "Trop de tentatives" in throttled.text
    outcomes = [record["outcome"] for record in journal(page_gateway, "--user", "dave")]
    assert outcomes == ["login-failed"] * 5 + ["login-throttled"]
    unknown = cell.login("nobody-at-all", "whatever 0123")
    assert unknown.status_code == 429  # the address is over its limit too
