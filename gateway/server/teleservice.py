"""The teleservice side of one worker process: every transport built once, sized alike.

Before this module, the certificate transports and the CPx one were built in
two places, and the CPx pool kept the transport's default of 16 connections
while ``INSI_MAX_CONCURRENT`` let 32 calls through: above 16, each connection
was discarded after use and the next call paid a full TLS handshake. Here one
function builds them all from the same setting, and the same object closes
them at the worker's shutdown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.models import CertificateMode
from gateway.pki.credentials import Credential
from gateway.settings import Settings
from gateway.transport.breaker import CircuitBreaker
from gateway.transport.resilience import Resilience, ResilientTransport
from gateway.transport.transports import MutualTlsTransport, Transport
from gateway.upstream.client import InsiClient

CIRCUIT = "circuit"  # the /readyz check of the certificate endpoint's breaker (name kept)
CPX_CIRCUIT = "circuit cpx"  # the /readyz check of the CPx endpoint's breaker


def upstream_transport(settings: Settings, credential: Credential | None) -> MutualTlsTransport:
    """One transport toward the teleservice; ``credential`` None is the CPx endpoint's.

    Its pool keeps one connection per slot toward the teleservice
    (``INSI_MAX_CONCURRENT``): a smaller pool would discard connections above its
    size, each new one paying a full TLS handshake.
    """
    return MutualTlsTransport(
        credential,
        ca_bundle=settings.upstream_ca,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_response_bytes=settings.max_response_bytes,
        pool_size=settings.resilience.max_concurrent,
    )


def mutual_tls_transports(
    settings: Settings, credentials: Mapping[CertificateMode, Credential]
) -> dict[CertificateMode, MutualTlsTransport]:
    """One mutual-TLS transport per establishment certificate."""
    return {mode: upstream_transport(settings, cred) for mode, cred in credentials.items()}


@dataclass(frozen=True, slots=True)
class Teleservice:
    """The transports of one worker process, their resilience, and the one zeep client.

    Both certificate transports reach the same endpoint and share one
    :class:`Resilience` (circuit, retry budget, slots); the CPx endpoint has its
    own, so one endpoint's outage does not open the other's circuit.
    """

    transports: Mapping[CertificateMode, MutualTlsTransport]
    resilience: Resilience
    cpx: MutualTlsTransport | None
    cpx_resilience: Resilience | None
    client: InsiClient

    def breakers(self) -> dict[str, CircuitBreaker]:
        """Each endpoint's breaker under its ``/readyz`` check name."""
        breakers = {CIRCUIT: self.resilience.breaker}
        if self.cpx_resilience is not None:
            breakers[CPX_CIRCUIT] = self.cpx_resilience.breaker
        return breakers

    def all_transports(self) -> list[MutualTlsTransport]:
        """Every transport this process built (certificate ones, then CPx)."""
        return [*self.transports.values(), *([self.cpx] if self.cpx is not None else [])]

    def close(self) -> int:
        """Close every transport's pool; how many open connections that closed."""
        return sum(transport.close() for transport in self.all_transports())


def build_teleservice(
    settings: Settings,
    credentials: Mapping[CertificateMode, Credential],
    *,
    on_retry: Callable[[], None],
) -> Teleservice:
    """Each transport once, every pool sized from ``INSI_MAX_CONCURRENT``, and the client."""
    transports = mutual_tls_transports(settings, credentials)
    resilience = Resilience(settings.resilience, on_retry=on_retry)
    resilient: dict[CertificateMode, Transport] = {
        mode: ResilientTransport(inner, resilience) for mode, inner in transports.items()
    }
    cpx = cpx_resilience = None
    cpx_route: tuple[str, Transport] | None = None
    if settings.cpx is not None:
        cpx = upstream_transport(settings, None)
        cpx_resilience = Resilience(settings.resilience, on_retry=on_retry)
        cpx_route = (settings.cpx.url, ResilientTransport(cpx, cpx_resilience))
    client = InsiClient(
        endpoint=settings.upstream_url,
        transports=resilient,
        max_response_bytes=settings.max_response_bytes,
        cpx=cpx_route,
    )
    return Teleservice(transports, resilience, cpx, cpx_resilience, client)
