"""``/v1/vigilance``: the worklist of the identity-vigilance cell, for its tools and its people.

Open to an application registered with the ``vigilance`` operation (its key, as
for any ``/v1`` call) and to a reviewer's session (the page's cookie; a POST then
needs the session's ``X-CSRF-Token``). An application with only INSi operations
gets 403; a reviewer's session opens nothing else under ``/v1``.
The hook :func:`record_json` is what the JSON routes call with the answers they give.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from gateway import logs
from gateway.admission.gatekeeper import Gatekeeper, presented_key
from gateway.exceptions import AuthenticationFailed, CsrfRejected, InvalidInput, MalformedRequest
from gateway.service import InsService
from gateway.vigilance import recording
from gateway.vigilance.review import Vigilance, events_csv
from gateway.vigilance.reviewers import Session
from gateway.vigilance.store import MAX_PER_PAGE, EventFilter

OPERATION = "vigilance"
SESSION_COOKIE = "vigilance_session"
CSRF_HEADER = "X-CSRF-Token"
CSV_MAX_ROWS = 10_000

vigilance_api = Blueprint("vigilance_api", __name__, url_prefix="/v1/vigilance")


def vigilance() -> Vigilance:
    found: Vigilance = current_app.extensions["insi_vigilance"]
    return found


def record_json(service: InsService, answers: Iterable[Mapping[str, Any]]) -> None:
    """The JSON routes' hook: the events of ``answers``, before they are given."""
    recording.record(
        service,
        answers,
        recording.Asker(
            app=g.app.name,
            source="json",
            request_id=g.request_id,
            user_id=g.get("user_id"),
            patient_ref=g.get("patient_ref"),
        ),
    )


def check_patient_ref() -> None:
    """Every ``/v1`` request: ``X-Patient-Ref`` checked before any call (a field-named 400)."""
    g.patient_ref = None
    if request.path.startswith("/v1/"):
        g.patient_ref = recording.patient_ref(request.headers.get(recording.PATIENT_REF_HEADER))


def reviewer_session() -> Session | None:
    """The reviewer's live session of this request's cookie, if any."""
    return vigilance().reviewers.session(request.cookies.get(SESSION_COOKIE, ""))


def _caller() -> tuple[str, str | None]:
    """(who, application): an application with ``vigilance``, or a reviewer's session."""
    g.operation = OPERATION
    logs.note(operation=OPERATION)
    headers = request.headers
    key = presented_key(headers.get("Authorization", ""), headers.get("X-API-Key", ""))
    if key:
        gate: Gatekeeper = current_app.extensions["insi_gatekeeper"]
        app = gate.identify(key, request.remote_addr)
        g.app = app
        logs.note(app=app.name)
        with gate.admit(app, OPERATION):  # 403 for an application with INSi operations only
            return headers.get("X-User-Id") or app.name, app.name
    session = reviewer_session()
    if session is None:
        raise AuthenticationFailed("an application key with the vigilance operation, or a login")
    if request.method == "POST":
        sent = headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise CsrfRejected(f"a reviewer's POST needs the session's {CSRF_HEADER}")
    return session.reviewer, None


def moment(field: str, text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time (UTC when it names no offset), or None."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(field, "an ISO 8601 date or date-time, e.g. 2026-12-01") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def event_filter(args: Mapping[str, str]) -> EventFilter:
    """The filters of a query string (the page's form uses the same names)."""
    return EventFilter(
        state=args.get("state") or None,
        kind=args.get("kind") or None,
        app=args.get("app") or None,
        patient_ref=args.get("patient_ref") or None,
        since=moment("since", args.get("since")),
        until=moment("until", args.get("until")),
    )


def _number(name: str, default: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise InvalidInput(name, "a positive whole number")
    return int(text)


@vigilance_api.get("/events")
def events() -> Response:
    _caller()
    where = event_filter(request.args)
    store = vigilance().store
    if request.args.get("format") == "csv":
        rows = []
        for page in range(1, CSV_MAX_ROWS // MAX_PER_PAGE + 1):
            found, total = store.search(where, page=page, per_page=MAX_PER_PAGE)
            rows.extend(found)
            if len(rows) >= total or not found:
                break
        response = Response(events_csv(rows), mimetype="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="vigilance-events.csv"'
        return response
    page, per_page = _number("page", 1), _number("per_page", 50)
    found, total = store.search(where, page=page, per_page=per_page)
    return jsonify(
        {
            "events": [event.as_json() for event in found],
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )


def _review(event_id: int, action: str) -> Response:
    who, app = _caller()
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        raise MalformedRequest('body must be a JSON object: {"comment": "..."} or nothing')
    comment = body.get("comment") or ""
    if not isinstance(comment, str):
        raise InvalidInput("comment", "must be a string")
    event = vigilance().review(
        event_id, action, by=who, app=app, request_id=g.request_id, comment=comment
    )
    return jsonify(event.as_json())


@vigilance_api.post("/events/<int:event_id>/acknowledge")
def acknowledge(event_id: int) -> Response:
    return _review(event_id, "acknowledge")


@vigilance_api.post("/events/<int:event_id>/resolve")
def resolve(event_id: int) -> Response:
    return _review(event_id, "resolve")


def install(app: Flask, found: Vigilance) -> None:
    """Register the API, the ``X-Patient-Ref`` check and the worker's vigilance objects."""
    app.extensions["insi_vigilance"] = found
    app.before_request(check_patient_ref)
    app.register_blueprint(vigilance_api)
