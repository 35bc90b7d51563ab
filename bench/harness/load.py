"""Load generators and what they measured: wrk against the gateway, the direct client.

Each run is bounded in time (and optionally in requests) and returns one flat dict:
req/s, latency percentiles, errors, and the CPU seconds of every process involved over
the same window (``harness.cpu.CpuWindow``), with CPU per request derived from them.
"""

from __future__ import annotations

import collections
import json
from typing import Any

from harness.cpu import CpuWindow, run_bounded
from harness.paths import BENCH, LOOPBACK, PYTHON
from harness.servers import Harness, Server, record


def wrk(
    h: Harness,
    gateway: Server | list[Server],
    *,
    api_key: str,
    connections: int,
    seconds: float,
    threads: int = 1,
    per_thread_cap: int = 0,
    show: bool = True,
    mock: Server | None = None,
    lua: str = "search.lua",
    get_path: str = "",
) -> dict[str, Any]:
    """wrk on ``POST /v1/ins/search`` (or ``GET get_path``); bounded by ``seconds`` (and
    ``per_thread_cap``).

    With several gateways (replicas), wrk targets the first and ``search.lua`` spreads the
    requests over all of them (``BENCH_PORTS``); their workers' CPU is summed.
    """
    gateways = gateway if isinstance(gateway, list) else [gateway]
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s"]
    argv += ["--timeout", "10s", "-s", str(BENCH / lua), f"http://{LOOPBACK}:{gateways[0].port}"]
    if per_thread_cap:
        argv += ["--", str(per_thread_cap)]
    env = {"GATEWAY_APP_KEY": api_key, "BENCH_PORTS": ",".join(str(g.port) for g in gateways)}
    if get_path:
        env["BENCH_PATH"] = get_path
    if show:
        shown_env = {**env, "GATEWAY_APP_KEY": "<key of the app>"}
        record(argv, shown_env)
    pids = {"gateway": [p for g in gateways for p in g.workers()]}
    if mock is not None:
        pids["mock"] = mock.workers()
    window = CpuWindow(pids)
    stdout, wrk_cpu = run_bounded(argv, timeout=seconds + 60, env=env)
    cpu = window.close(wrk=wrk_cpu)
    line = next(x for x in stdout.splitlines() if x.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    duration = raw["duration_us"] / 1e6
    n = max(raw["requests"], 1)
    socket_errors = sum(raw[k] for k in ("errors_connect", "errors_read", "errors_write"))
    result = {
        "tool": "wrk",
        "concurrency": connections,
        "requests": raw["requests"],
        "errors": raw["non200"] + socket_errors + raw["errors_timeout"],
        "raw": raw,
        "seconds": duration,
        "rps": raw["requests"] / duration if duration else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        **cpu,
        "gateway_cpu_ms_per_request": 1000 * cpu["gateway_cpu_s"] / n,
        "gateway_worker_cpu_share": cpu["gateway_cpu_s"] / cpu["wall_s"],
    }
    if mock is not None:
        result["mock_cpu_ms_per_request"] = 1000 * cpu["mock_cpu_s"] / n
    return result


def direct(
    h: Harness, mock: Server, *, concurrency: int, seconds: float, requests: int = 1_000_000
) -> dict[str, Any]:
    """``bench/direct.py``: the gateway's own envelopes and transport, no gateway around."""
    argv = [PYTHON, str(BENCH / "direct.py"), "--pki", str(h.pki.directory)]
    argv += ["--url", f"https://{LOOPBACK}:{mock.port}/lps", "-c", str(concurrency)]
    argv += ["--seconds", str(seconds), "--requests", str(requests)]
    record(argv)
    window = CpuWindow({"mock": mock.workers()})
    stdout, client_cpu = run_bounded(argv, timeout=seconds + 120)
    cpu = window.close(client=client_cpu)
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    n = max(result["requests"], 1)
    result.update(cpu)
    result["tool"] = "bench/direct.py"
    result["mock_cpu_ms_per_request"] = 1000 * cpu["mock_cpu_s"] / n
    # the whole process: start-up (imports, WSDL, key) and warm-up included, an upper bound
    result["client_cpu_ms_per_request_upper"] = 1000 * client_cpu / n
    if "measured_cpu_s" in result:  # the client's own CPU over the measured loop only
        result["client_cpu_ms_per_request"] = 1000 * result["measured_cpu_s"] / n
    return result


def log_mark(server: Server) -> int:
    """Where a server's log ends now (bytes), to read only one run's request lines later."""
    return server.log_path.stat().st_size


def _percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {}
    top = len(values) - 1
    return {f"p{q}": round(values[min(top, int(len(values) * q / 100))], 2) for q in (50, 90, 99)}


def log_breakdown(server: Server, mark: int, path: str = "/v1/ins/search") -> dict[str, Any]:
    """From the gateway's own request lines: time in the gateway vs waiting for the upstream."""
    with server.log_path.open("rb") as handle:
        handle.seek(mark)
        text = handle.read().decode(errors="replace")
    total, upstream, inside = [], [], []
    outcomes: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        if not line.startswith("{") or '"event": "request"' not in line:
            continue
        fields = json.loads(line)
        if fields.get("path") != path:
            continue
        outcomes[f"{fields.get('status')} {fields.get('outcome')}"] += 1
        t, u = float(fields.get("total_ms", 0)), float(fields.get("upstream_ms", 0))
        total.append(t)
        upstream.append(u)
        inside.append(t - u)
    return {
        "lines": len(total),
        "outcomes": dict(outcomes),
        "total_ms": _percentiles(total),
        "upstream_ms": _percentiles(upstream),
        "in_gateway_ms": _percentiles(inside),
    }
