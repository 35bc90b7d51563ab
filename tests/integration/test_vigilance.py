"""The identity-vigilance worklist against a real gateway and the real mock (gunicorn, mutual TLS).

Every kind of event is produced through JSON, SOAP and a batch job and found through
``/v1/vigilance/events``; the database is then read byte for byte for any identity
trait in clear. Access: an application needs the ``vigilance`` operation, a reviewer
a session, and every POST of a session its anti-forgery token.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import sqlite3

import pytest

from tests.integration.conftest import (
    AUDIT_KEY,
    GatewayFactory,
    GatewayServer,
    MockServer,
    cli,
    register_app,
)
from tests.integration.vigilance_scenario import (
    ECETINSI,
    TCHITCHI,
    TRAITS_IN_CLEAR,
    ZOE,
    Cell,
    add_reviewer,
    add_reviewer_with_password,
    batch_job,
    held,
    json_calls,
    soap_calls,
)

pytestmark = pytest.mark.integration
ALL_KINDS = {"check_required", "mismatch", "superseded", "multiple", "key_invalid"}
BATCH_KINDS = {"mismatch", "superseded", "multiple"}  # a job only verifies (INSi rules)


def pseudonym(matricule: str) -> str:
    """The audit journal's keyed hash (tests/storage/test_audit.py checks the journal's own)."""
    return hmac.new(AUDIT_KEY.encode(), matricule.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def cell_gateway(gateway_factory: GatewayFactory, mock_server: MockServer) -> GatewayServer:
    return gateway_factory(mock_server.url, GATEWAY_JOB_RATE="100")


@pytest.fixture(scope="module")
def produced(cell_gateway: GatewayServer) -> dict[str, dict[str, str]]:
    """The patient reference of each event, by interface and kind."""
    return {
        "json": json_calls(cell_gateway),
        "soap": soap_calls(cell_gateway),
        "batch": batch_job(cell_gateway),
    }


@pytest.fixture(scope="module")
def tools(cell_gateway: GatewayServer) -> Cell:
    """The cell's own tools: an application with the ``vigilance`` operation only."""
    return Cell(
        cell_gateway, key=register_app(cell_gateway.env, "cell-tools", "--operations", "vigilance")
    )


@pytest.fixture(scope="module")
def reviewer(cell_gateway: GatewayServer) -> Cell:
    password = add_reviewer(cell_gateway, "alice")
    cell = Cell(cell_gateway)
    assert cell.login("alice", password).status_code == 303
    return cell


def test_every_kind_from_every_interface_is_found_through_the_api(
    produced: dict[str, dict[str, str]], tools: Cell
) -> None:
    events = tools.events()
    found = {(e["source"], e["kind"]): e for e in events}

    for source, kinds in (("json", ALL_KINDS), ("soap", ALL_KINDS), ("batch", BATCH_KINDS)):
        for kind in kinds:
            event = found[(source, kind)]
            assert event["patient_ref"] == produced[source][kind], (source, kind)
            assert (event["state"], event["app"]) == ("open", "integration")
            assert event["request_id"]
            assert event["message_id"]
    assert found[("json", "mismatch")]["traits"] == ["first_names"]
    assert found[("json", "check_required")]["traits"] == ["first_names"]
    assert found[("json", "check_required")]["user_id"] == "dr.martin"
    assert found[("soap", "mismatch")]["user_id"] == "dr.soap"
    assert found[("batch", "mismatch")]["user_id"] is None
    # the INS as the journal hashes it: one patient's events group together
    superseded = {found[(s, "superseded")]["ins_hash"] for s in ("json", "soap", "batch")}
    assert superseded == {pseudonym(str(ECETINSI.matricule))}
    assert found[("batch", "mismatch")]["ins_hash"] == pseudonym(str(TCHITCHI.matricule))
    assert found[("json", "multiple")]["ins_hash"] is None


def test_no_identity_trait_is_stored_in_clear(
    produced: dict[str, dict[str, str]], cell_gateway: GatewayServer
) -> None:
    """Every row of the vigilance tables, as text: no name, first name, birth date, matricule."""
    database = cell_gateway.env["DATABASE_URL"].removeprefix("sqlite:///")
    tables = ("vigilance_events", "reviewers", "reviewer_sessions")
    with sqlite3.connect(database) as conn:
        rows = {table: conn.execute(f"SELECT * FROM {table}").fetchall() for table in tables}  # noqa: S608
    dumped = json.dumps(rows, ensure_ascii=False).upper()

    assert len(rows["vigilance_events"]) >= 13  # 5 JSON, 5 SOAP, 3 batch
    leaked = [trait for trait in TRAITS_IN_CLEAR if trait.upper() in dumped]
    assert not leaked, leaked


def test_filters_paging_and_csv_export(
    produced: dict[str, dict[str, str]], tools: Cell, cell_gateway: GatewayServer
) -> None:
    kinds = {e["kind"] for e in tools.events(kind="superseded")}
    by_ref = tools.events(patient_ref=produced["soap"]["multiple"])
    by_app = tools.events(app="nobody")
    page = tools.get("/v1/vigilance/events", params={"per_page": "2", "page": "2"}).json()
    future = tools.events(since="2999-01-01")
    bad = tools.get("/v1/vigilance/events", params={"since": "yesterday"})
    bad_state = tools.get("/v1/vigilance/events", params={"state": "closed"})

    assert kinds == {"superseded"}
    assert [(e["source"], e["kind"]) for e in by_ref] == [("soap", "multiple")]
    assert by_app == []
    assert (len(page["events"]), page["page"], page["per_page"]) == (2, 2, 2)
    assert page["total"] >= 13
    assert future == []
    assert (bad.status_code, bad.json()["field"]) == (400, "since")
    assert (bad_state.status_code, bad_state.json()["field"]) == (400, "state")

    # a cell a spreadsheet would run as a formula is escaped
    formula = cell_gateway.post(
        "/v1/ins/search",
        {**TCHITCHI.traits(), "first_names": ["OLA", *TCHITCHI.first_names]},
        headers={"X-User-Id": "@SUM", "X-Patient-Ref": "CSV-1"},
    )
    assert formula.status_code == 200
    exported = tools.get("/v1/vigilance/events", params={"format": "csv", "patient_ref": "CSV-1"})
    assert exported.headers["Content-Type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(exported.text)))
    assert (row["user_id"], row["patient_ref"], row["kind"]) == ("'@SUM", "CSV-1", "check_required")


def test_a_bad_patient_reference_is_a_field_named_400(cell_gateway: GatewayServer) -> None:
    response = cell_gateway.post(
        "/v1/ins/search", TCHITCHI.traits(), headers={"X-Patient-Ref": "IPP 1; DROP"}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "X-Patient-Ref"


def test_who_may_call_the_api(
    produced: dict[str, dict[str, str]], tools: Cell, reviewer: Cell, cell_gateway: GatewayServer
) -> None:
    insi_only = Cell(
        cell_gateway, key=register_app(cell_gateway.env, "dpi", "--operations", "search,verify")
    )
    anonymous = Cell(cell_gateway)

    assert anonymous.get("/v1/vigilance/events").status_code == 401
    refused = insi_only.get("/v1/vigilance/events")
    assert (refused.status_code, refused.json()["type"]) == (
        403,
        "urn:insi-gateway:problem:forbidden",
    )
    # the cell's tools call no INSi operation, a reviewer's session none either
    assert tools.post("/v1/ins/search", json=TCHITCHI.traits()).status_code == 403
    assert reviewer.post("/v1/ins/search", json=TCHITCHI.traits()).status_code == 401
    assert reviewer.get("/v1/vigilance/events").status_code == 200


def test_reviews_through_the_api_need_the_csrf_token_and_are_journaled(
    produced: dict[str, dict[str, str]], tools: Cell, reviewer: Cell, cell_gateway: GatewayServer
) -> None:
    (event,) = tools.events(patient_ref=produced["json"]["superseded"])
    (other,) = tools.events(patient_ref=produced["soap"]["superseded"])
    path = f"/v1/vigilance/events/{event['id']}"
    token = reviewer.form_token("/vigilance/")

    without = reviewer.post(path + "/acknowledge", json={"comment": "vu"})
    wrong = reviewer.post(path + "/acknowledge", headers={"X-CSRF-Token": "x" * 43})
    acknowledged = reviewer.post(
        path + "/acknowledge", json={"comment": "vu"}, headers={"X-CSRF-Token": token}
    )
    resolved = tools.post(path + "/resolve", json={"comment": "INS mis à jour"})
    again = tools.post(path + "/resolve")
    missing = tools.post("/v1/vigilance/events/999999/resolve")
    insi_only = Cell(
        cell_gateway, key=register_app(cell_gateway.env, "dpi2", "--operations", "verify")
    )

    assert (without.status_code, without.json()["type"]) == (
        403,
        "urn:insi-gateway:problem:csrf-rejected",
    )
    assert wrong.status_code == 403
    assert (acknowledged.status_code, acknowledged.json()["state_by"]) == (200, "alice")
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["state_by"] == "cell-tools"
    assert (again.status_code, missing.status_code) == (409, 404)
    assert insi_only.post(f"/v1/vigilance/events/{other['id']}/resolve").status_code == 403
    assert event["id"] not in {e["id"] for e in tools.events(state="open")}
    journal = cli(cell_gateway.env, "audit", "search", "--user", "alice").splitlines()
    reviews = [r for r in map(json.loads, journal) if r["operation"] == "vigilance-acknowledge"]
    assert [(r["outcome"], r["message_id"]) for r in reviews] == [
        (f"acknowledged:{event['id']}", event["message_id"])  # the review names the call
    ]


def test_reviewers_cli(cell_gateway: GatewayServer) -> None:
    shown = add_reviewer_with_password(cell_gateway, "bob", "a long enough password")
    listed = json.loads(cli(cell_gateway.env, "reviewers", "list"))
    cell = Cell(cell_gateway)

    assert "password" not in shown
    assert {"name": "bob", "revoked": False}.items() <= next(
        r for r in listed if r["name"] == "bob"
    ).items()
    assert cell.login("bob", "a long enough password").status_code == 303
    assert cell.get("/vigilance/").status_code == 200
    new = json.loads(cli(cell_gateway.env, "reviewers", "reset-password", "bob"))["password"]
    assert cell.get("/vigilance/").status_code == 303  # the new password ended the session
    assert cell.login("bob", new).status_code == 303
    cli(cell_gateway.env, "reviewers", "revoke", "bob")
    assert cell.get("/vigilance/").status_code == 303
    assert Cell(cell_gateway).login("bob", new).status_code == 401


def test_the_indicators_are_prometheus_counters_too(
    produced: dict[str, dict[str, str]], cell_gateway: GatewayServer
) -> None:
    exposition = cell_gateway.session.get(
        cell_gateway.base_url + "/metrics", verify=str(cell_gateway.ca_bundle), timeout=30
    ).text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("gateway_vigilance_")
    }

    answers = samples['gateway_vigilance_answers_total{app="integration"}']
    mismatches = samples['gateway_vigilance_events_total{app="integration",kind="mismatch"}']
    assert answers >= 13
    assert mismatches >= 3  # JSON, SOAP, batch
    assert all("DE VINCI" not in name for name in samples)


def test_no_answer_is_given_when_its_event_cannot_be_written(
    produced: dict[str, dict[str, str]], cell_gateway: GatewayServer
) -> None:
    """The journal's guarantee: an answer given is an event written (else a 503, no answer)."""
    database = cell_gateway.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TRIGGER refuse_events BEFORE INSERT ON vigilance_events"
            " BEGIN SELECT RAISE(ABORT, 'vigilance events refused by the test'); END"
        )
    try:
        needs_a_person = cell_gateway.post("/v1/ins/verify", held(ECETINSI, ECETINSI.history[0]))
        needs_nobody = cell_gateway.post("/v1/ins/search", ZOE.traits())
    finally:
        with sqlite3.connect(database) as conn:
            conn.execute("DROP TRIGGER refuse_events")

    assert needs_a_person.status_code == 503
    assert needs_a_person.json()["type"] == "urn:insi-gateway:problem:audit-unavailable"
    assert "ins" not in needs_a_person.json()
    assert needs_nobody.status_code == 200  # an answer without an event writes nothing


def test_audit_purge_purges_the_events_with_the_journal(
    produced: dict[str, dict[str, str]], tools: Cell, cell_gateway: GatewayServer
) -> None:
    """Last of the module: it empties the worklist (the journal's retention applies to both)."""
    kept = cli(cell_gateway.env, "audit", "purge", "--before", "2000-01-01")
    assert json.loads(kept)["vigilance_events_purged"] == 0
    assert tools.events()

    purged = json.loads(cli(cell_gateway.env, "audit", "purge", "--before", "2999-01-01"))

    assert purged["vigilance_events_purged"] >= 13
    assert tools.events() == []
