"""Configuration of the mock teleservice: one frozen object, read once when the server starts.

:meth:`MockSettings.from_config` reads the ``MOCK_*`` variables through the
gateway's one :class:`~gateway.config.ConfigReader`, built by the process entry
point (:mod:`gateway.mock.server`, or the ``insi-gateway mock`` command, which
puts the configuration file under the environment). The master reads them
before it forks, so bad values stop the server at once, and each gunicorn
worker gets the same frozen object: a test starts the server with the
environment it wants.

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

from gateway.config import ConfigReader
from gateway.exceptions import ConfigurationError

DEFAULT_ALLOWED_IDAM = "INSI-GW-DEV-IDAM"
CA_BUNDLE_NAME = "ca-bundle.pem"
CPX_CA_BUNDLE_NAME = "cards/card-ca-bundle.pem"


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
        """From ``env`` alone (tests): the servers build theirs with :meth:`from_config`."""
        return cls.from_config(ConfigReader(env), pki_dir=pki_dir)

    @classmethod
    def from_config(cls, read: ConfigReader, *, pki_dir: Path) -> MockSettings:
        """Build settings from ``read`` and the dev PKI directory, failing on the first problem."""
        ca_bundle = pki_dir / CA_BUNDLE_NAME
        if not ca_bundle.is_file():
            raise ConfigurationError("pki_dir", f"{CA_BUNDLE_NAME} not found in {pki_dir}")
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
            request_log=read.optional_path("MOCK_REQUEST_LOG"),
            contract_dir=read.optional_path("MOCK_CONTRACT_DIR"),
            cpx_ca=_cpx_ca(read, pki_dir),
            capture_dir=read.optional_path("MOCK_CAPTURE_DIR"),
            set_cookie=read.flag("MOCK_SET_COOKIE"),
        )


def _cpx_ca(read: ConfigReader, pki_dir: Path) -> Path | None:
    """The card CA bundle of ``MOCK_AUTH=cpx`` (required in that mode, ignored otherwise)."""
    if read.text("MOCK_AUTH").lower() != AuthMode.CPX.value:
        return None
    path = Path(read.text("MOCK_CPX_CA") or pki_dir / CPX_CA_BUNDLE_NAME)
    if not path.is_file():
        raise ConfigurationError("MOCK_CPX_CA", f"card CA bundle not found: {path}")
    return path
