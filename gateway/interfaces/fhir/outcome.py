"""What a FHIR client needs besides the Patient: no identity, or an identity that is not QUAL.

FR Core lets only a qualified identity carry its INS, and has no status for an
identity the teleservice returned but whose traits disagree or could not all be
compared (``PROV`` means *not* retrieved, ``RECUP`` means compared *successfully*).
So a RECUP or CHECK_REQUIRED answer is a ``searchset`` Bundle, the shape FHIR R4
gives a search that reports on itself (``Bundle.entry.search.mode``: ``match``
for the Patient, ``outcome`` for an ``OperationOutcome``, as Patient ``$match``
does): the RECUP Patient, or none for CHECK_REQUIRED, then an OperationOutcome
whose issues are the answer's differences and unchecked traits (docs/fhir.md).
"""

from __future__ import annotations

import json
from typing import Any, Final

_TRAIT_LABEL: Final = {
    "birth_name": "birth name",
    "first_names": "first names",
    "sex": "sex",
    "birth_date": "birth date",
    "birth_place": "birth place",
    "ins": "INS",
    "ins.oid": "INS OID",
}


def not_found(answer: dict[str, Any]) -> dict[str, Any]:
    """No single identity (CR 01 or 02): one ``information`` issue."""
    outcome = answer.get("verdict") or answer.get("status")
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "not-found" if outcome == "not_found" else "multiple-matches",
                "diagnostics": answer.get("hint") or f"no single identity ({outcome})",
            }
        ],
    }


def searchset(answer: dict[str, Any], patient: dict[str, Any] | None) -> dict[str, Any]:
    """The Patient (``match``) if FR Core allows one, then the outcome (``outcome``)."""
    entries: list[dict[str, Any]] = []
    if patient is not None:
        entries.append({"resource": patient, "search": {"mode": "match"}})
    entries.append({"resource": identity_outcome(answer), "search": {"mode": "outcome"}})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 0 if patient is None else 1,
        "entry": entries,
    }


def identity_outcome(answer: dict[str, Any]) -> dict[str, Any]:
    """The status first, then one issue per difference and per unchecked trait."""
    issues = [_status_issue(answer)]
    issues += [_difference(entry) for entry in answer.get("differences") or []]
    issues += [_unchecked(trait) for trait in answer.get("unchecked_traits") or []]
    if answer.get("verdict"):
        issues.append(_note(f"verdict: {answer['verdict']}", "the verification's verdict"))
    return {"resourceType": "OperationOutcome", "issue": issues}


def _status_issue(answer: dict[str, Any]) -> dict[str, Any]:
    """Why the INS is not in the Bundle, under the status the ``X-INS-Status`` header gives."""
    status = answer.get("identity_status")
    if status == "RECUP":
        return _note(
            "RECUP",
            "identity retrieved from INSi and its traits compared successfully, but no "
            "high-trust identity document was checked: FR Core carries the INS only for a "
            "qualified (QUAL) identity",
        )
    return {
        "severity": "warning",
        "code": "business-rule",
        "details": {"text": "CHECK_REQUIRED"},
        "diagnostics": (
            "INSi returned an identity whose traits differ from the ones sent or could not "
            "all be compared: a person must check it; FR Core has no Patient status for it "
            "(PROV: not retrieved, RECUP: compared successfully), so none is given"
        ),
    }


def _note(text: str, diagnostics: str) -> dict[str, Any]:
    return {
        "severity": "information",
        "code": "informational",
        "details": {"text": text},
        "diagnostics": diagnostics,
    }


def _difference(entry: dict[str, Any]) -> dict[str, Any]:
    """A trait sent that differs from the official one, both values given."""
    field = str(entry.get("field"))
    label = _TRAIT_LABEL.get(field, field)
    return {
        "severity": "warning",
        "code": "business-rule",
        "details": {"text": f"difference: {field}"},
        "diagnostics": (
            f"{label}: sent {_shown(entry.get('given'))}, official {_shown(entry.get('official'))}"
        ),
    }


def _unchecked(trait: str) -> dict[str, Any]:
    """A strict trait that could not be compared (not sent, or unknown on one side)."""
    return {
        "severity": "warning",
        "code": "incomplete",
        "details": {"text": f"unchecked: {trait}"},
        "diagnostics": f"{_TRAIT_LABEL.get(trait, trait)} not compared: not sent or unknown",
    }


def _shown(value: Any) -> str:
    """A value as the client reads it: a list of first names space separated, else JSON."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = " ".join(value)
    return json.dumps(value, ensure_ascii=False)
