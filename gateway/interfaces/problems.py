"""The one place where gateway errors become HTTP statuses and problem documents (RFC 9457).

Every class of :mod:`gateway.exceptions` has its row in :data:`PROBLEMS`
(a test checks the table is complete); lookup walks the class's MRO, so a
new subclass without a row still gets its parent's status. The SOAP
interface maps the same rows to faults (``fault_role``: client or server).
Problem documents carry the exception's own message and data, never a
stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from gateway import exceptions as exc

PROBLEM_BASE: Final = "urn:insi-gateway:problem:"


@dataclass(frozen=True, slots=True)
class ProblemKind:
    status: int
    slug: str
    title: str
    # SOAP fault code: Client (Sender in 1.2) or Server (Receiver), or an envelope-level code.
    fault_role: Literal["Client", "Server", "VersionMismatch", "MustUnderstand"]

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


PROBLEMS: Final[dict[type[exc.GatewayError], ProblemKind]] = {
    exc.GatewayError: ProblemKind(500, "internal-error", "Internal gateway error", "Server"),
    exc.InvalidInput: ProblemKind(400, "invalid-input", "Invalid input", "Client"),
    exc.MalformedRequest: ProblemKind(400, "malformed-request", "Malformed request", "Client"),
    exc.SoapVersionMismatch: ProblemKind(
        400, "soap-version-mismatch", "SOAP version mismatch", "VersionMismatch"
    ),
    exc.SoapHeaderNotUnderstood: ProblemKind(
        400, "soap-must-understand", "SOAP header not understood", "MustUnderstand"
    ),
    exc.IdentityNotEligible: ProblemKind(
        422, "identity-not-eligible", "Identity not eligible for the teleservice", "Client"
    ),
    exc.AuthenticationFailed: ProblemKind(
        401, "unauthorized", "Missing or wrong API key", "Client"
    ),
    exc.OperationForbidden: ProblemKind(403, "forbidden", "Operation not allowed", "Client"),
    exc.ModeForbidden: ProblemKind(403, "mode-forbidden", "Mode not allowed", "Client"),
    exc.CsrfRejected: ProblemKind(
        403, "csrf-rejected", "Anti-forgery token missing or wrong", "Client"
    ),
    exc.AssertionRefused: ProblemKind(403, "assertion-refused", "Card assertion refused", "Client"),
    exc.AssertionMalformed: ProblemKind(
        400, "assertion-malformed", "Card assertion unreadable", "Client"
    ),
    exc.AssertionUnsigned: ProblemKind(
        403, "assertion-unsigned", "Card assertion not signed", "Client"
    ),
    exc.AssertionSignatureInvalid: ProblemKind(
        403, "assertion-signature-invalid", "Card assertion signature invalid", "Client"
    ),
    exc.AssertionUntrusted: ProblemKind(
        403, "assertion-untrusted", "Card certificate not trusted", "Client"
    ),
    exc.AssertionIssuerMismatch: ProblemKind(
        403, "assertion-issuer-mismatch", "Card assertion issuer mismatch", "Client"
    ),
    exc.AssertionExpired: ProblemKind(
        403, "assertion-expired", "Card assertion expired or not yet valid", "Client"
    ),
    exc.AssertionUserMismatch: ProblemKind(
        403, "assertion-user-mismatch", "Card assertion for another user", "Client"
    ),
    exc.AssertionWrapped: ProblemKind(
        403, "assertion-wrapped", "Card assertion wrapped or repeated", "Client"
    ),
    exc.RateLimited: ProblemKind(429, "rate-limited", "Too many requests", "Client"),
    exc.ConcurrencyExceeded: ProblemKind(
        429, "too-many-concurrent", "Too many concurrent requests", "Client"
    ),
    exc.AuthenticationThrottled: ProblemKind(
        429, "too-many-auth-failures", "Too many failed authentications", "Client"
    ),
    exc.SubmissionsBusy: ProblemKind(
        429, "too-many-submissions", "Too many job submissions in progress", "Client"
    ),
    exc.ConfigurationError: ProblemKind(
        500, "configuration-error", "Gateway configuration error", "Server"
    ),
    exc.CredentialError: ProblemKind(
        500, "credential-error", "Establishment certificate unusable", "Server"
    ),
    exc.SigningError: ProblemKind(500, "signing-error", "VIHF signature failed", "Server"),
    exc.UnknownApp: ProblemKind(404, "unknown-app", "Unknown application", "Client"),
    exc.StorageError: ProblemKind(503, "storage-unavailable", "Database unavailable", "Server"),
    exc.JournalWriteFailed: ProblemKind(
        503, "audit-unavailable", "Audit journal unavailable: call not made", "Server"
    ),
    exc.QuotaUnavailable: ProblemKind(
        503, "quota-unavailable", "Shared quota store unavailable: call not made", "Server"
    ),
    exc.XmlRejected: ProblemKind(400, "xml-rejected", "XML refused", "Client"),
    exc.UpstreamError: ProblemKind(502, "upstream-error", "Teleservice error", "Server"),
    exc.UpstreamFault: ProblemKind(502, "upstream-fault", "Teleservice fault", "Server"),
    exc.UpstreamBadResponse: ProblemKind(
        502, "upstream-bad-response", "Teleservice answer unreadable", "Server"
    ),
    exc.UpstreamUnavailable: ProblemKind(
        503, "upstream-unavailable", "Teleservice unreachable", "Server"
    ),
    exc.UpstreamBusy: ProblemKind(503, "upstream-busy", "Teleservice capacity reached", "Server"),
    exc.UpstreamTimeout: ProblemKind(504, "upstream-timeout", "Teleservice timeout", "Server"),
}

# Errors that are not ours at all (a bug): reported without any detail.
UNEXPECTED: Final = PROBLEMS[exc.GatewayError]


def problem_kind(error: BaseException) -> ProblemKind:
    for cls in type(error).__mro__:
        kind = PROBLEMS.get(cls)
        if kind is not None:
            return kind
    return UNEXPECTED


def problem_document(error: BaseException, *, request_id: str) -> dict[str, Any]:
    """The RFC 9457 body for ``error``: stable ``type``, its message, and its data fields."""
    kind = problem_kind(error)
    detail = error.message if isinstance(error, exc.GatewayError) else "unexpected error"
    document: dict[str, Any] = {
        "type": kind.type_uri,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "request_id": request_id,
    }
    document.update(_extensions(error))
    return document


def _extensions(error: BaseException) -> dict[str, Any]:
    if isinstance(error, exc.InvalidInput):
        return {"field": error.field, "reason": error.reason}
    if isinstance(error, exc.RateLimited | exc.UpstreamBusy | exc.QuotaUnavailable):
        return {"retry_after": error.retry_after}
    if isinstance(error, exc.AssertionRefused):
        return {"reason": error.reason, "check": error.check}  # the SOAP detail's order
    if isinstance(error, exc.IdentityNotEligible):
        return {"flags": list(error.flags)}
    if isinstance(error, exc.UpstreamFault):
        return {
            "upstream": {
                "code": error.code,
                "subcode": error.subcode,
                "error_code": error.error_code,
                "severity": error.severity,
                "message_id": error.error_message_id,
            }
        }
    if isinstance(error, exc.UpstreamBadResponse) and error.http_status is not None:
        return {"upstream": {"http_status": error.http_status}}
    return {}
