"""Purging the journal keeps it verifiable; anchors kept outside catch a rewritten chain."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from gateway.storage import AuditJournal, Database
from gateway.storage.chain import GENESIS_HASH, AuditRecord
from tests.storage.test_audit import START, StepClock, _fill

KEY = b"retention-test-key-0123456789abc"


@pytest.fixture
def journal(database: Database) -> AuditJournal:
    return AuditJournal(database, pseudonym_key=KEY, clock=StepClock())


def _sql(database: Database, statement: str, **values: object) -> None:
    with database.transaction() as conn:
        conn.execute(text(statement), values)


def test_a_purge_leaves_a_record_vouching_for_what_it_deleted(journal: AuditJournal) -> None:
    records = _fill(journal, 6)  # times: START + 0..5 minutes
    exported = io.StringIO()
    journal.export(exported, until=START + timedelta(minutes=4), fmt="jsonl")

    purge = journal.purge(START + timedelta(minutes=4))

    assert purge is not None
    assert (purge.operation, purge.count, purge.ref_seq) == ("audit-purge", 4, 4)
    last_exported = json.loads(exported.getvalue().splitlines()[-1])
    assert purge.ref_hash == records[3].hash == last_exported["hash"]
    assert [r.seq for r in journal.search()] == [5, 6, 7]
    report = journal.verify()
    assert (report.ok, report.checked) == (True, 7), report
    assert journal.purge(START) is None  # nothing older: nothing deleted, no record


def test_records_cut_from_the_start_without_a_purge_record_are_reported(
    journal: AuditJournal, database: Database
) -> None:
    _fill(journal, 6)
    journal.purge(START + timedelta(minutes=2))
    _sql(database, "DELETE FROM audit_records WHERE seq = 3")  # one more, by hand

    report = journal.verify()

    assert (report.ok, report.first_broken_seq) == (False, 1)
    assert "no purge record vouches" in (report.reason or "")


def test_an_anchor_catches_a_cut_tail_with_a_moved_head(
    journal: AuditJournal, database: Database
) -> None:
    records = _fill(journal, 6)
    anchor = journal.head()
    assert anchor == (6, records[-1].hash)
    assert journal.verify(expect=(4, records[3].hash)).ok

    _sql(database, "DELETE FROM audit_records WHERE seq > 4")
    _sql(database, "UPDATE audit_head SET last_seq = 4, last_hash = :h", h=records[3].hash)

    assert journal.verify().ok  # the chain alone cannot tell
    report = journal.verify(expect=anchor)
    assert (report.ok, report.first_broken_seq) == (False, 6)
    assert "not in the journal" in (report.reason or "")


def test_an_anchor_catches_an_emptied_journal_and_a_rewritten_record(
    journal: AuditJournal, database: Database
) -> None:
    records = _fill(journal, 3)
    _sql(database, "UPDATE audit_records SET outcome = 'x' WHERE seq = 2")
    rewritten = journal.verify(expect=(2, records[1].hash))
    assert rewritten.ok is False

    _sql(database, "DELETE FROM audit_records")
    _sql(database, "UPDATE audit_head SET last_seq = 0, last_hash = :h", h=GENESIS_HASH)
    assert journal.verify().ok
    emptied = journal.verify(expect=(3, records[2].hash))
    assert (emptied.ok, emptied.first_broken_seq) == (False, 3)


def test_fields_added_later_leave_older_hashes_unchanged() -> None:
    """The rule of records written before migration 0004: no client/count/ref_* keys."""
    fields: dict[str, object] = {
        "seq": 1, "time": "2025-03-01T08:00:00.000000Z", "request_id": "r", "message_id": None,
        "app": None, "user_id": None, "operation": "search", "cert_mode": None,
        "outcome": "00", "latency_ms": None, "matricule_hashes": [],
    }  # fmt: skip
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    old_rule = hashlib.sha256((GENESIS_HASH + canonical).encode()).hexdigest()
    record = AuditRecord(
        **{**fields, "matricule_hashes": ()},
        prev_hash=GENESIS_HASH,
        hash="",  # type: ignore[arg-type]
    )

    assert record.computed_hash() == old_rule
    assert dataclasses.replace(record, count=3).computed_hash() != old_rule
