"""Startup refuses an unsafe configuration rather than running with it.

Unsafe here means: a call without a bounded timeout (or one the gunicorn
worker timeout would cut first), an XML parser allowed huge trees, entities
or the network, and an establishment certificate the gateway cannot use.
TLS without verification or below 1.2 is refused where the context is
built (:func:`gateway.transport.tls.refuse_unsafe`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from cryptography import x509

from gateway import logs
from gateway.exceptions import ConfigurationError, CredentialError
from gateway.models import CertificateMode
from gateway.pki.credentials import Credential
from gateway.pki.inspection import EXPIRY_WARNING, inspect
from gateway.protocol.xml import PARSER_OPTIONS
from gateway.settings import Settings
from gateway.upstream.client import ZEEP_SETTINGS

log = logging.getLogger("gateway.startup")


def check_xml() -> None:
    unsafe = PARSER_OPTIONS["huge_tree"] or PARSER_OPTIONS["resolve_entities"]
    if unsafe or not PARSER_OPTIONS["no_network"]:
        raise ConfigurationError("XML", "the XML parser allows huge trees, entities or network")
    if ZEEP_SETTINGS.xml_huge_tree or not ZEEP_SETTINGS.forbid_entities:
        raise ConfigurationError("XML", "zeep allows huge trees or entities")


def check_timeouts(settings: Settings, *, worker_timeout: float | None) -> None:
    longest = settings.connect_timeout + settings.read_timeout
    if settings.resilience.deadline < settings.read_timeout:
        raise ConfigurationError("INSI_DEADLINE", "is shorter than INSI_READ_TIMEOUT")
    if worker_timeout is not None and worker_timeout <= max(longest, settings.resilience.deadline):
        raise ConfigurationError(
            "--timeout", "gunicorn's worker timeout must exceed INSI_DEADLINE and the call timeouts"
        )


def shared_state_warnings(settings: Settings, *, workers: int) -> list[str]:
    """Setups where per-process quotas would grant an application more than its quota."""
    if settings.shared.redis_url is not None:
        return []
    warnings = []
    if workers > 1:
        warnings.append(
            f"--workers {workers} without REDIS_URL: each worker process keeps its own quotas, "
            f"so an application gets up to {workers}x its rate and concurrency"
        )
    if settings.storage.database_url.startswith("postgresql"):
        warnings.append(
            "PostgreSQL DATABASE_URL without REDIS_URL: replicas sharing this database each "
            "keep their own quotas, so an application gets its quota once per replica"
        )
    return warnings


def check_certificates(
    credentials: Mapping[CertificateMode, Credential], trusted: Sequence[x509.Certificate]
) -> None:
    """Refuse an unusable certificate with its report; warn when one expires within 30 days."""
    now = datetime.now(UTC)
    for mode, credential in credentials.items():
        report = inspect(credential, trusted=trusted, now=now)
        if report.fatal:
            raise CredentialError(f"INSI_CERT_{mode.name}", " | ".join(report.lines()))
        for check in report.checks:
            if not check.ok:
                logs.event(
                    log,
                    "certificate warning",
                    level=logging.WARNING,
                    mode=mode.value,
                    check=check.name,
                    detail=check.detail,
                )
        if report.days_left(now) < EXPIRY_WARNING.days:
            logs.event(
                log,
                "certificate expires soon",
                level=logging.WARNING,
                mode=mode.value,
                days_left=round(report.days_left(now), 1),
            )
