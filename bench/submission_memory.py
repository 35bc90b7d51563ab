"""A job submission's effect on the gateway worker's memory (VmRSS): peak and after.

Starts a real gateway (gunicorn, 1 worker, plain HTTP on 127.0.0.1, its own
SQLite file, no job runner so nothing is sent upstream), registers an app with
the ``jobs`` operation, then posts ``--mib`` MiB of JSON-lines identities to
``/v1/jobs`` (``--parallel`` at once), sampling the worker's VmRSS every 20 ms.
Prints the RSS before, the peak during, and the RSS after 1 s and after
``--settle`` seconds, in MiB (target of issue 10: +40 MiB at most for one
30 MiB submission, and back down after).

    .venv/bin/python bench/submission_memory.py [--mib 30] [--parallel 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.pki.devpki import generate_dev_pki  # noqa: E402
from testbed.processes import only_worker, rss_bytes  # noqa: E402
from testbed.servers import answers, free_port, launch  # noqa: E402

CLI = [sys.executable, "-m", "gateway.cli"]
MIB = 1024 * 1024


def body(mib: int) -> bytes:
    line = {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F",
            "birth_date": "1997-02-26", "birth_place": "2A020"}  # fmt: skip
    lines, size, n = [], 0, 0
    while size < mib * MIB:
        text = json.dumps({"local_id": f"P{n:09d}", **line}) + "\n"
        lines.append(text)
        size, n = size + len(text), n + 1
    return "".join(lines).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mib", type=int, default=30)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--settle", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pki = generate_dev_pki(Path(tmp) / "pki")
        env = {
            **os.environ,
            "INSI_UPSTREAM_URL": "https://127.0.0.1:9/lps",
            "INSI_UPSTREAM_CA": str(pki.ca_bundle),
            "INSI_CERT_MANU": str(pki.insi_manu.p12),
            "INSI_CERT_MANU_PASSPHRASE": pki.passphrase,
            "INSI_IDAM": "BENCH",
            "GATEWAY_AUDIT_KEY": "bench-submission-audit-key",
            "DATABASE_URL": f"sqlite:///{tmp}/gateway.db",
            "GATEWAY_JOB_WORKERS": "0",
            "GATEWAY_JOB_MAX_ROWS": "1000000",
        }
        added = subprocess.run([*CLI, "apps", "add", "bench", "--operations", "jobs"],
                               env=env, capture_output=True, text=True, check=True)  # fmt: skip
        key = json.loads(added.stdout)["api_key"]
        port = free_port()
        argv = [*CLI, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8"]
        health = f"http://127.0.0.1:{port}/healthz"
        server = launch("gateway", argv, env, Path(tmp), ready=lambda: answers(health))
        try:
            print(json.dumps(measure(server.pid, port, key, body(args.mib), args)))
        finally:
            server.stop(grace=30)


def measure(arbiter: int, port: int, key: str, data: bytes, args: argparse.Namespace) -> dict:
    url = f"http://127.0.0.1:{port}"
    worker = only_worker(arbiter)
    before = rss_bytes(worker)
    peak, stop = [before], threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):  # a sample every 20 ms until stopped
            peak.append(rss_bytes(worker))

    statuses: list[int] = []

    def post() -> None:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
        answer = requests.post(url + "/v1/jobs", data=data, headers=headers, timeout=600)
        statuses.append(answer.status_code)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    posts = [threading.Thread(target=post) for _ in range(args.parallel)]
    for thread in posts:
        thread.start()
    for thread in posts:
        thread.join()
    seconds = time.monotonic() - started
    time.sleep(1.0)  # the measurement: the RSS 1 s after the submission ...
    after_1s = rss_bytes(worker)
    time.sleep(args.settle)  # ... and after --settle seconds
    stop.set()
    sampler.join()
    return {
        "submission_mib": round(len(data) / MIB, 1), "parallel": args.parallel,
        "statuses": statuses, "seconds": round(seconds, 1),
        "rss_before_mib": round(before / MIB, 1), "rss_peak_mib": round(max(peak) / MIB, 1),
        "rss_after_1s_mib": round(after_1s / MIB, 1),
        f"rss_after_{args.settle:g}s_mib": round(rss_bytes(worker) / MIB, 1),
        "peak_increase_mib": round((max(peak) - before) / MIB, 1),
    }  # fmt: skip


if __name__ == "__main__":
    main()
