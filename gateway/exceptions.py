"""The one exception hierarchy of the gateway.

Every layer converts what its libraries raise (lxml, requests, zeep, signxml,
cryptography) into one of these at its own boundary, so the interfaces only
ever see this tree. :mod:`gateway.interfaces.problems` maps each class to an
HTTP status and problem type (and later a SOAP fault) in one table; a test
checks that every class below has its entry.

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
    │   └── ConcurrencyExceeded                 over its concurrent requests
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


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(GatewayError, ValueError):
    """A request field is missing or wrong; ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class MalformedRequest(InvalidInput):
    """The request body could not be read as the expected format at all."""

    def __init__(self, reason: str) -> None:
        super().__init__("body", reason)


class SoapVersionMismatch(MalformedRequest):
    """A local SOAP request whose envelope is not of the endpoint's SOAP version."""


class SoapHeaderNotUnderstood(MalformedRequest):
    """A local SOAP request with ``mustUnderstand`` header blocks; ``headers``: their names."""

    def __init__(self, headers: tuple[str, ...]) -> None:
        names = ", ".join(headers)
        super().__init__(f"mandatory SOAP header blocks not understood: {names}")
        self.headers = headers


class IdentityNotEligible(GatewayError):
    """The local identity carries a flag (``douteuse``, ``fictive``) that forbids calling the RNIV.

    The INS référentiel (RNIV) forbids querying the teleservice for such an
    identity: the application must resolve the doubt first.
    """

    def __init__(self, flags: tuple[str, ...]) -> None:
        super().__init__(
            f"identity flagged {', '.join(flags)}: the teleservice must not be called for it"
        )
        self.flags = flags


class AuthenticationFailed(GatewayError, PermissionError):
    """The caller did not present a valid API key."""


class OperationForbidden(GatewayError, PermissionError):
    """The calling application is not allowed this operation."""

    def __init__(self, app: str, operation: str) -> None:
        super().__init__(f"application {app!r} is not allowed the operation {operation!r}")
        self.app = app
        self.operation = operation


class CsrfRejected(GatewayError, PermissionError):
    """A reviewer's form or call came without the session's anti-forgery token (or a wrong one)."""


class ModeForbidden(OperationForbidden):
    """The application is not allowed this mode: ``mode`` is ``cpx`` or ``certificate``."""

    def __init__(self, app: str, mode: str) -> None:
        super().__init__(app, mode)
        self.mode = mode
        self.message = f"application {app!r} is not allowed the {mode} mode"
        self.args = (self.message,)


class AssertionRefused(GatewayError, PermissionError):
    """A card-signed (CPx) assertion failed a check before relaying; nothing was sent.

    ``check`` names the check (the problem type's slug ends with it); the
    message says why without quoting the assertion.
    """

    check = "refused"

    def __init__(self, reason: str) -> None:
        super().__init__(f"card assertion refused ({self.check}): {reason}")
        self.reason = reason


class AssertionMalformed(AssertionRefused):
    check = "malformed"


class AssertionUnsigned(AssertionRefused):
    check = "unsigned"


class AssertionSignatureInvalid(AssertionRefused):
    check = "signature-invalid"


class AssertionUntrusted(AssertionRefused):
    check = "untrusted"


class AssertionIssuerMismatch(AssertionRefused):
    check = "issuer-mismatch"


class AssertionExpired(AssertionRefused):
    check = "expired"


class AssertionUserMismatch(AssertionRefused):
    check = "user-mismatch"


class AssertionWrapped(AssertionRefused):
    check = "wrapped"


class RateLimited(GatewayError):
    """The application is over its request rate; ``retry_after`` is in seconds."""

    def __init__(self, app: str, *, retry_after: int) -> None:
        super().__init__(f"application {app!r} is over its request rate")
        self.app = app
        self.retry_after = retry_after


class ConcurrencyExceeded(RateLimited):
    """The application already has its maximum of requests in flight."""

    def __init__(self, app: str, *, retry_after: int) -> None:
        super().__init__(app, retry_after=retry_after)
        self.message = f"application {app!r} has too many requests in flight"
        self.args = (self.message,)


class AuthenticationThrottled(RateLimited):
    """Too many failed authentications from one client address: refused before any lookup."""

    def __init__(self, *, retry_after: int) -> None:
        super().__init__("-", retry_after=retry_after)
        self.message = "too many failed authentications from this address"
        self.args = (self.message,)


class SubmissionsBusy(RateLimited):
    """This process is already reading its maximum of job submissions: try again shortly.

    Each submission is streamed into the database; bounding how many run at
    once bounds the memory and the write transactions they hold.
    """

    def __init__(self, app: str, *, retry_after: int) -> None:
        super().__init__(app, retry_after=retry_after)
        self.message = "the gateway is reading as many job submissions as it allows"
        self.args = (self.message,)


class ConfigurationError(GatewayError):
    """The gateway's configuration is unusable; raised at startup, never per request."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


class CredentialError(ConfigurationError):
    """An establishment certificate, its key or the CA bundle cannot be used."""


class SigningError(GatewayError):
    """The VIHF assertion could not be signed with the establishment key."""


class UnknownApp(GatewayError, LookupError):
    """No app of the registry has this name (``name`` is the one asked for)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no app named {name!r}")
        self.name = name


class StorageError(GatewayError):
    """The database could not be used: unreachable, read-only, locked, not migrated.

    The message names the operation and the database's own reason, never SQL
    parameters (they may hold identity data or key digests).
    """


class JournalWriteFailed(StorageError):
    """An audit record could not be appended; the call it traces must fail too.

    The gateway never relays a call it could not journal: an untraced INS
    search is worse than a refused one.
    """


class QuotaUnavailable(StorageError):
    """The shared quota store (Redis, ``REDIS_URL``) could not be used: the call is refused.

    Fail closed: without the shared counters no process can tell whether the
    application is within its rate, and letting calls through unchecked could
    multiply its quota by the number of workers. ``retry_after`` is in seconds.
    """

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class XmlRejected(GatewayError, ValueError):
    """XML refused before use: not well-formed, a DTD or entity, or over the size cap.

    Raised by :mod:`gateway.protocol.xml`; each boundary converts it (an upstream
    answer becomes :class:`UpstreamBadResponse`, a local SOAP request a client fault).
    """


class UpstreamError(GatewayError):
    """Something went wrong between the gateway and the teleservice."""


class UpstreamFault(UpstreamError):
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


class UpstreamBadResponse(UpstreamError):
    """The teleservice answered something that is neither a result nor a fault."""

    def __init__(self, reason: str, *, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


class UpstreamUnavailable(UpstreamError, ConnectionError):
    """The teleservice could not be reached (connection refused, TLS refused, HTTP 503).

    ``nothing_sent`` is true when the request certainly never left (connection
    or TLS handshake failed): only then may it be retried safely.
    """

    def __init__(self, message: str, *, nothing_sent: bool = False) -> None:
        super().__init__(message)
        self.nothing_sent = nothing_sent


class UpstreamBusy(UpstreamUnavailable):
    """No slot toward the teleservice freed up in time; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, nothing_sent=True)
        self.retry_after = retry_after


class UpstreamTimeout(UpstreamError, TimeoutError):
    """The teleservice did not answer within the configured timeout.

    The outcome is unknown: the request may have been processed upstream.
    """
