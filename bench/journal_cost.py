"""The cost of the write-ahead journal: CPU per call and commits per call, in one process.

Runs the journal the way a gateway worker does (``GroupCommitJournal`` in
front of ``AuditJournal``, a SQLite file in WAL with ``synchronous=FULL``, or
``--database-url``), with ``--threads`` request threads each journaling
``--calls`` calls, twice:

- ``one-record``: one record per call, written after the answer (the old scheme);
- ``write-ahead``: an intent record committed before the call and an outcome
  record queued after it, chained to the intent (the current scheme); the
  measured time ends once the queue is flushed, so queued records are counted.

Prints, per scheme: process CPU microseconds per call (all threads, the
writer included), commits per call (how well group commit batches), and wall
time. The difference between the two CPU figures is the extra CPU per call.

    .venv/bin/python bench/journal_cost.py [--threads 16] [--calls 500] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.audit.trail import Trail
from gateway.models import CallContext, CertificateMode, Operation
from gateway.storage.audit import AuditJournal
from gateway.storage.database import Database, default_sqlite_url
from gateway.storage.group_commit import GroupCommitJournal

MATRICULE = "297022A020778"


class CountingJournal(AuditJournal):
    """Counts the transactions (commits) the writer makes."""

    commits = 0

    def append_many(self, entries):  # type: ignore[no-untyped-def]
        CountingJournal.commits += 1
        return super().append_many(entries)


def run(url: str, scheme: str, threads: int, calls: int) -> dict[str, float]:
    database = Database(url)
    database.migrate()
    journal = CountingJournal(database, pseudonym_key=b"bench-journal-key-0123456789")
    front = GroupCommitJournal(journal)
    trail = Trail(front)
    CountingJournal.commits = 0

    def worker(index: int) -> None:
        for n in range(calls):
            context = CallContext(f"r-{index}-{n}", f"uuid:{index}-{n}", CertificateMode.MANU)
            if scheme == "write-ahead":
                intent = trail.intent(context, Operation.SEARCH_TRAITS, matricules=())
                trail.upstream_call(
                    context, Operation.SEARCH_TRAITS, seconds=0.01, outcome="00",
                    matricules=(MATRICULE,), intent=intent,
                )  # fmt: skip
            else:
                journal_one(trail, context)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    cpu, wall = time.process_time(), time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert front.flush(timeout=60), "the journal's queue did not drain"
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    total = threads * calls
    report = journal.verify()
    assert report.ok, report
    database.close()
    return {
        "cpu_us_per_call": round(cpu / total * 1e6, 1),
        "commits_per_call": round(CountingJournal.commits / total, 3),
        "wall_s": round(wall, 2),
        "records": report.checked,
    }


def journal_one(trail: Trail, context: CallContext) -> None:
    """The old scheme: the one record of a call, after its answer."""
    from gateway.storage.audit import AuditEntry

    trail._journal.append(
        AuditEntry(
            request_id=context.request_id, message_id=context.message_id,
            operation=Operation.SEARCH_TRAITS.value, outcome="00", latency_ms=10.0,
            matricules=(MATRICULE,),
        )
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--calls", type=int, default=500, help="per thread")
    parser.add_argument("--database-url", help="default: a fresh SQLite file per scheme")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scheme in ("one-record", "write-ahead"):
            url = args.database_url or default_sqlite_url(Path(tmp) / f"{scheme}.db")
            results[scheme] = run(url, scheme, args.threads, args.calls)
    extra = results["write-ahead"]["cpu_us_per_call"] - results["one-record"]["cpu_us_per_call"]
    results["extra_cpu_us_per_call"] = round(extra, 1)  # type: ignore[assignment]
    print(json.dumps({"threads": args.threads, "calls_per_thread": args.calls, **results}))


if __name__ == "__main__":
    main()
