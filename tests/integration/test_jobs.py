"""Batch jobs end to end: real gateways under gunicorn, the real mock, SQLite and PostgreSQL.

The crash test kills a gateway with SIGKILL mid-job and restarts it on the same
database: every row ends with exactly one result, and the mock's request log
shows that no row was sent again after the request whose answer was recorded.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from gateway.jobs.client import submit
from gateway.pki.devpki import DevPki
from gateway.storage import default_sqlite_url
from testbed.postgres import fresh_schema
from testbed.waiting import wait_until
from tests.integration.conftest import (
    APP,
    GatewayServer,
    MockServer,
    gateway_env,
    launch_gateway,
    register_app,
    start_mock,
)
from tests.integration.personas import FOUND, PERSONAS, Expected
from tests.integration.servers import CLI

pytestmark = pytest.mark.integration
NIR = "1.2.250.1.213.1.4.8"
WORKERS = 4
UNLIMITED = ("--rate", "1000", "--burst", "1000", "--max-concurrent", "64")  # status polling


class Jobs:
    """A client of ``/v1/jobs`` on one gateway."""

    def __init__(self, server: GatewayServer) -> None:
        self.server = server

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.server.api_key}", **kwargs.pop("headers", {})}
        url = self.server.base_url + path
        verify = str(self.server.ca_bundle)
        return self.server.session.request(
            method, url, headers=headers, verify=verify, timeout=60, **kwargs
        )

    def submit(self, body: str, content_type: str) -> str:
        response = self.call(
            "POST", "/v1/jobs", data=body.encode(), headers={"Content-Type": content_type}
        )
        assert response.status_code == 202, response.text
        job_id: str = response.json()["job_id"]
        assert response.headers["Location"] == f"/v1/jobs/{job_id}"
        return job_id

    def status(self, job_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        return status

    def wait(self, job_id: str, until: Any, timeout: float = 120) -> dict[str, Any]:
        seen: list[dict[str, Any]] = []

        def reached() -> dict[str, Any] | None:
            seen.append(self.status(job_id))
            return seen[-1] if until(seen[-1]) else None

        return wait_until(reached, timeout, lambda: f"job {job_id}: wanted, last {seen[-1:]}")

    def results(self, job_id: str) -> list[dict[str, Any]]:
        response = self.call("GET", f"/v1/jobs/{job_id}/results")
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in response.text.splitlines()]


def claimed_by(database_url: str) -> list[str]:
    """Which replica process claimed each job row (``claimed_by`` = ``host:pid:...``)."""
    engine = create_engine(database_url, connect_args={"connect_timeout": 5})
    try:
        with engine.begin() as conn:
            return list(conn.execute(text("SELECT claimed_by FROM job_rows")).scalars())
    finally:
        engine.dispose()


def finished(status: Mapping[str, Any]) -> bool:
    return status["state"] in ("done", "cancelled")


def start_jobs_gateway(
    dev_pki: DevPki,
    log_dir: Path,
    upstream_url: str,
    api_key: str | None = None,
    *,
    threads: int = 8,
    **env: str,
) -> GatewayServer:
    """A gateway with the jobs wired; its app is registered unless ``api_key`` is given."""
    environment = gateway_env(dev_pki, upstream_url, **env)
    api_key = api_key or register_app(environment, APP, "--operations", "jobs", *UNLIMITED)
    return launch_gateway(dev_pki, log_dir, environment, api_key, name="jobs", threads=threads)


def stop(server: GatewayServer) -> None:
    server.process.stop()
    lines = [json.loads(x) for x in server.process.output().splitlines() if x.startswith("{")]
    assert not [x for x in lines if x.get("outcome") in ("internal-error", "http-500")]
    assert not [x for x in lines if x.get("event") == "job worker failed"]


@pytest.fixture(scope="module")
def jobs_gateway(
    dev_pki: DevPki,
    log_dir: Path,
    mock_server: MockServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayServer]:
    url = default_sqlite_url(tmp_path_factory.mktemp("jobs") / "gateway.db")
    server = start_jobs_gateway(
        dev_pki, log_dir, mock_server.url, DATABASE_URL=url, GATEWAY_JOB_RATE="100"
    )
    yield server
    stop(server)


@pytest.fixture(scope="module")
def slow_mock(dev_pki: DevPki, log_dir: Path) -> Iterator[MockServer]:
    server = start_mock(dev_pki, log_dir, MOCK_LATENCY_MS="20")
    yield server
    server.process.stop()


CSV_HEADER = "local_id,matricule,key,oid,birth_name,first_names,sex,birth_date,birth_place,flags"
DE_VINCI = Expected("DE VINCI", ("LEONARDO",), "M", "2014-02-01", None, None)


def _line(local_id: str, p: Expected, ins: tuple[str, str] | None, **change: str) -> list[str]:
    """A CSV row for persona ``p``: a verification of ``ins``, or a search when it is None."""
    held = [*ins, p.oid] if ins else ["", "", ""]
    first_names = change.get("first_names", " ".join(p.first_names))
    traits = [p.birth_name, first_names, p.sex, change.get("birth_date", p.birth_date)]
    return [local_id, *held, *traits, p.place or "", change.get("flags", "")]


def mixed_job() -> tuple[str, dict[str, str]]:
    """Every found persona verified, each other verdict, malformed rows and refused searches."""
    by_name = {p.birth_name + p.first_names[0]: p for p in PERSONAS}
    ecetinsi, tchitchi = by_name["ECETINSIPIERRE-ALAIN"], by_name["TCHITCHICATARINA"]
    zoe, houilles = by_name["ADRUNZOE"], by_name["HOUILLESPIERRE"]
    dominique = by_name["ADRTROISDOMINIQUE"]
    ins = {p.birth_name + " ".join(p.first_names): (str(p.matricule), str(p.key)) for p in FOUND}
    zoe_ins, tchitchi_ins = ins["ADRUNZOE"], ins["TCHITCHICATARINA BELLA"]
    cases: list[tuple[list[str], str]] = [
        (_line(f"V{n}", p, ins[p.birth_name + " ".join(p.first_names)]), "verified")
        for n, p in enumerate(FOUND)
    ]
    cases += [
        (_line("OLD", ecetinsi, ecetinsi.history[0]), "superseded"),
        (_line("NAMES", tchitchi, tchitchi_ins, first_names="OLA CATARINA BELLA"), "mismatch"),
        (_line("OTHER", zoe, ins["ADRTROISDOMINIQUE"]), "mismatch"),
        (_line("NOBODY", houilles, ("1930163220999", "77")), "not_found"),
        (_line("DATE", zoe, zoe_ins, birth_date="1975-02-30"), "error"),
        (_line("KEY", zoe, (zoe_ins[0], "7X")), "error"),  # not a 2-digit key
        (_line("DOUBT", zoe, zoe_ins, flags="douteuse"), "error"),
        (_line("", dominique, ins["ADRTROISDOMINIQUE"]), "error"),  # no local_id
        # rows without an INS are searches: a job only verifies (INSi rules), never sent
        (_line("S-FOUND", zoe, None), "error"),
        (_line("S-MANY", DE_VINCI, None), "error"),
        (_line("S-NONE", houilles, None, first_names="PIERRE"), "error"),
    ]
    body = io.StringIO()
    csv.writer(body).writerows([CSV_HEADER.split(","), *(line for line, _ in cases)])
    assert len(cases) == len(FOUND) + 11
    return body.getvalue(), {line[0]: verdict for line, verdict in cases}


def test_a_mixed_job_gets_one_verdict_per_row(
    jobs_gateway: GatewayServer, mock_server: MockServer
) -> None:
    jobs = Jobs(jobs_gateway)
    body, expected = mixed_job()

    job_id = jobs.submit(body, "text/csv")
    status = jobs.wait(job_id, finished)

    total = len(expected)
    assert (status["state"], status["total"], status["done"], status["progress"]) == (
        "done",
        total,
        total,
        1.0,
    )
    results = jobs.results(job_id)
    assert status["counts"] == dict(Counter(expected.values()))
    assert [r["row"] for r in results] == list(range(1, total + 1))
    assert {(r["local_id"] or ""): r["verdict"] for r in results} == expected
    errors = {r["local_id"]: r["error"] for r in results if r["verdict"] == "error"}
    assert errors["DATE"]["field"] == "birth_date"
    assert errors["KEY"]["field"] == "ins.matricule"
    assert errors["DOUBT"]["type"].endswith("identity-not-eligible")
    for search in ("S-FOUND", "S-MANY", "S-NONE"):  # refused, naming the rule
        assert (errors[search]["field"], errors[search]["status"]) == ("ins", 400)
        assert "only verifies" in errors[search]["reason"]
    assert (by_verdict := {r["verdict"]: r["identity_status"] for r in results})
    assert (by_verdict["verified"], by_verdict["mismatch"]) == ("RECUP", "CHECK_REQUIRED")
    assert errors[None]["field"] == "local_id"
    by_id = {r["local_id"]: r for r in results}
    assert by_id["V0"]["ins"]["matricule"] == FOUND[0].matricule
    assert [d["field"] for d in by_id["NAMES"]["differences"]] == ["first_names"]
    assert by_id["OLD"]["ins"]["matricule"] == next(p for p in PERSONAS if p.history).matricule
    logged = {r["message_id"]: r for r in mock_server.logged_requests()}
    answered = [r for r in results if r["verdict"] != "error"]
    assert all(logged[r["message_id"]]["client_cn"] == "INSI-AUTO" for r in answered)
    assert all(r["queried_at"] for r in answered)
    refused = [by_id[s] for s in ("S-FOUND", "S-MANY", "S-NONE")]
    assert all(r["message_id"] is None for r in refused)  # never sent


def test_job_calls_declare_their_applications_activity_sector(
    jobs_gateway: GatewayServer, mock_server: MockServer
) -> None:
    """The VIHF secteurActivite of a job's calls is its app's (docs/vihf.md), not the default."""
    key = register_app(
        jobs_gateway.env, "clinique-lots", "--operations", "jobs", "--activity-sector", "SA04",
        *UNLIMITED,
    )  # fmt: skip
    jobs = Jobs(dataclasses.replace(jobs_gateway, api_key=key))
    zoe = next(p for p in FOUND if p.birth_name == "ADRUN")
    body = io.StringIO()
    row = _line("SA04-ROW", zoe, (str(zoe.matricule), str(zoe.key)))
    csv.writer(body).writerows([CSV_HEADER.split(","), row])

    job_id = jobs.submit(body.getvalue(), "text/csv")
    jobs.wait(job_id, finished)

    (result,) = jobs.results(job_id)
    assert result["verdict"] == "verified", result
    logged = {r["message_id"]: r for r in mock_server.logged_requests()}
    sent = logged[result["message_id"]]
    assert (sent["client_cn"], sent["vihf_sector"]) == ("INSI-AUTO", "SA04")
    assert sent["vihf_qualifier"] == "STRUCTURE"  # unattended: no end user


def test_results_as_csv(jobs_gateway: GatewayServer) -> None:
    jobs = Jobs(jobs_gateway)
    body, expected = mixed_job()
    job_id = jobs.submit(body, "text/csv")
    jobs.wait(job_id, finished)

    response = jobs.call("GET", f"/v1/jobs/{job_id}/results", headers={"Accept": "text/csv"})

    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["local_id"]: r["verdict"] for r in rows} == expected
    assert rows[0]["matricule"] == FOUND[0].matricule
    assert next(r for r in rows if r["local_id"] == "DATE")["error_field"] == "birth_date"


def test_a_job_is_invisible_to_other_apps_and_needs_the_jobs_operation(
    jobs_gateway: GatewayServer,
) -> None:
    jobs = Jobs(jobs_gateway)
    job_id = jobs.submit('{"local_id": "A", "birth_name": "ADRUN"}\n', "application/x-ndjson")
    other = register_app(jobs_gateway.env, "other-app", "--operations", "jobs", *UNLIMITED)
    searcher = register_app(jobs_gateway.env, "search-only", "--operations", "search")

    def as_app(key: str, method: str, path: str) -> requests.Response:
        return jobs.call(method, path, headers={"Authorization": f"Bearer {key}"})

    for method, path in [
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/results"),
        ("DELETE", f"/v1/jobs/{job_id}"),
        ("GET", "/v1/jobs/00000000-0000-0000-0000-000000000000"),
    ]:
        response = as_app(other, method, path)
        assert response.status_code == 404, (method, path)
        assert response.headers["Content-Type"].startswith("application/problem+json")
    assert as_app(searcher, "GET", f"/v1/jobs/{job_id}").status_code == 403
    assert as_app("nope", "GET", f"/v1/jobs/{job_id}").status_code == 401
    assert jobs.status(job_id)["state"] == "done"  # untouched by the other app's DELETE
    assert jobs.call("POST", "/v1/jobs", data=b"local_id\n").status_code == 400


# An INS with a valid key (97 - 1800175056001 mod 97 = 03) that the mock knows for nobody.
HELD_UNKNOWN = {"matricule": "1800175056001", "key": "03", "oid": "1.2.250.1.213.1.4.8"}


def synthetic(prefix: str, count: int) -> list[dict[str, Any]]:
    """Identities unknown to the mock, each answered by one call (not found, one first name)."""

    def letters(n: int) -> str:
        return "".join(chr(65 + (n // 26**i) % 26) for i in range(3))

    return [
        {
            "local_id": f"{prefix}-{n}",
            "birth_name": f"{prefix}-{letters(n)}",
            "first_names": ["JEAN"],
            "sex": "M",
            "birth_date": "1980-01-01",
            "ins": HELD_UNKNOWN,  # a job verifies INS already held: never a search row
        }
        for n in range(count)
    ]


def traits_hash(identity: Mapping[str, Any]) -> str:
    """The mock's ``traits_hash``: NomNaissance|Prenom|Sexe|DateNaissance|LieuNaissance."""
    parts = (identity["birth_name"], " ".join(identity["first_names"]), identity["sex"])
    return hashlib.sha256("|".join((*parts, identity["birth_date"], "")).encode()).hexdigest()


def jsonl(identities: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(i) + "\n" for i in identities)


def sends(mock: MockServer, identities: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Positions in the mock's request log of the calls for each identity (by traits hash)."""
    wanted = {traits_hash(i) for i in identities}
    positions: dict[str, list[int]] = defaultdict(list)
    for position, entry in enumerate(mock.logged_requests()):
        if entry["traits_hash"] in wanted:
            positions[entry["traits_hash"]].append(position)
    return positions


def test_cancel_stops_a_job_and_its_unsent_rows_are_never_sent(
    jobs_gateway: GatewayServer, mock_server: MockServer
) -> None:
    jobs = Jobs(jobs_gateway)
    identities = synthetic("CANCEL", 300)
    job_id = jobs.submit(jsonl(identities), "application/x-ndjson")
    jobs.wait(job_id, lambda s: s["done"] >= 20)

    cancelled = jobs.call("DELETE", f"/v1/jobs/{job_id}").json()
    # A window of absence (rows in flight come back; nothing else may be sent): it stays.
    time.sleep(1.5)

    status = jobs.status(job_id)
    assert (cancelled["state"], status["state"]) == ("cancelled", "cancelled")
    assert status["done"] <= cancelled["done"] + WORKERS
    assert status["counts"]["cancelled"] == 300 - status["done"]
    results = jobs.results(job_id)
    assert len(results) == 300
    assert Counter(r["verdict"] for r in results) == {
        "not_found": status["done"],
        "cancelled": 300 - status["done"],
    }
    sent = sends(mock_server, identities)
    assert sum(len(p) for p in sent.values()) == status["done"]


def check_one_answer_per_row(
    mock: MockServer, identities: list[dict[str, Any]], results: list[dict[str, Any]]
) -> int:
    """Every row answered once, by a logged call, with no call for it after that one.

    Returns how many rows were sent more than once (before their answer was recorded).
    """
    log = mock.logged_requests()
    position = {entry["message_id"]: n for n, entry in enumerate(log)}
    sent = sends(mock, identities)
    assert [r["row"] for r in results] == list(range(1, len(identities) + 1))
    for identity, result in zip(identities, results, strict=True):
        assert (result["local_id"], result["verdict"]) == (identity["local_id"], "not_found")
        answering = position[result["message_id"]]
        assert log[answering]["traits_hash"] == traits_hash(identity)
        assert log[answering]["client_cn"] == "INSI-AUTO"
        assert max(sent[traits_hash(identity)]) == answering, identity["local_id"]
    return sum(len(p) > 1 for p in sent.values())


def test_a_killed_gateway_resumes_its_job_and_never_resends_an_answered_row(
    dev_pki: DevPki, log_dir: Path, slow_mock: MockServer, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": default_sqlite_url(tmp_path / "crash.db"),
        "GATEWAY_JOB_WORKERS": str(WORKERS),
        "GATEWAY_JOB_RATE": "100",
        "GATEWAY_JOB_LEASE_SECONDS": "3",
    }
    identities = synthetic("CRASH", 500)
    first = start_jobs_gateway(dev_pki, log_dir, slow_mock.url, **env)
    job_id = Jobs(first).submit(jsonl(identities), "application/x-ndjson")
    at_kill = Jobs(first).wait(job_id, lambda s: s["done"] >= 150)

    os.killpg(first.process.process.pid, signal.SIGKILL)
    first.process.process.wait(10)
    first.process.stop()
    second = start_jobs_gateway(dev_pki, log_dir, slow_mock.url, first.api_key, **env)
    try:
        status = Jobs(second).wait(job_id, finished, timeout=180)
        results = Jobs(second).results(job_id)
    finally:
        stop(second)

    assert at_kill["done"] < 500  # the kill really happened mid-job
    assert (status["state"], status["done"], status["counts"]) == (
        "done",
        500,
        {"not_found": 500},
    )
    resent = check_one_answer_per_row(slow_mock, identities, results)
    assert resent <= WORKERS  # only rows in flight at the kill, sent again before any answer


def test_two_gateways_on_postgresql_share_a_job_without_sending_a_row_twice(
    dev_pki: DevPki, log_dir: Path, slow_mock: MockServer
) -> None:
    identities = synthetic("REPLICA", 200)
    servers: list[GatewayServer] = []
    with fresh_schema("gw_jobs") as url:
        env = {"DATABASE_URL": url, "GATEWAY_JOB_WORKERS": "2", "GATEWAY_JOB_RATE": "50"}
        try:
            servers.append(start_jobs_gateway(dev_pki, log_dir, slow_mock.url, **env))
            key = servers[0].api_key  # one registry for both replicas
            servers.append(start_jobs_gateway(dev_pki, log_dir, slow_mock.url, key, **env))
            job_id = Jobs(servers[0]).submit(jsonl(identities), "application/x-ndjson")
            status = Jobs(servers[1]).wait(job_id, finished)  # the other replica sees it too
            results = Jobs(servers[1]).results(job_id)
            pids = Counter(owner.split(":")[1] for owner in claimed_by(url))
        finally:
            for server in servers:
                stop(server)

    assert (status["state"], status["done"]) == ("done", 200)
    assert check_one_answer_per_row(slow_mock, identities, results) == 0  # no row sent twice
    assert len(pids) == 2, pids  # both replicas did part of the job


def test_the_cli_client_submits_follows_and_saves_the_results(
    jobs_gateway: GatewayServer, tmp_path: Path
) -> None:
    body, expected = mixed_job()
    source = tmp_path / "patients.csv"
    source.write_text(body)
    output = tmp_path / "results.csv"

    completed = subprocess.run(
        [
            *CLI,
            "jobs",
            "submit",
            str(source),
            "--output",
            str(output),
            "--url",
            jobs_gateway.base_url,
            "--ca-bundle",
            str(jobs_gateway.ca_bundle),
        ],
        env={**os.environ, "GATEWAY_APP_KEY": jobs_gateway.api_key},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        umask=0o022,  # the usual one: the results (identity data) must still be private
    )

    assert completed.returncode == 0, completed.stderr
    assert output.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(output.open()))
    assert {r["local_id"]: r["verdict"] for r in rows} == expected
    assert f"100% ({len(expected)}/{len(expected)} rows)" in completed.stderr
    assert "ADRUN" not in completed.stderr  # counts only, never identities
    assert not list(tmp_path.glob(".*.partial"))
    progress = io.StringIO()
    bad = tmp_path / "patients.txt"
    bad.write_text(body)
    assert submit(bad, base_url="", api_key="", ca_bundle=None, output=output, stream=progress) == 2
