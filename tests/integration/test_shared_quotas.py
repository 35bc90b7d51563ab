"""Quotas shared in Redis: two replicas on PostgreSQL, two workers each, one promise.

Each test uses its own PostgreSQL schema and its own Redis key prefix
(``GATEWAY_REDIS_PREFIX``), so parallel runs never share a counter. Without
the shared quotas the four worker processes here would each grant the
application its whole rate (about four times the accepted count asserted)
and its whole concurrency.
"""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
import redis
import requests

from gateway.admission.shared_quotas import RedisQuotaGate, connect
from gateway.exceptions import ConcurrencyExceeded
from gateway.pki.devpki import DevPki
from testbed.postgres import fresh_schema
from testbed.waiting import wait_until
from tests.integration.conftest import (
    GatewayServer,
    MockServer,
    closed_lines,
    gateway_env,
    launch_gateway,
    register_app,
    start_mock,
)
from tests.integration.personas import PERSONAS
from tests.integration.servers import CLI, LOOPBACK, free_port

pytestmark = pytest.mark.integration
REDIS_URL = "redis://127.0.0.1:6379/0"
DOMINIQUE = PERSONAS[0].traits()
RATE_LIMITED = "urn:insi-gateway:problem:rate-limited"
TOO_MANY = "urn:insi-gateway:problem:too-many-concurrent"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_schema("gw_quota") as url:
        yield url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"test-quotas-{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


def start_replica(dev_pki: DevPki, log_dir: Path, env: dict[str, str]) -> GatewayServer:
    """``insi-gateway serve --workers 2`` over HTTPS on a free port (the app is registered)."""
    return launch_gateway(dev_pki, log_dir, env, "", name="replica", workers=2, threads=16)


def replicas(
    dev_pki: DevPki, log_dir: Path, upstream: str, postgres_url: str, prefix: str, *app: str
) -> tuple[list[GatewayServer], str]:
    env = gateway_env(dev_pki, upstream, DATABASE_URL=postgres_url, GATEWAY_JOB_WORKERS="0")
    env.update(REDIS_URL=REDIS_URL, GATEWAY_REDIS_PREFIX=prefix)
    key = register_app(env, "shared", *app)  # one registry, in PostgreSQL, for both
    servers: list[GatewayServer] = []
    try:
        for _ in range(2):
            servers.append(start_replica(dev_pki, log_dir, env))
    except BaseException:
        for server in servers:
            server.process.stop()
        raise
    return servers, key


def send(server: GatewayServer, key: str) -> requests.Response:
    return requests.post(
        server.base_url + "/v1/ins/search",
        json=DOMINIQUE,
        headers={"Authorization": f"Bearer {key}"},
        verify=str(server.ca_bundle),
        timeout=60,
    )


def spread(servers: list[GatewayServer], key: str, n: int, seconds: float) -> list[tuple]:
    """``n`` requests at even intervals over ``seconds``, alternating replicas.

    Each result: (response, sent at, answered at), monotonic seconds.
    """
    start = time.monotonic()

    def one(i: int) -> tuple[requests.Response, float, float]:
        # the schedule under test (n requests evenly over the seconds), not a synchronisation
        time.sleep(max(0.0, start + i * seconds / n - time.monotonic()))
        sent = time.monotonic()
        response = send(servers[i % len(servers)], key)
        return response, sent, time.monotonic()

    with ThreadPoolExecutor(max_workers=48) as pool:
        return list(pool.map(one, range(n)))


def test_two_replicas_hold_one_rate_for_an_application(
    dev_pki: DevPki, log_dir: Path, mock_server: MockServer, postgres_url: str, redis_prefix: str
) -> None:
    servers, key = replicas(
        dev_pki, log_dir, mock_server.url, postgres_url, redis_prefix,
        "--rate", "5", "--burst", "5", "--max-concurrent", "100",
    )  # fmt: skip
    try:
        results = spread(servers, key, 200, 4.0)
    finally:
        for server in servers:
            server.process.stop()

    statuses = Counter(r.status_code for r, _, _ in results)
    accepted = statuses[200]
    window = max(done for _, _, done in results) - min(sent for _, sent, _ in results)
    # admitted somewhere between the first send and the last answer: at most the burst plus
    # the rate over that window (4 s when the machine keeps up), +1 for the edges
    assert set(statuses) <= {200, 429}, statuses
    assert accepted <= 5 * max(window, 4.0) + 5 + 1, (accepted, window)
    assert accepted <= 5 * 4 + 5 + 1 or window > 4.2, (accepted, window)
    assert accepted >= 5 + 5, (accepted, window)  # the burst, then the rate does refill
    for response, _, _ in results:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["type"] == RATE_LIMITED
    by_replica = Counter(
        (i % 2, r.status_code) for i, (r, _, _) in enumerate(results) if r.status_code == 200
    )
    assert len(by_replica) == 2, by_replica  # both replicas admitted from the one bucket
    for server in servers:  # each of the 2 workers closed its Redis client once, at its exit
        assert [line["redis"] for line in closed_lines(server.process.output())] == [True, True]


def in_flight_at_mock(mock: MockServer) -> int:
    """Most calls the mock held at once (from its request log: arrival and answer times)."""
    events = []
    for record in mock.logged_requests():
        events.append((datetime.fromisoformat(record["started"]), 1))
        events.append((datetime.fromisoformat(record["time"]), -1))
    most = current = 0
    for _, step in sorted(events):  # an answer (-1) sorts before an arrival at the same time
        current += step
        most = max(most, current)
    return most


def test_two_replicas_hold_one_concurrency_cap(
    dev_pki: DevPki, log_dir: Path, postgres_url: str, redis_prefix: str
) -> None:
    slow = start_mock(dev_pki, log_dir, MOCK_LATENCY_MS="1000")
    try:
        servers, key = replicas(
            dev_pki, log_dir, slow.url, postgres_url, redis_prefix,
            "--rate", "1000", "--burst", "1000", "--max-concurrent", "2",
        )  # fmt: skip
        try:
            results = spread(servers, key, 80, 4.0)
        finally:
            for server in servers:
                server.process.stop()
        most = in_flight_at_mock(slow)
    finally:
        slow.process.stop()

    statuses = Counter(r.status_code for r, _, _ in results)
    assert set(statuses) <= {200, 429}, statuses
    assert most <= 2, most  # never more than the cap in flight, across 4 processes
    assert most == 2, most  # and the cap is usable: two at once did happen
    assert statuses[200] >= 4, statuses
    refused = [r for r, _, _ in results if r.status_code == 429]
    assert refused
    assert all(r.json()["type"] == TOO_MANY and r.headers["Retry-After"] for r in refused)


HOLDER = """
import sys, time
from dataclasses import dataclass
from gateway.admission.shared_quotas import RedisQuotaGate, connect
@dataclass
class App:
    name: str = "dying"
    rate_per_second: float = 1000.0
    burst: int = 1000
    max_concurrent: int = 1
gate = RedisQuotaGate(connect(sys.argv[1]), sys.argv[2], lease_seconds=2.0)
with gate.admit(App()):
    print("holding", flush=True)
    time.sleep(600)  # holds the slot until killed: the behaviour under test
"""


class DyingApp:
    name = "dying"
    rate_per_second = 1000.0
    burst = 1000
    max_concurrent = 1


def _admitted(gate: RedisQuotaGate) -> bool:
    try:
        with gate.admit(DyingApp()):
            return True
    except ConcurrencyExceeded:
        return False


def test_a_slot_held_by_a_killed_process_expires(redis_prefix: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, REDIS_URL, redis_prefix],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        gate = RedisQuotaGate(connect(REDIS_URL), redis_prefix, lease_seconds=2.0)
        time.sleep(3.0)  # the time under test: past one lease, the living holder renewed it
        with pytest.raises(ConcurrencyExceeded), gate.admit(DyingApp()):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        wait_until(lambda: _admitted(gate), 10, "the dead process's slot expired")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


def test_redis_unreachable_fails_closed_with_a_503(
    dev_pki: DevPki, log_dir: Path, mock_server: MockServer
) -> None:
    env = gateway_env(
        dev_pki,
        mock_server.url,
        DATABASE_URL=f"sqlite:///{log_dir / f'noredis-{secrets.token_hex(4)}.db'}",
        REDIS_URL=f"redis://{LOOPBACK}:{free_port()}/0",  # nothing listens there
        GATEWAY_JOB_WORKERS="0",
    )
    key = register_app(env, "shared", "--rate", "100", "--burst", "100")
    server = start_replica(dev_pki, log_dir, env)
    try:
        calls_before = len(mock_server.logged_requests())
        response = send(server, key)
        calls_after = len(mock_server.logged_requests())
    finally:
        server.process.stop()

    assert response.status_code == 503, response.text
    assert response.json()["type"] == "urn:insi-gateway:problem:quota-unavailable"
    assert response.headers["Retry-After"] == "1"
    assert calls_after == calls_before  # refused before any call to the teleservice


def test_config_check_warns_when_quotas_are_per_process(
    dev_pki: DevPki, log_dir: Path, mock_server: MockServer, postgres_url: str
) -> None:
    sqlite = f"sqlite:///{log_dir / f'cfg-{secrets.token_hex(4)}.db'}"

    def check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        full = {**gateway_env(dev_pki, mock_server.url), "DATABASE_URL": sqlite, **env}
        return subprocess.run(
            [*CLI, "config", "check", *args],
            env={**os.environ, **full},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    one = check("--workers", "1")
    many = check("--workers", "2")
    postgres = check("--workers", "1", DATABASE_URL=postgres_url)
    shared = check("--workers", "2", DATABASE_URL=postgres_url, REDIS_URL=REDIS_URL)
    dead = check("--workers", "2", REDIS_URL=f"redis://{LOOPBACK}:{free_port()}/0")

    assert (one.returncode, "warning" in one.stderr) == (0, False), one.stderr
    assert many.returncode == 0, many.stderr
    assert "--workers 2 without REDIS_URL" in many.stderr
    assert postgres.returncode == 0, postgres.stderr
    assert "PostgreSQL DATABASE_URL without REDIS_URL" in postgres.stderr
    assert (shared.returncode, "warning" in shared.stderr) == (0, False), shared.stderr
    assert dead.returncode == 2, dead.stderr
    assert "REDIS_URL: Redis does not answer" in dead.stderr


def test_batch_call_slots_are_one_sequence_across_processes(redis_prefix: str) -> None:
    from gateway.server.app import shared_quotas
    from gateway.settings import Secret, SharedStateSettings

    settings = SharedStateSettings(redis_url=Secret(REDIS_URL), redis_prefix=redis_prefix)
    (gate, wait_a), (_, wait_b) = shared_quotas(settings), shared_quotas(settings)
    assert isinstance(gate, RedisQuotaGate)
    assert wait_a is not None
    assert wait_b is not None
    slots = []
    for i in range(20):  # two "replicas" taking turns
        wait = (wait_a if i % 2 else wait_b)(10.0)
        slots.append(time.monotonic() + wait)

    # every call got its own slot, 0.1 s after the previous one, whoever took it
    steps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert all(0.05 < step < 0.15 for step in steps), steps
    assert 1.8 < slots[-1] - slots[0] < 2.0, slots
    assert shared_quotas(SharedStateSettings(redis_url=None, redis_prefix="x"))[1] is None
