"""The one hook that turns answers into vigilance events, called where answers are produced.

The JSON routes, the SOAP operations and the batch runner each make one call to
:func:`record` with the answer dicts they are about to give and who asked. The
recorder is attached to the worker's :class:`~gateway.service.InsService` (the one
object all three already hold), so none of them needs a new dependency; without a
recorder (a service built by a unit test, the ``search`` command) nothing is recorded.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter

from gateway.exceptions import InvalidInput
from gateway.service import InsService
from gateway.vigilance.events import finding
from gateway.vigilance.store import EventStore, NewEvent

PATIENT_REF_HEADER: Final = "X-Patient-Ref"
_PATIENT_REF_ENVIRON: Final = "HTTP_" + PATIENT_REF_HEADER.upper().replace("-", "_")  # WSGI
_PATIENT_REF: Final = re.compile(r"[A-Za-z0-9._:/-]{1,64}")


def patient_ref(header: str | None) -> str | None:
    """The application's own patient reference (``X-Patient-Ref``), if given and well formed.

    An identifier of the application (IPP), never a trait: 1 to 64 letters, digits, ``._:/-``.
    """
    if not header:
        return None
    if not _PATIENT_REF.fullmatch(header):
        raise InvalidInput(PATIENT_REF_HEADER, "must be 1 to 64 letters, digits or . _ : / -")
    return header


@dataclass(frozen=True, slots=True, kw_only=True)
class Asker:
    """Who the answers were given to: application, end user, patient reference, interface."""

    app: str
    source: str  # json, soap, batch
    request_id: str
    user_id: str | None = None
    patient_ref: str | None = None


class Recorder:
    """Stores the events of answers and counts answers and events for the indicators."""

    def __init__(
        self,
        store: EventStore,
        pseudonym: Callable[[str], str],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._store = store
        self._pseudonym = pseudonym
        self.answers = Counter(
            "gateway_vigilance_answers",
            "Answers given (identity found or not), by application: the indicators' denominator",
            ["app"],
            registry=registry,
        )
        self.events = Counter(
            "gateway_vigilance_events",
            "Answers that need a person (vigilance events), by application and kind",
            ["app", "kind"],
            registry=registry,
        )

    def record(self, answers: Iterable[Mapping[str, Any]], asker: Asker) -> None:
        """Write the events of ``answers`` before they are given (raises when it cannot)."""
        given = [answer for answer in answers if not answer.get("error")]
        new = []
        for answer in given:
            found = finding(answer)
            if found is None:
                continue
            new.append(
                NewEvent(
                    app=asker.app,
                    kind=found.kind.value,
                    request_id=found.request_id or asker.request_id,
                    source=asker.source,
                    traits=found.traits,
                    unchecked=found.unchecked,
                    ins_hash=self._pseudonym(found.matricule) if found.matricule else None,
                    message_id=found.message_id,
                    user_id=asker.user_id,
                    patient_ref=asker.patient_ref,
                )
            )
        self._store.record(new)
        if given:
            self.answers.labels(app=asker.app).inc(len(given))
        for event in new:
            self.events.labels(app=asker.app, kind=event.kind).inc()


_RECORDERS: weakref.WeakKeyDictionary[InsService, Recorder] = weakref.WeakKeyDictionary()


def attach(service: InsService, recorder: Recorder) -> None:
    """Make ``recorder`` the one that :func:`record` uses for answers of ``service``."""
    _RECORDERS[service] = recorder


def record(service: InsService, answers: Iterable[Mapping[str, Any]], asker: Asker) -> None:
    """The hook: record the events of ``answers`` given by ``service`` to ``asker``."""
    recorder = _RECORDERS.get(service)
    if recorder is not None:
        recorder.record(answers, asker)


def record_soap(call: Any, environ: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """The SOAP operations' hook (``call``: their :class:`SoapCall`, once authenticated)."""
    record(
        call.service,
        [body],
        Asker(
            app=call.app.name,
            source="soap",
            request_id=call.request_id,
            user_id=call.user_id,
            patient_ref=patient_ref(environ.get(_PATIENT_REF_ENVIRON)),
        ),
    )
