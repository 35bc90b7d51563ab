"""spyne's SOAP 1.1 and 1.2 protocols, with what the gateway needs of them.

- Schema validation is serialised. spyne validates with one lxml
  ``XMLSchema`` per application, shared by every thread, and reads the
  reason from ``error_log.last_error`` after ``validate()``: lxml keeps that
  log on the schema object, so under concurrency a request could report the
  error of another request (another patient's element, or with any facet a
  value) or lose its own. One lock per protocol instance makes
  validate-then-read atomic; validating a request body takes microseconds.
- SOAP 1.2 fault codes: spyne only knows ``Client``/``Server``;
  ``VersionMismatch`` and ``MustUnderstand`` are the envelope's own codes.
- HTTP statuses of the SOAP 1.2 binding: ``env:Sender`` 400, others 500
  (spyne answers 500 for every fault, the SOAP 1.1 rule, kept for ``/soap``).
- Header blocks on a fault (SOAP 1.2 ``Upgrade``, ``NotUnderstood``), which
  spyne cannot add: a fault carries them in ``soap_headers``.
"""

from __future__ import annotations

import threading
from typing import Any

from lxml import etree
from spyne.protocol.soap import Soap11, Soap12
from spyne.protocol.xml import SchemaValidationError

from gateway.interfaces.soap.envelope import resolve_qnames

ENVELOPE_CODES = frozenset({"VersionMismatch", "MustUnderstand"})


class _StrictSoap:
    """What both versions add to spyne's protocol (mixed in before it)."""

    ns_soap_env: str
    validation_schema: Any
    validator: Any
    SCHEMA_VALIDATION: Any

    def set_validator(self, validator: Any) -> None:
        super().set_validator(validator)  # type: ignore[misc]
        self._validation_lock = threading.Lock()
        if self.validator is self.SCHEMA_VALIDATION:
            self.validate_document = self._validate_serialised

    def _validate_serialised(self, payload: etree._Element) -> None:
        """Validate ``payload`` and read its own error, never another thread's."""
        with self._validation_lock:
            valid = self.validation_schema.validate(payload)
            reason = "" if valid else str(self.validation_schema.error_log.last_error)
        if not valid:
            raise SchemaValidationError(reason.encode("ascii", "xmlcharrefreplace"))

    def serialize(self, ctx: Any, message: Any) -> None:
        super().serialize(ctx, message)  # type: ignore[misc]
        blocks = getattr(ctx.out_error, "soap_headers", None)
        if blocks:
            header = etree.Element(f"{{{self.ns_soap_env}}}Header")
            header.extend(blocks)
            ctx.out_document.insert(0, header)
            resolve_qnames(header)


class GatewaySoap11(_StrictSoap, Soap11):  # type: ignore[misc]
    """SOAP 1.1 (``/soap``): every fault is an HTTP 500, as the protocol says."""


class GatewaySoap12(_StrictSoap, Soap12):  # type: ignore[misc]
    """SOAP 1.2 (``/soap12``) with its HTTP binding's statuses and envelope fault codes."""

    def gen_fault_codes(self, faultstring: str) -> tuple[str, list[str]]:
        value, *subcodes = faultstring.split(".")
        if value in ENVELOPE_CODES:
            return f"{self.soap_env}:{value}", subcodes
        codes: tuple[str, list[str]] = super().gen_fault_codes(faultstring)
        return codes

    def fault_to_http_response_code(self, fault: Any) -> str:
        client = str(getattr(fault, "faultcode", "")).split(".")[0] == "Client"
        return "400 Bad Request" if client else "500 Internal Server Error"
