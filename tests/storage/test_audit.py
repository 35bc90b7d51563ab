"""The audit journal: an intact chain, tampering named, matricules only as pseudonyms."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, text

from gateway.exceptions import ConfigurationError, InvalidInput, JournalWriteFailed, StorageError
from gateway.storage import AuditEntry, AuditJournal, AuditRecord, Database
from gateway.storage.chain import GENESIS_HASH
from gateway.storage.schema import audit_records

KEY = b"pseudonym-key-for-tests-only-32b"
MATRICULES = ("297022A020778", "180032B012345")
START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


class StepClock:
    """One minute later at each call: records get distinct, known times."""

    def __init__(self) -> None:
        self._times: Iterator[datetime] = (START + timedelta(minutes=i) for i in range(10**6))

    def __call__(self) -> datetime:
        return next(self._times)


@pytest.fixture
def journal(database: Database) -> AuditJournal:
    return AuditJournal(database, pseudonym_key=KEY, clock=StepClock())


def _entry(n: int, **changes: object) -> AuditEntry:
    fields: dict[str, object] = {
        "request_id": f"req-{n}",
        "message_id": f"uuid:{n}",
        "app": "dpi" if n % 2 else "labo",
        "user_id": f"user-{n % 3}",
        "operation": "search",
        "cert_mode": "INSI-MANU",
        "outcome": "found",
        "latency_ms": 10 + n,
        "matricules": (MATRICULES[n % 2],),
    }
    fields.update(changes)
    return AuditEntry(**fields)  # type: ignore[arg-type]


def _fill(journal: AuditJournal, count: int) -> list[AuditRecord]:
    return [journal.append(_entry(n)) for n in range(1, count + 1)]


def _sql(database: Database, statement: str, **params: object) -> None:
    """Tamper with the tables directly, as someone with database access could."""
    with database.transaction() as conn:
        conn.execute(text(statement), params)


def test_appends_form_an_intact_chain(journal: AuditJournal) -> None:
    records = _fill(journal, 6)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert records[2].time == "2025-03-01T08:02:00.000000Z"
    assert records[2].latency_ms == 13.0
    report = journal.verify()
    assert (report.ok, report.checked, report.first_broken_seq) == (True, 6, None)
    assert report.last_hash == records[-1].hash


def test_an_empty_journal_verifies(journal: AuditJournal) -> None:
    assert journal.verify().ok
    assert journal.verify().checked == 0


def test_verify_names_the_edited_record(journal: AuditJournal, database: Database) -> None:
    _fill(journal, 6)
    _sql(database, "UPDATE audit_records SET outcome = 'not_found' WHERE seq = 3")
    report = journal.verify()
    assert (report.ok, report.first_broken_seq, report.checked) == (False, 3, 2)
    assert report.reason is not None
    assert "edited" in report.reason


def test_a_rehashed_edit_breaks_the_next_link(journal: AuditJournal, database: Database) -> None:
    records = _fill(journal, 6)
    _sql(database, "UPDATE audit_records SET hash = :h WHERE seq = 3", h="f" * 64)
    report = journal.verify()
    assert report.first_broken_seq == 3  # its own content no longer matches
    _sql(database, "UPDATE audit_records SET hash = :h WHERE seq = 3", h=records[2].hash)
    _sql(database, "UPDATE audit_records SET prev_hash = :h WHERE seq = 4", h="e" * 64)
    report = journal.verify()
    assert report.first_broken_seq == 4
    assert report.reason == "prev_hash does not match the hash of record 3"


@pytest.mark.parametrize(("deleted", "broken"), [(1, 1), (4, 4), (6, 6)])
def test_a_deleted_record_is_detected(
    journal: AuditJournal, database: Database, deleted: int, broken: int
) -> None:
    _fill(journal, 6)
    _sql(database, "DELETE FROM audit_records WHERE seq = :seq", seq=deleted)
    report = journal.verify()
    assert (report.ok, report.first_broken_seq) == (False, broken)


def test_a_record_written_outside_the_gateway_is_detected(
    journal: AuditJournal, database: Database
) -> None:
    """Even one that follows the hash rule: it is not where the head points."""
    last = _fill(journal, 6)[-1]
    forged = dataclasses.replace(
        last, seq=7, request_id="forged", matricule_hashes=(), prev_hash=last.hash
    ).with_hash()
    values = {**dataclasses.asdict(forged), "matricule_hashes": ""}
    with database.transaction() as conn:
        conn.execute(insert(audit_records).values(**values))
    report = journal.verify()
    assert (report.ok, report.first_broken_seq) == (False, 7)
    assert report.reason == "the head points at record 6, not at the last record 7"


def test_matricules_are_never_stored_in_clear(journal: AuditJournal, database: Database) -> None:
    _fill(journal, 4)
    journal.append(_entry(5, matricules=("2 97 02 2a 020 778",)))
    with database.read() as conn:
        rows = conn.execute(text("SELECT * FROM audit_records")).all()
        dump = " ".join(str(value) for row in rows for value in row)
    for matricule in MATRICULES:
        assert matricule not in dump
        assert matricule.lower() not in dump
        assert journal.pseudonym(matricule) in dump
    assert "matricules" not in repr(_entry(1))
    assert MATRICULES[1] not in repr(_entry(1))


def test_pseudonyms_depend_on_the_key(database: Database) -> None:
    other = AuditJournal(database, pseudonym_key=b"another key")
    mine = AuditJournal(database, pseudonym_key=KEY)
    assert mine.pseudonym(MATRICULES[0]) != other.pseudonym(MATRICULES[0])
    assert mine.pseudonym(MATRICULES[0]) == mine.pseudonym(" 297022a020778 ")
    with pytest.raises(ConfigurationError):
        AuditJournal(database, pseudonym_key=b"")


def test_search_by_matricule_finds_its_records(journal: AuditJournal) -> None:
    _fill(journal, 6)
    journal.append(_entry(7, matricules=MATRICULES))  # a Vitale search: two matricules
    found = journal.search(matricule="2 97 02 2A 020 778")
    assert [r.seq for r in found] == [2, 4, 6, 7]
    assert [r.seq for r in journal.search(matricule=MATRICULES[1])] == [1, 3, 5, 7]
    assert journal.search(matricule="299999999999999") == []


def test_search_filters_combine(journal: AuditJournal) -> None:
    _fill(journal, 9)
    assert [r.seq for r in journal.search(app="dpi")] == [1, 3, 5, 7, 9]
    assert [r.seq for r in journal.search(app="dpi", user_id="user-0")] == [3, 9]
    since, until = START + timedelta(minutes=2), START + timedelta(minutes=5)
    assert [r.seq for r in journal.search(since=since, until=until)] == [3, 4, 5]
    assert [r.seq for r in journal.search(limit=2)] == [1, 2]
    with pytest.raises(InvalidInput):
        journal.search(limit=0)
    with pytest.raises(InvalidInput):
        journal.search(since=datetime(2025, 3, 1))


def test_export_csv_and_jsonl(journal: AuditJournal) -> None:
    _fill(journal, 5)
    csv_out, jsonl_out = io.StringIO(), io.StringIO()
    assert journal.export(csv_out, fmt="csv") == 5
    assert journal.export(jsonl_out, fmt="jsonl") == 5
    csv_lines = csv_out.getvalue().splitlines()
    assert len(csv_lines) == 6
    assert csv_lines[0].startswith("seq,time,request_id,")
    lines = jsonl_out.getvalue().splitlines()
    assert len(lines) == 5
    # An export can be re-verified offline with the same rule.
    for line in lines:
        fields = json.loads(line)
        record = AuditRecord(**{**fields, "matricule_hashes": tuple(fields["matricule_hashes"])})
        assert record.computed_hash() == record.hash
    since = START + timedelta(minutes=3)
    assert journal.export(io.StringIO(), since=since, fmt="jsonl") == 2
    with pytest.raises(InvalidInput):
        journal.export(io.StringIO(), fmt="xml")  # type: ignore[arg-type]


def test_a_failed_write_raises_journal_write_failed(
    journal: AuditJournal, database: Database
) -> None:
    _fill(journal, 2)
    _sql(database, "DELETE FROM audit_head")
    with pytest.raises(JournalWriteFailed) as caught:
        journal.append(_entry(3))
    assert isinstance(caught.value, StorageError)
    with database.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_records")).scalar() == 2


def test_an_unreachable_database_fails_the_append() -> None:
    journal = AuditJournal(
        Database("postgresql+psycopg://postgres@127.0.0.1:1/test"), pseudonym_key=KEY
    )
    with pytest.raises(JournalWriteFailed, match="audit record not written"):
        journal.append(_entry(1))


def test_concurrent_appends_keep_one_chain(database: Database, database_url: str) -> None:
    """8 writers x 50 records, half through a second engine (another replica)."""
    replica = Database(database_url)
    journals = [AuditJournal(database, pseudonym_key=KEY), AuditJournal(replica, pseudonym_key=KEY)]
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for n in range(50):
                journals[index % 2].append(_entry(n, request_id=f"w{index}-{n}"))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        replica.close()
    assert errors == []
    report = journals[0].verify()
    assert (report.ok, report.checked) == (True, 400), report
    assert len({r.request_id for r in journals[0].search(limit=1000)}) == 400


def test_a_batch_is_stored_value_for_value_as_it_was_hashed(journal: AuditJournal) -> None:
    """Every type survives the append path (one JSON parameter on SQLite): integers, reals,
    text outside ASCII, nulls; what comes back is what was hashed, field by field."""
    entries = [
        _entry(1, latency_ms=0.1 + 0.2, user_id="infirmière.élodie", client=None),
        _entry(2, latency_ms=None, message_id=None, app=None, matricules=()),
        _entry(3, outcome="unknown", count=12, ref_seq=1, ref_hash="f" * 64, client="10.0.0.7"),
        _entry(4, latency_ms=123456.789, matricules=MATRICULES),
    ]
    written = journal.append_many(entries)

    assert journal.search() == written
    assert [r.seq for r in written] == [1, 2, 3, 4]
    assert written[0].latency_ms == 0.3  # rounded to the stored 3 decimals, then hashed
    assert written[1].matricule_hashes == ()
    assert (written[2].count, written[2].ref_seq) == (12, 1)
    assert journal.verify().ok


def test_without_sqlite_json_functions_the_batch_is_bound_column_by_column(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.38 has no built-in json_each: the same records, the plain INSERT."""
    from gateway.storage import append_sql

    monkeypatch.setattr(append_sql, "_SQLITE_HAS_JSON", False)
    journal = AuditJournal(database, pseudonym_key=KEY, clock=StepClock())
    assert "json_each" not in journal._sql.insert_records
    written = journal.append_many([_entry(1), _entry(2, latency_ms=None, matricules=())])
    assert journal.search() == written
    assert journal.verify().ok
