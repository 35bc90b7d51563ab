"""Transports: how request bytes reach the teleservice and answer bytes come back.

A transport is one narrow method, :meth:`Transport.send`, so the real
mutual-TLS transport and a test double are interchangeable. The real one
converts every ``requests``/``urllib3``/``ssl`` error into the gateway's
exception tree here, at its boundary:

- nothing was sent (refused, TLS handshake failed, connect timeout) -> ``UpstreamUnavailable``;
- sent but no complete answer in time -> ``UpstreamTimeout`` (outcome unknown);
- connection broken while reading -> ``UpstreamUnavailable``;
- answer larger than the cap -> ``UpstreamBadResponse``.
"""

from __future__ import annotations

import http.cookiejar
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from gateway.exceptions import (
    GatewayError,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.pki.credentials import Credential
from gateway.transport.tls import client_context


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    url: str
    body: bytes
    headers: Mapping[str, str]
    # Seconds left before the call's deadline: no attempt may wait longer than that.
    time_left: float | None = None


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    content: bytes
    elapsed: float


class Transport(Protocol):
    """Send one request, return its answer or raise an ``UpstreamError``."""

    def send(self, request: UpstreamRequest) -> UpstreamResponse: ...


class _ContextAdapter(HTTPAdapter):
    """An adapter whose pools all use our SSL context (client certificate, TLS >= 1.2).

    The context already holds the CA bundle and requires verification (checked by
    ``refuse_unsafe``): ``cert_verify`` must not hand urllib3 a CA path, or every new
    connection would re-read the bundle into the shared context.
    """

    def __init__(self, context: Any, *, pool_size: int) -> None:
        self._context = context
        super().__init__(pool_connections=1, pool_maxsize=pool_size, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        conn.cert_reqs = ssl.CERT_REQUIRED  # verified by our context, against its CA bundle
        conn.ca_certs = None
        conn.ca_cert_dir = None


class MutualTlsTransport:
    """``requests`` session doing mutual TLS, keeping connections (and TLS sessions) alive.

    Without a credential it does server-authenticated TLS only: the CPx endpoint,
    where the professional's card assertion authenticates the call.

    Built once per worker process; ``requests.Session`` with a pooled
    adapter is safe to share between the worker's threads for ``post``. Size
    the pool to the calls that may be in flight at once (``INSI_MAX_CONCURRENT``):
    a smaller pool discards connections above its size, and each new one costs a
    full mutual-TLS handshake.
    """

    def __init__(
        self,
        credential: Credential | None,
        *,
        ca_bundle: Path,
        connect_timeout: float,
        read_timeout: float,
        max_response_bytes: int,
        pool_size: int = 16,
    ) -> None:
        self.pool_size = pool_size
        self._timeout = (connect_timeout, read_timeout)
        self._max_bytes = max_response_bytes
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy or CA bundle from the environment
        # One session serves every application: a cookie the teleservice (or a proxy in
        # front of it) sets would follow the next call of any application. Store none.
        self._session.cookies.set_policy(RefuseAllCookies())
        self._session.verify = True  # by the context, against ca_bundle (see _ContextAdapter)
        self._adapter = _ContextAdapter(
            client_context(credential, ca_bundle=ca_bundle), pool_size=pool_size
        )
        self._session.mount("https://", self._adapter)
        self._session.mount("http://", _RefusePlainHttp())

    def send(self, request: UpstreamRequest) -> UpstreamResponse:
        started = time.perf_counter()
        try:
            with self._session.post(
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=self._timeouts(request.time_left),
                stream=True,
                allow_redirects=False,
            ) as response:
                content = self._read_capped(response)
                return UpstreamResponse(
                    status=response.status_code,
                    headers=dict(response.headers),
                    content=content,
                    elapsed=time.perf_counter() - started,
                )
        except (requests.exceptions.RequestException, TimeoutError) as exc:
            raise upstream_error(exc) from None

    def _timeouts(self, time_left: float | None) -> tuple[float, float]:
        if time_left is None:
            return self._timeout
        if time_left <= 0:
            raise UpstreamTimeout("the call's deadline passed before this attempt")
        connect, read = self._timeout
        return (min(connect, time_left), min(read, time_left))

    def _read_capped(self, response: requests.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > self._max_bytes:
                raise UpstreamBadResponse(
                    f"answer larger than {self._max_bytes} bytes", http_status=response.status_code
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def idle_connections(self) -> int:
        """Open connections its pools keep for the next calls (shown at shutdown)."""
        pools = self._adapter.poolmanager.pools
        kept = 0
        for key in list(pools.keys()):
            pool = pools.get(key)
            queued = getattr(getattr(pool, "pool", None), "queue", ())
            kept += sum(1 for conn in list(queued) if getattr(conn, "sock", None) is not None)
        return kept

    def close(self) -> int:
        """Close the pooled connections (worker shutdown); how many were open."""
        kept = self.idle_connections()
        self._session.close()
        return kept


def _connect_timeout(exc: BaseException) -> GatewayError:
    return UpstreamUnavailable("connection to the teleservice timed out", nothing_sent=True)


def _read_timeout(exc: BaseException) -> GatewayError:
    return UpstreamTimeout("the teleservice did not answer in time")


def _tls_error(exc: BaseException) -> GatewayError:
    """Only a refused certificate is surely a handshake failure; other TLS errors (a
    corrupted record, say) may come after the request went: not retried."""
    refused = _caused_by(exc, ssl.SSLCertVerificationError)
    reason = (
        "TLS handshake failed: the teleservice's certificate was refused"
        if refused
        else "TLS error with the teleservice"
    )
    return UpstreamUnavailable(reason, nothing_sent=refused)


def _unreachable(exc: BaseException) -> GatewayError:
    return UpstreamUnavailable(
        f"teleservice unreachable ({type(exc).__name__})", nothing_sent=_never_sent(exc)
    )


# What requests (and the socket layer) raise, mapped to our tree: the first entry the
# error is an instance of wins, so the more specific classes come first.
Translate = Callable[[BaseException], GatewayError]
ERROR_MAP: Final[tuple[tuple[type[BaseException], Translate], ...]] = (
    (requests.exceptions.ConnectTimeout, _connect_timeout),
    (requests.exceptions.ReadTimeout, _read_timeout),
    (TimeoutError, _read_timeout),
    (requests.exceptions.SSLError, _tls_error),
    (requests.exceptions.RequestException, _unreachable),
)


def upstream_error(exc: BaseException) -> GatewayError:
    """The gateway error for what the HTTP layer raised (:data:`ERROR_MAP`)."""
    for kind, build in ERROR_MAP:
        if isinstance(exc, kind):
            return build(exc)
    return _unreachable(exc)


def _never_sent(error: BaseException) -> bool:
    """Whether the failure happened while connecting (nothing of the request left)."""
    return _caused_by(error, NewConnectionError, ConnectTimeoutError)


def _caused_by(error: BaseException, *kinds: type[BaseException]) -> bool:
    """Whether ``error`` or what it wraps (reason, first argument, cause) is one of ``kinds``."""
    seen: BaseException | None = error
    for _ in range(20):  # wrapping chains are short; never loop forever
        if seen is None:
            return False
        if isinstance(seen, kinds):
            return True
        reason = getattr(seen, "reason", None)
        if isinstance(reason, BaseException) and reason is not seen:
            seen = reason
            continue
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = inner or seen.__cause__ or seen.__context__
    return False


class RefuseAllCookies(http.cookiejar.DefaultCookiePolicy):
    """A cookie policy that stores no cookie and returns none."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class _RefusePlainHttp(HTTPAdapter):
    """The teleservice is only ever reached over HTTPS."""

    def send(self, *args: Any, **kwargs: Any) -> requests.Response:
        raise requests.exceptions.InvalidSchema("plain http is refused toward the teleservice")
