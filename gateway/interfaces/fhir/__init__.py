"""FHIR R4 output of the single-identity operations, following FR Core (docs/fhir.md).

Built from the JSON answer (:mod:`gateway.render.answers`), so no mapping
from the core is written twice. By the answer's ``identity_status``:

- ``QUAL``: a FR Core ``Patient`` carrying its INS, claiming ``fr-core-patient-ins``
  (:mod:`.identity`);
- ``RECUP``: a ``searchset`` Bundle: the Patient without INS (``fr-core-patient``)
  and an ``OperationOutcome`` saying why (:mod:`.outcome`);
- ``CHECK_REQUIRED`` (or a status this module does not know): the same Bundle
  with no Patient, the outcome listing the differences and unchecked traits;
- no single identity: an ``OperationOutcome``.

The ``X-INS-Status`` header says the same outside the body: the identity status
(``QUAL``, ``RECUP``, ``CHECK_REQUIRED``) when an identity came back, else the
search status or verify verdict (``not_found``, ``multiple``).
"""

from __future__ import annotations

from typing import Any, Final

from flask import Response, jsonify
from werkzeug.datastructures import MIMEAccept

from gateway.interfaces.fhir.identity import PATIENT_STATUSES, patient
from gateway.interfaces.fhir.outcome import not_found, searchset

__all__ = ["FHIR_JSON", "document", "ins_status", "patient", "response", "wanted"]

FHIR_JSON: Final = "application/fhir+json"


def wanted(accept: MIMEAccept) -> bool:
    """Whether the caller names FHIR JSON and does not prefer plain JSON (``*/*`` is plain)."""
    named = any(value.lower() == FHIR_JSON for value in accept.values())
    return named and accept.quality(FHIR_JSON) >= accept.quality("application/json")


def response(answer: dict[str, Any]) -> Response:
    """The FHIR document of an answer, with the status the body tells in ``X-INS-Status``."""
    reply = jsonify(document(answer))
    reply.mimetype = FHIR_JSON
    reply.headers["X-INS-Status"] = ins_status(answer)
    return reply


def document(answer: dict[str, Any]) -> dict[str, Any]:
    """Patient (QUAL), Bundle (RECUP, CHECK_REQUIRED) or OperationOutcome (no identity)."""
    if not answer.get("identity"):
        return not_found(answer)
    status = ins_status(answer)
    if status == "QUAL":
        return patient(answer)
    return searchset(answer, patient(answer) if status in PATIENT_STATUSES else None)


def ins_status(answer: dict[str, Any]) -> str:
    """The identity status of the body, ``CHECK_REQUIRED`` for any other; else the outcome."""
    if not answer.get("identity"):
        return str(answer.get("verdict") or answer.get("status") or "")
    status = answer.get("identity_status")
    return status if status in PATIENT_STATUSES else "CHECK_REQUIRED"
