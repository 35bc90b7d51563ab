"""Vigilance events, reviewers and sessions on both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select

from gateway.exceptions import InvalidInput, JournalWriteFailed
from gateway.storage import Database
from gateway.vigilance.reviewers import IDLE, LIFETIME, ReviewerRegistry
from gateway.vigilance.store import EventFilter, EventStore, NewEvent
from gateway.vigilance.tables import reviewers, sessions, vigilance_metadata

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _event(message_id: str | None, **fields: object) -> NewEvent:
    values: dict[str, object] = {
        "app": "dpi",
        "kind": "mismatch",
        "request_id": f"r-{message_id}",
        "source": "json",
        "traits": ("first_names",),
        "ins_hash": "a" * 64,
        "message_id": message_id,
        "patient_ref": "IPP-1",
    }
    values.update(fields)
    return NewEvent(**values)  # type: ignore[arg-type]


def test_migration_creates_the_vigilance_tables(database: Database) -> None:
    with database.read() as conn:
        found = inspect(conn)
        for table in vigilance_metadata.sorted_tables:
            columns = {c["name"] for c in found.get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name


def test_events_are_filtered_paged_and_grouped_by_patient(database: Database) -> None:
    clock = Clock()
    store = EventStore(database, clock=clock)
    store.record([_event("m1"), _event("m2", kind="multiple", ins_hash=None, patient_ref="IPP-2")])
    clock.now += timedelta(days=2)
    store.record([_event("m3", app="labo", patient_ref=None, kind="superseded")])

    everything, total = store.search(EventFilter())
    mismatches, _ = store.search(EventFilter(kind="mismatch"))
    recent, _ = store.search(EventFilter(since=START + timedelta(days=1)))
    page_two, _ = store.search(EventFilter(), page=2, per_page=2)
    by_ref, _ = store.search(EventFilter(patient_ref="IPP-2"))

    assert (total, [e.message_id for e in everything]) == (3, ["m3", "m2", "m1"])
    assert [e.message_id for e in mismatches] == ["m1"]
    assert [e.message_id for e in recent] == ["m3"]
    assert [e.message_id for e in page_two] == ["m1"]
    assert [e.kind for e in by_ref] == ["multiple"]
    first = store.get(everything[2].id)
    assert first is not None
    assert first.traits == ("first_names",)
    # the same INS hash groups events of one patient across applications
    assert [e.message_id for e in store.related(first)] == ["m3"]


def test_an_answer_recorded_twice_is_one_event(database: Database) -> None:
    store = EventStore(database)
    assert store.record([_event("m1")]) == 1
    assert store.record([_event("m1"), _event("m2")]) == 1
    assert store.search(EventFilter())[1] == 2


def test_reviews_move_open_to_acknowledged_to_resolved_only(database: Database) -> None:
    store = EventStore(database)
    store.record([_event("m1")])
    (event,), _ = store.search(EventFilter())

    acknowledged = store.transition(event.id, "acknowledged", by="alice", comment="vu")
    again = store.transition(event.id, "acknowledged", by="bob", comment="")
    resolved = store.transition(event.id, "resolved", by="bob", comment="dossier fusionné")
    reopened = store.transition(event.id, "acknowledged", by="carol", comment="")

    assert acknowledged is not None
    assert acknowledged.state_by == "alice"
    assert again is None
    assert reopened is None
    assert resolved is not None
    assert (resolved.state, resolved.comment) == (
        "resolved",
        "dossier fusionné",
    )
    assert store.search(EventFilter(state="open"))[1] == 0
    with pytest.raises(LookupError):
        store.transition(event.id + 100, "resolved", by="bob", comment="")
    with pytest.raises(InvalidInput) as caught:
        store.search(EventFilter(state="closed"))
    assert caught.value.field == "state"


def test_purge_deletes_events_older_than_the_cutoff(database: Database) -> None:
    clock = Clock()
    store = EventStore(database, clock=clock)
    store.record([_event("old")])
    clock.now += timedelta(days=400)
    store.record([_event("new")])

    assert store.purge(START + timedelta(days=1)) == 1
    assert [e.message_id for e in store.search(EventFilter())[0]] == ["new"]


def test_a_failed_write_is_a_journal_failure(database: Database) -> None:
    store = EventStore(database)
    with pytest.raises(JournalWriteFailed):
        store.record([_event("m1", kind="x" * 10_000 if not database.is_sqlite else None)])


def test_reviewer_passwords_are_argon2_hashes(database: Database) -> None:
    registry = ReviewerRegistry(database)
    reviewer, password = registry.add("alice")

    assert len(password) >= 20
    assert registry.authenticate("alice", password)
    assert not registry.authenticate("alice", password + "x")
    assert not registry.authenticate("nobody", password)
    with database.read() as conn:
        stored = conn.execute(select(reviewers.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert password not in stored
    with pytest.raises(InvalidInput):
        registry.add("alice")
    with pytest.raises(InvalidInput) as short:
        registry.add("bob", "short")
    assert short.value.field == "password"
    assert reviewer.name == "alice"
    assert not reviewer.revoked


def test_sessions_expire_when_idle_and_end_at_revocation(database: Database) -> None:
    clock = Clock()
    registry = ReviewerRegistry(database, clock=clock)
    registry.add("alice", "correct horse battery")
    token, opened = registry.open_session("alice")

    live = registry.session(token)
    clock.now += IDLE + timedelta(seconds=1)
    idle = registry.session(token)

    assert live is not None
    assert (live.reviewer, live.csrf) == ("alice", opened.csrf)
    assert idle is None
    with database.read() as conn:
        assert token not in str(conn.execute(select(sessions)).all())  # only its digest
    token, _ = registry.open_session("alice")
    for _ in range(int(LIFETIME / IDLE) + 1):  # kept busy, it still ends after LIFETIME
        clock.now += IDLE - timedelta(minutes=1)
        registry.session(token)
    assert registry.session(token) is None
    token, _ = registry.open_session("alice")
    registry.revoke("alice")
    assert registry.session(token) is None
    assert not registry.authenticate("alice", "correct horse battery")


def test_reset_password_ends_sessions_and_changes_the_password(database: Database) -> None:
    registry = ReviewerRegistry(database)
    registry.add("alice", "first password 123")
    token, _ = registry.open_session("alice")

    new = registry.reset_password("alice")

    assert registry.session(token) is None
    assert registry.authenticate("alice", new)
    assert not registry.authenticate("alice", "first password 123")
    registry.close_session(token)  # closing an ended session is harmless
    with pytest.raises(InvalidInput):
        registry.reset_password("nobody")
