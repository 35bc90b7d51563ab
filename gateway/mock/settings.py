"""Configuration of the mock teleservice: one frozen object, read from the environment once.

:meth:`MockSettings.from_env` is the only place the mock reads environment
variables. It runs inside each gunicorn worker (see :mod:`gateway.mock.server`),
so a test can start the server with a tailored environment and nothing is
shared across the fork.

=====================  ==========================================================
``MOCK_AUTH``          ``vihf`` (default): a signed VIHF is required; ``tls``: mutual
                       TLS alone is enough (a VIHF, when sent, is still verified);
                       ``cpx``: the CPx endpoint: server-only TLS, a card-signed
                       assertion verified against ``MOCK_CPX_CA`` is required
``MOCK_CPX_CA``        card CA bundle of ``MOCK_AUTH=cpx`` (default: the dev PKI's
                       ``cards/card-ca-bundle.pem``)
``MOCK_CAPTURE_DIR``   test only: write each received envelope there (0600), so a
                       test can re-verify what arrived; never set it in a shared place
``MOCK_ALLOWED_IDAM``  comma-separated accepted ``ContexteLPS/LPS/IDAM`` values
                       (default ``INSI-GW-DEV-IDAM``)
``MOCK_RESPONSE_STYLE``  ``plain`` (default) or ``variant`` serialisation of answers
``MOCK_LATENCY_MS``    sleep added to every ``/lps`` request (default 0)
``MOCK_FAILURE_RATE``  probability 0..1 of injecting ``MOCK_FAILURE_MODE`` (default 0)
``MOCK_FAILURE_MODE``  ``http503`` (default), ``http500``, ``garbage``, ``reset``, ``slow``
``MOCK_SLOW_MS``       sleep of the ``slow`` mode (default 30000)
``MOCK_SEED``          integer seed of the failure draw, for reproducible runs
``MOCK_REQUEST_LOG``   file to append one JSON line per ``/lps`` request to
``MOCK_SET_COOKIE``    ``1``: every ``/lps`` answer sets a session cookie (the log
                       records whether a request sent one back)
=====================  ==========================================================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gateway.exceptions import ConfigurationError

DEFAULT_ALLOWED_IDAM = "INSI-GW-DEV-IDAM"
CA_BUNDLE_NAME = "ca-bundle.pem"
CPX_CA_BUNDLE_NAME = "cards/card-ca-bundle.pem"

_E = TypeVar("_E", bound=enum.Enum)


class AuthMode(enum.StrEnum):
    """How callers authenticate beyond mutual TLS."""

    VIHF = "vihf"
    TLS = "tls"
    CPX = "cpx"


class ResponseStyle(enum.StrEnum):
    """Serialisation of the answers, varied to exercise the gateway's parser."""

    PLAIN = "plain"
    VARIANT = "variant"


class FailureMode(enum.StrEnum):
    """What an injected failure looks like on the wire."""

    HTTP503 = "http503"
    HTTP500 = "http500"
    GARBAGE = "garbage"
    RESET = "reset"
    SLOW = "slow"


@dataclass(frozen=True, slots=True)
class MockSettings:
    """Everything the mock app needs; built once per worker."""

    ca_bundle: Path
    auth: AuthMode = AuthMode.VIHF
    allowed_idam: frozenset[str] = frozenset({DEFAULT_ALLOWED_IDAM})
    response_style: ResponseStyle = ResponseStyle.PLAIN
    latency_ms: int = 0
    failure_rate: float = 0.0
    failure_mode: FailureMode = FailureMode.HTTP503
    slow_ms: int = 30_000
    seed: int | None = None
    request_log: Path | None = None
    contract_dir: Path | None = None
    cpx_ca: Path | None = None
    capture_dir: Path | None = None
    set_cookie: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, pki_dir: Path) -> MockSettings:
        """Build settings from ``env`` and the dev PKI directory, failing on the first problem."""
        ca_bundle = pki_dir / CA_BUNDLE_NAME
        if not ca_bundle.is_file():
            raise ConfigurationError("pki_dir", f"{CA_BUNDLE_NAME} not found in {pki_dir}")
        read = _Reader(env)
        return cls(
            ca_bundle=ca_bundle,
            auth=read.choice("MOCK_AUTH", AuthMode, AuthMode.VIHF),
            allowed_idam=read.csv("MOCK_ALLOWED_IDAM", DEFAULT_ALLOWED_IDAM),
            response_style=read.choice("MOCK_RESPONSE_STYLE", ResponseStyle, ResponseStyle.PLAIN),
            latency_ms=read.non_negative_int("MOCK_LATENCY_MS", 0),
            failure_rate=read.rate("MOCK_FAILURE_RATE"),
            failure_mode=read.choice("MOCK_FAILURE_MODE", FailureMode, FailureMode.HTTP503),
            slow_ms=read.non_negative_int("MOCK_SLOW_MS", 30_000),
            seed=read.optional_int("MOCK_SEED"),
            request_log=Path(raw) if (raw := env.get("MOCK_REQUEST_LOG", "").strip()) else None,
            contract_dir=Path(raw) if (raw := env.get("MOCK_CONTRACT_DIR", "").strip()) else None,
            cpx_ca=_cpx_ca(env, pki_dir),
            capture_dir=Path(raw) if (raw := env.get("MOCK_CAPTURE_DIR", "").strip()) else None,
            set_cookie=read.flag("MOCK_SET_COOKIE"),
        )


def _cpx_ca(env: Mapping[str, str], pki_dir: Path) -> Path | None:
    """The card CA bundle of ``MOCK_AUTH=cpx`` (required in that mode, ignored otherwise)."""
    if env.get("MOCK_AUTH", "").strip().lower() != AuthMode.CPX.value:
        return None
    path = Path(env.get("MOCK_CPX_CA", "").strip() or pki_dir / CPX_CA_BUNDLE_NAME)
    if not path.is_file():
        raise ConfigurationError("MOCK_CPX_CA", f"card CA bundle not found: {path}")
    return path


class _Reader:
    """Typed readers whose errors name the variable and the rule, never echo the value."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str:
        return self._env.get(name, "").strip()

    def choice(self, name: str, kind: type[_E], default: _E) -> _E:
        raw = self._raw(name).lower()
        if not raw:
            return default
        try:
            return kind(raw)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in kind)
            raise ConfigurationError(name, f"must be one of: {allowed}") from None

    def csv(self, name: str, default: str) -> frozenset[str]:
        values = frozenset(part.strip() for part in (self._raw(name) or default).split(","))
        return values - {""}

    def optional_int(self, name: str) -> int | None:
        raw = self._raw(name)
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(name, "must be an integer") from None

    def non_negative_int(self, name: str, default: int) -> int:
        value = self.optional_int(name)
        if value is None:
            return default
        if value < 0:
            raise ConfigurationError(name, "must be zero or more")
        return value

    def flag(self, name: str) -> bool:
        raw = self._raw(name)
        if raw not in ("", "0", "1"):
            raise ConfigurationError(name, "must be 0 or 1")
        return raw == "1"

    def rate(self, name: str) -> float:
        raw = self._raw(name)
        if not raw:
            return 0.0
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(name, "must be a number between 0 and 1") from None
        if not 0.0 <= value <= 1.0:
            raise ConfigurationError(name, "must be between 0 and 1")
        return value
