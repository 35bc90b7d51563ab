"""The service core: what the gateway does for a request, whatever interface it came through.

Outgoing steps happen in a fixed order: body, then context headers
(WS-Addressing, ``ContexteLPS``, ``ContexteBAM``), then the VIHF assertion is
built and signed, last, and only then is the envelope serialised and sent.
In CPx mode nothing is signed here: the professional's card-signed assertion,
already checked, replaces a marker in the serialised envelope, byte for byte.
Interfaces (JSON, SOAP, CLI) only translate to and from this module.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from gateway import logs
from gateway.audit.trail import Trail, involved, upstream_outcome
from gateway.exceptions import ConfigurationError, GatewayError
from gateway.ids import new_message_id
from gateway.ins.matricule import key_matches
from gateway.ins.strategy import FirstNameStrategy, attempts, refinement
from gateway.ins.verdicts import (
    Comparison,
    Difference,
    IdentityStatus,
    Verdict,
    compare,
    identity_status,
    judge,
)
from gateway.models import (
    CallContext,
    CertificateMode,
    InsResult,
    Operation,
    ResultCode,
    SoftwareIdentity,
    TraitsQuery,
    VerifyQuery,
    VitaleQuery,
)
from gateway.protocol.bodies import traits_search_body, vitale_search_body
from gateway.protocol.cpx_relay import relay_security_header, splice_assertion
from gateway.protocol.headers import build_headers
from gateway.protocol.signing import VihfSigner, security_header
from gateway.protocol.vihf import build_assertion
from gateway.storage.audit import AuditRecord
from gateway.upstream.client import InsiClient

log = logging.getLogger("gateway.service")


def utc_now() -> datetime:
    return datetime.now(UTC)


Assess = Callable[[InsResult], IdentityStatus | None]
"""The identity status an upstream result gives, journaled with the call's outcome."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One upstream call of a search: the ``Prenom`` sent, the CR it got, its ``wsa:MessageID``."""

    first_names: str
    code: ResultCode
    message_id: str


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    """A completed search: the normalised query that was sent and what came back.

    ``queried_at`` is when the (last) teleservice call was made (FR Core's
    ``dateInterrogationINSi``); the service always sets it. ``comparison``
    and ``identity_status`` compare the returned strict traits with the
    traits held: those sent, or a Vitale search's ``local_identity`` (the
    card's own data are a key, never the person: :mod:`gateway.ins.verdicts`).
    """

    query: TraitsQuery | VitaleQuery
    result: InsResult
    context: CallContext
    attempts: tuple[Attempt, ...] = ()
    queried_at: datetime = field(default_factory=utc_now)
    # Derived once here (the answer is frozen): the renderers read them several times per
    # answer (status, differences, unchecked traits), and each comparison normalises names.
    comparison: Comparison = field(init=False, repr=False, compare=False)
    identity_status: IdentityStatus | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        comparison = _comparison(self.query, self.result)
        object.__setattr__(self, "comparison", comparison)
        status = identity_status(self.result, comparison, self.context.evidence)
        object.__setattr__(self, "identity_status", status)

    @property
    def differences(self) -> tuple[Difference, ...]:
        return self.comparison.differences

    @property
    def unchecked_traits(self) -> tuple[str, ...]:
        return self.comparison.unchecked if self.identity_status is not None else ()


def _assessor(query: TraitsQuery | VitaleQuery, context: CallContext) -> Assess:
    """A search's status for the journal: the rule :class:`SearchAnswer` gives its answer."""

    def assess(result: InsResult) -> IdentityStatus | None:
        return identity_status(result, _comparison(query, result), context.evidence)

    return assess


def _comparison(query: TraitsQuery | VitaleQuery, result: InsResult) -> Comparison:
    """Held traits against the returned identity; nothing to compare without one."""
    if result.code is not ResultCode.FOUND or result.identity is None:
        return Comparison()
    held = query.local_identity if isinstance(query, VitaleQuery) else query
    return compare(held, result.identity)


@dataclass(frozen=True, slots=True)
class VerifyAnswer:
    """The verdict on an INS held locally, with the search it rests on.

    ``identity_status`` is ``RECUP`` (``QUAL`` with qualifying evidence) only when
    all five strict traits were compared and nothing differs, the INS held
    included (a ``superseded`` INS with agreeing traits is ``RECUP``: the
    returned INS is the person's).
    """

    query: VerifyQuery
    verdict: Verdict
    differences: tuple[Difference, ...]
    search: SearchAnswer

    @property
    def unchecked_traits(self) -> tuple[str, ...]:
        return self.search.unchecked_traits

    @property
    def identity_status(self) -> IdentityStatus | None:
        return verified_status(self.verdict, self.differences, self.search)

    @property
    def queried_at(self) -> datetime:
        return self.search.queried_at


@dataclass(frozen=True, slots=True)
class Call:
    """What every upstream call of one request shares: the matricules held (journaled
    ahead), how to judge a result's status (journaled after), the attempts so far."""

    held: tuple[str, ...]
    assess: Assess
    tried: list[Attempt] = field(default_factory=list)


def verified_status(
    verdict: Verdict, differences: tuple[Difference, ...], search: SearchAnswer
) -> IdentityStatus | None:
    """A verification's status: the search's comparison, with the INS held judged too."""
    if verdict is Verdict.SUPERSEDED:  # the INS held is an older one of this person's
        differences = tuple(d for d in differences if d.field != "ins")
    comparison = Comparison(differences, search.comparison.unchecked)
    return identity_status(search.result, comparison, search.context.evidence)


class InsService:
    """Searches and verifies INS through the teleservice; one instance per worker process.

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
        trail: Trail,
        strategy: FirstNameStrategy = FirstNameStrategy.PROGRESSIVE,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client
        self.trail = trail
        self._signers = dict(signers)
        self._software = software
        self._emitter = emitter
        self._structure_id = structure_id
        self._strategy = strategy
        self._clock = clock

    def search_by_traits(self, query: TraitsQuery, context: CallContext) -> SearchAnswer:
        """``rechercherInsAvecTraitsIdentite``, first names sent by the configured strategy."""
        return self._search_traits(query, context, held=(), assess=_assessor(query, context))

    def _search_traits(
        self, query: TraitsQuery, context: CallContext, *, held: tuple[str, ...], assess: Assess
    ) -> SearchAnswer:
        tried: list[Attempt] = []
        call = Call(held, assess, tried)
        for first_names in attempts(query.first_names, self._strategy):
            answer = self._attempt(query, first_names, context, call)
            if answer.result.code is ResultCode.MULTIPLE:
                full = refinement(first_names, query.first_names)
                refined = self._attempt(query, full, context, call) if full else None
                if refined is not None and refined.result.code is not ResultCode.NOT_FOUND:
                    answer = refined  # else several identities match the name sent: multiple
            if answer.result.code is not ResultCode.NOT_FOUND:
                break
        return dataclasses.replace(answer, attempts=tuple(tried))

    def _attempt(
        self, query: TraitsQuery, first_names: str, context: CallContext, call: Call
    ) -> SearchAnswer:
        """One call of a traits search, recorded in ``call.tried``, with its own MessageID."""
        if call.tried:
            context = dataclasses.replace(context, message_id=new_message_id())
        body = traits_search_body(query, first_names)
        queried_at = self._clock()
        result = self._call(Operation.SEARCH_TRAITS, body, context, call)
        call.tried.append(Attempt(first_names, result.code, context.message_id))
        return SearchAnswer(query, result, context, queried_at=queried_at)

    def search_by_vitale(self, query: VitaleQuery, context: CallContext) -> SearchAnswer:
        """``rechercherInsAvecCarteVitale`` with the card's data, judged on ``local_identity``."""
        held = tuple(ref.number for ref in (query.beneficiary, query.holder) if ref)
        body = vitale_search_body(query)
        queried_at = self._clock()
        call = Call(held, _assessor(query, context))
        result = self._call(Operation.SEARCH_VITALE, body, context, call)
        return SearchAnswer(query, result, context, queried_at=queried_at)

    def verify(self, query: VerifyQuery, context: CallContext) -> VerifyAnswer:
        """A traits search, judged against the INS the application holds."""

        def assess(result: InsResult) -> IdentityStatus | None:
            verdict, differences = judge(query.ins, query.traits, result)
            search = SearchAnswer(query.traits, result, context)
            return verified_status(verdict, differences, search)

        held = (query.ins.matricule,)
        search = self._search_traits(query.traits, context, held=held, assess=assess)
        verdict, differences = judge(query.ins, query.traits, search.result)
        return VerifyAnswer(query, verdict, differences, search)

    def _call(
        self, operation: Operation, body: dict[str, object], context: CallContext, call: Call
    ) -> InsResult:
        """One upstream call, journaled ahead (``call.held``: matricules the caller sent), its
        outcome journaled with the identity status the answer gives (``call.assess``)."""
        held = call.held
        # The intent first (or no call at all), so that nothing slow stands between the
        # batch's last claim renewal (in before_send) and the send; not sent: completed so.
        intent = self.trail.intent(context, operation, matricules=held)
        try:
            if context.before_send is not None:  # may wait (batch turns): sign after it, fresh
                context.before_send(context.message_id)
            envelope = self._client.envelope(operation, body, self._headers(operation, context))
            if context.card is not None:  # CPx: the professional's assertion, byte for byte
                envelope = splice_assertion(envelope, context.message_id, context.card.relayed)
        except BaseException:
            self.trail.not_sent(context, operation, intent)
            raise
        started = time.perf_counter()
        try:
            response = self._client.send(
                operation, envelope, mode=context.mode, cpx=context.card is not None
            )
            logs.note_upstream(status=response.status)
            result = _checked(self._client.parse(response))
        except GatewayError as error:
            self._trace(context, operation, started, upstream_outcome(error), held, intent)
            raise
        matricules = held + involved(result)
        status = call.assess(result)
        self._trace(context, operation, started, result.code.value, matricules, intent, status)
        return result

    def _trace(
        self,
        context: CallContext,
        operation: Operation,
        started: float,
        outcome: str,
        matricules: tuple[str, ...],
        intent: AuditRecord,
        status: IdentityStatus | None = None,
    ) -> None:
        seconds = time.perf_counter() - started
        logs.note_upstream(operation=operation.value, seconds=seconds)
        self.trail.upstream_call(
            context,
            operation,
            seconds=seconds,
            outcome=outcome,
            matricules=matricules,
            intent=intent,
            identity_status=status.value if status is not None else None,
        )

    def _headers(self, operation: Operation, context: CallContext) -> list[etree._Element]:
        now = self._clock()
        emitter = context.card.name_id if context.card is not None else self._emitter
        headers = build_headers(operation, context, self._software, emitter=emitter, now=now)
        if context.card is not None:  # relayed as received, never re-signed (protocol.cpx)
            headers.insert(0, relay_security_header(context.message_id))
        elif self._signers:
            headers.insert(0, self._signed_security(context, now))
        return headers

    def _signed_security(self, context: CallContext, now: datetime) -> etree._Element:
        signer = self._signers.get(context.mode)
        if signer is None:
            raise ConfigurationError(f"INSI_CERT_{context.mode.name}", "no certificate configured")
        assertion = build_assertion(
            issuer=signer.issuer, structure_id=self._structure_id, context=context, now=now
        )
        return security_header(signer.sign(assertion))


def _checked(result: InsResult) -> InsResult:
    """Drop history entries repeating the active INS; warn about keys that do not verify.

    A key that fails the 97-mod check is still returned (the teleservice is
    the authority); answers flag it (``key_valid``) and ops see a warning.
    """
    if result.ins is None:
        return result
    active = (result.ins.matricule, result.ins.key)
    history = tuple(h for h in result.history if (h.matricule, h.key) != active)
    bad_keys = sum(
        i.key is not None and not key_matches(i.matricule, i.key) for i in (result.ins, *history)
    )
    if bad_keys:
        logs.event(
            log,
            "teleservice returned an INS whose key does not verify",
            level=logging.WARNING,
            count=bad_keys,
        )
    return dataclasses.replace(result, history=history)
