"""The page of the identity-vigilance cell: server-rendered HTML, in French, no script.

Only a reviewer's session opens it (an application key is ignored here: without a
session, every page leads to the login form). Every form carries an anti-forgery
token: the session's, or before login a random one doubled in a cookie; a POST
without it is refused (403). With ``serve --ops-bind`` the page is served on the ops
listener only (:mod:`gateway.interfaces.ops`).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any, Final

from flask import Blueprint, Flask, Response, g, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from gateway.exceptions import AuthenticationThrottled, CsrfRejected, GatewayError, InvalidInput
from gateway.interfaces.vigilance_api import (
    SESSION_COOKIE,
    event_filter,
    reviewer_session,
    vigilance,
)
from gateway.vigilance.events import KINDS_FR, Kind
from gateway.vigilance.indicators import CHARTS, svg_chart, weekly
from gateway.vigilance.review import ACTIONS
from gateway.vigilance.reviewers import LIFETIME, Session
from gateway.vigilance.tables import STATES

LOGIN_CSRF_COOKIE: Final = "vigilance_login_csrf"
STATES_FR: Final = {"open": "Ouvert", "acknowledged": "Pris en compte", "resolved": "Résolu"}
PER_PAGE: Final = 25
# No script at all; styles inline in the page; forms post to this origin only.
CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

pages = Blueprint(
    "vigilance_pages", __name__, url_prefix="/vigilance", template_folder="../vigilance/templates"
)


def _cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
        path="/",
    )


def _render(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(
        render_template(
            template,
            kinds=KINDS_FR,
            states=STATES_FR,
            session=g.get("reviewer_session"),
            **context,
        ),
        status=status,
        mimetype="text/html",
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _session() -> Session | None:
    session = reviewer_session()
    g.reviewer_session = session
    return session


def _to(location: str) -> Response:
    """A 303 to ``location`` (after a form, the browser GETs the next page)."""
    response = Response(status=303)
    response.headers["Location"] = location
    return response


def _to_login() -> Response:
    return _to(url_for("vigilance_pages.login"))


def _check_csrf(expected: str | None) -> None:
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected("the form's anti-forgery token is missing or wrong")


@pages.get("/login")
def login() -> Response:
    token = secrets.token_urlsafe(32)
    response = _render("login.html", csrf_token=token)
    _cookie(response, LOGIN_CSRF_COOKIE, token, None)
    return response


@pages.post("/login")
def login_submit() -> Response:
    _check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE))
    found = vigilance()
    name, password = request.form.get("name", "").strip(), request.form.get("password", "")
    client = request.remote_addr
    token = secrets.token_urlsafe(32)
    try:
        for key in (client, f"name:{name}"):
            found.throttle.check(key)
    except AuthenticationThrottled:
        found.login(name, outcome="login-throttled", request_id=g.request_id, client=client)
        error = "Trop de tentatives : réessayez dans quelques minutes."
        response = _render("login.html", 429, csrf_token=token, error=error, name=name)
        _cookie(response, LOGIN_CSRF_COOKIE, token, None)
        return response
    if not name or not found.reviewers.authenticate(name, password):
        for key in (client, f"name:{name}"):
            found.throttle.failed(key)
        found.login(name, outcome="login-failed", request_id=g.request_id, client=client)
        error = "Identifiant ou mot de passe incorrect."
        response = _render("login.html", 401, csrf_token=token, error=error, name=name)
        _cookie(response, LOGIN_CSRF_COOKIE, token, None)
        return response
    session_token, _ = found.reviewers.open_session(name)
    found.login(name, outcome="login", request_id=g.request_id, client=client)
    response = _to(url_for("vigilance_pages.worklist"))
    _cookie(response, SESSION_COOKIE, session_token, int(LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@pages.post("/logout")
def logout() -> Response:
    session = _session()
    if session is None:
        return _to_login()
    _check_csrf(session.csrf)
    vigilance().reviewers.close_session(request.cookies.get(SESSION_COOKIE, ""))
    vigilance().login(session.reviewer, outcome="logout", request_id=g.request_id, client=None)
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@pages.get("/")
def worklist() -> Response:
    if _session() is None:
        return _to_login()
    args = dict(request.args.items())
    args.setdefault("state", "open")
    page = int(args["page"]) if args.get("page", "").isdigit() and int(args["page"]) > 0 else 1
    try:
        found, total = vigilance().store.search(event_filter(args), page=page, per_page=PER_PAGE)
    except InvalidInput as error:
        return _render(
            "list.html",
            400,
            events=[],
            total=0,
            page=1,
            pages=1,
            args=args,
            error=f"Filtre invalide ({error.field}) : {error.reason}",
            all_states=STATES,
        )
    pages_count = max(1, -(-total // PER_PAGE))
    return _render(
        "list.html",
        events=found,
        total=total,
        page=page,
        pages=pages_count,
        args=args,
        error=None,
        all_states=STATES,
    )


@pages.get("/events/<int:event_id>")
def event(event_id: int) -> Response:
    if _session() is None:
        return _to_login()
    found = vigilance().store.get(event_id)
    if found is None:
        return _render("event.html", 404, event=None, related=[], notice=None)
    related = vigilance().store.related(found)
    return _render("event.html", event=found, related=related, notice=request.args.get("fait"))


def _review(event_id: int, action: str) -> Response:
    session = _session()
    if session is None:
        return _to_login()
    _check_csrf(session.csrf)
    comment = request.form.get("comment", "").strip()
    try:
        vigilance().review(
            event_id,
            action,
            by=session.reviewer,
            app=None,
            request_id=g.request_id,
            comment=comment,
        )
    except HTTPException as error:
        found = vigilance().store.get(event_id)
        related = vigilance().store.related(found) if found else []
        return _render(
            "event.html",
            error.code or 409,
            event=found,
            related=related,
            notice=None,
            error=error.description,
        )
    except InvalidInput as error:
        found = vigilance().store.get(event_id)
        related = vigilance().store.related(found) if found else []
        return _render(
            "event.html",
            400,
            event=found,
            related=related,
            notice=None,
            error=f"{error.field} : {error.reason}",
        )
    return _to(url_for("vigilance_pages.event", event_id=event_id, fait=ACTIONS[action]))


@pages.post("/events/<int:event_id>/acknowledge")
def acknowledge(event_id: int) -> Response:
    return _review(event_id, "acknowledge")


@pages.post("/events/<int:event_id>/resolve")
def resolve(event_id: int) -> Response:
    return _review(event_id, "resolve")


@pages.get("/indicators")
def indicators() -> Response:
    if _session() is None:
        return _to_login()
    found = vigilance()
    figures = weekly(found.database, found.store)
    charts = [svg_chart(title, figures.weeks, figures.series(metric)) for metric, title in CHARTS]
    return _render("indicators.html", charts=charts, figures=figures, kinds_order=list(Kind))


@pages.errorhandler(CsrfRejected)
def _csrf_refused(error: GatewayError) -> Response:
    return _render("refused.html", 403, message="Jeton anti-falsification absent ou invalide.")


def install(app: Flask) -> None:
    """Register the page (after :func:`gateway.interfaces.vigilance_api.install`)."""
    app.register_blueprint(pages)
