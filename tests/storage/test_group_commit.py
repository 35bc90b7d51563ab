"""Group commit of audit records: many threads, one chain, failures reach every caller."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from gateway.exceptions import JournalWriteFailed
from gateway.storage.audit import AuditEntry, AuditJournal
from gateway.storage.database import Database
from gateway.storage.group_commit import GroupCommitJournal

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


def test_a_failed_commit_fails_every_caller(database: Database) -> None:
    front = GroupCommitJournal(AuditJournal(database, pseudonym_key=KEY))
    with database.transaction() as conn:
        conn.execute(text("DROP TABLE audit_records"))

    with pytest.raises(JournalWriteFailed):
        front.append(_entry(1))
