"""The three SOAP operations: a translation to and from the JSON interface's vocabulary.

Each operation turns the spyne request object into a plain mapping with the
JSON field names, then calls what ``POST /v1/...`` calls: the same
:mod:`gateway.ins.queries` function (every rule), the same
:class:`~gateway.service.InsService` method, the same
:mod:`gateway.render.answers` function. The answer dict is copied into
the spyne answer type generically. Errors go through the one table of
:mod:`gateway.render.problems` and become :class:`ProblemFault`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from spyne import ComplexModelBase, Fault, ServiceBase, Unicode, rpc

from gateway import logs
from gateway.admission.gatekeeper import Gatekeeper
from gateway.exceptions import GatewayError
from gateway.ins.queries import attested, search_query, verify_query, vitale_query
from gateway.interfaces.soap import types as t
from gateway.models import CallContext
from gateway.render.answers import search_answer_json, verify_answer_json
from gateway.render.problems import problem_document, problem_kind
from gateway.service import InsService
from gateway.storage.apps import App
from gateway.vigilance.recording import record_soap

log = logging.getLogger("gateway.requests")

# Where the WSGI layer leaves the per-request :class:`SoapCall` for the operations.
ENVIRON_KEY: Final = "insi_gateway.soap_call"


@dataclass(slots=True)
class SoapCall:
    """What an operation needs beyond its body; ``app`` is set once the key is checked."""

    service: InsService
    gatekeeper: Gatekeeper
    request_id: str
    app: App | None = None
    user_id: str | None = None
    operation: str | None = None
    assertions: tuple[str, ...] = ()  # CPx: the CardAssertion header and/or X-INSi-Assertion
    client: str | None = None  # REMOTE_ADDR: the flood guard's key

    def context(self) -> CallContext:
        assert self.app is not None  # operations run only after authentication
        context = self.gatekeeper.context(self.request_id, self.app, self.user_id, self.assertions)
        self.user_id = context.user_id  # CPx: the professional the card names
        return context


class ProblemFault(Fault):  # type: ignore[misc]
    """A gateway error as a SOAP fault (already mapped: spyne's own faults are not).

    ``soap_headers``: header blocks the fault envelope carries (``Upgrade``,
    ``NotUnderstood``), added by :mod:`gateway.interfaces.soap.protocols`.
    """

    soap_headers: tuple[Any, ...] = ()


def refused(call: SoapCall, error: BaseException) -> ProblemFault:
    """The fault for ``error``, journaled when it refuses the request (like the JSON side)."""
    call.service.trail.refusal(
        error,
        request_id=call.request_id,
        operation=call.operation,
        app=call.app.name if call.app else None,
        user_id=call.user_id,
        client=call.client,
    )
    return problem_fault(error, call.request_id)


def problem_fault(error: BaseException, request_id: str) -> ProblemFault:
    """``Client.<slug>``/``Server.<slug>``, the problem's detail as faultstring and Detail.

    Same stable slug and type URI as the JSON problem document; the
    document's fields (type, status, field, reason, upstream codes...) are
    the Detail's ``problem`` element, in our namespace.
    """
    kind = problem_kind(error)
    if not isinstance(error, GatewayError):
        logs.event(log, "unexpected error", level=logging.ERROR, error_type=type(error).__name__)
    logs.note(outcome=kind.slug)
    document = problem_document(error, request_id=request_id)
    # SOAP 1.1 §4.4: a fault about header blocks carries no detail (the blocks are named).
    detail = None if kind.fault_role == "MustUnderstand" else _qualified_keys(document)
    return ProblemFault(
        faultcode=f"{kind.fault_role}.{kind.slug}",
        faultstring=document["detail"],
        detail=None if detail is None else {_qualified("problem"): detail},
    )


def _qualified(name: str) -> str:
    return f"{{{t.NS}}}{name}"


def _qualified_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_qualified(key): _qualified_keys(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_qualified_keys(item) for item in value]
    return value


def request_fields(request: Any) -> dict[str, object]:
    """A spyne request as the JSON body it stands for; absent elements are absent keys."""
    if request is None:
        return {}
    fields: dict[str, object] = {}
    for name in type(request).get_flat_type_info(type(request)):
        value = getattr(request, name, None)
        if value is not None:
            fields[name] = _plain(value)
    return fields


def _plain(value: Any) -> object:
    if isinstance(value, ComplexModelBase):
        return request_fields(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def answer_model(model: Any, data: Mapping[str, Any]) -> Any:
    """The spyne ``model`` holding the answer dict ``data`` (keys it does not declare dropped)."""
    fields = model.get_flat_type_info(model)
    return model(**{name: _field(kind, data.get(name)) for name, kind in fields.items()})


def _field(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    if kind.Attributes.max_occurs > 1:
        return [_one(kind, item) for item in value]
    return _one(kind, value)


def _one(kind: Any, value: Any) -> Any:
    if issubclass(kind, ComplexModelBase):
        return answer_model(kind, value)
    if issubclass(kind, Unicode) and not isinstance(value, str):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


# An operation body: (call, JSON fields) -> (answer dict, outcome for the request log).
Handler = Callable[[SoapCall, Mapping[str, object]], tuple[dict[str, Any], str]]


def _search(call: SoapCall, fields: Mapping[str, object]) -> tuple[dict[str, Any], str]:
    answer = call.service.search_by_traits(search_query(fields), attested(call.context(), fields))
    return search_answer_json(answer), answer.result.code.value


def _search_vitale(call: SoapCall, fields: Mapping[str, object]) -> tuple[dict[str, Any], str]:
    answer = call.service.search_by_vitale(vitale_query(fields), attested(call.context(), fields))
    return search_answer_json(answer), answer.result.code.value


def _verify(call: SoapCall, fields: Mapping[str, object]) -> tuple[dict[str, Any], str]:
    answer = call.service.verify(verify_query(fields), attested(call.context(), fields))
    return verify_answer_json(answer), answer.verdict.value


def _run(ctx: Any, operation: str, handler: Handler, request: Any, model: Any) -> Any:
    call: SoapCall = ctx.transport.req_env[ENVIRON_KEY]
    call.operation = operation
    call.assertions = _card_assertions(ctx)
    logs.note(operation=operation)
    try:
        assert call.app is not None  # handle_rpc authenticated the key before parsing
        with call.gatekeeper.admit(call.app, operation):
            body, outcome = handler(call, request_fields(request))
            record_soap(call, ctx.transport.req_env, body)  # vigilance events, before the answer
        answer = answer_model(model, body)
    except Exception as error:  # every error, ours or not, leaves as a mapped fault
        raise refused(call, error) from None
    logs.note(outcome=outcome)
    return answer


def _card_assertions(ctx: Any) -> tuple[str, ...]:
    """The card assertions sent: the ``CardAssertion`` SOAP header, the HTTP header, or both
    (two are refused later as one too many, whatever their channels)."""
    found: list[str] = []
    header = ctx.in_header
    for item in header if isinstance(header, list | tuple) else [header]:
        value = getattr(item, "assertion", None)
        if value:
            found.append(str(value))
    http = str(ctx.transport.req_env.get("HTTP_X_INSI_ASSERTION", "")).strip()
    return (*found, http) if http else tuple(found)


def _operation(name: str, request: Any, answer: Any) -> Callable[[Callable[..., Any]], Any]:
    """Document/literal, bare: the body element is ``<name>``, the answer ``<name>Response``."""
    decorator: Callable[[Callable[..., Any]], Any] = rpc(
        request,
        _returns=answer,
        _throws=[t.Problem],
        _body_style="bare",
        _operation_name=name,
        _out_message_name=f"{name}Response",
    )
    return decorator


class InsGatewayService(ServiceBase):  # type: ignore[misc]
    """INS searches and verification, as ``POST /v1/ins/search``, ``.../vitale``, ``.../verify``.

    spyne passes the method context first (no ``self``): hence ``ctx`` and N805.
    The optional ``CardAssertion`` header carries a CPx card assertion.
    """

    __in_header__ = t.CardAssertion

    @_operation("searchByTraits", t.TraitsSearchRequest, t.SearchAnswer)
    def search_by_traits(ctx: Any, request: Any) -> Any:  # noqa: N805
        return _run(ctx, "search", _search, request, t.SearchAnswer)

    @_operation("searchByVitale", t.VitaleSearchRequest, t.SearchAnswer)
    def search_by_vitale(ctx: Any, request: Any) -> Any:  # noqa: N805
        return _run(ctx, "search_vitale", _search_vitale, request, t.SearchAnswer)

    @_operation("verifyIns", t.VerifyRequest, t.VerifyAnswer)
    def verify_ins(ctx: Any, request: Any) -> Any:  # noqa: N805
        return _run(ctx, "verify", _verify, request, t.VerifyAnswer)
