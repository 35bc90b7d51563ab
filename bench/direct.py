"""Bench helper: the "direct" baseline, a minimal client of the mock teleservice, no gateway.

It sends exactly what the gateway sends for ``POST /v1/ins/search`` of
ADRTROIS DOMINIQUE F 1997-02-26 2A020: the gateway's own code builds the
request (``search_query``, ``traits_search_body``, ``build_headers``,
``build_assertion`` + ``VihfSigner`` + ``security_header``, zeep's
``InsiClient.envelope``), the gateway's ``MutualTlsTransport`` (a pooled
``requests`` session with the dev INSI-MANU certificate) posts it, and
``InsiClient.parse`` reads the answer. What it leaves out is what the gateway
adds: the HTTP hop, JSON, API-key check, quotas, resilience wrapper, audit
journal, logs and metrics.

Each of ``--concurrency`` threads loops until ``--requests`` calls in all or
``--seconds`` have passed (whichever first). One JSON object on stdout, with the
process's CPU seconds over the measured loop (``measured_cpu_s``: start-up and warm-up
excluded), the floor the gateway's CPU per request is compared with.

Run: ``.venv/bin/python bench/direct.py --pki DIR --url https://127.0.0.1:P/lps -c 16``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.ids import new_message_id  # noqa: E402
from gateway.ins.queries import search_query  # noqa: E402
from gateway.ins.strategy import FirstNameStrategy, attempts  # noqa: E402
from gateway.models import (  # noqa: E402
    CallContext,
    CertificateMode,
    Operation,
    ResultCode,
    SoftwareIdentity,
)
from gateway.pki.credentials import load_credential  # noqa: E402
from gateway.pki.devpki import generate_dev_pki  # noqa: E402
from gateway.protocol.bodies import traits_search_body  # noqa: E402
from gateway.protocol.headers import build_headers  # noqa: E402
from gateway.protocol.signing import VihfSigner, security_header  # noqa: E402
from gateway.protocol.vihf import build_assertion  # noqa: E402
from gateway.transport.transports import MutualTlsTransport  # noqa: E402
from gateway.upstream.client import InsiClient  # noqa: E402

PATIENT = {
    "birth_name": "ADRTROIS",
    "first_names": ["DOMINIQUE"],
    "sex": "F",
    "birth_date": "1997-02-26",
    "birth_place": "2A020",
}
IDAM = "INSI-GW-DEV-IDAM"


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * q / 100))]


class DirectClient:
    def __init__(self, pki_dir: Path, url: str, pool: int) -> None:
        pki = generate_dev_pki(pki_dir)
        credential = load_credential(pki.insi_manu.p12, pki.passphrase, setting="INSI_CERT_MANU")
        self.signer = VihfSigner(credential)
        self.structure_id = credential.organizational_unit or ""
        self.software = SoftwareIdentity(
            idam=IDAM, name="insi-gateway", version="0.1.0", instance="insi-gateway-1"
        )
        transport = MutualTlsTransport(
            credential,
            ca_bundle=pki.ca_bundle,
            connect_timeout=3.05,
            read_timeout=15,
            max_response_bytes=1_048_576,
            pool_size=pool,
        )
        self.client = InsiClient(
            endpoint=url,
            transports={CertificateMode.MANU: transport},
            max_response_bytes=1_048_576,
        )

    def call(self) -> ResultCode:
        query = search_query(PATIENT)
        first = attempts(query.first_names, FirstNameStrategy.PROGRESSIVE)[0]
        context = CallContext(
            request_id="bench", message_id=new_message_id(), user_id=None, app="bench"
        )
        now = datetime.now(UTC)
        headers = build_headers(
            Operation.SEARCH_TRAITS, context, self.software, emitter=self.structure_id, now=now
        )
        assertion = build_assertion(
            issuer=self.signer.issuer, structure_id=self.structure_id, context=context, now=now
        )
        headers.insert(0, security_header(self.signer.sign(assertion)))
        envelope = self.client.envelope(
            Operation.SEARCH_TRAITS, traits_search_body(query, first), headers
        )
        response = self.client.send(Operation.SEARCH_TRAITS, envelope, mode=CertificateMode.MANU)
        return self.client.parse(response).code


def run(client: DirectClient, *, concurrency: int, requests: int, seconds: float) -> dict[str, Any]:
    lock = threading.Lock()
    issued = 0
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        nonlocal issued
        mine = latencies[index]
        while time.monotonic() < deadline:
            with lock:
                if issued >= requests:
                    return
                issued += 1
            started = time.perf_counter()
            try:
                code = client.call()
                failed = None if code is ResultCode.FOUND else f"code-{code.value}"
            except Exception as error:  # counted, never fatal: the run stays bounded
                failed = type(error).__name__
            mine.append((time.perf_counter() - started) * 1000)
            if failed:
                with lock:
                    errors[failed] = errors.get(failed, 0) + 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    elapsed = time.perf_counter() - started
    merged = sorted(x for part in latencies for x in part)
    return {
        "concurrency": concurrency,
        "requests": len(merged),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": elapsed,
        "rps": len(merged) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(merged, 50),
        "p90_ms": percentile(merged, 90),
        "p99_ms": percentile(merged, 99),
        "max_ms": merged[-1] if merged else float("nan"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pki", type=Path, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100_000, help="upper bound, in all")
    parser.add_argument("--seconds", type=float, default=10.0, help="upper bound")
    parser.add_argument("--warmup", type=int, default=50, help="calls before measuring")
    args = parser.parse_args(argv)
    client = DirectClient(args.pki, args.url, pool=max(args.concurrency, 1))
    if args.warmup:
        run(client, concurrency=args.concurrency, requests=args.warmup, seconds=30)
    cpu_before = time.process_time()  # the whole process, every thread
    result = run(client, concurrency=args.concurrency, requests=args.requests, seconds=args.seconds)
    result["measured_cpu_s"] = time.process_time() - cpu_before
    print(json.dumps(result))


if __name__ == "__main__":
    main()
