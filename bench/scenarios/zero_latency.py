"""Scenario: mock at 0 ms, the gateway (wrk) vs the direct client, CPU per request compared.

The direct client (``bench/direct.py``) sends the same signed envelopes through the same
transport with no HTTP front, no journal: the floor the gateway is compared with. The
gateway's own HTTP front (gunicorn, Flask, middlewares, the request log line) is measured
alone on ``GET /healthz`` in the same run, so a miss of the CPU ratio can be split into
what any request costs and what a search adds.
"""

from __future__ import annotations

import argparse
from typing import Any

from harness import load, profile
from harness.schema import LOAD_ALIGN, LOAD_HEADER, Page, Section, f, load_row, outcomes, verdict
from harness.servers import Harness, log

NAME = "zero_latency"
TITLE = "Mock at 0 ms: gateway vs direct"
OVERHEAD_TARGET_MS = 3.0
THROUGHPUT_RATIO_TARGET = 0.7
CPU_RATIO_TARGET = 1.5
HEALTH = "/healthz"  # no storage, no upstream: what every request costs the HTTP front


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mock0-workers", type=int, default=2)
    parser.add_argument("--mock0-threads", type=int, default=32)


def run(h: Harness) -> dict[str, Any]:
    log("scenario zero_latency: mock at 0 ms, gateway vs direct")
    a = h.args
    mock = h.start_mock(0, a.mock0_workers, a.mock0_threads)
    gateway = h.start_gateway(mock, "gateway-0ms", workers=1)
    key = h.api_key()
    load.wrk(h, gateway, api_key=key, connections=a.concurrency, seconds=5, show=False)
    runs: dict[str, Any] = {}
    for conc in (1, a.concurrency):
        mark = load.log_mark(gateway)
        g = load.wrk(h, gateway, api_key=key, connections=conc, seconds=a.seconds, mock=mock)
        g["log"] = load.log_breakdown(gateway, mark)
        d = load.direct(h, mock, concurrency=conc, seconds=a.seconds)
        runs[str(conc)] = {"gateway": g, "direct": d}
        log(f"c={conc}: gateway {g['rps']:.0f} req/s, direct {d['rps']:.0f} req/s")
    front = load.wrk(
        h, gateway, api_key=key, connections=a.concurrency, seconds=a.seconds, get_path=HEALTH
    )
    log(f"front alone (GET {HEALTH}): {front['gateway_cpu_ms_per_request']:.2f} ms CPU/req")
    data: dict[str, Any] = {
        "front": front,
        "setup": {"mock_workers": a.mock0_workers, "mock_threads": a.mock0_threads},
        "concurrency": a.concurrency,
        "runs": runs,
    }
    if not a.no_profile:
        data["profile"] = profile.profile(
            gateway,
            seconds=a.profile_seconds,
            out=h.run_dir / "profile-0ms.txt",
            load=lambda s: load.wrk(
                h, gateway, api_key=key, connections=a.concurrency, seconds=s, show=False
            ),
        )
    h.stop(gateway)
    h.stop(mock)
    return data


def direct_cpu(run: dict[str, Any]) -> float:
    """The direct client's CPU per request over its measured loop (else its upper bound)."""
    return float(run.get("client_cpu_ms_per_request", run["client_cpu_ms_per_request_upper"]))


def render(s: dict[str, Any], page: Page) -> Section:
    section = Section()
    conc = str(s["concurrency"])
    one, many = s["runs"]["1"], s["runs"][conc]
    overhead = one["gateway"]["p50_ms"] - one["direct"]["p50_ms"]
    ratio = many["gateway"]["rps"] / many["direct"]["rps"]
    cpu_g, cpu_d = many["gateway"]["gateway_cpu_ms_per_request"], direct_cpu(many["direct"])
    ok_overhead = section.target(
        f"gateway p50 overhead <= {OVERHEAD_TARGET_MS:g} ms (mock 0 ms, concurrency 1)",
        f"{f(overhead, 2)} ms ({f(one['gateway']['p50_ms'], 2)} vs "
        f"{f(one['direct']['p50_ms'], 2)} ms)",
        overhead <= OVERHEAD_TARGET_MS,
    )
    ok_ratio = section.target(
        f"gateway throughput >= {THROUGHPUT_RATIO_TARGET:g}x direct (concurrency {conc})",
        f"{ratio:.2f}x ({f(many['gateway']['rps'], 0)} vs {f(many['direct']['rps'], 0)} req/s)",
        ratio >= THROUGHPUT_RATIO_TARGET,
    )
    ok_cpu = section.target(
        f"gateway CPU per request <= {CPU_RATIO_TARGET:g}x the direct client's "
        f"(concurrency {conc})",
        f"{cpu_g / cpu_d:.2f}x ({f(cpu_g, 2)} vs {f(cpu_d, 2)} ms)",
        cpu_g / cpu_d <= CPU_RATIO_TARGET,
    )
    section.add(
        f"Mock: `--workers {s['setup']['mock_workers']} --threads "
        f"{s['setup']['mock_threads']}`, `MOCK_LATENCY_MS=0`. Gateway: `insi-gateway serve",
        "--workers 1` (so CPU per request is one process's). Gateway side: wrk, `POST",
        "/v1/ins/search` for ADRTROIS DOMINIQUE F 1997-02-26 2A020 (`bench/search.lua`).",
        "Direct side: `bench/direct.py`, the same signed envelopes built by the gateway's own",
        "code, posted by the gateway's `MutualTlsTransport`, parsed by `InsiClient.parse`; one",
        "thread per connection. CPU/req: the gateway's workers (`/proc/<pid>/stat`), or the",
        "direct client's process over its measured loop (`time.process_time`, start-up and",
        "warm-up excluded).",
        "",
        f"| concurrency | path | {LOAD_HEADER} |",
        f"| ---: | --- | {LOAD_ALIGN} |",
    )
    for c, pair in (("1", one), (conc, many)):
        section.add(f"| {c} | gateway | {load_row(pair['gateway'])} |")
        d = dict(pair["direct"], direct_cpu=direct_cpu(pair["direct"]))
        section.add(f"| {c} | direct | {load_row(d, cpu_key='direct_cpu')} |")
    log1 = one["gateway"].get("log", {})
    section.add(
        "",
        f"- p50 overhead at concurrency 1: {f(overhead, 2)} ms: {verdict(ok_overhead)}.",
        f"- throughput at concurrency {conc}: {ratio:.2f}x direct: {verdict(ok_ratio)}.",
        f"- CPU per request at concurrency {conc}: {cpu_g / cpu_d:.2f}x direct: "
        f"{verdict(ok_cpu)}. On a dedicated core, by arithmetic from these figures: one",
        f"  gateway worker would carry ~{1000 / cpu_g:.0f} req/s, the direct client "
        f"~{1000 / cpu_d:.0f} req/s.",
        "",
    )
    if "front" in s:
        section.add(*_budget(s["front"], cpu_g, cpu_d, conc), "")
    if log1:
        section.add(
            "The gateway's own request lines at concurrency 1: p50 total "
            f"{f(log1['total_ms'].get('p50'), 2)} ms, of which upstream "
            f"{f(log1['upstream_ms'].get('p50'), 2)} ms and "
            f"{f(log1['in_gateway_ms'].get('p50'), 2)} ms in the gateway around it. Outcomes "
            f"at concurrency {conc}: {outcomes(many['gateway'].get('log', {}).get('outcomes', {}))}"
            ".",
            "",
        )
    if "profile" in s:
        section.add(*profile.render(s["profile"], f"mock at 0 ms, concurrency {conc}"))
    return section


def _budget(front: dict[str, Any], cpu_g: float, cpu_d: float, conc: str) -> list[str]:
    """Where the gateway's CPU beyond the direct client's goes, against the target's budget."""
    floor = front["gateway_cpu_ms_per_request"]
    budget = (CPU_RATIO_TARGET - 1) * cpu_d
    extra = cpu_g - cpu_d
    return [
        f"**The budget.** At {CPU_RATIO_TARGET:g}x, everything the gateway adds to the direct "
        f"client may cost {f(budget, 2)} ms per request; it adds {f(extra, 2)} ms. The HTTP "
        f"front alone, `GET {HEALTH}` at concurrency {conc} on the same worker (gunicorn "
        "`gthread`, Flask, the middlewares, the JSON request line; no storage, no upstream), "
        f"costs {f(floor, 2)} ms per request ({front['rps']:.0f} req/s), that is "
        f"{floor / cpu_d:.2f}x the direct client's CPU by itself; the rest "
        f"({f(extra - floor, 2)} ms) is the search's own work around the call (API key, quotas, "
        "input rules, the write-ahead journal's two records, answer JSON, metrics), split in the "
        "profile below.",
    ]
