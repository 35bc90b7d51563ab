"""Scenario: what the write-ahead journal costs per call (``bench/journal_cost.py``).

One process, the gateway's own ``Trail`` + ``GroupCommitJournal`` + ``AuditJournal``,
``--journal-threads`` request threads; each call journaled the old way (one record after
the answer) and the write-ahead way (an intent committed before the call, its outcome
queued after it), on SQLite and on PostgreSQL (a private schema).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.cpu import run_bounded
from harness.paths import BENCH, PYTHON
from harness.postgres import DEFAULT_URL, fresh_schema
from harness.schema import Page, Section, f
from harness.servers import Harness, log, record

NAME = "journal"
TITLE = "Write-ahead journal: CPU per call"
SCHEMES = (("one-record", "one record after the answer"),
           ("write-ahead", "intent + outcome (write-ahead)"))  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal-threads", type=int, default=16)
    parser.add_argument("--journal-calls", type=int, default=300, help="per thread")
    parser.add_argument("--journal-postgres", default=DEFAULT_URL)


def _measure(h: Harness, database_url: str | None) -> dict[str, Any]:
    a = h.args
    argv = [PYTHON, str(BENCH / "journal_cost.py"), "--threads", str(a.journal_threads)]
    argv += ["--calls", str(a.journal_calls)]
    if database_url:
        argv += ["--database-url", database_url]
    record([*argv[:-1], "<fresh PostgreSQL schema>"] if database_url else argv)
    stdout, _ = run_bounded(argv, timeout=600)
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def run(h: Harness) -> dict[str, Any]:
    log("scenario journal: CPU per call, one record vs write-ahead")
    data: dict[str, Any] = {"threads": h.args.journal_threads, "calls": h.args.journal_calls}
    data["sqlite"] = _measure(h, None)
    with fresh_schema(h.args.journal_postgres) as url:
        data["postgresql"] = _measure(h, url)
    for backend in ("sqlite", "postgresql"):
        log(f"journal {backend}: +{data[backend]['extra_cpu_us_per_call']} µs per call")
    return data


def render(s: dict[str, Any], page: Page) -> Section:
    section = Section()
    calls = s["threads"] * s["calls"]
    section.add(
        f"`bench/journal_cost.py --threads {s['threads']} --calls {s['calls']}`: one process,",
        f"{s['threads']} request threads, the gateway's own `Trail` + `GroupCommitJournal` +",
        "`AuditJournal`; each call journaled the old way (one record after the answer) and the",
        "write-ahead way (an intent committed before the call, its outcome queued after it, not",
        "waited for). CPU is the whole process's (request threads and the writer thread).",
        "",
        "| database | scheme | CPU per call | commits per call | calls |",
        "| --- | --- | ---: | ---: | ---: |",
    )
    names = {"sqlite": "SQLite (WAL, `synchronous=FULL`)", "postgresql": "PostgreSQL 127.0.0.1"}
    for backend, name in names.items():
        for scheme, label in SCHEMES:
            row = s[backend][scheme]
            section.add(
                f"| {name} | {label} | {f(row['cpu_us_per_call'], 0)} µs | "
                f"{row['commits_per_call']:.3f} | {calls:,} |"
            )
    extra = {b: s[b]["extra_cpu_us_per_call"] / 1000 for b in names}
    zero = page.scenarios.get("zero_latency")
    share = ""
    if zero:
        many = zero["runs"][str(zero["concurrency"])]["gateway"]["gateway_cpu_ms_per_request"]
        share = f", {extra['sqlite'] / many:.0%} of the gateway's CPU per search in this run"
    section.add(
        "",
        f"The write-ahead journal costs **{f(extra['sqlite'], 2)} ms (SQLite) and "
        f"{f(extra['postgresql'], 2)} ms (PostgreSQL) of CPU more per teleservice call**"
        f"{share}: one more record to build, hash and write. Group commit holds: the database",
        "sees one commit per batch of concurrent records, not one per call.",
        "",
    )
    return section
