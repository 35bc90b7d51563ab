"""Forwarded host and scheme are believed only from GATEWAY_TRUSTED_PROXIES."""

from __future__ import annotations

from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
from werkzeug.test import Client

from gateway.admission.proxies import TrustedProxies, parse_networks
from gateway.exceptions import ConfigurationError

FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "insi.example.org",
    "X-Forwarded-Port": "8443",  # not used: the port is the one in X-Forwarded-Host
    "X-Forwarded-For": "203.0.113.7",
}


def _echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The URL root and peer the application sees."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    seen = f"{environ['wsgi.url_scheme']}://{environ['HTTP_HOST']} {environ['REMOTE_ADDR']}"
    return [seen.encode()]


def _seen(proxies: str, peer: str) -> str:
    app = TrustedProxies(_echo, parse_networks(proxies, setting="GATEWAY_TRUSTED_PROXIES"))
    response = Client(app).get(
        "/soap",
        headers=FORWARDED,
        environ_base={"REMOTE_ADDR": peer},
        base_url="http://10.0.0.5:8080",
    )
    return response.get_data(as_text=True)


def test_a_trusted_proxy_sets_scheme_host_and_client() -> None:
    assert _seen("10.0.0.0/8, 192.168.1.1", "10.1.2.3") == "https://insi.example.org 203.0.113.7"


@pytest.mark.parametrize("proxies", ["", "192.168.0.0/16", "::1/128"])
def test_forwarded_headers_of_anybody_else_are_ignored(proxies: str) -> None:
    assert _seen(proxies, "10.1.2.3") == "http://10.0.0.5:8080 10.1.2.3"


def test_ipv6_proxy() -> None:
    assert _seen("fd00::/8", "fd00::17").startswith("https://insi.example.org ")


@pytest.mark.parametrize("raw", ["10.0.0.0/33", "proxy.internal", "10.0.0.1/8/2"])
def test_a_bad_entry_is_named(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_networks(f"127.0.0.1, {raw}", setting="GATEWAY_TRUSTED_PROXIES")
    assert caught.value.setting == "GATEWAY_TRUSTED_PROXIES"
    assert raw in caught.value.reason
