"""The one place where gateway errors become HTTP statuses and problem documents (RFC 9457).

Every class of :mod:`gateway.exceptions` has its row in :data:`PROBLEMS`
(its HTTP status, title and SOAP fault role; the stable slug is the class's
own ``slug``, so lower layers name an error without importing this module)
(a test checks the table is complete); lookup walks the class's MRO, so a
new subclass without a row still gets its parent's status. The SOAP
interface maps the same rows to faults (``fault_role``: client or server).
Problem documents carry the exception's own message and data, never a
stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from gateway import exceptions as exc

PROBLEM_BASE: Final = "urn:insi-gateway:problem:"


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """How one class of error is answered; its ``slug`` is the class's own (exceptions.py)."""

    status: int
    title: str
    # SOAP fault code: Client (Sender in 1.2) or Server (Receiver), or an envelope-level code.
    fault_role: Literal["Client", "Server", "VersionMismatch", "MustUnderstand"]
    slug: str = ""

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


_ROWS: Final[dict[type[exc.GatewayError], ProblemKind]] = {
    exc.GatewayError: ProblemKind(500, "Internal gateway error", "Server"),
    exc.InvalidInput: ProblemKind(400, "Invalid input", "Client"),
    exc.MalformedRequest: ProblemKind(400, "Malformed request", "Client"),
    exc.SoapVersionMismatch: ProblemKind(400, "SOAP version mismatch", "VersionMismatch"),
    exc.SoapHeaderNotUnderstood: ProblemKind(400, "SOAP header not understood", "MustUnderstand"),
    exc.IdentityNotEligible: ProblemKind(
        422, "Identity not eligible for the teleservice", "Client"
    ),
    exc.AuthenticationFailed: ProblemKind(401, "Missing or wrong API key", "Client"),
    exc.OperationForbidden: ProblemKind(403, "Operation not allowed", "Client"),
    exc.ModeForbidden: ProblemKind(403, "Mode not allowed", "Client"),
    exc.CsrfRejected: ProblemKind(403, "Anti-forgery token missing or wrong", "Client"),
    exc.AssertionRefused: ProblemKind(403, "Card assertion refused", "Client"),
    exc.AssertionMalformed: ProblemKind(400, "Card assertion unreadable", "Client"),
    exc.AssertionUnsigned: ProblemKind(403, "Card assertion not signed", "Client"),
    exc.AssertionSignatureInvalid: ProblemKind(403, "Card assertion signature invalid", "Client"),
    exc.AssertionUntrusted: ProblemKind(403, "Card certificate not trusted", "Client"),
    exc.AssertionIssuerMismatch: ProblemKind(403, "Card assertion issuer mismatch", "Client"),
    exc.AssertionExpired: ProblemKind(403, "Card assertion expired or not yet valid", "Client"),
    exc.AssertionUserMismatch: ProblemKind(403, "Card assertion for another user", "Client"),
    exc.AssertionWrapped: ProblemKind(403, "Card assertion wrapped or repeated", "Client"),
    exc.RateLimited: ProblemKind(429, "Too many requests", "Client"),
    exc.ConcurrencyExceeded: ProblemKind(429, "Too many concurrent requests", "Client"),
    exc.AuthenticationThrottled: ProblemKind(429, "Too many failed authentications", "Client"),
    exc.SubmissionsBusy: ProblemKind(429, "Too many job submissions in progress", "Client"),
    exc.ConfigurationError: ProblemKind(500, "Gateway configuration error", "Server"),
    exc.CredentialError: ProblemKind(500, "Establishment certificate unusable", "Server"),
    exc.SigningError: ProblemKind(500, "VIHF signature failed", "Server"),
    exc.UnknownApp: ProblemKind(404, "Unknown application", "Client"),
    exc.StorageError: ProblemKind(503, "Database unavailable", "Server"),
    exc.JournalWriteFailed: ProblemKind(503, "Audit journal unavailable: call not made", "Server"),
    exc.QuotaUnavailable: ProblemKind(
        503, "Shared quota store unavailable: call not made", "Server"
    ),
    exc.XmlRejected: ProblemKind(400, "XML refused", "Client"),
    exc.UpstreamError: ProblemKind(502, "Teleservice error", "Server"),
    exc.UpstreamFault: ProblemKind(502, "Teleservice fault", "Server"),
    exc.UpstreamBadResponse: ProblemKind(502, "Teleservice answer unreadable", "Server"),
    exc.UpstreamUnavailable: ProblemKind(503, "Teleservice unreachable", "Server"),
    exc.UpstreamBusy: ProblemKind(503, "Teleservice capacity reached", "Server"),
    exc.UpstreamTimeout: ProblemKind(504, "Teleservice timeout", "Server"),
}

PROBLEMS: Final[dict[type[exc.GatewayError], ProblemKind]] = {
    cls: replace(kind, slug=cls.slug) for cls, kind in _ROWS.items()
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
