"""Batch turns under steady interactive load, at the production thread count (issue 10, 8).

Two replicas on PostgreSQL, each a gunicorn gateway at 64 threads with a short
job lease (1 s), share one job while 64 client threads keep polling its status
(interactive traffic: batch calls give way to it) for ``LOAD_SECONDS``. Before,
the runner's 1 s poll reset the gate's 5 s anti-starvation clock, so the batch
got no turn at all under such load, and a row whose claim was checked before
that unbounded wait could be re-claimed and then sent by both replicas.

Now each batch worker still sends one call per ``max_wait`` (its share), and
renews its claim right before sending: no row is sent twice. The test takes
about a minute (LOAD_SECONDS of load, plus starting two gateways and the rest
of the job).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gateway.admission.priority import DEFAULT_MAX_WAIT
from gateway.pki.devpki import DevPki
from testbed.postgres import fresh_schema
from testbed.waiting import wait_until
from tests.integration.conftest import GatewayServer, MockServer, start_mock
from tests.integration.test_jobs import (
    Jobs,
    check_one_answer_per_row,
    claimed_by,
    finished,
    jsonl,
    start_jobs_gateway,
    stop,
    synthetic,
)

pytestmark = pytest.mark.integration

LOAD_SECONDS = 30.0
CLIENT_THREADS = 64  # split between the two replicas
REPLICAS = 2
WORKERS = 2  # GATEWAY_JOB_WORKERS per replica
ROWS = 1000  # enough that the steady load window cannot end the job, however slow the start


@pytest.fixture(scope="module")
def mock(dev_pki: DevPki, log_dir: Path) -> Iterator[MockServer]:
    server = start_mock(dev_pki, log_dir, MOCK_LATENCY_MS="20")
    yield server
    server.process.stop()


def poll_until(
    server: GatewayServer, job_id: str, stop: threading.Event, up: list[str], polls: list[int]
) -> None:
    """Interactive traffic: one client thread polling the job's status until ``stop``.

    Its name goes to ``up`` once its first poll is answered, its count to ``polls`` at the end.
    """
    session = requests.Session()
    url = f"{server.base_url}/v1/jobs/{job_id}"
    headers = {"Authorization": f"Bearer {server.api_key}"}
    count = 0
    while not stop.is_set():
        response = session.get(url, headers=headers, verify=str(server.ca_bundle), timeout=60)
        assert response.status_code == 200, response.text
        count += 1
        if count == 1:
            up.append(threading.current_thread().name)
    polls.append(count)


def test_the_batch_gets_its_share_under_64_threads_of_load_and_no_row_is_sent_twice(
    dev_pki: DevPki, log_dir: Path, mock: MockServer
) -> None:
    identities = synthetic("TURNS", ROWS)
    servers: list[GatewayServer] = []
    with fresh_schema("gw_turns") as url:
        env = {
            "DATABASE_URL": url,
            "GATEWAY_JOB_WORKERS": str(WORKERS),
            "GATEWAY_JOB_RATE": "50",
            "GATEWAY_JOB_LEASE_SECONDS": "1",
        }
        try:
            servers.append(start_jobs_gateway(dev_pki, log_dir, mock.url, threads=64, **env))
            key = servers[0].api_key
            servers.append(start_jobs_gateway(dev_pki, log_dir, mock.url, key, threads=64, **env))
            jobs = Jobs(servers[0])
            job_id = jobs.submit(jsonl(identities), "application/x-ndjson")

            stop_load, up, polls = threading.Event(), list[str](), list[int]()
            load = [
                threading.Thread(
                    target=poll_until, args=(servers[n % REPLICAS], job_id, stop_load, up, polls)
                )
                for n in range(CLIENT_THREADS)
            ]
            for thread in load:
                thread.start()
            try:
                wait_until(lambda: len(up) == CLIENT_THREADS, 60, "every client thread polling")
                done_before = jobs.status(job_id)["done"]
                time.sleep(LOAD_SECONDS)  # the measured window of steady load (what is tested)
                done_after = jobs.status(job_id)["done"]
            finally:
                stop_load.set()
                for thread in load:
                    thread.join(60)

            status = jobs.wait(job_id, finished, timeout=120)
            results = jobs.results(job_id)
            owners = claimed_by(url)
            pids = Counter(owner.split(":")[1] for owner in owners)
        finally:
            for server in servers:
                stop(server)

    advanced = done_after - done_before
    share = REPLICAS * WORKERS * LOAD_SECONDS / DEFAULT_MAX_WAIT  # one call per max_wait each
    print(  # the figures of this run
        f"\n{CLIENT_THREADS} client threads polling for {LOAD_SECONDS:.0f} s "
        f"({sum(polls)} polls, {sum(polls) / LOAD_SECONDS:.0f}/s): the batch advanced "
        f"{advanced} rows (its guaranteed share: {share:.0f})"
    )
    assert len(polls) == CLIENT_THREADS
    assert advanced >= share / 2  # its share, with room for a loaded machine
    assert advanced < ROWS - done_before  # the load did hold the batch back (it is steady)
    assert (status["state"], status["done"]) == ("done", ROWS)
    assert check_one_answer_per_row(mock, identities, results) == 0  # no row sent twice
    assert len(pids) == REPLICAS, pids  # both replicas did part of the job
