"""The local JSON interface (``/v1``): a thin adapter over :class:`gateway.service.InsService`.

It authenticates, turns JSON into core values, calls the core, and turns
the answer (or the error, through :mod:`gateway.render.problems`) back
into JSON. No INS rule lives here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from gateway import logs
from gateway.admission.gatekeeper import Gatekeeper, presented_key, user_id
from gateway.exceptions import GatewayError, MalformedRequest
from gateway.ins.queries import attested, search_query, verify_query, vitale_query
from gateway.interfaces import fhir
from gateway.interfaces.batch import verify_batch
from gateway.interfaces.oversized import drain
from gateway.interfaces.vigilance_api import record_json
from gateway.metrics import Metrics
from gateway.models import CallContext
from gateway.protocol import json_input
from gateway.render.answers import search_answer_json, verify_answer_json
from gateway.render.problems import problem_document, problem_kind
from gateway.service import InsService
from gateway.storage.apps import App

log = logging.getLogger("gateway.requests")
PROBLEM_JSON = "application/problem+json"

api = Blueprint("ins_api", __name__, url_prefix="/v1")


def _service() -> InsService:
    service: InsService = current_app.extensions["insi_service"]
    return service


@contextmanager
def admitted(operation: str) -> Iterator[App]:
    """The calling application, admitted for ``operation`` (401/403/429 otherwise)."""
    g.operation = operation
    logs.note(operation=operation)
    gate: Gatekeeper = current_app.extensions["insi_gatekeeper"]
    headers = request.headers
    app = gate.identify(
        presented_key(headers.get("Authorization", "")),  # X-API-Key: the SOAP interface's
        request.remote_addr,
    )
    g.app = app
    g.user_id = user_id(headers.get("X-User-Id", ""))
    logs.note(app=app.name)
    with gate.admit(app, operation):
        yield app


def current_app_name() -> str:
    """The application admitted for this request (after :func:`admitted`)."""
    return str(g.app.name)


def _json_payload() -> object:
    """The body's JSON, strictly (:mod:`gateway.protocol.json_input`: no duplicate members,
    no control or bidirectional characters)."""
    if not request.is_json:
        raise MalformedRequest("Content-Type must be application/json")
    try:
        data = request.get_data(cache=True)
    except HTTPException:
        raise
    except Exception:  # gunicorn's InvalidChunkSize & co: the client's framing, not our bug
        raise MalformedRequest("the body could not be read (invalid chunked encoding)") from None
    return json_input.loads(data)


def _as_object(payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise MalformedRequest("body must be a JSON object")
    return payload


def _json_object() -> dict[str, Any]:
    return _as_object(_json_payload())


ASSERTION_HEADER = "X-INSi-Assertion"
"""CPx mode: base64 of the card-signed SAML assertion the professional's workstation produced."""


def _context() -> CallContext:
    gate: Gatekeeper = current_app.extensions["insi_gatekeeper"]
    context = gate.context(
        g.request_id, g.app, g.user_id, request.headers.getlist(ASSERTION_HEADER)
    )
    g.user_id = context.user_id  # CPx: the professional the card names, for refusals too
    return context


def _answer(body: dict[str, Any], outcome: str) -> Response:
    record_json(_service(), [body])  # vigilance events, before the answer is given
    logs.note(outcome=outcome)
    if fhir.wanted(request.accept_mimetypes):
        return fhir.response(body)
    return jsonify(body)


@api.post("/ins/search")
def search() -> Response:
    with admitted("search"):
        fields = _json_object()
        answer = _service().search_by_traits(search_query(fields), attested(_context(), fields))
    return _answer(search_answer_json(answer), answer.result.code.value)


@api.post("/ins/search/vitale")
def search_vitale() -> Response:
    with admitted("search_vitale"):
        fields = _json_object()
        answer = _service().search_by_vitale(vitale_query(fields), attested(_context(), fields))
    return _answer(search_answer_json(answer), answer.result.code.value)


@api.post("/ins/verify")
def verify() -> Response:
    with admitted("verify"):
        payload = _json_payload()
        if isinstance(payload, list):
            logs.note(items=len(payload))
            results = verify_batch(_service(), payload, context=_context())
            record_json(_service(), results)  # vigilance events, before the answers are given
            return jsonify({"results": results})
        fields = _as_object(payload)
        answer = _service().verify(verify_query(fields), attested(_context(), fields))
    return _answer(verify_answer_json(answer), answer.verdict.value)


def _begin() -> None:
    g.request_id = logs.accepted_request_id(request.headers.get("X-Request-ID", ""))
    g.started = time.perf_counter()
    g.log_token = logs.open_scope(g.request_id, request.headers.get("traceparent", ""))


def _finish(response: Response) -> Response:
    if response.status_code >= 400:  # a refused body may be left unread: keep-alive needs it gone
        drain(request.environ)
    response.headers["X-Request-ID"] = g.request_id
    logs.finish_request(
        log,
        g.log_token,
        request_id=g.request_id,
        method=request.method,
        path=_logged_path(),
        status=response.status_code,
        started=g.started,
        listener=current_app.extensions["insi_metrics"].observe_request,
    )
    return response


def _logged_path() -> str:
    """The path, when it is one of ours: an unknown path is the caller's text (it may hold
    identity data, ``/v1/ins/DUPONT``) and is never logged."""
    if request.url_rule is not None or request.path in _static_paths():
        return request.path
    return "(unknown)"


def _static_paths() -> frozenset[str]:
    paths: frozenset[str] = current_app.extensions.setdefault(
        "insi_static_paths",
        frozenset(rule.rule for rule in current_app.url_map.iter_rules() if not rule.arguments),
    )
    return paths


def _problem(error: BaseException) -> Response:
    app = g.get("app")
    _service().trail.refusal(
        error,
        request_id=g.get("request_id", ""),
        operation=g.get("operation"),
        app=app.name if app else None,
        user_id=g.get("user_id"),
        client=request.remote_addr,
    )
    document = problem_document(error, request_id=g.get("request_id", ""))
    logs.note(outcome=problem_kind(error).slug)
    response = jsonify(document)
    response.status_code = document["status"]
    response.mimetype = PROBLEM_JSON
    if "retry_after" in document:
        response.headers["Retry-After"] = str(document["retry_after"])
    return response


def _http_problem(error: HTTPException) -> Response:
    status = error.code or 500
    app = g.get("app")
    if app is not None and status == 413:  # an admitted application's body refused: journaled
        _service().trail.refusal(
            error,
            request_id=g.get("request_id", ""),
            operation=g.get("operation"),
            app=app.name,
            user_id=g.get("user_id"),
            outcome="http-413",
        )
    document = {
        "type": f"urn:insi-gateway:problem:http-{status}",
        "title": error.name,
        "status": status,
        "detail": error.description,
        "request_id": g.get("request_id", ""),
    }
    logs.note(outcome=f"http-{status}")
    response = jsonify(document)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    for name, value in error.get_headers():  # Allow (405), Retry-After...: HTTP's own headers
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unexpected(error: Exception) -> Response:
    logs.event(log, "unexpected error", level=logging.ERROR, error_type=type(error).__name__)
    return _problem(error)


def install(app: Flask, service: InsService, gatekeeper: Gatekeeper, metrics: Metrics) -> None:
    """Register the JSON interface, its request bookkeeping and its error mapping on ``app``."""
    app.extensions["insi_service"] = service
    app.extensions["insi_gatekeeper"] = gatekeeper
    app.extensions["insi_metrics"] = metrics
    app.before_request(_begin)
    app.after_request(_finish)
    app.register_error_handler(GatewayError, _problem)
    app.register_error_handler(HTTPException, _http_problem)
    app.register_error_handler(Exception, _unexpected)
    app.register_blueprint(api)
