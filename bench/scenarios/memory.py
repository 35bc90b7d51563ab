"""Scenario: the gateway worker's VmRSS every ``--mem-chunk`` requests (time-bounded)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from harness import load
from harness.cpu import rss_kib
from harness.schema import Page, Section, mib, outcomes
from harness.servers import Harness, log

NAME = "memory"
TITLE = "Memory"
GROWTH_TARGET = 0.10  # RSS after --mem-requests within 10% of RSS after 10,000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mem-requests", type=int, default=100_000)
    parser.add_argument("--mem-chunk", type=int, default=10_000)
    parser.add_argument("--mem-timeout", type=int, default=900, help="seconds, whole scenario")


def run(h: Harness) -> dict[str, Any]:
    log("scenario memory")
    a = h.args
    mock = h.start_mock(0, 2, 32)
    gateway = h.start_gateway(mock, "gateway-memory", workers=1)
    key = h.api_key()
    worker = gateway.workers()[0]
    samples: list[dict[str, Any]] = [{"requests": 0, "rss_kib": rss_kib(worker), "elapsed_s": 0}]
    done, errors, started = 0, 0, time.monotonic()
    rate = 1000.0  # optimistic: the first step is time-bounded and measures it
    milestone = a.mem_chunk
    # wrk only stops at -d (a thread that reaches its cap idles until then): a step gets 97%
    # of the time its cap needs at the measured rate; a short capped top-up completes it.
    while done < a.mem_requests:
        left = a.mem_timeout - (time.monotonic() - started)
        if left < 3:
            break
        want = milestone - done
        run_ = load.wrk(
            h, gateway, api_key=key, connections=a.concurrency, show=done == 0,
            seconds=min(left, max(2.0, want / rate * 0.97)), per_thread_cap=want,
        )  # fmt: skip
        done += run_["requests"]
        errors += run_["errors"]
        if run_["requests"] < want:  # time-bounded: a true rate
            rate = max(run_["requests"] / max(run_["seconds"], 0.1), 1.0)
        if done >= milestone or time.monotonic() - started > a.mem_timeout - 3:
            elapsed = round(time.monotonic() - started, 1)
            samples.append(
                {"requests": done, "rss_kib": rss_kib(worker), "elapsed_s": elapsed,
                 "rps": round(rate, 1), "errors": errors}
            )  # fmt: skip
            log(f"memory: {done} requests, VmRSS {samples[-1]['rss_kib']} KiB")
            milestone = min(a.mem_requests, done + a.mem_chunk)
    data = {
        "samples": samples,
        "target_requests": a.mem_requests,
        "chunk": a.mem_chunk,
        "concurrency": a.concurrency,
        "time_bound_s": a.mem_timeout,
        "log": load.log_breakdown(gateway, 0),
    }
    h.stop(gateway)
    h.stop(mock)
    return data


def render(s: dict[str, Any], page: Page) -> Section:
    section = Section()
    samples, target_n = s["samples"], s["target_requests"]
    base = next((x for x in samples if x["requests"] >= 10_000), None)
    last = samples[-1]
    ok: bool | None = None
    measured = "n/a"
    if base is not None:
        growth = (last["rss_kib"] - base["rss_kib"]) / base["rss_kib"]
        measured = (
            f"{growth * 100:+.1f}% ({mib(base['rss_kib'])} at {base['requests']:,} -> "
            f"{mib(last['rss_kib'])} at {last['requests']:,})"
        )
        if last["requests"] >= target_n:
            ok = growth <= GROWTH_TARGET
        else:
            measured += f", {target_n:,} not reached in {s['time_bound_s']} s"
    section.target(
        f"worker RSS after {target_n:,} requests within {GROWTH_TARGET * 100:.0f}% of RSS "
        "after 10,000",
        measured,
        ok,
    )
    section.add(
        "A fresh gateway (`insi-gateway serve --workers 1`) in front of the 0 ms mock; wrk at",
        f"concurrency {s['concurrency']} in steps of {s['chunk']:,} requests (a per-thread cap",
        "in `bench/search.lua`), VmRSS of the worker (`/proc/<pid>/status`) after each step;",
        f"the scenario is bounded to {s['time_bound_s']} s.",
        "",
        "| requests | VmRSS | vs 10,000 | req/s (last step) | errors (cumulated) |",
        "| ---: | ---: | ---: | ---: | ---: |",
    )
    for x in samples:
        rel = ""
        if base is not None and x["requests"] >= base["requests"]:
            rel = f"{(x['rss_kib'] - base['rss_kib']) / base['rss_kib'] * 100:+.1f}%"
        section.add(
            f"| {x['requests']:,} | {mib(x['rss_kib'])} | {rel} | {x.get('rps', '')} | "
            f"{x.get('errors', '')} |"
        )
    section.add("", f"Outcomes in the gateway's request lines: {outcomes(s['log']['outcomes'])}.")
    if ok is None and base is not None and last["requests"] > base["requests"]:
        per_10k = (last["rss_kib"] - base["rss_kib"]) / (last["requests"] - base["requests"])
        per_10k *= 10_000
        rate = last["requests"] / max(last["elapsed_s"], 1)
        section.add(
            "",
            f"**Not measured to {target_n:,}**: at {rate:.0f} req/s that takes "
            f"{target_n / rate / 60:.0f} min, beyond the bound. Growth after 10,000: "
            f"{per_10k / 1024:+.2f} MiB per 10,000 requests. A full run: `bench/run --only "
            f"memory --mem-timeout {int(target_n / rate * 1.2) + 60}`.",
        )
    section.add("")
    return section
