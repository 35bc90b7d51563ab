"""Job submissions are streamed into the database: refusals leave nothing, and few run at once.

A real gateway under gunicorn on its own SQLite file, no job runner. The
limits are small so a refused body has already had more than one chunk of
rows (1,000) inserted when its error is met: the transaction must roll back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gateway.pki.devpki import DevPki
from gateway.storage import default_sqlite_url
from testbed.waiting import wait_until
from tests.integration.conftest import GatewayServer, MockServer
from tests.integration.test_jobs import Jobs, start_jobs_gateway, stop

pytestmark = pytest.mark.integration
NDJSON = {"Content-Type": "application/x-ndjson"}
MAX_ROWS, MAX_BODY = 2500, 150_000
TOO_MANY_SUBMISSIONS = "urn:insi-gateway:problem:too-many-submissions"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("submissions") / "gateway.db"


@pytest.fixture(scope="module")
def gateway(
    dev_pki: DevPki, log_dir: Path, mock_server: MockServer, database: Path
) -> Iterator[GatewayServer]:
    server = start_jobs_gateway(
        dev_pki,
        log_dir,
        mock_server.url,
        DATABASE_URL=default_sqlite_url(database),
        GATEWAY_JOB_WORKERS="0",
        GATEWAY_JOB_MAX_ROWS=str(MAX_ROWS),
        GATEWAY_JOB_MAX_BODY_BYTES=str(MAX_BODY),
        GATEWAY_JOB_MAX_CONCURRENT_SUBMISSIONS="1",
    )
    yield server
    stop(server)


def lines(count: int, start: int = 0) -> bytes:
    """``count`` short JSON-lines rows (search rows: stored as errors, never sent)."""
    return b"".join(b'{"local_id":"R%d","birth_name":"X"}\n' % n for n in range(start, count))


def stored(database: Path) -> tuple[int, int]:
    with sqlite3.connect(database) as conn:
        jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM job_rows").fetchone()[0]
    return int(jobs), int(rows)


def chunked(*parts: bytes) -> Iterator[bytes]:
    """A body without Content-Length (chunked): its size is known only by reading it."""
    yield from parts


def test_refused_submissions_leave_no_job_and_no_row(
    gateway: GatewayServer, database: Path
) -> None:
    jobs = Jobs(gateway)
    before = stored(database)
    assert len(lines(MAX_ROWS + 1)) < MAX_BODY  # refused for its rows, not its size

    too_many = jobs.call("POST", "/v1/jobs", data=lines(MAX_ROWS + 1), headers=NDJSON)
    assert too_many.status_code == 400, too_many.text
    assert too_many.json()["detail"] == f"body: a job holds at most {MAX_ROWS} rows"

    oversize_body = chunked(lines(1500), b"\n" * MAX_BODY)  # blank lines: no rows
    oversize = jobs.call("POST", "/v1/jobs", data=oversize_body, headers=NDJSON)
    assert oversize.status_code == 413, oversize.text

    not_utf8 = jobs.call(
        "POST", "/v1/jobs", data=lines(1500) + b'{"local_id":"\xff"}\n', headers=NDJSON
    )
    assert not_utf8.status_code == 400, not_utf8.text
    assert not_utf8.json()["type"].endswith(":malformed-request")
    assert "not UTF-8 text" in not_utf8.json()["detail"]

    assert stored(database) == before
    accepted = jobs.call("POST", "/v1/jobs", data=lines(MAX_ROWS), headers=NDJSON)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["total"] == MAX_ROWS
    assert stored(database) == (before[0] + 1, before[1] + MAX_ROWS)


def test_one_submission_at_a_time_the_next_gets_429_with_retry_after(
    gateway: GatewayServer,
) -> None:
    jobs = Jobs(gateway)
    refused, held = wait_until(
        lambda: _refused_while_held(jobs), 120, "a submission refused while another was held"
    )
    assert refused.json()["type"] == TOO_MANY_SUBMISSIONS
    assert int(refused.headers["Retry-After"]) >= 1
    assert held.status_code == 202, held.text
    assert held.json()["total"] == 20
    after = jobs.call("POST", "/v1/jobs", data=lines(1), headers=NDJSON)
    assert after.status_code == 202, after.text  # the slot was given back


class HeldSubmission:
    """A submission whose body stops after its first rows until released."""

    def __init__(self, jobs: Jobs) -> None:
        self.on_wire = threading.Event()  # its first rows are sent: the gateway is reading it
        self._release = threading.Event()
        self._answer: list[requests.Response] = []
        self._sender = threading.Thread(
            target=lambda: self._answer.append(
                jobs.call("POST", "/v1/jobs", data=self._body(), headers=NDJSON)
            )
        )
        self._sender.start()

    def _body(self) -> Iterator[bytes]:
        yield lines(10)
        self.on_wire.set()
        self._release.wait(120)  # released by the test (bounded: never hangs the run)
        yield lines(20, start=10)

    @property
    def answered(self) -> bool:
        return bool(self._answer)

    def release(self) -> requests.Response:
        self._release.set()
        self._sender.join(120)
        assert self._answer, "the held submission got no answer"
        return self._answer[0]


def _refused_while_held(jobs: Jobs) -> tuple[requests.Response, requests.Response] | None:
    """One attempt: hold a submission, then submit until one is refused.

    None when the held submission lost its race for the slot to a probe submitted as it
    arrived (it was answered 429 itself): the caller tries again with a new one.
    """
    held = HeldSubmission(jobs)
    refused = None
    try:
        wait_until(held.on_wire.is_set, 60, "the held submission's first rows sent")
        while refused is None and not held.answered:
            response = jobs.call("POST", "/v1/jobs", data=lines(1), headers=NDJSON)
            if response.status_code == 429:
                refused = response
            else:
                assert response.status_code == 202, response.text
    finally:
        answer = held.release()
    if refused is not None:
        return refused, answer
    assert answer.status_code == 429, answer.text  # answered early: refused, never accepted
    return None
