"""Scenario: mock at 200 ms, throughput, p99 and errors through one gateway, 1 vs N workers.

N is ``serve``'s default (one worker per core); the targets are read on that run.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from harness import load, profile
from harness.schema import LOAD_ALIGN, LOAD_HEADER, Page, Section, f, load_row, outcomes
from harness.servers import Harness, Server, log

NAME = "slow_upstream"
TITLE = "Mock at 200 ms: 1 worker vs one per core"
RPS_TARGET = 300.0
P99_TARGET_MS = 300.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--mock-workers", type=int, default=2)
    parser.add_argument("--mock-threads", type=int, default=128)
    parser.add_argument("--gateway-threads", type=int, default=128)
    parser.add_argument("--max-concurrent", type=int, default=128, help="INSI_MAX_CONCURRENT")
    parser.add_argument("--slow-connections", type=int, default=100)
    parser.add_argument(
        "--slow-workers", type=int, default=len(os.sched_getaffinity(0)), help="vs 1 worker"
    )


def _one(h: Harness, mock: Server, workers: int, profiled: bool) -> dict[str, Any]:
    a = h.args
    extra = {"INSI_MAX_CONCURRENT": str(a.max_concurrent)}
    gateway = h.start_gateway(
        mock, f"gateway-slow-{workers}w", workers=workers, threads=a.gateway_threads, env=extra
    )
    key = h.api_key()

    def wrk(seconds: float, show: bool = True) -> dict[str, Any]:
        return load.wrk(
            h, gateway, api_key=key, connections=a.slow_connections, seconds=seconds,
            threads=2, mock=mock, show=show,
        )  # fmt: skip

    wrk(5, show=False)  # warm-up: the upstream TLS pools fill
    mark = load.log_mark(gateway)
    run = wrk(a.seconds)
    run["log"] = load.log_breakdown(gateway, mark)
    run["workers"] = workers
    log(f"{workers} worker(s): {run['rps']:.0f} req/s p99 {run['p99_ms']:.0f} ms")
    if profiled and not a.no_profile:
        run["profile"] = profile.profile(
            gateway, seconds=a.profile_seconds, out=h.run_dir / "profile-slow.txt",
            load=lambda s: wrk(s, show=False),
        )  # fmt: skip
    h.stop(gateway)
    return run


def run(h: Harness) -> dict[str, Any]:
    a = h.args
    log(f"scenario slow_upstream: mock at {a.latency_ms} ms, 1 then {a.slow_workers} workers")
    mock = h.start_mock(a.latency_ms, a.mock_workers, a.mock_threads)
    runs = {str(w): _one(h, mock, w, w == a.slow_workers) for w in sorted({1, a.slow_workers})}
    h.stop(mock)
    return {
        "setup": {
            "latency_ms": a.latency_ms,
            "mock_workers": a.mock_workers,
            "mock_threads": a.mock_threads,
            "gateway_threads": a.gateway_threads,
            "connections": a.slow_connections,
            "INSI_MAX_CONCURRENT": a.max_concurrent,
            "workers": a.slow_workers,
        },
        "runs": runs,
    }


def render(s: dict[str, Any], page: Page) -> Section:
    section = Section()
    setup = s["setup"]
    runs = s["runs"]
    r = runs[str(setup["workers"])]
    one = runs["1"]
    ok_rps = section.target(
        f">= {RPS_TARGET:g} req/s through one gateway ({setup['workers']} workers, the default), "
        f"mock at {setup['latency_ms']} ms",
        f"{f(r['rps'], 1)} req/s ({r['rps'] / one['rps']:.2f}x 1 worker's {f(one['rps'], 1)})",
        r["rps"] >= RPS_TARGET,
    )
    ok_p99 = section.target(
        f"p99 <= {P99_TARGET_MS:g} ms", f"{f(r['p99_ms'], 0)} ms", r["p99_ms"] <= P99_TARGET_MS
    )
    section.target("zero errors", f"{r['errors']} of {r['requests']:,}", r["errors"] == 0)
    section.add(
        f"Mock: `--workers {setup['mock_workers']} --threads {setup['mock_threads']}`, "
        f"`MOCK_LATENCY_MS={setup['latency_ms']}`. Gateway: `insi-gateway serve --workers W "
        f"--threads {setup['gateway_threads']}`, `INSI_MAX_CONCURRENT="
        f"{setup['INSI_MAX_CONCURRENT']}`, W = 1 then {setup['workers']} (one per core, the "
        f"default). wrk: 2 threads, {setup['connections']} connections, the same machine.",
        "",
        f"| workers | {LOAD_HEADER} | gateway cores busy | mock CPU/req |",
        f"| ---: | {LOAD_ALIGN} | ---: | ---: |",
    )
    for w, run_ in sorted(runs.items()):
        section.add(
            f"| {w} | {load_row(run_)} | {run_['gateway_worker_cpu_share']:.2f} | "
            f"{f(run_.get('mock_cpu_ms_per_request'), 2)} ms |"
        )
    section.add("")
    log_ = r.get("log", {})
    if log_:
        section.add(
            f"From the gateway's request lines ({setup['workers']} workers): upstream p50 "
            f"{f(log_['upstream_ms'].get('p50'), 0)} ms / p99 "
            f"{f(log_['upstream_ms'].get('p99'), 0)} ms; time in the gateway around it p50 "
            f"{f(log_['in_gateway_ms'].get('p50'), 0)} ms / p99 "
            f"{f(log_['in_gateway_ms'].get('p99'), 0)} ms; outcomes {outcomes(log_['outcomes'])}.",
            "",
        )
    if not (ok_rps and ok_p99):
        cpu = r["gateway_cpu_ms_per_request"]
        mock = r.get("mock_cpu_ms_per_request") or 0.0
        need_gw, need_mock = RPS_TARGET * cpu / 1000, RPS_TARGET * mock / 1000
        section.add(
            f"**Why missed.** CPU, not threads: the gateway needs {f(cpu, 2)} ms of CPU per "
            f"request, so {RPS_TARGET:g} req/s need {need_gw:.1f} cores for the gateway and "
            f"{need_mock:.1f} for the mock (which verifies every VIHF with signxml), "
            f"{need_gw + need_mock:.1f} in all, on a {page.nproc}-core machine that also runs "
            "wrk and other people's work. By arithmetic from the same figures, a dedicated "
            f"host would carry ~{1000 / cpu:.0f} req/s per gateway core, so "
            f"{RPS_TARGET:g} req/s at 200 ms need {need_gw:.1f} cores of gateway (workers = "
            "cores) and a remote teleservice.",
            "",
        )
    if "profile" in r:
        section.add(*profile.render(r["profile"], f"mock at {setup['latency_ms']} ms"))
    return section
