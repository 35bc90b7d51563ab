"""The gateway's configuration: one frozen object, read from the environment once.

:func:`Settings.from_env` is the only place in the gateway that reads
environment variables; the app factory calls it and hands the result down.
``docs/configuration.md`` documents every variable below.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gateway.admission.proxies import Network, parse_networks
from gateway.exceptions import ConfigurationError
from gateway.ins.strategy import FirstNameStrategy
from gateway.jobs import JobSettings
from gateway.transport.breaker import BreakerPolicy
from gateway.transport.resilience import ResiliencePolicy


class Secret:
    """A configuration value that must never be printed (passphrases, API keys).

    ``repr``/``str`` show a mask so a secret cannot leak through a log line or
    an error message by accident; :meth:`reveal` is the one explicit way out.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


DEFAULT_DATABASE_URL = "sqlite:///var/gateway.db"

# INSI_ENV presets of the teleservice endpoint (mutual-TLS entry points of the
# Assurance Maladie; check them against the CNAM's current documentation).
UPSTREAM_PRESETS = {
    "mock": "https://127.0.0.1:8443/lps",
    "qualification": "https://qualiflps-services-ps-tlsm.ameli.fr:443/lps",
    "production": "https://services-ps-tlsm.ameli.fr:443/lps",
}


# INSI_ENV presets of the CPx entry point: server-authenticated TLS, the professional's
# card-signed assertion authenticates (check them against the CNAM's current documentation).
CPX_PRESETS = {
    "mock": "https://127.0.0.1:8444/lps",
    "qualification": "https://qualiflps.services-ps.ameli.fr:443/lps",
    "production": "https://services-ps.ameli.fr:443/lps",
}


@dataclass(frozen=True, slots=True)
class CpxSettings:
    """CPx mode: where card-signed calls go and which card CAs and ages are accepted."""

    url: str
    card_ca: Path
    max_age: float
    """Seconds an assertion stays acceptable after its ``IssueInstant``."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CpxSettings | None:
        """None (CPx mode off) unless ``INSI_CPX_CA`` names the card CA bundle."""
        reader = _EnvReader(env)
        if not env.get("INSI_CPX_CA", "").strip():
            if env.get("INSI_CPX_URL", "").strip():
                raise ConfigurationError("INSI_CPX_CA", "is required when INSI_CPX_URL is set")
            return None
        preset = env.get("INSI_ENV", "").strip().lower()
        if env.get("INSI_CPX_URL", "").strip() or preset not in CPX_PRESETS:
            url = reader.https_url("INSI_CPX_URL")
        else:
            url = CPX_PRESETS[preset]
        return cls(
            url=url,
            card_ca=reader.path("INSI_CPX_CA"),
            max_age=reader.positive_float("INSI_CPX_MAX_AGE", 600.0),
        )


class SigningMode(enum.StrEnum):
    """``INSI_SIGNING``: ``vihf`` signs a SAML assertion in ``wsse:Security``; ``none`` omits it."""

    VIHF = "vihf"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """The database and the audit key: all the ``apps``/``audit`` commands need."""

    database_url: str
    audit_key: Secret

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StorageSettings:
        reader = _EnvReader({**config_file(env.get("GATEWAY_CONFIG_FILE", "")), **env})
        audit_key = reader.required("GATEWAY_AUDIT_KEY")
        if len(audit_key) < 16:
            raise ConfigurationError("GATEWAY_AUDIT_KEY", "must be at least 16 characters")
        return cls(
            database_url=reader.optional("DATABASE_URL", DEFAULT_DATABASE_URL),
            audit_key=Secret(audit_key),
        )


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """The journal's anchoring and the flood guard in front of it (docs/storage.md)."""

    anchor_seconds: int = 300  # GATEWAY_AUDIT_ANCHOR_SECONDS: head to the log (0: never)
    aggregate_seconds: int = 60  # GATEWAY_AUDIT_AGGREGATE_SECONDS: one refusal record per address
    auth_failure_limit: int = 10  # GATEWAY_AUTH_FAILURE_LIMIT: per address and window, then 429
    auth_failure_window: int = 60  # GATEWAY_AUTH_FAILURE_WINDOW_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuditSettings:
        reader, default = _EnvReader(env), cls()
        return cls(
            anchor_seconds=reader.whole(
                "GATEWAY_AUDIT_ANCHOR_SECONDS", default.anchor_seconds, minimum=0
            ),
            aggregate_seconds=reader.whole(
                "GATEWAY_AUDIT_AGGREGATE_SECONDS", default.aggregate_seconds, minimum=1
            ),
            auth_failure_limit=reader.whole(
                "GATEWAY_AUTH_FAILURE_LIMIT", default.auth_failure_limit, minimum=1
            ),
            auth_failure_window=reader.whole(
                "GATEWAY_AUTH_FAILURE_WINDOW_SECONDS", default.auth_failure_window, minimum=1
            ),
        )


@dataclass(frozen=True, slots=True)
class SharedStateSettings:
    """Where the processes of the gateway share their quotas; no ``REDIS_URL``: each its own."""

    redis_url: Secret | None
    redis_prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SharedStateSettings:
        url = env.get("REDIS_URL", "").strip()
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError("REDIS_URL", "must start with redis://, rediss:// or unix://")
        prefix = env.get("GATEWAY_REDIS_PREFIX", "").strip() or "insi-gateway:"
        return cls(redis_url=Secret(url) if url else None, redis_prefix=prefix)


@dataclass(frozen=True, slots=True)
class CertificateSource:
    """Where an establishment certificate lives: PKCS#12 or PEM (cert + key)."""

    path: Path
    passphrase: Secret | None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the gateway needs to run; built once by the app factory."""

    upstream_url: str
    upstream_ca: Path
    cert_ca: Path
    cert_manu: CertificateSource
    cert_auto: CertificateSource | None
    idam: str
    software_name: str
    software_version: str
    software_instance: str
    emitter: str | None
    signing: SigningMode
    first_name_strategy: FirstNameStrategy
    storage: StorageSettings
    jobs: JobSettings
    shared: SharedStateSettings
    metrics_dir: Path | None  # the workers' metrics files (multiprocess mode), set by serve
    connect_timeout: float
    read_timeout: float
    resilience: ResiliencePolicy
    max_body_bytes: int
    max_response_bytes: int
    log_level: str
    trusted_proxies: tuple[Network, ...] = ()
    cpx: CpxSettings | None = None
    audit: AuditSettings = AuditSettings()
    drain_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from ``env`` (usually ``os.environ``), failing on the first problem.

        ``GATEWAY_CONFIG_FILE`` names an optional file of ``NAME=value`` lines
        with the same names; the environment wins over it.
        """
        env = {**config_file(env.get("GATEWAY_CONFIG_FILE", "")), **env}
        reader = _EnvReader(env)
        return cls(
            upstream_url=reader.upstream_url(),
            upstream_ca=reader.path("INSI_UPSTREAM_CA"),
            cert_ca=reader.path("INSI_CERT_CA" if env.get("INSI_CERT_CA") else "INSI_UPSTREAM_CA"),
            cert_manu=CertificateSource(
                reader.path("INSI_CERT_MANU"), reader.secret("INSI_CERT_MANU_PASSPHRASE")
            ),
            cert_auto=(
                CertificateSource(
                    reader.path("INSI_CERT_AUTO"), reader.secret("INSI_CERT_AUTO_PASSPHRASE")
                )
                if env.get("INSI_CERT_AUTO")
                else None
            ),
            idam=reader.required("INSI_IDAM"),
            software_name=reader.optional("INSI_SOFTWARE_NAME", "insi-gateway"),
            software_version=reader.optional("INSI_SOFTWARE_VERSION", _package_version()),
            software_instance=reader.optional("INSI_SOFTWARE_INSTANCE", "insi-gateway-1"),
            emitter=env.get("INSI_EMITTER") or None,
            signing=reader.choice("INSI_SIGNING", SigningMode, SigningMode.VIHF),
            first_name_strategy=reader.choice(
                "INSI_FIRST_NAME_STRATEGY", FirstNameStrategy, FirstNameStrategy.PROGRESSIVE
            ),
            storage=StorageSettings.from_env(env),
            jobs=JobSettings.from_env(env),
            shared=SharedStateSettings.from_env(env),
            metrics_dir=Path(env["PROMETHEUS_MULTIPROC_DIR"])
            if env.get("PROMETHEUS_MULTIPROC_DIR")
            else None,
            audit=AuditSettings.from_env(env),
            connect_timeout=reader.positive_float("INSI_CONNECT_TIMEOUT", 3.05),
            read_timeout=reader.positive_float("INSI_READ_TIMEOUT", 15.0),
            resilience=ResiliencePolicy(
                max_retries=reader.whole("INSI_MAX_RETRIES", 2, minimum=0),
                deadline=reader.positive_float("INSI_DEADLINE", 20.0),
                breaker=reader.breaker_policy(),
                max_concurrent=reader.whole("INSI_MAX_CONCURRENT", 32, minimum=1),
                queue_timeout=reader.positive_float("INSI_QUEUE_TIMEOUT", 2.0),
            ),
            max_body_bytes=reader.whole("GATEWAY_MAX_BODY_BYTES", 64 * 1024, minimum=1024),
            max_response_bytes=reader.whole("INSI_MAX_RESPONSE_BYTES", 1024 * 1024, minimum=1024),
            log_level=reader.optional("GATEWAY_LOG_LEVEL", "INFO").upper(),
            trusted_proxies=parse_networks(
                env.get("GATEWAY_TRUSTED_PROXIES", ""), setting="GATEWAY_TRUSTED_PROXIES"
            ),
            cpx=CpxSettings.from_env(env),
            drain_seconds=reader.seconds_or_zero("GATEWAY_DRAIN_SECONDS", 5.0),
        )


_Choice = TypeVar("_Choice", bound=enum.Enum)


class _EnvReader:
    """Typed, specific errors for each variable (the name and why, never the value)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def required(self, name: str) -> str:
        value = self._env.get(name, "").strip()
        if not value:
            raise ConfigurationError(name, "is required and not set")
        return value

    def upstream_url(self) -> str:
        """``INSI_UPSTREAM_URL``, or the endpoint of the ``INSI_ENV`` preset."""
        if self._env.get("INSI_UPSTREAM_URL", "").strip() or not self._env.get("INSI_ENV"):
            return self.https_url("INSI_UPSTREAM_URL")
        preset = self._env["INSI_ENV"].strip().lower()
        if preset not in UPSTREAM_PRESETS:
            allowed = ", ".join(UPSTREAM_PRESETS)
            raise ConfigurationError("INSI_ENV", f"must be one of: {allowed}")
        return UPSTREAM_PRESETS[preset]

    def https_url(self, name: str) -> str:
        value = self.required(name)
        if not value.lower().startswith("https://"):
            raise ConfigurationError(name, "must be an https:// URL (the teleservice needs TLS)")
        return value

    def optional(self, name: str, default: str) -> str:
        return self._env.get(name, "").strip() or default

    def secret(self, name: str) -> Secret | None:
        value = self._env.get(name)
        return Secret(value) if value else None

    def path(self, name: str) -> Path:
        path = Path(self.required(name))
        if not path.is_file():
            raise ConfigurationError(name, f"file not found: {path}")
        return path

    def whole(self, name: str, default: int, *, minimum: int) -> int:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        if not raw.isdigit() or int(raw) < minimum:
            raise ConfigurationError(name, f"must be a whole number of at least {minimum}")
        return int(raw)

    def positive_float(self, name: str, default: float) -> float:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(name, "must be a number") from None
        if not math.isfinite(value) or value <= 0:
            raise ConfigurationError(name, "must be a finite number greater than zero")
        return value

    def breaker_policy(self) -> BreakerPolicy:
        """The circuit breaker's sliding window, threshold and probes (docs/configuration.md)."""
        if self._env.get("INSI_BREAKER_THRESHOLD", "").strip():
            raise ConfigurationError(
                "INSI_BREAKER_THRESHOLD",
                "is no longer read: the circuit opens on a failure rate, see "
                "INSI_BREAKER_FAILURE_RATE and INSI_BREAKER_MIN_CALLS",
            )
        rate = self.whole("INSI_BREAKER_FAILURE_RATE", 50, minimum=1)
        if rate > 100:
            raise ConfigurationError("INSI_BREAKER_FAILURE_RATE", "must be a percentage, 1 to 100")
        return BreakerPolicy(
            window=self.positive_float("INSI_BREAKER_WINDOW", 10.0),
            min_calls=self.whole("INSI_BREAKER_MIN_CALLS", 20, minimum=1),
            failure_rate=rate / 100,
            cooldown=self.positive_float("INSI_BREAKER_COOLDOWN", 30.0),
            probes=self.whole("INSI_BREAKER_PROBES", 3, minimum=1),
        )

    def seconds_or_zero(self, name: str, default: float) -> float:
        """Like :meth:`positive_float`, zero allowed (``0``: no such delay)."""
        if self._env.get(name, "").strip() in {"0", "0.0"}:
            return 0.0
        return self.positive_float(name, default)

    def choice(self, name: str, kind: type[_Choice], default: _Choice) -> _Choice:
        raw = self._env.get(name, "").strip().lower()
        if not raw:
            return default
        try:
            return kind(raw)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise ConfigurationError(name, f"must be one of: {allowed}") from None


def _package_version() -> str:
    from gateway import __version__

    return __version__


def config_file(path: str) -> dict[str, str]:
    """``NAME=value`` lines of an optional configuration file (``#`` comments, blank lines)."""
    if not path:
        return {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        raise ConfigurationError("GATEWAY_CONFIG_FILE", f"cannot read {path}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, equals, value = text.partition("=")
        if not equals or not name.strip().isidentifier():
            raise ConfigurationError("GATEWAY_CONFIG_FILE", f"line {number} is not NAME=value")
        values[name.strip()] = value.strip().strip('"').strip("'")
    return values


DEFAULT_CONFIG_FILE = Path("var") / "gateway.env"  # what scripts/demo writes


def config_file_path(env: Mapping[str, str], cwd: Path) -> str:
    """The configuration file the CLI reads: ``GATEWAY_CONFIG_FILE`` when set (set and
    empty: none), else ``var/gateway.env`` of the working directory when it exists."""
    if "GATEWAY_CONFIG_FILE" in env:
        return env["GATEWAY_CONFIG_FILE"].strip()
    default = cwd / DEFAULT_CONFIG_FILE
    return str(default) if default.is_file() else ""


def effective(settings: object) -> object:
    """``settings`` as plain JSON-ready data, every secret masked (``config check``)."""
    if isinstance(settings, Secret):
        return "********"
    if isinstance(settings, enum.Enum):
        return settings.value
    if isinstance(settings, Path | ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(settings)
    if hasattr(settings, "__dataclass_fields__"):
        names = settings.__dataclass_fields__
        return {name: effective(getattr(settings, name)) for name in names}
    if isinstance(settings, frozenset | tuple | list):
        return [effective(item) for item in settings]
    return settings
