"""The gateway's configuration: one frozen object, read once where the process starts.

:meth:`Settings.from_config` builds it from the one :class:`~gateway.config.ConfigReader`
(the environment over the configuration file) that the CLI or the app factory
makes; the result is handed down, never re-read. ``docs/configuration.md``
documents every variable below.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.admission.proxies import Network, parse_networks
from gateway.config import ConfigReader, Secret
from gateway.exceptions import ConfigurationError
from gateway.ins.strategy import FirstNameStrategy
from gateway.transport.breaker import BreakerPolicy
from gateway.transport.resilience import ResiliencePolicy

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
    def from_config(cls, reader: ConfigReader) -> CpxSettings | None:
        """None (CPx mode off) unless ``INSI_CPX_CA`` names the card CA bundle."""
        if not reader.text("INSI_CPX_CA"):
            if reader.text("INSI_CPX_URL"):
                raise ConfigurationError("INSI_CPX_CA", "is required when INSI_CPX_URL is set")
            return None
        preset = reader.text("INSI_ENV").lower()
        if reader.text("INSI_CPX_URL") or preset not in CPX_PRESETS:
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
        """From ``env`` over the file its ``GATEWAY_CONFIG_FILE`` names (tests, tools)."""
        return cls.from_config(ConfigReader.layered(env))

    @classmethod
    def from_config(cls, reader: ConfigReader) -> StorageSettings:
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
    def from_config(cls, reader: ConfigReader) -> AuditSettings:
        default = cls()
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
class JobSettings:
    """The batch-job knobs; defaults suit one hospital and the INSi rate agreements."""

    workers: int = 2  # GATEWAY_JOB_WORKERS: rows in progress at once per process (0: no runner)
    rate: float = 20.0  # GATEWAY_JOB_RATE: upstream calls per second, all jobs and replicas
    retention_days: float = 7.0  # GATEWAY_JOB_RETENTION_DAYS: then jobs and results are deleted
    lease_seconds: float = 120.0  # GATEWAY_JOB_LEASE_SECONDS: a claimed row is someone else's
    retry_seconds: float = 5.0  # GATEWAY_JOB_RETRY_SECONDS: first backoff after an upstream error
    max_rows: int = 100_000  # GATEWAY_JOB_MAX_ROWS: rows per submitted job
    max_body_bytes: int = 32 * 1024 * 1024  # GATEWAY_JOB_MAX_BODY_BYTES: size of a submission
    interactive_threshold: int = 0  # GATEWAY_JOB_INTERACTIVE_THRESHOLD: see priority.py
    # GATEWAY_JOB_MAX_CONCURRENT_SUBMISSIONS: submissions read at once per process (429 beyond)
    max_concurrent_submissions: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JobSettings:
        """``GATEWAY_JOB_*`` of ``env`` alone (tests); the gateway uses :meth:`from_config`."""
        return cls.from_config(ConfigReader(env))

    @classmethod
    def from_config(cls, reader: ConfigReader) -> JobSettings:
        """Read ``GATEWAY_JOB_*``; errors name the variable, never echo a value."""
        default = cls()
        return cls(
            workers=reader.number("GATEWAY_JOB_WORKERS", default.workers, int, minimum=0),
            rate=reader.number("GATEWAY_JOB_RATE", default.rate, float),
            retention_days=reader.number(
                "GATEWAY_JOB_RETENTION_DAYS", default.retention_days, float
            ),
            lease_seconds=reader.number("GATEWAY_JOB_LEASE_SECONDS", default.lease_seconds, float),
            retry_seconds=reader.number("GATEWAY_JOB_RETRY_SECONDS", default.retry_seconds, float),
            max_rows=reader.number("GATEWAY_JOB_MAX_ROWS", default.max_rows, int),
            max_body_bytes=reader.number("GATEWAY_JOB_MAX_BODY_BYTES", default.max_body_bytes, int),
            interactive_threshold=reader.number(
                "GATEWAY_JOB_INTERACTIVE_THRESHOLD", default.interactive_threshold, int, minimum=0
            ),
            max_concurrent_submissions=reader.number(
                "GATEWAY_JOB_MAX_CONCURRENT_SUBMISSIONS", default.max_concurrent_submissions, int
            ),
        )


@dataclass(frozen=True, slots=True)
class SharedStateSettings:
    """Where the processes of the gateway share their quotas; no ``REDIS_URL``: each its own."""

    redis_url: Secret | None
    redis_prefix: str

    @classmethod
    def from_config(cls, reader: ConfigReader) -> SharedStateSettings:
        url = reader.text("REDIS_URL")
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError("REDIS_URL", "must start with redis://, rediss:// or unix://")
        prefix = reader.optional("GATEWAY_REDIS_PREFIX", "insi-gateway:")
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
        """Build settings from ``env``, failing on the first problem.

        ``GATEWAY_CONFIG_FILE`` names an optional file of ``NAME=value`` lines
        with the same names; the environment wins over it.
        """
        return cls.from_config(ConfigReader.layered(env))

    @classmethod
    def from_config(cls, reader: ConfigReader) -> Settings:
        """Build settings from the process's one reader, failing on the first problem."""
        return cls(
            upstream_url=_upstream_url(reader),
            upstream_ca=reader.path("INSI_UPSTREAM_CA"),
            cert_ca=reader.path(
                "INSI_CERT_CA" if reader.get("INSI_CERT_CA") else "INSI_UPSTREAM_CA"
            ),
            cert_manu=CertificateSource(
                reader.path("INSI_CERT_MANU"), reader.secret("INSI_CERT_MANU_PASSPHRASE")
            ),
            cert_auto=(
                CertificateSource(
                    reader.path("INSI_CERT_AUTO"), reader.secret("INSI_CERT_AUTO_PASSPHRASE")
                )
                if reader.get("INSI_CERT_AUTO")
                else None
            ),
            idam=reader.required("INSI_IDAM"),
            software_name=reader.optional("INSI_SOFTWARE_NAME", "insi-gateway"),
            software_version=reader.optional("INSI_SOFTWARE_VERSION", _package_version()),
            software_instance=reader.optional("INSI_SOFTWARE_INSTANCE", "insi-gateway-1"),
            emitter=reader.get("INSI_EMITTER") or None,
            signing=reader.choice("INSI_SIGNING", SigningMode, SigningMode.VIHF),
            first_name_strategy=reader.choice(
                "INSI_FIRST_NAME_STRATEGY", FirstNameStrategy, FirstNameStrategy.PROGRESSIVE
            ),
            storage=StorageSettings.from_config(reader),
            jobs=JobSettings.from_config(reader),
            shared=SharedStateSettings.from_config(reader),
            metrics_dir=Path(raw) if (raw := reader.get("PROMETHEUS_MULTIPROC_DIR")) else None,
            audit=AuditSettings.from_config(reader),
            connect_timeout=reader.positive_float("INSI_CONNECT_TIMEOUT", 3.05),
            read_timeout=reader.positive_float("INSI_READ_TIMEOUT", 15.0),
            resilience=ResiliencePolicy(
                max_retries=reader.whole("INSI_MAX_RETRIES", 2, minimum=0),
                deadline=reader.positive_float("INSI_DEADLINE", 20.0),
                breaker=_breaker_policy(reader),
                max_concurrent=reader.whole("INSI_MAX_CONCURRENT", 32, minimum=1),
                queue_timeout=reader.positive_float("INSI_QUEUE_TIMEOUT", 2.0),
            ),
            max_body_bytes=reader.whole("GATEWAY_MAX_BODY_BYTES", 64 * 1024, minimum=1024),
            max_response_bytes=reader.whole("INSI_MAX_RESPONSE_BYTES", 1024 * 1024, minimum=1024),
            log_level=reader.optional("GATEWAY_LOG_LEVEL", "INFO").upper(),
            trusted_proxies=parse_networks(
                reader.get("GATEWAY_TRUSTED_PROXIES") or "", setting="GATEWAY_TRUSTED_PROXIES"
            ),
            cpx=CpxSettings.from_config(reader),
            drain_seconds=reader.seconds_or_zero("GATEWAY_DRAIN_SECONDS", 5.0),
        )


def _upstream_url(reader: ConfigReader) -> str:
    """``INSI_UPSTREAM_URL``, or the endpoint of the ``INSI_ENV`` preset."""
    if reader.text("INSI_UPSTREAM_URL") or not reader.get("INSI_ENV"):
        return reader.https_url("INSI_UPSTREAM_URL")
    preset = reader.text("INSI_ENV").lower()
    if preset not in UPSTREAM_PRESETS:
        allowed = ", ".join(UPSTREAM_PRESETS)
        raise ConfigurationError("INSI_ENV", f"must be one of: {allowed}")
    return UPSTREAM_PRESETS[preset]


def _breaker_policy(reader: ConfigReader) -> BreakerPolicy:
    """The circuit breaker's sliding window, threshold and probes (docs/configuration.md)."""
    if reader.text("INSI_BREAKER_THRESHOLD"):
        raise ConfigurationError(
            "INSI_BREAKER_THRESHOLD",
            "is no longer read: the circuit opens on a failure rate, see "
            "INSI_BREAKER_FAILURE_RATE and INSI_BREAKER_MIN_CALLS",
        )
    rate = reader.whole("INSI_BREAKER_FAILURE_RATE", 50, minimum=1)
    if rate > 100:
        raise ConfigurationError("INSI_BREAKER_FAILURE_RATE", "must be a percentage, 1 to 100")
    return BreakerPolicy(
        window=reader.positive_float("INSI_BREAKER_WINDOW", 10.0),
        min_calls=reader.whole("INSI_BREAKER_MIN_CALLS", 20, minimum=1),
        failure_rate=rate / 100,
        cooldown=reader.positive_float("INSI_BREAKER_COOLDOWN", 30.0),
        probes=reader.whole("INSI_BREAKER_PROBES", 3, minimum=1),
    )


def _package_version() -> str:
    from gateway import __version__

    return __version__


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
