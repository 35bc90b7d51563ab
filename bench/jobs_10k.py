"""Bench harness (not a test): one 10,000-row job through a real gateway against the mock.

Starts the mock teleservice (``MOCK_LATENCY_MS``) and one gateway under
gunicorn with the jobs wired (as in ``tests/integration/test_jobs.py``), on
loopback only, submits a job of synthetic identities unknown to the mock (one
upstream call per row), follows it, and reports:

- throughput (rows per second, submission to end, and first to last upstream call);
- the most upstream calls in any 1-second window, from the mock's request log,
  against ``GATEWAY_JOB_RATE``;
- the gateway worker's RSS (``VmRSS`` of ``/proc/<pid>/status``) at the start,
  the middle and the end of the job.

Run: ``.venv/bin/python bench/jobs_10k.py [--rows 10000 --rate 20 --workers 2]``.
Bounded: it stops by itself after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.pki.devpki import generate_dev_pki  # noqa: E402
from gateway.storage import default_sqlite_url  # noqa: E402
from tests.integration.conftest import start_mock  # noqa: E402
from tests.integration.test_jobs import Jobs, jsonl, start_jobs_gateway, synthetic  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_pid(arbiter: int) -> int:
    """The gunicorn worker: the arbiter's one child process."""
    children = Path(f"/proc/{arbiter}/task/{arbiter}/children").read_text().split()
    return int(children[0])


def per_second(times: list[float]) -> list[int]:
    """For each event, how many events fall in the 1-second window [t, t + 1s) it opens."""
    ordered = sorted(times)
    return [bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)]


def min_span(times: list[float], calls: int) -> float:
    """The shortest time holding ``calls`` consecutive events (>= 1 s: never over the limit)."""
    ordered = sorted(times)
    return min(ordered[i + calls - 1] - ordered[i] for i in range(len(ordered) - calls + 1))


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    pki = generate_dev_pki(work / "pki")
    logs = work / "logs"
    logs.mkdir()
    mock = start_mock(pki, logs, MOCK_LATENCY_MS=str(args.latency_ms))
    env = {
        "DATABASE_URL": args.database_url or default_sqlite_url(work / "bench.db"),
        "GATEWAY_JOB_RATE": str(args.rate),
        "GATEWAY_JOB_WORKERS": str(args.workers),
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    gateway = start_jobs_gateway(pki, logs, mock.url, **env)
    try:
        pid = worker_pid(gateway.process.process.pid)
        jobs = Jobs(gateway)
        identities = synthetic("BENCH", args.rows)
        rss = {"idle": rss_kib(pid)}
        started = time.monotonic()
        job_id = jobs.submit(jsonl(identities), "application/x-ndjson")
        submitted = time.monotonic() - started
        rss["after_submit"] = rss_kib(pid)
        deadline = started + args.timeout
        while (status := jobs.status(job_id))["state"] not in ("done", "cancelled"):
            if "middle" not in rss and status["done"] >= args.rows // 2:
                rss["middle"] = rss_kib(pid)
            if time.monotonic() > deadline:
                raise TimeoutError(f"job not done after {args.timeout}s: {status}")
            time.sleep(1)
        elapsed = time.monotonic() - started
        rss["end"] = rss_kib(pid)
        results = jobs.results(job_id)
        rss["after_results"] = rss_kib(pid)
    finally:
        gateway.process.stop()
        mock.process.stop()
    calls = [datetime.fromisoformat(e["time"]).timestamp() for e in mock.logged_requests()]
    span = max(calls) - min(calls)
    windows = per_second(calls)
    limit = int(args.rate)
    return {
        "rows": args.rows,
        "rate_limit": args.rate,
        "workers": args.workers,
        "mock_latency_ms": args.latency_ms,
        "database": "postgresql" if args.database_url else "sqlite",
        "state": status["state"],
        "results": len(results),
        "upstream_calls": len(calls),
        "submit_seconds": round(submitted, 2),
        "elapsed_seconds": round(elapsed, 1),
        "rows_per_second": round(args.rows / elapsed, 2),
        "calls_per_second_first_to_last": round((len(calls) - 1) / span, 2),
        "max_calls_in_1s_window": max(windows),
        "windows_over_limit": sum(count > limit for count in windows),
        "windows": len(windows),
        "min_seconds_for_limit_plus_1_calls": round(min_span(calls, limit + 1), 3),
        "rss_kib": rss,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=20.0, help="GATEWAY_JOB_RATE")
    parser.add_argument("--workers", type=int, default=2, help="GATEWAY_JOB_WORKERS")
    parser.add_argument("--latency-ms", type=int, default=20, help="MOCK_LATENCY_MS")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobs-bench-") as work:
        report = run(args, Path(work))
    print(json.dumps(report, indent=2))
    return 0 if report["results"] == args.rows and report["state"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
