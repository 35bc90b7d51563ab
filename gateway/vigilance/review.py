"""What the API and the page share: the worker's vigilance objects, reviews, the CSV export.

Every acknowledge and resolve is journaled (operation ``vigilance-acknowledge`` or
``vigilance-resolve``, the reviewer's name as the user, the event's message id, so
the journal links the review to the call it is about) before the event moves; a
journal that cannot be written leaves the event where it was. Two reviewers moving
one event at the same instant both get a record, and the second a 409: the record
says who asked, the event says who moved it. Logins are journaled
too (``vigilance-login``), failed ones throttled per address and per name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry
from werkzeug.exceptions import Conflict, NotFound

from gateway.admission.floods import FailureThrottle
from gateway.service import InsService
from gateway.storage.audit import AuditEntry
from gateway.storage.database import Database
from gateway.storage.group_commit import GroupCommitJournal
from gateway.vigilance.recording import Recorder, attach
from gateway.vigilance.reviewers import ReviewerRegistry
from gateway.vigilance.store import TRANSITIONS, Event, EventStore

ACTIONS: Final = {"acknowledge": "acknowledged", "resolve": "resolved"}
CSV_COLUMNS: Final = (
    "id",
    "time",
    "app",
    "user_id",
    "patient_ref",
    "kind",
    "traits",
    "unchecked",
    "ins_hash",
    "request_id",
    "message_id",
    "source",
    "state",
    "state_by",
    "state_at",
    "comment",
)
# A cell a spreadsheet would read as a formula (CSV injection, OWASP) is prefixed with '.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
LOGIN_LIMIT, LOGIN_WINDOW = 5, 300.0  # failed logins per address, and per name, in seconds


@dataclass(frozen=True, slots=True)
class Vigilance:
    """One worker's vigilance objects (built once in :func:`gateway.server.app.create_app`)."""

    database: Database
    store: EventStore
    reviewers: ReviewerRegistry
    journal: GroupCommitJournal  # the process's one journal (server/runtime.py)
    recorder: Recorder
    throttle: FailureThrottle

    def review(
        self, event_id: int, action: str, *, by: str, app: str | None, request_id: str, comment: str
    ) -> Event:
        """Acknowledge or resolve an event, journaled first (404, 409 when it cannot move)."""
        state = ACTIONS[action]
        event = self.store.get(event_id)
        if event is None:
            raise NotFound("no such vigilance event")
        if event.state not in TRANSITIONS[state]:
            raise Conflict(f"the event is {event.state}: it cannot be {state}")
        self.journal.append(
            AuditEntry(
                request_id=request_id,
                operation=f"vigilance-{action}",
                outcome=f"{state}:{event_id}",
                message_id=event.message_id,
                app=app,
                user_id=by,
            )
        )
        moved = self.store.transition(event_id, state, by=by, comment=comment)
        if moved is None:  # another reviewer moved it between the read and the write
            raise Conflict(f"the event is no longer {event.state}")
        return moved

    def login(self, name: str, *, outcome: str, request_id: str, client: str | None) -> None:
        """Journal a login, a failed login or a logout (the name only if it is a reviewer's)."""
        known = name if self.reviewers.exists(name) else None
        self.journal.append(
            AuditEntry(
                request_id=request_id,
                operation="vigilance-login",
                outcome=outcome,
                user_id=known,
                client=client,
            )
        )


def csv_cell(value: object) -> str:
    """A value as a CSV cell a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    text = ";".join(value) if isinstance(value, list | tuple) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def events_csv(events: Iterable[Event]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        data = event.as_json()
        writer.writerow([csv_cell(data[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def build_vigilance(
    database: Database,
    journal: GroupCommitJournal,
    service: InsService,
    registry: CollectorRegistry,
) -> Vigilance:
    """The worker's vigilance objects on the process's one database and journal, its
    recorder attached to ``service`` (the hook's target)."""
    store = EventStore(database)
    recorder = Recorder(store, journal.pseudonym, registry)
    attach(service, recorder)
    return Vigilance(
        database=database,
        store=store,
        reviewers=ReviewerRegistry(database),
        journal=journal,
        recorder=recorder,
        throttle=FailureThrottle(LOGIN_LIMIT, LOGIN_WINDOW),
    )
