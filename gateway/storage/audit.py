"""The audit journal: one append-only, hash-chained record per call relayed to the teleservice.

Each record's ``hash`` is ``sha256(prev_hash + canonical JSON of its fields)``,
so editing, inserting or deleting a stored record breaks the chain at that
point and :meth:`AuditJournal.verify` names it. Matricules (the NIR or NIA of
the patient) never reach the database: the caller hands them in clear and
only their keyed pseudonym (HMAC-SHA256) is stored, which still lets an
investigator find every call about one patient.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    delete,
    func,
    literal,
    select,
    text,
)

from gateway.exceptions import ConfigurationError, InvalidInput, JournalWriteFailed
from gateway.storage.append_sql import AppendStatements
from gateway.storage.chain import PURGE_OPERATION, AuditRecord, ChainReport, ChainWalk
from gateway.storage.database import Database
from gateway.storage.schema import audit_head, audit_records

__all__ = ["AuditEntry", "AuditJournal", "AuditRecord", "ChainReport"]

_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: text order is time order
_MAX_LIMIT: Final = 100_000
# An append waits at most this long for the head lock (PostgreSQL), like SQLite's busy timeout:
# a caller told "not journaled" must never see its record committed later.
LOCK_TIMEOUT_MS: Final = 5000


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """What the caller knows about one call; ``matricules`` are in clear and never stored."""

    request_id: str
    operation: str
    outcome: str
    message_id: str | None = None
    app: str | None = None
    user_id: str | None = None
    cert_mode: str | None = None
    latency_ms: float | None = None
    matricules: tuple[str, ...] = field(default=(), repr=False)
    client: str | None = None
    count: int | None = None
    ref_seq: int | None = None
    ref_hash: str | None = None
    identity_status: str | None = None
    evidence: str | None = None


class AuditJournal:
    """Appends, verifies, searches and exports the journal; safe across threads and replicas."""

    def __init__(
        self,
        db: Database,
        *,
        pseudonym_key: bytes,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not pseudonym_key:
            raise ConfigurationError("GATEWAY_AUDIT_KEY", "must not be empty")
        self._db = db
        self._key = pseudonym_key
        self._sql = AppendStatements.for_dialect(db.engine.dialect)
        self._clock = clock or (lambda: datetime.now(UTC))

    def pseudonym(self, matricule: str) -> str:
        """The stored stand-in for a matricule: HMAC-SHA256, hex (spaces ignored, upper-cased)."""
        normalised = "".join(matricule.split()).upper()
        return hmac.new(self._key, normalised.encode(), hashlib.sha256).hexdigest()

    def append(self, entry: AuditEntry) -> AuditRecord:
        """Write one record after the current head, or raise :class:`JournalWriteFailed`."""
        return self.append_many([entry])[0]

    def submit(self, entry: AuditEntry) -> None:
        """:meth:`append`, for callers that do not wait for the record (synchronous here)."""
        self.append(entry)

    def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Write records after the current head in one transaction (one fsync), in order.

        The head row is locked first (``FOR UPDATE``; SQLite's ``BEGIN
        IMMEDIATE`` already excludes other writers), so concurrent appends from
        any thread or replica form one gapless chain. All or none are written.
        """
        try:
            with self._db.transaction() as conn:
                if not self._db.is_sqlite:  # SQLite's busy timeout bounds the wait already
                    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
                return self._append_in(conn, entries)
        except Exception as error:
            raise JournalWriteFailed(f"audit record not written: {error}") from error

    def head(self) -> tuple[int, str]:
        """The last ``seq`` and its hash: the anchor ops keep outside the database."""
        with self._db.read() as conn:
            head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).one()
        return int(head.last_seq), str(head.last_hash)

    def purge(self, before: datetime) -> AuditRecord | None:
        """Delete the records written before ``before``, leaving a record that vouches for them.

        Only a prefix of the chain goes (every record up to the first one not
        older than ``before``); the purge record appended after the head
        carries the ``seq`` and hash of the last deleted record, which is what
        the first remaining record's ``prev_hash`` links to, so :meth:`verify`
        still checks the whole remaining chain. None when nothing was old enough.
        """
        cutoff = _as_text(before, "before")
        with self._db.transaction() as conn:
            head = conn.execute(
                select(audit_head).where(audit_head.c.id == 1).with_for_update()
            ).one()
            first_kept = conn.execute(
                select(func.min(audit_records.c.seq)).where(audit_records.c.time >= cutoff)
            ).scalar()
            last = conn.execute(
                select(audit_records.c.seq, audit_records.c.hash)
                .where(audit_records.c.seq < (first_kept or head.last_seq + 1))
                .order_by(audit_records.c.seq.desc())
                .limit(1)
            ).first()
            if last is None:
                return None
            deleted = conn.execute(delete(audit_records).where(audit_records.c.seq <= last.seq))
            entry = AuditEntry(
                request_id="audit-purge",
                operation=PURGE_OPERATION,
                outcome="purged",
                count=deleted.rowcount,
                ref_seq=last.seq,
                ref_hash=last.hash,
            )
            return self._append_in(conn, [entry])[0]

    def _append_in(self, conn: Connection, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        seq, prev_hash = self._sql.head(conn)
        records = []
        for entry in entries:
            seq += 1
            record = self._record(entry, seq=seq, prev_hash=prev_hash)
            prev_hash = record.hash
            records.append(record)
        self._sql.write(conn, [r.as_row() for r in records], seq=seq, last_hash=prev_hash)
        return records

    def verify(self, *, expect: tuple[int, str] | None = None) -> ChainReport:
        """Walk the whole chain in ``seq`` order, recomputing every hash and link.

        Detects an edited record (its hash), a deleted or inserted one (the
        ``seq`` sequence and ``prev_hash`` links) and a truncated tail (the head).
        A chain whose first records were purged starts where the purge record
        (further on, inside the chain) says they ended. ``expect`` is an anchor
        kept outside the database (``SEQ``, ``HASH``): the journal must still
        hold that record with that hash, which a rewrite of the whole chain,
        or a cut tail with a moved head, cannot fake.
        """
        walk = ChainWalk(expect)
        query = (
            select(audit_records).order_by(audit_records.c.seq).execution_options(yield_per=1000)
        )
        with self._db.read() as conn:
            with conn.execute(query) as rows:  # closes the server-side cursor on early return
                for row in rows:
                    report = walk.step(_from_row(row))
                    if report is not None:
                        return report
            head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
        checked, last_hash = walk.checked, walk.last_hash
        if head is None:
            return ChainReport(False, checked, checked + 1, "the audit head row is missing")
        if head.last_seq > checked:
            reason = f"records {checked + 1} to {head.last_seq} are missing (the head points there)"
            return ChainReport(False, checked, checked + 1, reason, last_hash)
        if (head.last_seq, head.last_hash) != (checked, last_hash):
            reason = f"the head points at record {head.last_seq}, not at the last record {checked}"
            return ChainReport(False, checked, min(head.last_seq + 1, checked), reason, last_hash)
        return walk.finish()

    def search(
        self,
        *,
        matricule: str | None = None,
        app: str | None = None,
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        """Records matching every given criterion, oldest first; ``until`` is exclusive."""
        if isinstance(limit, bool) or not 1 <= limit <= _MAX_LIMIT:
            raise InvalidInput("limit", f"must be between 1 and {_MAX_LIMIT}")
        conditions = _time_range(since, until)
        if matricule is not None:
            padded = literal(" ") + audit_records.c.matricule_hashes + literal(" ")
            conditions.append(padded.like(f"% {self.pseudonym(matricule)} %"))
        if app is not None:
            conditions.append(audit_records.c.app == app)
        if user_id is not None:
            conditions.append(audit_records.c.user_id == user_id)
        with self._db.read() as conn:
            rows = conn.execute(_ordered(conditions).limit(limit))
            return [_from_row(row) for row in rows]

    def export(
        self,
        out: TextIO,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        fmt: Literal["csv", "jsonl"] = "csv",
    ) -> int:
        """Write the records of a period to ``out`` (CSV with a header, or JSON lines).

        Returns how many records were written. Values are written as stored,
        so an export can be re-verified offline with the same hash rule.
        """
        if fmt not in ("csv", "jsonl"):
            raise InvalidInput("fmt", "must be 'csv' or 'jsonl'")
        count = 0
        with self._db.read() as conn:
            query = _ordered(_time_range(since, until)).execution_options(yield_per=1000)
            writer = _writer(out, fmt)
            with conn.execute(query) as rows:
                for row in rows:
                    writer(_from_row(row))
                    count += 1
        return count

    def _record(self, entry: AuditEntry, *, seq: int, prev_hash: str) -> AuditRecord:
        latency = entry.latency_ms
        if latency is not None:
            latency = round(float(latency), 3)  # stored as a double: hash what comes back
            if not math.isfinite(latency):
                raise ValueError("latency_ms must be finite")
        hashes = tuple(dict.fromkeys(self.pseudonym(m) for m in entry.matricules))
        unhashed = AuditRecord(
            seq=seq,
            time=self._clock().astimezone(UTC).strftime(_TIME_FORMAT),
            request_id=entry.request_id,
            message_id=entry.message_id,
            app=entry.app,
            user_id=entry.user_id,
            operation=entry.operation,
            cert_mode=None if entry.cert_mode is None else str(entry.cert_mode),
            outcome=entry.outcome,
            latency_ms=latency,
            matricule_hashes=hashes,
            prev_hash=prev_hash,
            hash="",
            client=entry.client,
            count=entry.count,
            ref_seq=entry.ref_seq,
            ref_hash=entry.ref_hash,
            identity_status=entry.identity_status,
            evidence=entry.evidence,
        )
        return unhashed.with_hash()


def _as_text(moment: datetime, name: str) -> str:
    """A moment as stored in ``time`` (fixed-width UTC text, so text order is time order)."""
    if moment.tzinfo is None:
        raise InvalidInput(name, "must carry a timezone")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _from_row(row: Row[Any]) -> AuditRecord:
    fields = dict(row._mapping)
    fields["matricule_hashes"] = tuple(fields["matricule_hashes"].split())
    return AuditRecord(**fields)


def _time_range(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for bound, name in ((since, "since"), (until, "until")):
        if bound is not None and bound.tzinfo is None:
            raise InvalidInput(name, "must carry a timezone")
    if since is not None:
        conditions.append(audit_records.c.time >= since.astimezone(UTC).strftime(_TIME_FORMAT))
    if until is not None:
        conditions.append(audit_records.c.time < until.astimezone(UTC).strftime(_TIME_FORMAT))
    return conditions


def _ordered(conditions: list[ColumnElement[bool]]) -> Select[Any]:
    return select(audit_records).where(and_(True, *conditions)).order_by(audit_records.c.seq)


def _writer(out: TextIO, fmt: str) -> Callable[[AuditRecord], None]:
    columns = [c.name for c in audit_records.columns]
    if fmt == "jsonl":
        return lambda record: print(json.dumps(asdict(record), sort_keys=True), file=out)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)

    def write(record: AuditRecord) -> None:
        values = record.as_row()
        writer.writerow(["" if values[c] is None else values[c] for c in columns])

    return write
