"""Scenario: two gateway replicas on PostgreSQL with Redis, one application at a set rate.

wrk hammers both replicas (``BENCH_PORTS``, one wrk thread per replica) far above the
application's rate; the shared quota must let through its rate, not twice it. Each run
gets its own PostgreSQL schema and Redis key prefix, removed at the end.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from harness import load
from harness.postgres import DEFAULT_URL, fresh_schema
from harness.schema import Page, Section, f
from harness.servers import Harness, log

NAME = "replicas"
TITLE = "Two replicas on PostgreSQL and Redis: one rate for an application"
TOLERANCE = 0.10  # accepted/s within 10% above the configured rate (burst excluded)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--replicas-postgres", default=DEFAULT_URL)
    parser.add_argument("--replicas-redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--replicas-rate", type=int, default=5, help="the app's --rate")
    parser.add_argument("--replicas-workers", type=int, default=2, help="workers per replica")
    parser.add_argument("--replicas-connections", type=int, default=16)


def _forget_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


def run(h: Harness) -> dict[str, Any]:
    a = h.args
    log("scenario replicas: two gateways on PostgreSQL + Redis, one app at a set rate")
    prefix = f"bench-{secrets.token_hex(5)}:"
    env = {"REDIS_URL": a.replicas_redis, "GATEWAY_REDIS_PREFIX": prefix}
    env["GATEWAY_JOB_WORKERS"] = "0"
    with fresh_schema(a.replicas_postgres) as database:
        try:
            run_ = _hammer(h, database, env)
        finally:
            h.stop_all()
            _forget_keys(a.replicas_redis, prefix)
    accepted = run_["requests"] - run_["raw"]["non200"]
    run_["accepted"] = accepted
    run_["status429"] = run_["raw"].get("status429", 0)
    log(f"replicas: {accepted} accepted of {run_['requests']} in {run_['seconds']:.1f} s")
    return {
        "rate": a.replicas_rate,
        "burst": a.replicas_rate,
        "workers": a.replicas_workers,
        "connections": a.replicas_connections,
        "run": run_,
    }


def _hammer(h: Harness, database: str, env: dict[str, str]) -> dict[str, Any]:
    """Two replicas on ``database``, one limited app, wrk through both."""
    a = h.args
    rate = str(a.replicas_rate)
    key = h.api_key("limited", rate=rate, burst=rate, database_url=database)
    mock = h.start_mock(0, 2, 32)
    gateways = [
        h.start_gateway(
            mock, f"replica-{i}", workers=a.replicas_workers, database_url=database, env=env
        )
        for i in (1, 2)
    ]
    return load.wrk(
        h, gateways, api_key=key, connections=a.replicas_connections, seconds=a.seconds,
        threads=2, mock=mock,
    )  # fmt: skip


def render(s: dict[str, Any], page: Page) -> Section:
    section = Section()
    r = s["run"]
    beyond_burst = (r["accepted"] - s["burst"]) / r["seconds"]
    ok = section.target(
        f"accepted req/s across 2 replicas x {s['workers']} workers = the app's rate "
        f"({s['rate']}/s, within {TOLERANCE * 100:.0f}%)",
        f"{beyond_burst:.1f}/s ({beyond_burst / s['rate']:.2f}x the rate)",
        s["rate"] * (1 - TOLERANCE) <= beyond_burst <= s["rate"] * (1 + TOLERANCE),
    )
    others = r["requests"] - r["accepted"] - r["status429"]
    section.add(
        f"Two `insi-gateway serve --workers {s['workers']}` on one PostgreSQL schema, "
        "`REDIS_URL` set (one key prefix), an application registered with `--rate "
        f"{s['rate']} --burst {s['burst']}`; wrk with 2 threads, one per replica "
        f"(`BENCH_PORTS`), {s['connections']} connections in all, {f(r['seconds'], 1)} s, mock "
        "at 0 ms.",
        "",
        "| requests | accepted (200) | refused 429 | other | req/s offered | accepted/s "
        "(burst excluded) | configured | gateways CPU/req | machine busy | others |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {r['requests']:,} | {r['accepted']:,} | {r['status429']:,} | {others:,} | "
        f"{f(r['rps'], 1)} | {beyond_burst:.1f} | {s['rate']} | "
        f"{f(r['gateway_cpu_ms_per_request'], 2)} ms | {f(r['machine_busy_cores'], 2)} | "
        f"{f(r['others_busy_cores'], 2)} |",
        "",
        "Accepted per second = (accepted - burst) / duration. Without `REDIS_URL` each of the "
        f"{2 * s['workers']} worker processes would grant the whole rate: up to "
        f"{2 * s['workers'] * s['rate']}/s. The 429s are answered without a teleservice call "
        "(CPU/req above is mostly theirs).",
        "",
    )
    if not ok:
        section.add(
            "**Why missed.** "
            + (
                "Fewer accepted than the rate: the gateways could not answer the offered load "
                "fast enough on this shared machine (offered req/s above) to use the whole "
                "rate; the quota itself never lets more through."
                if beyond_burst < s["rate"]
                else "More accepted than the rate: see the Redis quota's logs."
            ),
            "",
        )
    return section
