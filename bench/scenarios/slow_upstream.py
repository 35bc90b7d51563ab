"""Scenario: mock at 200 ms, throughput, p99 and errors through one gateway."""

from __future__ import annotations

import argparse
from typing import Any

from harness import load, profile
from harness.schema import LOAD_ALIGN, LOAD_HEADER, Page, Section, f, load_row, outcomes
from harness.servers import Harness, log

NAME = "slow_upstream"
TITLE = "Mock at 200 ms"
RPS_TARGET = 300.0
P99_TARGET_MS = 300.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--mock-workers", type=int, default=2)
    parser.add_argument("--mock-threads", type=int, default=128)
    parser.add_argument("--gateway-threads", type=int, default=128)
    parser.add_argument("--max-concurrent", type=int, default=128, help="INSI_MAX_CONCURRENT")
    parser.add_argument("--slow-connections", type=int, default=100)


def run(h: Harness) -> dict[str, Any]:
    a = h.args
    log(f"scenario slow_upstream: mock at {a.latency_ms} ms")
    mock = h.start_mock(a.latency_ms, a.mock_workers, a.mock_threads)
    extra = {"INSI_MAX_CONCURRENT": str(a.max_concurrent)}
    gateway = h.start_gateway(mock, "gateway-slow", threads=a.gateway_threads, env=extra)
    key = h.api_key()

    def wrk(seconds: float, show: bool = True) -> dict[str, Any]:
        return load.wrk(
            h, gateway, api_key=key, connections=a.slow_connections, seconds=seconds,
            threads=2, mock=mock, show=show,
        )  # fmt: skip

    wrk(5, show=False)  # warm-up: the upstream TLS pool fills
    mark = load.log_mark(gateway)
    data: dict[str, Any] = {
        "setup": {
            "latency_ms": a.latency_ms,
            "mock_workers": a.mock_workers,
            "mock_threads": a.mock_threads,
            "gateway_workers": len(gateway.workers()),
            "gateway_threads": a.gateway_threads,
            "connections": a.slow_connections,
            **extra,
        },
        "run": wrk(a.seconds),
    }
    data["run"]["log"] = load.log_breakdown(gateway, mark)
    log(f"{a.latency_ms} ms: {data['run']['rps']:.0f} req/s p99 {data['run']['p99_ms']:.0f} ms")
    if not a.no_profile:
        data["profile"] = profile.profile(
            gateway, seconds=a.profile_seconds, out=h.run_dir / "profile-slow.txt",
            load=lambda s: wrk(s, show=False),
        )  # fmt: skip
    h.stop(gateway)
    h.stop(mock)
    return data


def render(s: dict[str, Any], page: Page) -> Section:
    section = Section()
    setup, r = s["setup"], s["run"]
    ok_rps = section.target(
        f">= {RPS_TARGET:g} req/s through one gateway, mock at {setup['latency_ms']} ms",
        f"{f(r['rps'], 1)} req/s",
        r["rps"] >= RPS_TARGET,
    )
    ok_p99 = section.target(
        f"p99 <= {P99_TARGET_MS:g} ms", f"{f(r['p99_ms'], 0)} ms", r["p99_ms"] <= P99_TARGET_MS
    )
    section.target("zero errors", f"{r['errors']} of {r['requests']:,}", r["errors"] == 0)
    log_ = r.get("log", {})
    section.add(
        f"Mock: `--workers {setup['mock_workers']} --threads {setup['mock_threads']}`, "
        f"`MOCK_LATENCY_MS={setup['latency_ms']}`. Gateway: `insi-gateway serve --threads "
        f"{setup['gateway_threads']}` ({setup['gateway_workers']} worker(s)), "
        f"`INSI_MAX_CONCURRENT={setup['INSI_MAX_CONCURRENT']}`. wrk: 2 threads, "
        f"{setup['connections']} connections.",
        "",
        f"| {LOAD_HEADER} | gateway busy | mock CPU/req |",
        f"| {LOAD_ALIGN} | ---: | ---: |",
        f"| {load_row(r)} | {r['gateway_worker_cpu_share'] * 100:.0f}% of a core | "
        f"{f(r.get('mock_cpu_ms_per_request'), 2)} ms |",
        "",
    )
    if log_:
        section.add(
            f"From the gateway's request lines: upstream p50 {f(log_['upstream_ms'].get('p50'), 0)}"
            f" ms / p99 {f(log_['upstream_ms'].get('p99'), 0)} ms; time in the gateway around "
            f"it p50 {f(log_['in_gateway_ms'].get('p50'), 0)} ms / p99 "
            f"{f(log_['in_gateway_ms'].get('p99'), 0)} ms; outcomes {outcomes(log_['outcomes'])}.",
            "",
        )
    if not (ok_rps and ok_p99):
        cpu = r["gateway_cpu_ms_per_request"]
        mock = r.get("mock_cpu_ms_per_request") or 0.0
        need_gw, need_mock = RPS_TARGET * cpu / 1000, RPS_TARGET * mock / 1000
        section.add(
            f"**Why missed.** CPU: the gateway needs {f(cpu, 2)} ms of CPU per request, so "
            f"{RPS_TARGET:g} req/s need {need_gw:.1f} cores for the gateway and "
            f"{need_mock:.1f} for the mock (which verifies every VIHF with signxml), "
            f"{need_gw + need_mock:.1f} in all on a {page.nproc}-core machine also running wrk",
            "and other people's work. On a dedicated host, the same arithmetic gives the",
            f"gateway ~{1000 / cpu:.0f} req/s per core.",
            "",
        )
    if "profile" in s:
        section.add(*profile.render(s["profile"], f"mock at {setup['latency_ms']} ms"))
    return section
