"""Batch jobs in the database: rows claimed under a lease, answered exactly once, then purged.

A claim takes ``pending`` rows, or ``claimed`` ones whose lease passed (their
replica died), with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) or under ``BEGIN
IMMEDIATE`` (SQLite), and bumps ``claims``, the fencing token: an answer is
recorded only by the claim still owning the row, in the transaction that
marks it ``done``, so a recorded row is never claimed, hence never sent, again.
``job_rate`` holds the next free upstream call slot for all jobs and replicas.
Locks go job first, then rows (claims lock rows only): no deadlock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Connection, case, delete, func, insert, or_, select, update

from gateway.ids import new_message_id
from gateway.storage.database import Database
from gateway.storage.job_records import ClaimedRow, JobStatus, NewRow, StoredResult
from gateway.storage.schema import UtcDateTime

# Job states, then row states (rows are also ``done`` or ``cancelled``).
QUEUED, RUNNING, DONE, CANCELLED = "queued", "running", "done", "cancelled"
PENDING, CLAIMED = "pending", "claimed"
_PAGE, _CHUNK = 500, 1000  # rows per results read, rows per insert

# The current shape; migration 0002 is the history that produces it.
jobs_metadata: Final = sa.MetaData()
jobs: Final = sa.Table(
    "jobs",
    jobs_metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("app", sa.String(63), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
)
job_rows: Final = sa.Table(
    "job_rows",
    jobs_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), nullable=False),
    *(sa.Column(name, sa.Integer, nullable=False) for name in ("row_no", "claims")),
    *(sa.Column(name, sa.Text) for name in ("local_id", "payload", "claimed_by", "result")),
    *(sa.Column(name, sa.String(16), nullable=False) for name in ("kind", "state")),
    sa.Column("lease_until", sa.Float, nullable=False),
    sa.Column("attempt_message_ids", sa.Text, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=True),
)
job_rate: Final = sa.Table(
    "job_rate",
    jobs_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("next_slot", sa.Float, nullable=False),
)
J, R = jobs.c, job_rows.c


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class JobStore:
    """Jobs and rows on a :class:`Database`; safe across threads, processes and replicas."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def create_job(self, job_id: str, app: str, rows: Iterable[NewRow]) -> JobStatus:
        """Store a job and all its rows atomically; rows that already have a result are done.

        ``rows`` may be a stream (a submission being read): it is inserted
        ``_CHUNK`` rows at a time, the total set at the end. Any error it
        raises (too many rows, body too large) rolls the whole job back.
        """
        now = self._now()
        job = {"id": job_id, "app": app, "total": 0, "created_at": now, "state": QUEUED}
        with self._db.transaction() as conn:
            conn.execute(insert(jobs).values(**job))
            total, pending = _insert_rows(conn, job_id, rows)
            ending = {"total": total} | ({} if pending else {"state": DONE, "finished_at": now})
            conn.execute(update(jobs).where(J.id == job_id).values(**ending))
        status = self.get_job(job_id, app)
        assert status is not None
        return status

    def get_job(self, job_id: str, app: str) -> JobStatus | None:
        """The job's state and counts, or None when it does not exist *for this app*."""
        with self._db.read() as conn:
            job = conn.execute(select(jobs).where(J.id == job_id, J.app == app)).first()
            if job is None:
                return None
            query = select(R.state, R.verdict, func.count()).where(R.job_id == job_id)
            tally = conn.execute(query.group_by(R.state, R.verdict)).all()
        counts: dict[str, int] = {}
        for state, verdict, count in tally:
            if state in (DONE, CANCELLED):
                key = verdict if state == DONE else CANCELLED
                counts[key] = counts.get(key, 0) + count
        in_flight = any(state == CLAIMED for state, _, _ in tally)
        state = RUNNING if job.state == QUEUED and in_flight else job.state
        done = sum(count for row_state, _, count in tally if row_state == DONE)
        times = (job.created_at, job.finished_at)
        return JobStatus(job.id, app, state, job.total, done, counts, *times)

    def claim_rows(self, worker_id: str, limit: int, lease_seconds: float) -> list[ClaimedRow]:
        """Up to ``limit`` rows for ``worker_id``: expired leases first, then pending rows."""
        now = self._clock()
        with self._db.transaction() as conn:
            found = _claimable(conn, CLAIMED, now, limit)
            if len(found) < limit:
                found += _claimable(conn, PENDING, now, limit - len(found))
            claimed = [_claimed(row) for row in found]
            owner = {"state": CLAIMED, "claimed_by": worker_id, "lease_until": now + lease_seconds}
            for row in claimed:
                sent = _json(row.attempt_message_ids)
                stamp = {"claims": row.claims, "attempt_message_ids": sent}
                conn.execute(update(job_rows).where(R.id == row.id).values(**owner, **stamp))
        return claimed

    def still_claimed(self, row: ClaimedRow) -> bool:
        """Whether this claim still owns ``row`` (not cancelled, not re-claimed)."""
        with self._db.read() as conn:
            found = conn.execute(select(R.state, R.claims).where(R.id == row.id)).first()
        return found is not None and tuple(found) == (CLAIMED, row.claims)

    def renew_claim(self, row: ClaimedRow, lease_seconds: float) -> bool:
        """Still ours (claimed, not cancelled, not re-claimed)? Then ours ``lease_seconds`` more.

        One conditional UPDATE: checking and extending cannot be split by another claim.
        """
        mine = (R.id == row.id, R.claims == row.claims, R.state == CLAIMED)
        until = self._clock() + lease_seconds
        with self._db.transaction() as conn:
            renewed = conn.execute(update(job_rows).where(*mine).values(lease_until=until))
            return bool(renewed.rowcount == 1)

    def complete_row(
        self, row: ClaimedRow, verdict: str, result: Mapping[str, Any], sent: Sequence[str] = ()
    ) -> bool:
        """Record the answer and mark the row done in one transaction; False if no longer ours."""
        answered = {"state": DONE, "verdict": verdict, "result": _json(result), "payload": None}
        with self._db.transaction() as conn:
            job_query = select(J.state).where(J.id == row.job_id).with_for_update()
            job_state = conn.execute(job_query).scalar()
            recorded = conn.execute(_owned(row).values(**answered, **_unowned(row, sent, 0.0)))
            if recorded.rowcount != 1 or job_state not in (QUEUED, RUNNING):
                return recorded.rowcount == 1
            open_rows = R.state.in_((PENDING, CLAIMED))
            left = conn.execute(select(func.count()).where(R.job_id == row.job_id, open_rows))
            finished, running = {"state": DONE, "finished_at": self._now()}, {"state": RUNNING}
            update_job = update(jobs).where(J.id == row.job_id)
            conn.execute(update_job.values(**(finished if left.scalar_one() == 0 else running)))
        return True

    def release_row(self, row: ClaimedRow, delay: float, sent: Sequence[str] = ()) -> bool:
        """Give a row back unanswered (upstream error): claimable again after ``delay`` seconds."""
        state = case((R.state == CLAIMED, PENDING), else_=R.state)  # a cancelled row stays so
        with self._db.transaction() as conn:
            unowned = _unowned(row, sent, self._clock() + delay)
            return conn.execute(_owned(row).values(state=state, **unowned)).rowcount == 1

    def cancel(self, job_id: str, app: str) -> JobStatus | None:
        """Stop a job: rows not yet answered are never sent (an answer in flight still records)."""
        with self._db.transaction() as conn:
            query = select(J.state).where(J.id == job_id, J.app == app).with_for_update()
            state = conn.execute(query).scalar()
            if state is None:
                return None
            if state in (QUEUED, RUNNING):
                open_rows = (R.job_id == job_id, R.state.in_((PENDING, CLAIMED)))
                conn.execute(update(job_rows).where(*open_rows).values(state=CANCELLED))
                stopped = {"state": CANCELLED, "finished_at": self._now()}
                conn.execute(update(jobs).where(J.id == job_id).values(**stopped))
        return self.get_job(job_id, app)

    def results(self, job_id: str, app: str) -> Iterator[StoredResult]:
        """Every row of the job in input order, read page by page (no long transaction)."""
        columns = (R.row_no, R.local_id, R.kind, R.state, R.result)
        query = select(*columns).join(jobs, J.id == R.job_id)
        query = query.where(R.job_id == job_id, J.app == app).order_by(R.row_no).limit(_PAGE)
        last = 0
        while True:
            with self._db.read() as conn:
                page = conn.execute(query.where(R.row_no > last)).all()
            for no, local_id, kind, state, text in page:
                yield StoredResult(no, local_id, kind, state, json.loads(text) if text else None)
            if len(page) < _PAGE:
                return
            last = page[-1].row_no

    def purge(self, older_than: datetime) -> int:
        """Delete jobs finished before ``older_than``, or submitted before it and unfinished."""
        expired = or_(J.finished_at < older_than, J.created_at < older_than)
        with self._db.read() as conn:
            old = conn.execute(select(J.id).where(expired)).scalars().all()
        for job_id in old:  # one transaction per job: no long write lock on SQLite
            with self._db.transaction() as conn:
                conn.execute(delete(job_rows).where(R.job_id == job_id))
                conn.execute(delete(jobs).where(J.id == job_id))
        if old:
            self._db.checkpoint()  # SQLite: the purged identities must not linger in the WAL
        return len(old)

    def open_rows(self) -> int:
        """Rows of every job not answered yet (pending or claimed): the batch backlog."""
        with self._db.read() as conn:
            query = select(func.count()).where(R.state.in_((PENDING, CLAIMED)))
            return int(conn.execute(query).scalar() or 0)

    def take_rate_slot(self, rate: float) -> float:
        """Reserve the next upstream call slot (epoch seconds), shared by all jobs and replicas."""
        with self._db.transaction() as conn:
            query = select(job_rate.c.next_slot).where(job_rate.c.id == 1).with_for_update()
            slot = max(self._clock(), conn.execute(query).scalar_one())
            advance = {"next_slot": slot + 1.0 / rate}
            conn.execute(update(job_rate).where(job_rate.c.id == 1).values(**advance))
        return float(slot)


def _insert_rows(conn: Connection, job_id: str, rows: Iterable[NewRow]) -> tuple[int, bool]:
    """Insert ``rows`` by chunks; how many there were, and whether any is pending."""
    total, pending, chunk = 0, False, []
    for row in rows:
        chunk.append(_new_row(job_id, row))
        pending = pending or row.result is None
        if len(chunk) == _CHUNK:
            conn.execute(insert(job_rows), chunk)
            total, chunk = total + len(chunk), []
    if chunk:
        conn.execute(insert(job_rows), chunk)
    return total + len(chunk), pending


def _new_row(job_id: str, row: NewRow) -> dict[str, Any]:
    done = row.result is not None
    payload = None if done or row.payload is None else _json(row.payload)
    fresh = {"lease_until": 0.0, "claimed_by": None, "claims": 0, "attempt_message_ids": "[]"}
    answer = {"verdict": row.verdict, "result": _json(row.result) if done else None}
    state = {"state": DONE if done else PENDING, "payload": payload, "kind": row.kind}
    return (
        {"job_id": job_id, "row_no": row.number, "local_id": row.local_id} | state | fresh | answer
    )


def _claimable(conn: Connection, state: str, now: float, limit: int) -> list[Any]:
    columns = (R.id, R.job_id, J.app, R.row_no, R.local_id, R.kind, R.payload, R.claims)
    query = (
        select(*columns, R.attempt_message_ids)
        .join(jobs, J.id == R.job_id)
        .where(R.state == state, R.lease_until <= now)
        .order_by(R.id)
        .limit(limit)
        .with_for_update(of=job_rows, skip_locked=True)
    )
    return list(conn.execute(query).all())


def _claimed(row: Any) -> ClaimedRow:
    message_id = new_message_id()
    sent = (*json.loads(row.attempt_message_ids), message_id)
    payload = json.loads(row.payload) if row.payload else {}
    fields = (row.id, row.job_id, row.app, row.row_no, row.local_id, row.kind, payload)
    return ClaimedRow(*fields, row.claims + 1, message_id, sent)


def _owned(row: ClaimedRow) -> Any:
    """An UPDATE of ``row`` that matches only while this claim owns it (or it was cancelled)."""
    mine = (R.id == row.id, R.claims == row.claims, R.state.in_((CLAIMED, CANCELLED)))
    return update(job_rows).where(*mine)


def _unowned(row: ClaimedRow, sent: Sequence[str], lease_until: float) -> dict[str, Any]:
    sent_ids = _json(list(dict.fromkeys((*row.attempt_message_ids, *sent))))
    return {"lease_until": lease_until, "attempt_message_ids": sent_ids}  # claimed_by stays
