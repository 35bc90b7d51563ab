"""Scenario: instructions per search under callgrind, the gateway worker vs the direct client.

CPU seconds on this shared 2-core machine move by 10 to 20% from one run to the next,
for the same code (the direct client's own CPU per request did, in back-to-back runs),
so a "no slower" check between two versions of the code cannot rest on them alone.
Callgrind counts the instructions a process executes: the same code gives the same count
within about 1%, whatever else the machine is doing. It counts user-space instructions
only (no kernel time: sockets, TLS records in the kernel; no cache misses), so its ratio
is lower than the CPU ratio of ``zero_latency``; it is the one to compare versions with.

The gateway runs under ``valgrind --tool=callgrind`` (1 worker, followed through the
fork); after a warm-up its worker's counters are zeroed, N sequential searches are sent
(then N ``GET /healthz``: the HTTP front alone) and the counters dumped. The direct
client (``bench/direct.py``) runs twice under callgrind, with few and with N more
requests: the difference per request leaves its start-up out.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from direct import PATIENT
from harness.paths import BENCH, LOOPBACK, PYTHON
from harness.schema import Page, Section, f
from harness.servers import Harness, Server, log, record

from testbed.waiting import wait_until

NAME = "instructions"
TITLE = "Instructions per search (callgrind): gateway vs direct"
WARMUP = 30
_TOTALS = re.compile(rb"^(?:totals|summary): (\d+)", re.MULTILINE)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instructions-requests", type=int, default=200)


def run(h: Harness) -> dict[str, Any]:
    log("scenario instructions: callgrind, gateway worker vs direct client")
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or control is None:
        raise RuntimeError("valgrind is required (Debian package valgrind; bench/run installs it)")
    n = h.args.instructions_requests
    out = h.run_dir / "callgrind"
    out.mkdir(exist_ok=True)
    mock = h.start_mock(0, 1, 8)
    key = h.api_key()
    wrapper = (valgrind, "--tool=callgrind", "--trace-children=yes",
               f"--callgrind-out-file={out}/gateway.%p")  # fmt: skip
    gateway = h.start_gateway(
        mock, "gateway-callgrind", workers=1, wrapper=wrapper, start_timeout=900
    )
    client = _Client(gateway.port, key)
    for _ in range(WARMUP):
        client.search()
    worker = gateway.workers()[0]
    search = _measured(control, worker, out, "searches", [client.search] * n) / n
    front = _measured(control, worker, out, "healthz", [client.health] * n) / n
    h.stop(gateway)
    few, many = _direct(h, valgrind, mock, out, 20), _direct(h, valgrind, mock, out, 20 + n)
    direct = (many - few) / n
    log(f"instructions per search: gateway {search / 1e6:.2f} M, direct {direct / 1e6:.2f} M")
    return {
        "requests": n,
        "gateway_per_search": search,
        "front_per_request": front,
        "direct_per_search": direct,
        "ratio": search / direct,
        "identity_status": client.first_status,
    }


class _Client:
    """Sequential requests on one keep-alive connection, each checked (200, an answer)."""

    def __init__(self, port: int, key: str) -> None:
        self._conn = http.client.HTTPConnection(LOOPBACK, port, timeout=300)
        self._headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        self._body = json.dumps(PATIENT)
        self.first_status: str | None = None

    def search(self) -> None:
        self._conn.request("POST", "/v1/ins/search", self._body, self._headers)
        answer = json.loads(self._read())
        self.first_status = self.first_status or answer["identity_status"]

    def health(self) -> None:
        self._conn.request("GET", "/healthz")
        self._read()

    def _read(self) -> bytes:
        response = self._conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"gateway answered {response.status} under callgrind")
        return body


def _measured(
    control: str, worker: int, out: Path, label: str, requests: list[Callable[[], None]]
) -> int:
    """The worker's instructions over ``requests``: counters zeroed, requests sent, dump."""
    subprocess.run([control, "--zero", str(worker)], check=True, capture_output=True)
    for request in requests:
        request()
    argv = [control, f"--dump={label}", str(worker)]
    record(argv)
    subprocess.run(argv, check=True, capture_output=True)
    dumps: list[Path] = []

    def dumped() -> bool:
        dumps[:] = [p for p in out.glob(f"gateway.{worker}*") if label.encode() in _head(p)]
        return bool(dumps)

    wait_until(dumped, 120, f"callgrind dump {label}", interval=0.5)
    return _total(dumps[0])


def _direct(h: Harness, valgrind: str, mock: Server, out: Path, requests: int) -> int:
    """Instructions of one whole ``bench/direct.py`` run of ``requests`` requests."""
    path = out / f"direct-{requests}"
    argv = [valgrind, "--tool=callgrind", f"--callgrind-out-file={path}", PYTHON,
            str(BENCH / "direct.py"), "--pki", str(h.pki.directory),
            "--url", f"https://{LOOPBACK}:{mock.port}/lps", "--requests", str(requests),
            "--seconds", "100000", "--warmup", "10"]  # fmt: skip
    record(argv)
    subprocess.run(argv, check=True, capture_output=True, timeout=1800)
    return _total(path)


def _head(path: Path) -> bytes:
    """The start of a dump, where callgrind writes what triggered it (``--dump=LABEL``)."""
    with path.open("rb") as dump:
        return dump.read(4096)


def _total(path: Path) -> int:
    found = _TOTALS.search(path.read_bytes())
    if found is None:
        raise RuntimeError(f"no totals in {path}")
    return int(found.group(1))


def render(s: dict[str, Any], page: Page) -> Section:
    section = Section()
    keys = ("gateway_per_search", "front_per_request", "direct_per_search")
    gateway, front, direct = (f(s[key] / 1e6, 2) for key in keys)
    section.add(
        "Instructions (callgrind `Ir`, user space) per request: the same code gives the same",
        "count within about 1% on a busy machine, so this is the figure to compare two",
        "versions of the code with; CPU seconds (section 2) move by 10 to 20% between runs.",
        "Kernel work (sockets, TLS in the kernel) and cache misses are not counted, so the",
        "ratio is lower than section 2's CPU ratio.",
        "",
        "| what | instructions per request |",
        "| --- | ---: |",
        f"| gateway worker, `POST /v1/ins/search` | {gateway} M |",
        f"| of which any request (`GET /healthz` alone) | {front} M |",
        f"| direct client (`bench/direct.py`), one search | {direct} M |",
        f"| gateway / direct | {f(s['ratio'], 2)}x |",
        "",
        f"{s['requests']} sequential requests of each kind after {WARMUP} searches of warm-up,",
        f"mock at 0 ms; the search's answer is `{s['identity_status']}`.",
        "",
    )
    return section
