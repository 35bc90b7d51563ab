"""Is this certificate fit for INSi? One report for ``check-cert``, startup and ``/readyz``.

Checks: subject CN is INSI-MANU or INSI-AUTO, validity dates, key usage
includes digitalSignature (signxml 5 refuses to sign otherwise), the private
key matches (done when loading), and the chain to the trusted CA.

``fatal`` problems make the certificate unusable by the gateway itself
(expired, not yet valid, no digitalSignature, broken chain): startup refuses
them. A CN other than INSI-MANU/INSI-AUTO is reported (``check-cert`` exits
non-zero) but does not stop startup: the teleservice is the one to refuse
it (``DESIR_560``), and ops see the warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509

from gateway.exceptions import CredentialError
from gateway.pki.credentials import Credential, verify_chain

INSI_CNS = frozenset({"INSI-MANU", "INSI-AUTO"})
EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fatal: bool = True


@dataclass(frozen=True, slots=True)
class CertificateReport:
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def usable(self) -> bool:
        """Every check passes (``check-cert`` exit code 0)."""
        return all(check.ok for check in self.checks)

    @property
    def fatal(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok and c.fatal)

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def lines(self) -> list[str]:
        head = [
            f"subject:   {self.subject}",
            f"issuer:    {self.issuer}",
            f"valid:     {self.not_before.isoformat()} -> {self.not_after.isoformat()}",
        ]
        checks = [f"[{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks]
        verdict = "usable for INSi" if self.usable else "NOT usable for INSi"
        return [*head, *checks, verdict]


def inspect(
    credential: Credential, *, trusted: Sequence[x509.Certificate], now: datetime | None = None
) -> CertificateReport:
    now = now or datetime.now(UTC)
    cert = credential.certificate
    return CertificateReport(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        checks=(
            _common_name(credential),
            _validity(cert, now),
            _digital_signature(cert),
            Check("private key", True, "matches the certificate"),
            _chain(credential, trusted, now),
        ),
    )


def _common_name(credential: Credential) -> Check:
    cn = credential.common_name
    ok = cn in INSI_CNS
    detail = f"CN={cn}" + ("" if ok else " (the teleservice accepts only INSI-MANU or INSI-AUTO)")
    return Check("subject CN", ok, detail, fatal=False)


def _validity(cert: x509.Certificate, now: datetime) -> Check:
    if now < cert.not_valid_before_utc:
        return Check("validity", False, "not valid yet")
    if now >= cert.not_valid_after_utc:
        return Check("validity", False, "expired")
    days = (cert.not_valid_after_utc - now).days
    note = " (renew it: under 30 days left)" if days < EXPIRY_WARNING.days else ""
    return Check("validity", True, f"{days} days left{note}")


def _digital_signature(cert: x509.Certificate) -> Check:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return Check("key usage", False, "no keyUsage extension (digitalSignature required)")
    ok = usage.digital_signature
    return Check("key usage", ok, "digitalSignature" + ("" if ok else " missing (signxml refuses)"))


def _chain(credential: Credential, trusted: Sequence[x509.Certificate], now: datetime) -> Check:
    try:
        verify_chain(credential.certificate, credential.chain, trusted, at=now)
    except CredentialError as error:
        return Check("chain", False, error.reason)
    return Check("chain", True, "chains to the configured CA")
