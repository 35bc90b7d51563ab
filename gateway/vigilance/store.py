"""Vigilance events in the gateway's database: recorded with the answer, reviewed, purged.

An event is written before the answer that produced it leaves (in the request, or
with the batch row's answer), so an answer given is never an event lost: when the
write fails, the caller gets a 503 instead of the answer, as with the journal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Row, and_, delete, func, insert, or_, select, update

from gateway.exceptions import InvalidInput, JournalWriteFailed, StorageError
from gateway.storage.database import Database
from gateway.vigilance.tables import STATES, events

MAX_PER_PAGE: Final = 500
MAX_COMMENT: Final = 500
# Who may move an event where: an open event is acknowledged or resolved, an acknowledged one
# resolved; a resolved event stays resolved (its trace is the journal's record).
TRANSITIONS: Final = {"acknowledged": ("open",), "resolved": ("open", "acknowledged")}


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """One event about to be stored: already without any trait value (``ins_hash`` keyed)."""

    app: str
    kind: str
    request_id: str
    source: str  # json, soap or batch
    traits: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()
    ins_hash: str | None = None
    message_id: str | None = None
    user_id: str | None = None
    patient_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A stored event and its review state."""

    id: int
    time: datetime
    app: str
    user_id: str | None
    patient_ref: str | None
    kind: str
    traits: tuple[str, ...]
    unchecked: tuple[str, ...]
    ins_hash: str | None
    request_id: str
    message_id: str | None
    source: str
    state: str
    state_by: str | None
    state_at: datetime | None
    comment: str | None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["traits"], data["unchecked"] = list(self.traits), list(self.unchecked)
        for key in ("time", "state_at"):
            value = data[key]
            data[key] = value.isoformat().replace("+00:00", "Z") if value else None
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """The worklist's filters; None means any."""

    state: str | None = None
    kind: str | None = None
    app: str | None = None
    patient_ref: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class EventStore:
    """Writes, lists, reviews and purges events; safe across threads and replicas."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        self._db = db
        self._clock = clock or (lambda: datetime.now(UTC))

    def record(self, new: Sequence[NewEvent]) -> int:
        """Store ``new`` in one transaction (an event whose message id is stored is skipped).

        Raises :class:`JournalWriteFailed`: the answer must then not be given.
        """
        if not new:
            return 0
        now = self._clock()
        try:
            with self._db.transaction() as conn:
                ids = [e.message_id for e in new if e.message_id]
                known = set(
                    conn.execute(select(events.c.message_id).where(events.c.message_id.in_(ids)))
                    .scalars()
                    .all()
                    if ids
                    else ()
                )
                rows = [_row(e, now) for e in new if not e.message_id or e.message_id not in known]
                if rows:
                    conn.execute(insert(events), rows)
                return len(rows)
        except StorageError as error:
            raise JournalWriteFailed(f"vigilance event not written: {error.message}") from error

    def search(
        self, where: EventFilter, *, page: int = 1, per_page: int = 50
    ) -> tuple[list[Event], int]:
        """One page of events, newest first, and how many match in all."""
        if page < 1:
            raise InvalidInput("page", "must be 1 or more")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise InvalidInput("per_page", f"must be 1 to {MAX_PER_PAGE}")
        condition = _condition(where)
        with self._db.read() as conn:
            total = conn.execute(select(func.count()).select_from(events).where(condition)).scalar()
            rows = conn.execute(
                select(events)
                .where(condition)
                .order_by(events.c.time.desc(), events.c.id.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
        return [_event(row) for row in rows], int(total or 0)

    def get(self, event_id: int) -> Event | None:
        with self._db.read() as conn:
            row = conn.execute(select(events).where(events.c.id == event_id)).first()
        return _event(row) if row is not None else None

    def related(self, event: Event, *, limit: int = 50) -> list[Event]:
        """The other events of the same patient: same INS hash, or same application reference."""
        same: list[ColumnElement[bool]] = []
        if event.ins_hash:
            same.append(events.c.ins_hash == event.ins_hash)
        if event.patient_ref:
            same.append(and_(events.c.app == event.app, events.c.patient_ref == event.patient_ref))
        if not same:
            return []
        query = (
            select(events)
            .where(or_(*same), events.c.id != event.id)
            .order_by(events.c.time.desc())
            .limit(limit)
        )
        with self._db.read() as conn:
            return [_event(row) for row in conn.execute(query).all()]

    def transition(self, event_id: int, state: str, *, by: str, comment: str) -> Event | None:
        """Move an event to ``state`` (acknowledged, resolved); None when it cannot move.

        Raises :class:`LookupError` for an unknown event.
        """
        if len(comment) > MAX_COMMENT:
            raise InvalidInput("comment", f"at most {MAX_COMMENT} characters")
        with self._db.transaction() as conn:
            moved = conn.execute(
                update(events)
                .where(events.c.id == event_id, events.c.state.in_(TRANSITIONS[state]))
                .values(state=state, state_by=by, state_at=self._clock(), comment=comment or None)
            ).rowcount
            row = conn.execute(select(events).where(events.c.id == event_id)).first()
        if row is None:
            raise LookupError(event_id)
        return _event(row) if moved else None

    def purge(self, before: datetime) -> int:
        """Delete the events older than ``before`` (the journal's retention)."""
        with self._db.transaction() as conn:
            deleted = conn.execute(delete(events).where(events.c.time < before)).rowcount
        if deleted:
            self._db.checkpoint()
        return int(deleted)

    def counts(self, since: datetime) -> list[tuple[str, str, datetime]]:
        """(app, kind, time) of every event since ``since``: the indicators fold them by week."""
        query = select(events.c.app, events.c.kind, events.c.time).where(events.c.time >= since)
        with self._db.read() as conn:
            return [(row.app, row.kind, row.time) for row in conn.execute(query).all()]


def _row(event: NewEvent, now: datetime) -> dict[str, Any]:
    return {
        "time": now,
        "app": event.app,
        "user_id": event.user_id,
        "patient_ref": event.patient_ref,
        "kind": event.kind,
        "traits": ",".join(event.traits),
        "unchecked": ",".join(event.unchecked),
        "ins_hash": event.ins_hash,
        "request_id": event.request_id,
        "message_id": event.message_id,
        "source": event.source,
        "state": "open",
    }


def _condition(where: EventFilter) -> ColumnElement[bool]:
    if where.state is not None and where.state not in STATES:
        raise InvalidInput("state", f"one of {', '.join(STATES)}")
    parts: list[ColumnElement[bool]] = [events.c.id > 0]
    for column, value in (
        (events.c.state, where.state),
        (events.c.kind, where.kind),
        (events.c.app, where.app),
        (events.c.patient_ref, where.patient_ref),
    ):
        if value is not None:
            parts.append(column == value)
    if where.since is not None:
        parts.append(events.c.time >= where.since)
    if where.until is not None:
        parts.append(events.c.time < where.until)
    return and_(*parts)


def _names(text: str) -> tuple[str, ...]:
    return tuple(name for name in text.split(",") if name)


def _event(row: Row[Any]) -> Event:
    return Event(
        id=int(row.id),
        time=row.time,
        app=row.app,
        user_id=row.user_id,
        patient_ref=row.patient_ref,
        kind=row.kind,
        traits=_names(row.traits),
        unchecked=_names(row.unchecked),
        ins_hash=row.ins_hash,
        request_id=row.request_id,
        message_id=row.message_id,
        source=row.source,
        state=row.state,
        state_by=row.state_by,
        state_at=row.state_at,
        comment=row.comment,
    )
