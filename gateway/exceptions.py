"""The one exception hierarchy of the gateway.

Every layer converts what its libraries raise (lxml, requests, zeep, signxml,
cryptography) into one of these at its own boundary, so the interfaces only
ever see this tree. :mod:`gateway.render.problems` maps each class to an
HTTP status, a problem type and a SOAP fault code in one table; a test checks
that every class below has its entry, and another that this drawing is the
tree the classes make (``tests/unit/test_exception_tree.py``).

Errors carry data as attributes (never secrets, never identity traits in
clear) and inherit from a builtin where callers may reasonably catch that.

::

    GatewayError
    ├── InvalidInput (ValueError)               a field of the caller's request is wrong
    │   └── MalformedRequest                    the body is not parseable at all
    │       ├── SoapVersionMismatch             a SOAP envelope of the other version
    │       └── SoapHeaderNotUnderstood         a mandatory SOAP header block we do not know
    ├── IdentityNotEligible                     local identity flagged doubtful/fictitious
    ├── AuthenticationFailed (PermissionError)  missing, unknown or revoked API key
    ├── OperationForbidden (PermissionError)    the application may not use this operation
    │   └── ModeForbidden                       ... nor this mode (CPx card or certificate)
    ├── CsrfRejected (PermissionError)          a reviewer's form without its anti-forgery token
    ├── AssertionRefused (PermissionError)      a CPx card assertion failed a check (``check``)
    │   ├── AssertionMalformed                  not base64, not UTF-8 XML, not a saml:Assertion
    │   ├── AssertionUnsigned                   no signature at all
    │   ├── AssertionSignatureInvalid           altered after signing
    │   ├── AssertionUntrusted                  card certificate not from INSI_CPX_CA
    │   ├── AssertionIssuerMismatch             Issuer is not the card certificate's DN
    │   ├── AssertionExpired                    too old, not yet valid or past NotOnOrAfter
    │   ├── AssertionUserMismatch               NameID differs from X-User-Id
    │   └── AssertionWrapped                    several assertions, or the signature covers another
    ├── RateLimited                             over the application's request rate
    │   ├── ConcurrencyExceeded                 over its concurrent requests
    │   ├── AuthenticationThrottled             too many failed authentications from an address
    │   └── SubmissionsBusy                     this process reads as many job submissions as it may
    ├── ConfigurationError                      settings unusable (startup only)
    │   └── CredentialError                     certificate / key unusable
    ├── SigningError                            the VIHF could not be signed
    ├── UnknownApp (LookupError)                no registered app has that name
    ├── StorageError                            the database cannot be used (down, read-only...)
    │   ├── JournalWriteFailed                  an audit record could not be written
    │   └── QuotaUnavailable                    the shared quota store (Redis) cannot be used
    ├── XmlRejected (ValueError)                XML refused by the safe parser (DTD, size...)
    └── UpstreamError                           anything toward the teleservice
        ├── UpstreamFault                       the teleservice answered a SOAP fault
        ├── UpstreamBadResponse                 answer unparseable or unexpected
        ├── UpstreamUnavailable (ConnectionError)  could not reach it / TLS refused / 503
        │   └── UpstreamBusy                    too many calls in flight toward it
        └── UpstreamTimeout (TimeoutError)      no answer within the deadline
"""

from __future__ import annotations

from typing import ClassVar


def slug_of(error: BaseException) -> str:
    """The stable problem slug of any error: its class's, ``internal-error`` if not ours."""
    return error.slug if isinstance(error, GatewayError) else GatewayError.slug


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose.

    ``slug`` is the stable name of the problem (``urn:insi-gateway:problem:<slug>``),
    given as a class keyword (``class X(GatewayError, slug="x")``); a subclass
    without one keeps its parent's.
    """

    slug: ClassVar[str] = "internal-error"

    def __init_subclass__(cls, *, slug: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if slug is not None:
            cls.slug = slug

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(GatewayError, ValueError, slug="invalid-input"):
    """A request field is missing or wrong; ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class MalformedRequest(InvalidInput, slug="malformed-request"):
    """The request body could not be read as the expected format at all."""

    def __init__(self, reason: str) -> None:
        super().__init__("body", reason)


class SoapVersionMismatch(MalformedRequest, slug="soap-version-mismatch"):
    """A local SOAP request whose envelope is not of the endpoint's SOAP version."""


class SoapHeaderNotUnderstood(MalformedRequest, slug="soap-must-understand"):
    """A local SOAP request with ``mustUnderstand`` header blocks; ``headers``: their names."""

    def __init__(self, headers: tuple[str, ...]) -> None:
        names = ", ".join(headers)
        super().__init__(f"mandatory SOAP header blocks not understood: {names}")
        self.headers = headers


class IdentityNotEligible(GatewayError, slug="identity-not-eligible"):
    """The local identity carries a flag (``douteuse``, ``fictive``) that forbids calling the RNIV.

    The INS référentiel (RNIV) forbids querying the teleservice for such an
    identity: the application must resolve the doubt first.
    """

    def __init__(self, flags: tuple[str, ...]) -> None:
        super().__init__(
            f"identity flagged {', '.join(flags)}: the teleservice must not be called for it"
        )
        self.flags = flags


class AuthenticationFailed(GatewayError, PermissionError, slug="unauthorized"):
    """The caller did not present a valid API key."""


class OperationForbidden(GatewayError, PermissionError, slug="forbidden"):
    """The calling application is not allowed this operation."""

    def __init__(self, app: str, operation: str) -> None:
        super().__init__(f"application {app!r} is not allowed the operation {operation!r}")
        self.app = app
        self.operation = operation


class CsrfRejected(GatewayError, PermissionError, slug="csrf-rejected"):
    """A reviewer's form or call came without the session's anti-forgery token (or a wrong one)."""


class ModeForbidden(OperationForbidden, slug="mode-forbidden"):
    """The application is not allowed this mode: ``mode`` is ``cpx`` or ``certificate``."""

    def __init__(self, app: str, mode: str) -> None:
        super().__init__(app, mode)
        self.mode = mode
        self.message = f"application {app!r} is not allowed the {mode} mode"
        self.args = (self.message,)


class AssertionRefused(GatewayError, PermissionError, slug="assertion-refused"):
    """A card-signed (CPx) assertion failed a check before relaying; nothing was sent.

    ``check`` names the check (the problem type's slug ends with it); the
    message says why without quoting the assertion.
    """

    check = "refused"

    def __init__(self, reason: str) -> None:
        super().__init__(f"card assertion refused ({self.check}): {reason}")
        self.reason = reason


class AssertionMalformed(AssertionRefused, slug="assertion-malformed"):
    check = "malformed"


class AssertionUnsigned(AssertionRefused, slug="assertion-unsigned"):
    check = "unsigned"


class AssertionSignatureInvalid(AssertionRefused, slug="assertion-signature-invalid"):
    check = "signature-invalid"


class AssertionUntrusted(AssertionRefused, slug="assertion-untrusted"):
    check = "untrusted"


class AssertionIssuerMismatch(AssertionRefused, slug="assertion-issuer-mismatch"):
    check = "issuer-mismatch"


class AssertionExpired(AssertionRefused, slug="assertion-expired"):
    check = "expired"


class AssertionUserMismatch(AssertionRefused, slug="assertion-user-mismatch"):
    check = "user-mismatch"


class AssertionWrapped(AssertionRefused, slug="assertion-wrapped"):
    check = "wrapped"


class RateLimited(GatewayError, slug="rate-limited"):
    """The application is over its request rate; ``retry_after`` is in seconds."""

    def __init__(self, app: str, *, retry_after: int) -> None:
        super().__init__(f"application {app!r} is over its request rate")
        self.app = app
        self.retry_after = retry_after


class ConcurrencyExceeded(RateLimited, slug="too-many-concurrent"):
    """The application already has its maximum of requests in flight."""

    def __init__(self, app: str, *, retry_after: int) -> None:
        super().__init__(app, retry_after=retry_after)
        self.message = f"application {app!r} has too many requests in flight"
        self.args = (self.message,)


class AuthenticationThrottled(RateLimited, slug="too-many-auth-failures"):
    """Too many failed authentications from one client address: refused before any lookup."""

    def __init__(self, *, retry_after: int) -> None:
        super().__init__("-", retry_after=retry_after)
        self.message = "too many failed authentications from this address"
        self.args = (self.message,)


class SubmissionsBusy(RateLimited, slug="too-many-submissions"):
    """This process is already reading its maximum of job submissions: try again shortly.

    Each submission is streamed into the database; bounding how many run at
    once bounds the memory and the write transactions they hold.
    """

    def __init__(self, app: str, *, retry_after: int) -> None:
        super().__init__(app, retry_after=retry_after)
        self.message = "the gateway is reading as many job submissions as it allows"
        self.args = (self.message,)


class ConfigurationError(GatewayError, slug="configuration-error"):
    """The gateway's configuration is unusable; raised at startup, never per request."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


class CredentialError(ConfigurationError, slug="credential-error"):
    """An establishment certificate, its key or the CA bundle cannot be used."""


class SigningError(GatewayError, slug="signing-error"):
    """The VIHF assertion could not be signed with the establishment key."""


class UnknownApp(GatewayError, LookupError, slug="unknown-app"):
    """No app of the registry has this name (``name`` is the one asked for)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no app named {name!r}")
        self.name = name


class StorageError(GatewayError, slug="storage-unavailable"):
    """The database could not be used: unreachable, read-only, locked, not migrated.

    The message names the operation and the database's own reason, never SQL
    parameters (they may hold identity data or key digests).
    """


class JournalWriteFailed(StorageError, slug="audit-unavailable"):
    """An audit record could not be appended; the call it traces must fail too.

    The gateway never relays a call it could not journal: an untraced INS
    search is worse than a refused one.
    """


class QuotaUnavailable(StorageError, slug="quota-unavailable"):
    """The shared quota store (Redis, ``REDIS_URL``) could not be used: the call is refused.

    Fail closed: without the shared counters no process can tell whether the
    application is within its rate, and letting calls through unchecked could
    multiply its quota by the number of workers. ``retry_after`` is in seconds.
    """

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class XmlRejected(GatewayError, ValueError, slug="xml-rejected"):
    """XML refused before use: not well-formed, a DTD or entity, or over the size cap.

    Raised by :mod:`gateway.protocol.xml`; each boundary converts it (an upstream
    answer becomes :class:`UpstreamBadResponse`, a local SOAP request a client fault).
    """


class UpstreamError(GatewayError, slug="upstream-error"):
    """Something went wrong between the gateway and the teleservice."""


class UpstreamFault(UpstreamError, slug="upstream-fault"):
    """The teleservice answered with a SOAP fault.

    ``code``/``subcode`` are the SOAP 1.2 ``Code/Value`` and ``Subcode/Value``
    (e.g. ``soap:Sender``, ``siram_100``); ``error_code``, ``severity`` and
    ``error_message_id`` come from the ``siram:Erreur`` detail (e.g. ``DESIR_560``).
    """

    def __init__(
        self,
        reason: str,
        *,
        code: str,
        subcode: str | None = None,
        error_code: str | None = None,
        severity: str | None = None,
        error_message_id: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.subcode = subcode
        self.error_code = error_code
        self.severity = severity
        self.error_message_id = error_message_id


class UpstreamBadResponse(UpstreamError, slug="upstream-bad-response"):
    """The teleservice answered something that is neither a result nor a fault."""

    def __init__(self, reason: str, *, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


class UpstreamUnavailable(UpstreamError, ConnectionError, slug="upstream-unavailable"):
    """The teleservice could not be reached (connection refused, TLS refused, HTTP 503).

    ``nothing_sent`` is true when the request certainly never left (connection
    or TLS handshake failed): only then may it be retried safely.
    """

    def __init__(self, message: str, *, nothing_sent: bool = False) -> None:
        super().__init__(message)
        self.nothing_sent = nothing_sent


class UpstreamBusy(UpstreamUnavailable, slug="upstream-busy"):
    """No slot toward the teleservice freed up in time; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, nothing_sent=True)
        self.retry_after = retry_after


class UpstreamTimeout(UpstreamError, TimeoutError, slug="upstream-timeout"):
    """The teleservice did not answer within the configured timeout.

    The outcome is unknown: the request may have been processed upstream.
    """
