"""The teleservice's bad days, against the real servers: the status and problem type each
failure gets (README, docs/configuration.md, gateway/render/problems.py) and how many
calls reached the teleservice (the mock's request log, which has one line per ``/lps`` call,
injected failures included).

What docs/configuration.md promises: retry only a call that cannot have been processed
(connection or TLS refused, HTTP 503), at most ``INSI_MAX_RETRIES`` times, within a retry
budget (~1.2 calls per request in a 503 storm); a read timeout is an unknown outcome,
never retried; the circuit opens when at least ``INSI_BREAKER_FAILURE_RATE`` % of the calls
(judged after their retries) of the last ``INSI_BREAKER_WINDOW`` seconds failed, once there
were ``INSI_BREAKER_MIN_CALLS`` of them (503 at once), for ``INSI_BREAKER_COOLDOWN`` seconds,
then ``INSI_BREAKER_PROBES`` probe calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.pki.devpki import DevPki
from testbed.processes import connected_to
from testbed.waiting import wait_until
from tests.integration.conftest import GatewayFactory, GatewayServer, MockServer
from tests.integration.personas import PERSONAS
from tests.integration.servers import LOOPBACK, free_port
from tests.support.upstreams import Canned, FakeUpstream, Launcher, Reaper, pki_serving

pytestmark = pytest.mark.integration

DOMINIQUE = PERSONAS[0].traits()  # found at the first first name: one upstream call per search
PROBLEM = "urn:insi-gateway:problem:"
CLIENT_TIMEOUT = 30  # seconds; far above every deadline configured here


@pytest.fixture(scope="module")
def reaper() -> Iterator[Reaper]:
    stopping = Reaper()
    yield stopping
    stopping.join()


@pytest.fixture
def launch(
    gateway_factory: GatewayFactory, dev_pki: DevPki, log_dir: Path, reaper: Reaper
) -> Iterator[Launcher]:
    launcher = Launcher(gateway_factory, dev_pki, log_dir, reaper)
    yield launcher
    launcher.close()


@dataclass(frozen=True)
class Outcome:
    status: int
    slug: str  # problem type without its prefix ("" for a 2xx answer)
    detail: str
    seconds: float
    body: dict[str, Any]


def search(server: GatewayServer) -> Outcome:
    started = time.monotonic()
    response = server.session.post(
        server.base_url + "/v1/ins/search",
        json=DOMINIQUE,
        headers={"Authorization": f"Bearer {server.api_key}"},
        verify=str(server.ca_bundle),
        timeout=CLIENT_TIMEOUT,
    )
    seconds = time.monotonic() - started
    body = response.json()
    if response.status_code >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert body["status"] == response.status_code
        return Outcome(
            response.status_code, body["type"].removeprefix(PROBLEM), body["detail"], seconds, body
        )
    return Outcome(response.status_code, "", "", seconds, body)


def metric(server: GatewayServer, name: str) -> float:
    text = server.session.get(
        server.base_url + "/metrics", verify=str(server.ca_bundle), timeout=CLIENT_TIMEOUT
    ).text
    for line in text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def retries(server: GatewayServer) -> int:
    return int(metric(server, "gateway_upstream_retries_total"))


def attempts(mock: MockServer) -> int:
    """Calls that reached the mock's ``/lps`` (one log line each, injected failures included)."""
    return len(mock.logged_requests())


def test_teleservice_down_is_503_unavailable(launch: Launcher) -> None:
    server = launch.gateway(f"https://{LOOPBACK}:{free_port()}/lps")  # nothing listens there

    outcome = search(server)

    assert (outcome.status, outcome.slug) == (503, "upstream-unavailable")
    assert "circuit" not in outcome.detail  # the first failure: a real attempt, not the breaker
    assert outcome.seconds < 5
    # docs/configuration.md: a call refused at connection is retried INSI_MAX_RETRIES times
    # (it could not have been processed); fixed in a561f85, it was never retried before
    assert retries(server) == 2


def test_slow_past_the_read_timeout_is_504_and_never_retried(launch: Launcher) -> None:
    mock, server = launch.mock_and_gateway(
        {"MOCK_FAILURE_RATE": "1", "MOCK_FAILURE_MODE": "slow", "MOCK_SLOW_MS": "3000"},
        INSI_READ_TIMEOUT="1",
    )

    outcome = search(server)
    answered = time.monotonic()

    assert (outcome.status, outcome.slug) == (504, "upstream-timeout")
    assert 0.9 < outcome.seconds < 10  # it waited INSI_READ_TIMEOUT, and not 3 s for the mock
    # The mock logs a slow call when it finally answers (3 s after it came in); any retry
    # would have come in before the gateway's 504, so it is logged by answered + 3 s.
    # A window of absence (no retry may show up in it): the time is the behaviour under test.
    time.sleep(max(0.0, answered + 3.7 - time.monotonic()))
    logged = mock.logged_requests()
    assert len(logged) == 1
    # the teleservice did process it (CR 00): exactly why an unknown outcome is not retried
    assert (logged[0]["injected"], logged[0]["outcome"]) == ("slow", "00")
    assert retries(server) == 0


def test_connection_reset_after_sending_is_503_and_not_retried(launch: Launcher) -> None:
    mock, server = launch.mock_and_gateway({"MOCK_FAILURE_RATE": "1", "MOCK_FAILURE_MODE": "reset"})

    outcome = search(server)

    # docs/configuration.md retries only calls that cannot have been processed; this one was
    # received (it is in the mock's log), so it must not be, and "cannot be reached" is 503.
    assert (outcome.status, outcome.slug) == (503, "upstream-unavailable")
    assert [r["injected"] for r in mock.logged_requests()] == ["reset"]
    assert retries(server) == 0


@pytest.mark.parametrize(
    ("mode", "http_status"), [("garbage", 200), ("http500", 500)], ids=["garbage", "html-500"]
)
def test_unreadable_answer_is_502_bad_response_once(
    launch: Launcher, mode: str, http_status: int
) -> None:
    mock, server = launch.mock_and_gateway({"MOCK_FAILURE_RATE": "1", "MOCK_FAILURE_MODE": mode})

    outcome = search(server)

    assert (outcome.status, outcome.slug) == (502, "upstream-bad-response")
    assert outcome.body["upstream"] == {"http_status": http_status}
    assert attempts(mock) == 1
    assert retries(server) == 0


def test_http_503_is_retried_max_retries_times(launch: Launcher) -> None:
    mock, server = launch.mock_and_gateway(
        {"MOCK_FAILURE_RATE": "1", "MOCK_FAILURE_MODE": "http503"}, INSI_MAX_RETRIES="2"
    )

    outcome = search(server)

    assert (outcome.status, outcome.slug) == (503, "upstream-unavailable")
    assert "503" in outcome.detail
    assert attempts(mock) == 3  # the first call and INSI_MAX_RETRIES=2 retries
    assert retries(server) == 2
    # each call was a complete request (parsed by the mock, same message id: one logical call)
    assert len({r["message_id"] for r in mock.logged_requests()}) == 1


def test_the_deadline_bounds_the_whole_call_retries_included(launch: Launcher) -> None:
    """docs/configuration.md: INSI_DEADLINE is "seconds for a whole call, retries included"
    (before 79adbe2 a retry still had the full timeouts: 3.1 s here)."""
    _, server = launch.mock_and_gateway(
        {"MOCK_FAILURE_RATE": "1", "MOCK_FAILURE_MODE": "http503", "MOCK_LATENCY_MS": "1500"},
        INSI_READ_TIMEOUT="2",
        INSI_DEADLINE="2",
    )

    outcome = search(server)

    assert outcome.seconds <= 2.5  # the deadline and some bookkeeping
    # a 503 after 1.5 s, then a retry cut by the deadline: its outcome is unknown (504);
    # only a first attempt slower than the whole deadline (a loaded machine) leaves no retry
    assert (outcome.status, outcome.slug, retries(server)) in {
        (503, "upstream-unavailable", 0),
        (504, "upstream-timeout", 1),
    }


@pytest.mark.parametrize(
    "min_calls",
    ["20", "100000"],
    ids=["budget-and-breaker", "budget-alone"],
)
def test_a_503_storm_costs_at_most_1_2_calls_per_request(launch: Launcher, min_calls: str) -> None:
    mock, server = launch.mock_and_gateway(
        {"MOCK_FAILURE_RATE": "1", "MOCK_FAILURE_MODE": "http503"},
        INSI_BREAKER_MIN_CALLS=min_calls,
        INSI_BREAKER_COOLDOWN="600",
    )
    n = 100
    sessions = threading.local()

    def one(_: int) -> Outcome:
        if not hasattr(sessions, "server"):
            sessions.server = GatewayServer(
                server.port, server.ca_bundle, server.process, server.api_key, server.env
            )
        return search(sessions.server)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(one, range(n)))

    assert time.monotonic() - started < 60
    assert {(o.status, o.slug) for o in outcomes} == {(503, "upstream-unavailable")}
    calls = attempts(mock)
    assert calls <= 1.2 * n
    if min_calls == "100000":  # the budget alone: retries happen, but only ~10% of calls
        assert calls > n
    else:  # the breaker opened after 20 failed calls (4 more in flight, each retried at
        # most twice from the budget's reserve of 10): most requests never left the gateway
        assert calls <= 24 + 10 + 4
        assert sum("circuit open" in o.detail for o in outcomes) >= n - 24


def test_circuit_opens_fails_fast_then_closes_after_the_cooldown(launch: Launcher) -> None:
    port = free_port()  # nothing listens there until the mock is started on it below
    server = launch.gateway(
        f"https://{LOOPBACK}:{port}/lps",
        INSI_BREAKER_MIN_CALLS="3",
        INSI_BREAKER_COOLDOWN="2",
        INSI_BREAKER_PROBES="1",
    )

    failures: list[Outcome] = []
    fast: Outcome | None = None
    for _ in range(4):  # 3 failed calls (each after its retries) open it
        outcome = search(server)
        assert (outcome.status, outcome.slug) == (503, "upstream-unavailable")
        if "circuit open" in outcome.detail:
            fast = outcome
            break
        failures.append(outcome)
    opened = time.monotonic()

    assert fast is not None, [o.detail for o in failures]
    assert len(failures) == 3  # exactly INSI_BREAKER_MIN_CALLS failed calls
    assert retries(server) == 3 * 2  # each of them retried INSI_MAX_RETRIES times
    assert fast.seconds < 1.0  # at once (INSI_CONNECT_TIMEOUT is 3.05 s): no connection tried
    assert metric(server, "gateway_circuit_state") == 2.0

    mock = launch.mock(port=port)
    # the time under test: past INSI_BREAKER_COOLDOWN (the gateway's own clock)
    time.sleep(max(0.0, opened + 2.5 - time.monotonic()))
    probe = search(server)

    assert probe.status == 200
    assert probe.body["ins"]["matricule"] == "297022A020778"
    assert metric(server, "gateway_circuit_state") == 0.0
    assert attempts(mock) == 1
    assert search(server).status == 200


def test_server_certificate_from_an_unknown_ca_is_503_never_500(
    launch: Launcher, dev_pki: DevPki, log_dir: Path
) -> None:
    impostor = pki_serving(dev_pki, dev_pki.unknown_ca_server, log_dir / "unknown-ca-mock")
    mock, server = launch.mock_and_gateway({}, pki=impostor)

    outcome = search(server)

    assert (outcome.status, outcome.slug) == (503, "upstream-unavailable")
    assert "TLS" in outcome.detail
    assert attempts(mock) == 0  # refused in the handshake: nothing reached the teleservice
    assert retries(server) == 2  # refused at TLS: nothing was sent, so retried (a561f85)


def test_no_slot_toward_the_teleservice_is_503_busy_with_retry_after(launch: Launcher) -> None:
    mock, server = launch.mock_and_gateway(
        {"MOCK_LATENCY_MS": "2000"}, INSI_MAX_CONCURRENT="1", INSI_QUEUE_TIMEOUT="0.3"
    )
    first: list[Outcome] = []
    holder = threading.Thread(target=lambda: first.append(search(server)))

    holder.start()
    wait_until(  # the first call now holds the only slot, for ~2 s
        lambda: connected_to(mock.port), 30, "the first call connected to the teleservice"
    )
    second = server.session.post(
        server.base_url + "/v1/ins/search",
        json=DOMINIQUE,
        headers={"Authorization": f"Bearer {server.api_key}"},
        verify=str(server.ca_bundle),
        timeout=CLIENT_TIMEOUT,
    )
    holder.join(CLIENT_TIMEOUT)

    assert [o.status for o in first] == [200]
    assert second.status_code == 503
    assert second.json()["type"] == PROBLEM + "upstream-busy"
    assert int(second.headers["Retry-After"]) >= 1
    assert attempts(mock) == 1


def test_circuit_recovers_after_an_oversized_probe_answer(
    launch: Launcher, dev_pki: DevPki
) -> None:
    fake = FakeUpstream(dev_pki).start()
    try:
        server = launch.gateway(
            fake.url,
            INSI_BREAKER_MIN_CALLS="1",
            INSI_BREAKER_PROBES="1",
            INSI_BREAKER_COOLDOWN="1",
            INSI_MAX_RETRIES="0",
            INSI_MAX_RESPONSE_BYTES="1024",
        )
        fake.answer = Canned(b"", status=503)
        assert search(server).status == 503  # opens the circuit
        time.sleep(1.3)  # the time under test: past INSI_BREAKER_COOLDOWN
        fake.answer = Canned(b"<x>" + b"a" * 4096 + b"</x>")
        probe = search(server)  # the half-open probe: answer too large
        assert (probe.status, probe.slug) == (502, "upstream-bad-response")
        fake.answer = Canned(b"<html>maintenance</html>", status=500, content_type="text/html")
        time.sleep(1.3)  # the time under test, another cool-down: the next call is a probe
        calls = fake.requests
        later = search(server)
    finally:
        fake.stop()

    # before 79adbe2 the probe's outcome was never recorded: "circuit open" forever after
    assert fake.requests == calls + 1, later.detail
    assert (later.status, later.slug) == (502, "upstream-bad-response")  # the HTML 500 page
