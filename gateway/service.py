"""The service core: what the gateway does for a request, whatever interface it came through.

Outgoing steps happen in a fixed order: body, then context headers
(WS-Addressing, ``ContexteLPS``, ``ContexteBAM``), then the VIHF assertion is
built and signed, last, and only then is the envelope serialised and sent.
Interfaces (JSON, SOAP, CLI) only translate to and from this module.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from gateway import logs
from gateway.exceptions import ConfigurationError
from gateway.models import (
    CallContext,
    CertificateMode,
    InsResult,
    Operation,
    SoftwareIdentity,
    TraitsQuery,
)
from gateway.protocol.bodies import traits_search_body
from gateway.protocol.headers import build_headers
from gateway.protocol.signing import VihfSigner, security_header
from gateway.protocol.vihf import build_assertion
from gateway.transport.client import InsiClient


def new_message_id() -> str:
    """A ``wsa:MessageID``: ``uuid:<uuid4>``."""
    return f"uuid:{uuid.uuid4()}"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    """A completed search: the normalised query that was sent and what came back."""

    query: TraitsQuery
    result: InsResult
    context: CallContext


class InsService:
    """Searches the INS through the teleservice; one instance per worker process.

    ``signers`` maps each certificate mode to the signer of its establishment
    certificate; an empty mapping means ``INSI_SIGNING=none`` (no ``wsse:Security``).
    """

    def __init__(
        self,
        *,
        client: InsiClient,
        signers: Mapping[CertificateMode, VihfSigner],
        software: SoftwareIdentity,
        emitter: str,
        structure_id: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client
        self._signers = dict(signers)
        self._software = software
        self._emitter = emitter
        self._structure_id = structure_id
        self._clock = clock

    def search_by_traits(self, query: TraitsQuery, context: CallContext) -> SearchAnswer:
        """One ``rechercherInsAvecTraitsIdentite`` call with all the query's first names."""
        body = traits_search_body(query, " ".join(query.first_names))
        result = self._call(Operation.SEARCH_TRAITS, body, context)
        return SearchAnswer(query=query, result=result, context=context)

    def _call(
        self, operation: Operation, body: dict[str, object], context: CallContext
    ) -> InsResult:
        envelope = self._client.envelope(operation, body, self._headers(operation, context))
        started = time.perf_counter()
        try:
            response = self._client.send(operation, envelope)
        finally:
            logs.note_upstream(operation=operation.value, seconds=time.perf_counter() - started)
        logs.note_upstream(status=response.status)
        return self._client.parse(response)

    def _headers(self, operation: Operation, context: CallContext) -> list[etree._Element]:
        now = self._clock()
        headers = build_headers(operation, context, self._software, emitter=self._emitter, now=now)
        if self._signers:
            headers.insert(0, self._signed_security(context, now))
        return headers

    def _signed_security(self, context: CallContext, now: datetime) -> etree._Element:
        signer = self._signers.get(context.mode)
        if signer is None:
            raise ConfigurationError(f"INSI_CERT_{context.mode.name}", "no certificate configured")
        assertion = build_assertion(
            structure_id=self._structure_id, software=self._software, context=context, now=now
        )
        return security_header(signer.sign(assertion))
