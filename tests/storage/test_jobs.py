"""The job store on SQLite and PostgreSQL: claims, leases, fencing, cancel, purge, rate slots."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from gateway.jobs import ClaimedRow, NewRow
from gateway.storage import Database, default_sqlite_url
from gateway.storage.jobs import JobStore, job_rows

APP = "dpi"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database: Database, clock: Clock) -> JobStore:
    return JobStore(database, clock=clock)


def rows(count: int, *, start: int = 1) -> list[NewRow]:
    return [
        NewRow(n, f"L{n}", "search", {"birth_name": f"NAME{n}"})
        for n in range(start, start + count)
    ]


def bad_row(number: int) -> NewRow:
    result = {"row": number, "verdict": "error", "error": {"field": "sex"}}
    return NewRow(number, f"L{number}", "search", None, "error", result)


def answer(store: JobStore, row: ClaimedRow, verdict: str = "found") -> bool:
    result = {"row": row.number, "verdict": verdict, "message_id": row.message_id}
    return store.complete_row(row, verdict, result, [row.message_id])


def test_a_new_job_is_queued_with_its_malformed_rows_already_answered(store: JobStore) -> None:
    status = store.create_job("job-1", APP, [*rows(3), bad_row(4)])

    assert (status.state, status.total, status.done) == ("queued", 4, 1)
    assert status.counts == {"error": 1}
    assert status.finished_at is None


def test_a_job_of_malformed_rows_only_is_done_at_once(store: JobStore) -> None:
    status = store.create_job("job-1", APP, [bad_row(1), bad_row(2)])

    assert (status.state, status.done) == ("done", 2)
    assert status.finished_at is not None


def test_another_app_sees_nothing(store: JobStore) -> None:
    store.create_job("job-1", APP, rows(2))

    assert store.get_job("job-1", "other") is None
    assert store.cancel("job-1", "other") is None
    assert list(store.results("job-1", "other")) == []
    assert store.get_job("job-1", APP) is not None


def test_claims_take_rows_in_order_and_never_twice(store: JobStore) -> None:
    store.create_job("job-1", APP, [bad_row(1), *rows(3, start=2)])

    first = store.claim_rows("w1", 2, 60)
    second = store.claim_rows("w2", 2, 60)

    assert [r.number for r in first] == [2, 3]
    assert [r.number for r in second] == [4]
    assert store.claim_rows("w3", 5, 60) == []
    assert first[0].payload == {"birth_name": "NAME2"}
    assert first[0].attempt_message_ids == (first[0].message_id,)
    assert store.get_job("job-1", APP).state == "running"  # type: ignore[union-attr]


def test_an_expired_lease_is_claimable_again_and_fences_the_old_owner(
    store: JobStore, clock: Clock
) -> None:
    store.create_job("job-1", APP, rows(1))
    (dead,) = store.claim_rows("replica-a", 1, 30)

    clock.now += 29
    assert store.claim_rows("replica-b", 1, 30) == []
    clock.now += 2
    (again,) = store.claim_rows("replica-b", 1, 30)

    assert again.id == dead.id
    assert again.claims == dead.claims + 1
    assert again.attempt_message_ids == (dead.message_id, again.message_id)
    assert not store.still_claimed(dead)
    assert store.still_claimed(again)
    assert answer(store, dead) is False  # the old owner's late answer is not recorded
    assert answer(store, again) is True
    assert answer(store, again) is False  # recorded once
    status = store.get_job("job-1", APP)
    assert status is not None
    assert (status.state, status.done) == ("done", 1)


def test_the_last_answer_finishes_the_job(store: JobStore) -> None:
    store.create_job("job-1", APP, rows(2))
    a, b = store.claim_rows("w", 2, 60)

    assert answer(store, a, "found")
    status = store.get_job("job-1", APP)
    assert status is not None
    assert (status.state, status.done) == ("running", 1)
    assert answer(store, b, "not_found")
    status = store.get_job("job-1", APP)
    assert status is not None
    assert (status.state, status.done, status.counts) == ("done", 2, {"found": 1, "not_found": 1})
    assert status.finished_at is not None


def test_a_released_row_waits_its_backoff_and_keeps_its_message_ids(
    store: JobStore, clock: Clock
) -> None:
    store.create_job("job-1", APP, rows(1))
    (row,) = store.claim_rows("w", 1, 60)

    assert store.release_row(row, 10, [row.message_id, "uuid:second"])
    assert store.claim_rows("w", 1, 60) == []
    clock.now += 10
    (retry,) = store.claim_rows("w", 1, 60)

    assert retry.attempt_message_ids == (row.message_id, "uuid:second", retry.message_id)
    assert not store.release_row(row, 0)  # an old claim cannot release the new one


def test_results_list_every_row_in_input_order(store: JobStore) -> None:
    store.create_job("job-1", APP, [*rows(1200), bad_row(1201)])
    claimed = store.claim_rows("w", 3, 60)
    for row in claimed:
        answer(store, row)

    results = list(store.results("job-1", APP))

    assert [r.number for r in results] == list(range(1, 1202))
    assert [r.state for r in results[:4]] == ["done", "done", "done", "pending"]
    assert results[0].result == {"row": 1, "verdict": "found", "message_id": claimed[0].message_id}
    assert results[3].result is None
    assert results[3].local_id == "L4"
    assert results[-1].result is not None
    assert results[-1].result["verdict"] == "error"


def test_an_answered_row_keeps_no_input_payload(store: JobStore, database: Database) -> None:
    store.create_job("job-1", APP, rows(1))
    (row,) = store.claim_rows("w", 1, 60)
    answer(store, row)

    with database.read() as conn:
        assert conn.execute(select(job_rows.c.payload)).scalar() is None


def test_cancel_stops_unsent_rows_and_still_records_one_in_flight(store: JobStore) -> None:
    store.create_job("job-1", APP, rows(3))
    (in_flight, claimed_not_sent) = store.claim_rows("w", 2, 60)

    status = store.cancel("job-1", APP)

    assert status is not None
    assert status.state == "cancelled"
    assert not store.still_claimed(claimed_not_sent)  # the worker checks before sending
    assert store.claim_rows("w", 5, 60) == []
    assert answer(store, in_flight)  # its answer came back: recorded all the same
    store.release_row(claimed_not_sent, 0)  # its worker gives it back: it stays cancelled
    status = store.get_job("job-1", APP)
    assert status is not None
    assert (status.state, status.done, status.counts) == (
        "cancelled",
        1,
        {"found": 1, "cancelled": 2},
    )
    assert [r.state for r in store.results("job-1", APP)] == ["done", "cancelled", "cancelled"]
    assert store.cancel("job-1", APP).state == "cancelled"  # type: ignore[union-attr]


def test_purge_deletes_old_jobs_and_their_rows(
    store: JobStore, clock: Clock, database: Database
) -> None:
    store.create_job("old-done", APP, [bad_row(1)])
    store.create_job("old-unfinished", APP, rows(2))
    clock.now += 8 * 86400
    store.create_job("recent", APP, [bad_row(1)])

    cutoff = datetime.fromtimestamp(clock.now, UTC) - timedelta(days=7)
    assert store.purge(cutoff) == 2

    assert store.get_job("old-done", APP) is None
    assert store.get_job("old-unfinished", APP) is None
    assert store.get_job("recent", APP) is not None
    with database.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM job_rows")).scalar() == 1


def test_rate_slots_are_spaced_by_the_rate(store: JobStore, clock: Clock) -> None:
    slots = [store.take_rate_slot(20) for _ in range(5)]

    assert slots == pytest.approx([T0 + i * 0.05 for i in range(5)])
    clock.now += 10  # idle: no burst credit builds up
    assert store.take_rate_slot(20) == pytest.approx(T0 + 10)


def test_two_engines_share_one_rate_limit(database: Database, database_url: str) -> None:
    other = Database(database_url)
    stores = [JobStore(database), JobStore(other)]
    slots: list[float] = []
    lock = threading.Lock()

    def take(store: JobStore) -> None:
        for _ in range(20):
            slot = store.take_rate_slot(50)
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=take, args=(s,)) for s in stores]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        other.close()

    ordered = sorted(slots)
    assert len(ordered) == 40
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert min(gaps) >= 0.02 - 1e-6


def test_two_engines_claiming_concurrently_never_share_a_row(
    database: Database, database_url: str
) -> None:
    JobStore(database).create_job("job-1", APP, rows(80))
    other = Database(database_url)
    claimed: list[list[int]] = [[], []]
    together = threading.Barrier(2)

    def work(index: int, db: Database) -> None:
        store = JobStore(db)
        together.wait(10)
        while batch := store.claim_rows(f"w{index}", 3, 60):
            for row in batch:
                claimed[index].append(row.id)
                time.sleep(0.002)  # the upstream call
                assert answer(store, row)

    threads = [
        threading.Thread(target=work, args=(i, db)) for i, db in enumerate([database, other])
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        other.close()

    assert not set(claimed[0]) & set(claimed[1])
    assert len(claimed[0]) + len(claimed[1]) == 80
    assert claimed[0]
    assert claimed[1]
    states = Counter(r.state for r in JobStore(database).results("job-1", APP))
    assert states == {"done": 80}


# SKIP LOCKED is PostgreSQL's; SQLite serialises claims with BEGIN IMMEDIATE instead.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_skip_locked_passes_over_a_row_locked_by_another_transaction(
    database: Database,
) -> None:
    store = JobStore(database)
    store.create_job("job-1", APP, rows(2))

    with database.transaction() as conn:  # another replica's claim, not yet committed
        first = select(job_rows.c.id).order_by(job_rows.c.id).limit(1).with_for_update()
        locked = conn.execute(first).scalar()
        (row,) = store.claim_rows("w", 1, 60)

    assert row.id != locked
    assert row.number == 2


def test_sqlite_files_are_private_and_purged_identities_leave_no_copy(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Mode 0600 for the database, its WAL and SHM; after a purge the WAL is empty
    and no page of any file still holds the purged identity (secure_delete)."""
    path = tmp_path_factory.mktemp("private") / "gateway.db"
    database = Database(default_sqlite_url(path))
    database.migrate()
    clock = Clock()
    store = JobStore(database, clock=clock)
    try:
        identity = [NewRow(n, f"L{n}", "search", {"birth_name": "QZXWUNIQUE"}) for n in (1, 2)]
        store.create_job("identities", APP, identity)
        files = [path, path.with_name("gateway.db-wal"), path.with_name("gateway.db-shm")]
        assert {oct(f.stat().st_mode & 0o777) for f in files} == {"0o600"}
        assert b"QZXWUNIQUE" in b"".join(f.read_bytes() for f in files[:2])

        clock.now += 8 * 86400
        assert store.purge(datetime.fromtimestamp(clock.now, UTC) - timedelta(days=7)) == 1

        assert files[1].stat().st_size == 0  # checkpointed, truncated
        assert b"QZXWUNIQUE" not in b"".join(f.read_bytes() for f in files[:2])
    finally:
        database.close()


def test_open_rows_count_the_backlog_of_every_job(store: JobStore) -> None:
    store.create_job("job-1", APP, [*rows(3), bad_row(4)])
    store.create_job("job-2", "other", rows(2))
    assert store.open_rows() == 5  # the malformed row is already answered

    claimed = store.claim_rows("worker-1", 5, lease_seconds=60)
    assert store.open_rows() == 5  # claimed rows are still unanswered
    answer(store, next(row for row in claimed if row.job_id == "job-1"))
    store.cancel("job-2", "other")

    assert store.open_rows() == 2
