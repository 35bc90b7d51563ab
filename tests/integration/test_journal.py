"""The write-ahead journal across a crash: real gunicorn, the real slow mock, SQLite and PostgreSQL.

A gateway is killed (SIGKILL, the whole process group) while the teleservice
is still answering an interactive search and a batch job row; restarted on
the same database, its journal holds both calls with the message ids the
mock received, as outcome unknown (an intent no outcome record completes).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from gateway.pki.devpki import DevPki
from gateway.storage import default_sqlite_url
from testbed.postgres import fresh_schema
from testbed.processes import connected_to
from testbed.waiting import wait_until
from tests.integration.conftest import (
    APP,
    GatewayServer,
    MockServer,
    cli,
    gateway_env,
    launch_gateway,
    register_app,
    start_mock,
)

pytestmark = pytest.mark.integration
LATENCY_MS = 15000
# A batch job only verifies an INS held: the row's intent carries its pseudonym.
HELD = {"matricule": "297022A020778", "key": "78", "oid": "1.2.250.1.213.1.4.8"}
SEARCH = {
    "birth_name": "ADRTROIS",
    "first_names": ["DOMINIQUE"],
    "sex": "F",
    "birth_date": "1997-02-26",
    "birth_place": "2A020",
}


def start(dev_pki: DevPki, log_dir: Path, env: dict[str, str], key: str) -> GatewayServer:
    return launch_gateway(dev_pki, log_dir, env, key, name="journal", threads=8)


@pytest.fixture(scope="module")
def very_slow_mock(dev_pki: DevPki, log_dir: Path) -> Iterator[MockServer]:
    server = start_mock(dev_pki, log_dir, MOCK_LATENCY_MS=str(LATENCY_MS))
    yield server
    server.process.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield default_sqlite_url(tmp_path / "journal.db")
        return
    with fresh_schema("gw_journal") as url:
        yield url


def records(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every journal record, through the CLI (``audit search``)."""
    out = cli(env, "audit", "search", "--limit", "100000")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_a_call_cut_by_a_crash_stays_in_the_journal_as_outcome_unknown(
    dev_pki: DevPki, log_dir: Path, very_slow_mock: MockServer, database_url: str
) -> None:
    env = gateway_env(
        dev_pki,
        very_slow_mock.url,
        DATABASE_URL=database_url,
        INSI_READ_TIMEOUT="30",
        INSI_DEADLINE="40",
        GATEWAY_JOB_WORKERS="1",
        GATEWAY_JOB_LEASE_SECONDS="120",  # the row is not re-sent before the test ends
    )
    key = register_app(env, APP, "--operations", "search,jobs", "--max-concurrent", "8")
    first = start(dev_pki, log_dir, env, key)
    job = first.session.post(
        first.base_url + "/v1/jobs",
        data=json.dumps({"local_id": "CRASH-1", **HELD, **SEARCH}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
        verify=str(first.ca_bundle),
        timeout=30,
    )
    assert job.status_code == 202, job.text
    job_request = f"job-{job.json()['job_id']}#1"
    engine = create_engine(database_url)

    def sent(count: int) -> bool:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM audit_records WHERE outcome = 'unknown'")
            return conn.execute(query).scalar_one() == count

    try:  # the row first: batch rows give way while an interactive call is in flight
        wait_until(lambda: sent(1), 180, "the first call journaled")
        search = threading.Thread(target=_search_until_killed, args=(first,), daemon=True)
        search.start()
        wait_until(lambda: sent(2), 180, "the second call journaled")
    finally:
        engine.dispose()
    wait_until(  # both calls connected to the mock (it answers after LATENCY_MS) ...
        lambda: connected_to(very_slow_mock.port) >= 2, 60, "both calls connected to the mock"
    )
    # ... and their bytes sent: nothing outside the mock (which logs a call once answered)
    # shows that, so this one sleep stays, now after the connections, not instead of them.
    time.sleep(1.0)
    os.killpg(first.process.process.pid, signal.SIGKILL)
    first.process.process.wait(10)
    first.process.stop()
    second = start(dev_pki, log_dir, env, key)
    try:
        journal = records(env)
        intents = [r for r in journal if r["outcome"] == "unknown"]
        arrived = LATENCY_MS / 1000 + 120
        received = wait_until(
            lambda: _mock_received(very_slow_mock, intents), arrived, "the mock got every call"
        )
        verify = json.loads(cli(env, "audit", "verify"))
    finally:
        second.process.stop()

    assert sorted(r["request_id"].startswith("job-") for r in intents) == [False, True]
    assert {r["request_id"] for r in intents if r["request_id"].startswith("job-")} == {job_request}
    for intent in intents:  # the call the mock received, journaled, its outcome unknown
        assert intent["message_id"] in received
        assert (intent["app"], intent["operation"]) == (APP, "rechercherInsAvecTraitsIdentite")
        assert not [r for r in journal if r.get("ref_seq") == intent["seq"]], journal
    assert verify["ok"] is True


def _search_until_killed(server: GatewayServer) -> None:
    with contextlib.suppress(requests.RequestException):  # killed during the call: expected
        server.post("/v1/ins/search", SEARCH)


def _mock_received(mock: MockServer, intents: list[dict[str, Any]]) -> set[str]:
    logged = {entry["message_id"] for entry in mock.logged_requests()}
    return logged if all(r["message_id"] in logged for r in intents) else set()
