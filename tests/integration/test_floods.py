"""Floods, refusals and anchors against a real gunicorn gateway and the real mock.

A flood of wrong keys from one address is throttled (429 + Retry-After) before
any key lookup and leaves a bounded number of journal records whose counts
add up to the flood; a body over the limit with a valid key is journaled; the
gateway logs the journal head at its interval, and that anchor is checked by
``audit verify --expect``; ``audit purge`` keeps the chain verifiable.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from testbed.waiting import wait_until
from tests.integration.conftest import GatewayFactory, GatewayServer, MockServer, cli
from tests.integration.servers import CLI

pytestmark = pytest.mark.integration
FLOOD = 300
LIMIT = 5
INTERVAL = 10  # seconds of refusal aggregation


@pytest.fixture(scope="module")
def guarded(gateway_factory: GatewayFactory, mock_server: MockServer) -> GatewayServer:
    return gateway_factory(
        mock_server.url,
        GATEWAY_AUTH_FAILURE_LIMIT=str(LIMIT),
        GATEWAY_AUTH_FAILURE_WINDOW_SECONDS="600",
        GATEWAY_AUDIT_AGGREGATE_SECONDS=str(INTERVAL),
        GATEWAY_AUDIT_ANCHOR_SECONDS="1",
        GATEWAY_MAX_BODY_BYTES="4096",
    )


def journal(server: GatewayServer) -> list[dict[str, Any]]:
    out = cli(server.env, "audit", "search", "--limit", "100000")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_a_flood_of_wrong_keys_is_throttled_and_journaled_as_counts(
    guarded: GatewayServer,
) -> None:
    def bogus(index: int) -> tuple[int, str | None]:
        answer = guarded.post("/v1/ins/search", {"x": index}, key=f"bogus-{index}")
        return answer.status_code, answer.headers.get("Retry-After")

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(bogus, range(FLOOD)))
    intervals = math.ceil((time.monotonic() - started) / INTERVAL) + 1
    statuses = [status for status, _ in answers]
    ok = guarded.post("/v1/ins/search", {"birth_name": "X"})  # a known key still passes
    wait_until(  # the last interval ends and the watch writes the counts
        lambda: sum(r["count"] or 1 for r in journal(guarded) if r["app"] is None) >= FLOOD,
        INTERVAL + 60,
        f"the {FLOOD} refusals journaled",
        interval=1.0,
    )

    assert statuses.count(401) == LIMIT
    assert statuses.count(429) == FLOOD - LIMIT
    assert all(int(after or 0) > 0 for status, after in answers if status == 429)
    assert ok.status_code == 400  # authenticated, then refused for its body
    refusals = [r for r in journal(guarded) if r["app"] is None]
    # per interval and outcome: the first refusal, then one record with the count of the rest
    assert len(refusals) <= 2 * 2 * intervals < FLOOD / 10, len(refusals)
    assert {r["client"] for r in refusals} == {"127.0.0.1"}
    assert sum(r["count"] or 1 for r in refusals) == FLOOD
    assert {r["outcome"] for r in refusals} == {"unauthorized", "too-many-auth-failures"}


def test_a_body_over_the_limit_with_a_valid_key_is_journaled(guarded: GatewayServer) -> None:
    big = {"birth_name": "A" * 8192}
    answer = guarded.post("/v1/ins/search", big, headers={"X-Request-ID": "too-big"})

    assert answer.status_code == 413
    mine = [r for r in journal(guarded) if r["request_id"] == "too-big"]
    assert [(r["outcome"], r["app"]) for r in mine] == [("http-413", "integration")]


def test_the_logged_head_anchors_the_journal_and_a_purge_keeps_it_verifiable(
    guarded: GatewayServer,
) -> None:
    logged = len(_heads(guarded))
    guarded.post("/v1/ins/search", {"birth_name": "X"})
    wait_until(  # the watch logs the head every second
        lambda: len(_heads(guarded)) > logged, 30, "an audit head line logged after the call"
    )
    heads = [
        line for line in map(_json, guarded.process.output().splitlines())
        if line.get("event") == "audit head"
    ]  # fmt: skip
    assert heads, "no audit head line in the gateway's log"
    anchor = f"{heads[-1]['seq']}:{heads[-1]['hash']}"
    head = json.loads(cli(guarded.env, "audit", "head"))
    assert head["seq"] >= heads[-1]["seq"] > 0

    assert json.loads(cli(guarded.env, "audit", "verify", "--expect", anchor))["ok"] is True
    guarded.post("/v1/ins/search", {"birth_name": "X"})  # the anchor is no longer the last
    purged = json.loads(cli(guarded.env, "audit", "purge", "--before", "2999-01-01"))
    assert purged["purged"] >= heads[-1]["seq"]
    after = _run(guarded, "audit", "verify", "--expect", anchor)  # the anchor is gone now
    plain = _run(guarded, "audit", "verify")

    assert plain.returncode == 0, plain.stdout
    assert after.returncode == 1
    assert "purged" in json.loads(after.stdout)["reason"]


def _json(line: str) -> dict[str, Any]:
    return json.loads(line) if line.startswith("{") else {}


def _run(server: GatewayServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env={**os.environ, **server.env}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def _heads(server: GatewayServer) -> list[dict[str, Any]]:
    """The "audit head" lines of the gateway's log so far."""
    lines = map(_json, server.process.output().splitlines())
    return [line for line in lines if line.get("event") == "audit head"]
