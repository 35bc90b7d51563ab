"""FHIR R4 output: the official identity as a ``Patient`` of the FR Core Patient INS profile.

Follows FR Core 2.1.0 (``fr-core-patient-ins``): INS identifier with
``system`` ``urn:oid:<OID>``, ``value`` = matricule + key, ``use`` ``official``
and its type (``INS-NIR``, ``INS-NIA``, ``INS-NIR-TEST``, ``INS-NIA-TEST``);
official name (birth name, birth first names); gender; birth date; birth
place COG in the ``patient-birthPlace`` extension; the identity reliability
status (``RECUP``). A lunar birth date (``1980-00-00``) has no FHIR ``date``
form: it is reduced to the year (or year-month), the FHIR partial date.

Built from the JSON answer (:mod:`gateway.interfaces.answers`), so no
mapping from the core is written twice. No identity found: an
``OperationOutcome`` saying so. The search status or the verify verdict is
also given in the ``X-INS-Status`` header.
"""

from __future__ import annotations

from typing import Any, Final

from flask import Response, jsonify
from werkzeug.datastructures import MIMEAccept

FHIR_JSON: Final = "application/fhir+json"
PROFILE: Final = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"
_IDENTIFIER_TYPES: Final = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
_BIRTH_PLACE: Final = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
_INSEE_CODE: Final = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
_COG_SYSTEM: Final = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
_RELIABILITY: Final = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
_RELIABILITY_CODES: Final = (
    "https://mos.esante.gouv.fr/NOS/TRE_R338-ModaliteIdentite/FHIR/TRE-R338-ModaliteIdentite"
)
_GENDER: Final = {"F": "female", "M": "male"}


def wanted(accept: MIMEAccept) -> bool:
    """Whether the caller names FHIR JSON and does not prefer plain JSON (``*/*`` is plain)."""
    named = any(value.lower() == FHIR_JSON for value in accept.values())
    return named and accept.quality(FHIR_JSON) >= accept.quality("application/json")


def response(answer: dict[str, Any]) -> Response:
    resource = patient(answer) if answer.get("identity") else not_found(answer)
    reply = jsonify(resource)
    reply.mimetype = FHIR_JSON
    reply.headers["X-INS-Status"] = answer.get("verdict") or answer.get("status", "")
    return reply


def patient(answer: dict[str, Any]) -> dict[str, Any]:
    identity, ins = answer["identity"], answer["ins"]
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "meta": {"profile": [PROFILE]},
        "identifier": [_ins_identifier(ins)],
        "name": [
            {
                "use": "official",
                "family": identity["birth_name"],
                "given": identity["first_names"],
            }
        ],
        "gender": _GENDER.get(identity["sex"], "unknown"),
        "birthDate": fhir_date(identity["birth_date"]),
        "extension": [_reliability(answer.get("identity_status"))],
    }
    if identity.get("birth_place"):
        resource["extension"].append(_birth_place(identity["birth_place"]))
    return resource


def fhir_date(lunar: str) -> str:
    """``YYYY-MM-DD``, with ``00`` day or month reduced to a FHIR partial date."""
    year, month, day = lunar.split("-")
    if month == "00":
        return year
    if day == "00":
        return f"{year}-{month}"
    return lunar


def _ins_identifier(ins: dict[str, Any]) -> dict[str, Any]:
    identifier: dict[str, Any] = {
        "use": "official",
        "system": f"urn:oid:{ins['oid']}",
        "value": f"{ins['matricule']}{ins['key']}",
    }
    if ins["kind"]:  # an OID we do not know is passed through, without a guessed type
        code = f"INS-{ins['kind']}" + ("-TEST" if ins.get("test") else "")
        identifier["type"] = {"coding": [{"system": _IDENTIFIER_TYPES, "code": code}]}
    return identifier


def _birth_place(cog: str) -> dict[str, Any]:
    return {
        "url": _BIRTH_PLACE,
        "valueAddress": {
            "extension": [{"url": _INSEE_CODE, "valueCoding": {"system": _COG_SYSTEM, "code": cog}}]
        },
    }


def _reliability(status: str | None) -> dict[str, Any]:
    return {
        "url": _RELIABILITY,
        "extension": [
            {
                "url": "identityStatus",
                "valueCoding": {"system": _RELIABILITY_CODES, "code": status or "PROV"},
            }
        ],
    }


def not_found(answer: dict[str, Any]) -> dict[str, Any]:
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
