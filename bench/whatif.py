"""Bench only: ``insi-gateway serve`` with proposed fixes applied as patches, to measure them.

Nothing here changes the gateway's code or the numbers of the targets: the
report shows these runs apart, as the expected effect of each proposed fix
(the fix itself is for the gateway's owners to make properly, with tests).
Patches are applied in the gunicorn master before it forks, so the worker's
``create_app`` builds the runtime with them.

- ``audit-lock``: ``AuditJournal.append`` serialised by one ``threading.Lock`` per process,
  so threads queue in Python instead of polling SQLite's write lock
  (``busy_timeout`` sleeps 1..100 ms between tries) while holding nothing;
- ``audit-batch``: ``AuditJournal.append`` hands its entry to one writer thread per process,
  which appends whatever is queued (up to 256) in one transaction: one head read, one
  ``executemany`` insert, one head update, one commit (fsync); the caller still waits
  for its record to be committed (or for the error), as today;
- ``app-cache``: ``AppRegistry.authenticate`` answers from a 5-second in-process cache
  (by key digest), instead of one SQLite read and one SQLAlchemy compile per request;
- ``template-signer``: ``bench/proto_signer.TemplateVihfSigner`` instead of ``VihfSigner``;
- ``pool``: the upstream connection pool sized to ``INSI_MAX_CONCURRENT`` (it is 16:
  beyond 16 calls in flight, urllib3 opens and then discards connections, a new TLS
  handshake each time).

Run: ``.venv/bin/python bench/whatif.py --patch audit-lock,app-cache -- serve --bind ...``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PATCHES = ("audit-lock", "audit-batch", "app-cache", "template-signer", "pool")


def audit_lock() -> None:
    from gateway.storage.audit import AuditJournal

    original = AuditJournal.append
    lock = threading.Lock()

    def append(self: Any, entry: Any) -> Any:
        with lock:
            return original(self, entry)

    AuditJournal.append = append  # type: ignore[method-assign]


def audit_batch(max_batch: int = 256) -> None:
    import queue
    from concurrent.futures import Future
    from dataclasses import asdict

    from sqlalchemy import insert, select, update

    from gateway.exceptions import JournalWriteFailed
    from gateway.storage.audit import AuditJournal
    from gateway.storage.schema import audit_head, audit_records

    pending: queue.SimpleQueue[tuple[Any, Any, Future[Any]]] = queue.SimpleQueue()
    started = threading.Lock()
    writer: list[threading.Thread] = []

    def write(batch: list[tuple[Any, Any, Future[Any]]]) -> None:
        journal = batch[0][0]
        try:
            with journal._db.transaction() as conn:
                head = conn.execute(
                    select(audit_head).where(audit_head.c.id == 1).with_for_update()
                ).one()
                seq, prev, rows, records = head.last_seq, head.last_hash, [], []
                for _journal, entry, _future in batch:
                    seq += 1
                    record = journal._record(entry, seq=seq, prev_hash=prev)
                    values = asdict(record)
                    values["matricule_hashes"] = " ".join(record.matricule_hashes)
                    rows.append(values)
                    records.append(record)
                    prev = record.hash
                conn.execute(insert(audit_records), rows)
                conn.execute(
                    update(audit_head)
                    .where(audit_head.c.id == 1)
                    .values(last_seq=seq, last_hash=prev)
                )
        except Exception as error:
            for _journal, _entry, future in batch:
                future.set_exception(JournalWriteFailed(f"audit record not written: {error}"))
            return
        for (_journal, _entry, future), record in zip(batch, records, strict=True):
            future.set_result(record)

    def run() -> None:
        while True:
            batch = [pending.get()]
            while len(batch) < max_batch:
                try:
                    item = pending.get_nowait()
                except queue.Empty:
                    break
                if item[0] is not batch[0][0]:  # one journal per batch
                    write(batch)
                    batch = []
                batch.append(item)
            write(batch)

    def append(self: Any, entry: Any) -> Any:
        with started:
            if not writer:  # started lazily in the worker (threads do not survive fork)
                writer.append(threading.Thread(target=run, name="audit-writer", daemon=True))
                writer[0].start()
        future: Future[Any] = Future()
        pending.put((self, entry, future))
        return future.result(timeout=30)

    AuditJournal.append = append  # type: ignore[method-assign]


def app_cache(ttl: float = 5.0) -> None:
    from gateway.storage.apps import AppRegistry

    original = AppRegistry.authenticate
    cache: dict[str, tuple[float, Any]] = {}
    lock = threading.Lock()

    def authenticate(self: Any, key: str) -> Any:
        now = time.monotonic()
        with lock:
            hit = cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        app = original(self, key)
        with lock:
            if len(cache) > 1000:
                cache.clear()
            cache[key] = (now + ttl, app)
        return app

    AppRegistry.authenticate = authenticate  # type: ignore[method-assign]


def template_signer() -> None:
    from proto_signer import TemplateVihfSigner

    import gateway.app

    gateway.app.VihfSigner = TemplateVihfSigner  # type: ignore[assignment,misc]


def pool() -> None:
    import gateway.app
    from gateway.transport.transports import MutualTlsTransport

    class SizedPool(MutualTlsTransport):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("pool_size", 256)
            super().__init__(*args, **kwargs)

    gateway.app.MutualTlsTransport = SizedPool  # type: ignore[misc]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patch", default="", help=f"comma-separated: {', '.join(PATCHES)}")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="-- then insi-gateway arguments")
    args = parser.parse_args()
    for name in filter(None, args.patch.split(",")):
        if name not in PATCHES:
            parser.error(f"unknown patch {name!r}")
        globals()[name.replace("-", "_")]()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    from gateway.cli import main as cli_main

    return cli_main(rest)


if __name__ == "__main__":
    sys.exit(main())
