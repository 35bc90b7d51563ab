"""Group commit of audit records: many threads, one chain, failures reach every caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from sqlalchemy import select, text

from gateway.exceptions import JournalWriteFailed
from gateway.storage.audit import AuditEntry, AuditJournal, AuditRecord
from gateway.storage.database import Database
from gateway.storage.group_commit import GroupCommitJournal
from gateway.storage.schema import audit_head
from testbed.waiting import wait_until

KEY = b"group-commit-test-key"


def _entry(index: int) -> AuditEntry:
    return AuditEntry(
        request_id=f"r-{index}", operation="search", outcome="00", matricules=("297022A020778",)
    )


def test_concurrent_appends_form_one_intact_chain(database: Database) -> None:
    journal = AuditJournal(database, pseudonym_key=KEY)
    front = GroupCommitJournal(journal)
    seqs: list[int] = []
    lock = threading.Lock()

    def write(start: int) -> None:
        for index in range(start, start + 50):
            record = front.append(_entry(index))
            with lock:
                seqs.append(record.seq)

    threads = [threading.Thread(target=write, args=(n * 50,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(seqs) == list(range(1, 401))
    report = journal.verify()
    assert (report.ok, report.checked) == (True, 400)
    assert {r.request_id for r in journal.search(limit=1000)} == {f"r-{i}" for i in range(400)}


class _HeldJournal(AuditJournal):
    """Holds its first commit until released, so the next appends queue into one batch."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, pseudonym_key=KEY)
        self.release = threading.Event()
        self.batches: list[int] = []

    def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        self.batches.append(len(entries))
        self.release.wait(30)
        return super().append_many(entries)


class _EnteringJournal(AuditJournal):
    """Tells when its writer has entered a commit (which may then wait for the lock)."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, pseudonym_key=KEY)
        self.entered = threading.Event()

    def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        self.entered.set()
        return super().append_many(entries)


def test_a_failed_commit_fails_every_caller(database: Database) -> None:
    """Every caller of the failed batch gets the error (before: one caller, one batch)."""
    journal = _HeldJournal(database)
    front = GroupCommitJournal(journal)
    with database.transaction() as conn:
        conn.execute(text("DROP TABLE audit_records"))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        try:
            front.append(_entry(index))
        except BaseException as error:
            with lock:
                errors.append(error)

    callers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    callers[0].start()
    wait_until(lambda: journal.batches, 10, "the writer holding the first caller's batch")
    for caller in callers[1:]:  # ...while seven more queue behind it
        caller.start()
    wait_until(lambda: front._queue.qsize() == 7, 10, "seven appends queued behind it")
    journal.release.set()
    for caller in callers:
        caller.join(30)

    assert not [c for c in callers if c.is_alive()]
    assert len(errors) == 8
    assert all(isinstance(error, JournalWriteFailed) for error in errors)
    assert journal.batches[0] == 1
    assert sum(journal.batches) == 8
    assert max(journal.batches[1:]) > 1  # a shared batch failed, for each of its callers


def test_a_record_its_caller_gave_up_on_is_never_written(
    database: Database, database_url: str
) -> None:
    """While another replica holds the journal's write lock: the record already in a
    commit waits for it and is written; the one still queued is withdrawn when its
    caller stops waiting, and is not written once the lock is free; a full queue
    refuses at once."""
    journal = _EnteringJournal(database)
    front = GroupCommitJournal(journal, wait_seconds=0.5, max_queue=1)
    replica = Database(database_url)
    in_flight: list[object] = []

    def append_first() -> None:
        try:
            in_flight.append(front.append(_entry(1)))
        except JournalWriteFailed as error:
            in_flight.append(error)

    first = threading.Thread(target=append_first)
    try:
        with replica.transaction() as conn:
            conn.execute(select(audit_head).with_for_update())  # SQLite: BEGIN IMMEDIATE
            first.start()
            wait_until(  # the writer takes record 1 and waits for the lock
                journal.entered.is_set, 10, "the writer committing record 1"
            )
            with pytest.raises(JournalWriteFailed, match="not written in time"):
                front.append(_entry(2))
            with pytest.raises(JournalWriteFailed, match="queue full"):
                front.append(_entry(3))  # the withdrawn record 2 still holds the one slot
        first.join(60)
    finally:
        replica.close()

    assert [getattr(r, "seq", r) for r in in_flight] == [1]
    assert front.append(_entry(4)).seq == 2
    assert [r.request_id for r in journal.search()] == ["r-1", "r-4"]
    assert journal.verify().ok


def test_a_submitted_record_is_written_in_queue_order_without_waiting(
    database: Database,
) -> None:
    """An outcome is queued behind its intent, the caller goes on at once, flush writes it."""
    journal = _HeldJournal(database)
    front = GroupCommitJournal(journal)
    holder = threading.Thread(target=front.append, args=(_entry(1),))
    holder.start()
    # the writer is now held inside the commit of record 1
    wait_until(lambda: journal.batches, 10, "the writer inside the commit of record 1")

    started = time.monotonic()
    front.submit(_entry(2))
    front.submit(_entry(3))
    assert time.monotonic() - started < 0.5  # not blocked behind the held commit
    assert journal.search() == []

    journal.release.set()
    assert front.flush(timeout=30)
    holder.join(30)
    assert [r.request_id for r in journal.search()] == ["r-1", "r-2", "r-3"]
    assert journal.verify().ok


def test_a_submitted_record_that_cannot_be_written_is_logged_without_content(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    front = GroupCommitJournal(AuditJournal(database, pseudonym_key=KEY))
    with database.transaction() as conn:
        conn.execute(text("DROP TABLE audit_records"))

    with caplog.at_level("ERROR", logger="gateway.audit"):
        front.submit(_entry(7))
        assert front.flush(timeout=30)

    lost = [r for r in caplog.records if r.getMessage().startswith("queued audit record")]
    assert len(lost) == 1
    assert lost[0].fields == {"request_id": "r-7"}  # type: ignore[attr-defined]
    assert "297022A020778" not in caplog.text


def test_flush_with_nothing_queued_returns_at_once(database: Database) -> None:
    front = GroupCommitJournal(AuditJournal(database, pseudonym_key=KEY))
    assert front.flush(timeout=1)
    front.append(_entry(1))
    assert front.flush(timeout=5)


def _writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "audit-writer" and t.is_alive()]


def test_close_writes_what_is_queued_then_ends_its_writer(database: Database) -> None:
    journal = AuditJournal(database, pseudonym_key=KEY)
    front = GroupCommitJournal(journal)
    before = len(_writers())
    for index in range(20):
        front.submit(_entry(index))  # nobody waits for these
    assert len(_writers()) == before + 1

    assert front.close(timeout=30)

    assert front.closed
    assert len(_writers()) == before  # the worker's writer thread ended
    assert [r.request_id for r in journal.search(limit=100)] == [f"r-{i}" for i in range(20)]
    with pytest.raises(JournalWriteFailed):
        front.submit(_entry(99))  # no new writer after close: refused, not lost silently
    assert front.close(timeout=1)  # a second close (at exit, after the worker's) is a no-op
