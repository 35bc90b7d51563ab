"""Forwarded host and scheme, believed only from the front proxies we trust.

Behind nginx the gateway sees the proxy's address and its plain-HTTP hop, yet
the WSDL's ``soap:address`` (and any absolute URL the gateway builds) must
carry the URL a client used (``https://insi.example.org/...``). The proxy says
so in ``X-Forwarded-Proto``, ``X-Forwarded-Host`` (with the client's port, if
any) and ``X-Forwarded-For``; anybody else could say the same to make the WSDL
point a client (and its API key) elsewhere. So those headers are applied
(werkzeug's ``ProxyFix``, one hop) only when the peer address is in
``GATEWAY_TRUSTED_PROXIES``; from any other peer they are
ignored and the URL is the one of the request as received.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.exceptions import ConfigurationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str, *, setting: str) -> tuple[Network, ...]:
    """A comma-separated list of addresses or CIDR blocks (empty: trust nobody)."""
    networks: list[Network] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigurationError(
                setting, f"{item!r} is not an IP address or CIDR block (e.g. 10.0.0.0/8)"
            ) from None
    return tuple(networks)


class TrustedProxies:
    """WSGI middleware: ``ProxyFix`` for requests whose peer is a trusted proxy, else nothing."""

    def __init__(self, app: WSGIApplication, networks: Iterable[Network]) -> None:
        self._app = app
        self._networks = tuple(networks)
        self._fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1)

    def trusts(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:  # a Unix socket peer or none: not an address we listed
            return False
        return any(address in network for network in self._networks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._networks and self.trusts(str(environ.get("REMOTE_ADDR", ""))):
            return self._fixed(environ, start_response)
        return self._app(environ, start_response)
