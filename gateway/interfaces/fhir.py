"""FHIR R4 output: the official identity as a FR Core ``Patient`` (docs/fhir.md).

The reference is FR Core (Interop'Santé, ``hl7.fhir.fr.core``): the FSH of
``FRCorePatientINSProfile`` (``fr-core-patient-ins``), of ``FRCorePatientProfile``
(``fr-core-patient``) and of the extensions and code systems they use. The
resource is built from the JSON answer (:mod:`gateway.interfaces.answers`), so
no mapping from the core is written twice:

- the identity reliability extension carries the RNIV status from FR Core's
  own code system: ``RECUP`` when the answer's ``identity_status`` is
  ``RECUP`` (retrieved *and* the traits agree), ``PROV`` otherwise (a person
  must check the identity: ``CHECK_REQUIRED``); with the channel
  (``methodCollection``: ``INSI``, or ``CV`` for a Vitale card search) and the
  date of the teleservice call (``dateInterrogationINSi``, French date);
- only a RECUP/QUAL identity carries its INS (FR Core: "le matricule INS ne
  peut être véhiculé que dans le cas d'une identité qualifiée"): the active
  one ``use`` ``official`` (``temp`` for an INS-NIA), former ones of the
  history ``use`` ``old``;
- ``name[officialName]``: ``family`` the birth name, ``given`` the first
  first name only, the whole list (space separated) in the
  birth-list-given-name extension;
- birth place: the INSEE code in ``patient-birthPlace``, when known;
- the profile claimed is what the resource is: ``fr-core-patient-ins`` only
  when it meets that profile (RECUP/QUAL with an INS, birth place, given
  name), else ``fr-core-patient``.

A lunar birth date (``1980-00-00``) has no FHIR ``date`` form: it is reduced
to the year (or year-month), the FHIR partial date. No identity found: an
``OperationOutcome``. The search status or verify verdict is also in the
``X-INS-Status`` header.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Response, jsonify
from werkzeug.datastructures import MIMEAccept

from gateway.ins.matricule import oid_identifier_type

FHIR_JSON: Final = "application/fhir+json"
_FR_CORE: Final = "https://hl7.fr/ig/fhir/core"
PATIENT_PROFILE: Final = f"{_FR_CORE}/StructureDefinition/fr-core-patient"
INS_PROFILE: Final = f"{_FR_CORE}/StructureDefinition/fr-core-patient-ins"
RELIABILITY: Final = f"{_FR_CORE}/StructureDefinition/fr-core-identity-reliability"
STATUS_SYSTEM: Final = f"{_FR_CORE}/CodeSystem/fr-core-cs-identity-status"
METHOD_SYSTEM: Final = f"{_FR_CORE}/CodeSystem/fr-core-cs-method-collection"
IDENTIFIER_TYPES: Final = f"{_FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
BIRTH_LIST: Final = f"{_FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
INSEE_CODE: Final = f"{_FR_CORE}/StructureDefinition/fr-core-address-insee-code"
BIRTH_PLACE: Final = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
COG_SYSTEM: Final = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"

_STATUS_DISPLAY: Final = {
    "PROV": "Identité provisoire",
    "RECUP": "Identité récupérée",
    "QUAL": "Identité qualifiée",
}
_CARRIES_INS: Final = frozenset({"RECUP", "QUAL"})
_METHOD_DISPLAY: Final = {"INSI": "Téléservice INSi", "CV": "Carte Vitale"}
_GENDER: Final = {"F": "female", "M": "male"}


def _french_time() -> tzinfo:
    """Europe/Paris for ``dateInterrogationINSi`` (a date, read in France); UTC if no tz data."""
    try:
        return ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:  # pragma: no cover - Debian ships tzdata
        return UTC


_FRANCE: Final = _french_time()


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
    """The FR Core ``Patient`` of an answer that holds an identity (see the module doc)."""
    identity = answer["identity"]
    status = reliability_status(answer)
    identifiers = ins_identifiers(answer) if status in _CARRIES_INS else []
    name = official_name(identity)
    place = identity.get("birth_place")
    extensions = [reliability(answer, status), *([birth_place(place)] if place else [])]
    # fr-core-patient-ins: identifier 1.., birthPlace 1..1, officialName.given 1..1.
    meets_ins_profile = bool(identifiers) and bool(place) and "given" in name
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "meta": {"profile": [INS_PROFILE if meets_ins_profile else PATIENT_PROFILE]},
        "extension": extensions,
    }
    if identifiers:
        resource["identifier"] = identifiers
    resource["name"] = [name]
    resource["gender"] = _GENDER.get(identity.get("sex") or "", "unknown")
    resource["birthDate"] = fhir_date(identity["birth_date"])
    return resource


def reliability_status(answer: dict[str, Any]) -> str:
    """``RECUP``/``QUAL`` as the answer says; anything else (``CHECK_REQUIRED``, none) ``PROV``."""
    status = answer.get("identity_status")
    return status if status in _CARRIES_INS else "PROV"


def reliability(answer: dict[str, Any], status: str) -> dict[str, Any]:
    """FR Core's identity reliability extension: status, channel, date of the INSi call."""
    method = _method(answer)
    parts: list[dict[str, Any]] = [
        {"url": "identityStatus", "valueCoding": _coding(STATUS_SYSTEM, status, _STATUS_DISPLAY)},
        {"url": "methodCollection", "valueCoding": _coding(METHOD_SYSTEM, method, _METHOD_DISPLAY)},
    ]
    queried = query_date(answer.get("queried_at"))
    if queried:
        parts.append({"url": "dateInterrogationINSi", "valueDate": queried})
    return {"url": RELIABILITY, "extension": parts}


def query_date(queried_at: str | None) -> str | None:
    """The French calendar date (``YYYY-MM-DD``) of the ISO 8601 ``queried_at``, or None."""
    if not queried_at:
        return None
    try:
        moment = datetime.fromisoformat(queried_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_FRANCE).date().isoformat()


def _method(answer: dict[str, Any]) -> str:
    """``CV`` when the search used Vitale card data, else ``INSI`` (traits typed in)."""
    sent = answer.get("sent") or {}
    return "CV" if "beneficiary_matricule" in sent else "INSI"


def _coding(system: str, code: str, displays: dict[str, str]) -> dict[str, str]:
    return {"system": system, "code": code, "display": displays[code]}


def ins_identifiers(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The active INS (``official``, ``temp`` for a NIA), then the former ones (``old``)."""
    ins = answer.get("ins")
    if not ins:
        return []
    active = _identifier(ins, old=False)
    if "type" not in active:  # an OID FR Core does not know: not an INS it can carry
        return []
    former = [_identifier(entry, old=True) for entry in answer.get("history") or []]
    return [active, *(entry for entry in former if "type" in entry)]


def _identifier(ins: dict[str, Any], *, old: bool) -> dict[str, Any]:
    type_code = ins.get("oid_kind") or oid_identifier_type(ins["oid"])
    use = "old" if old else "temp" if type_code == "INS-NIA" else "official"
    identifier: dict[str, Any] = {
        "use": use,
        "system": f"urn:oid:{ins['oid']}",
        "value": f"{ins['matricule']}{ins.get('key') or ''}",
    }
    if type_code:
        identifier["type"] = {"coding": [{"system": IDENTIFIER_TYPES, "code": type_code}]}
    return identifier


def official_name(identity: dict[str, Any]) -> dict[str, Any]:
    """Birth name; ``given`` = the first first name only; the whole list in its extension."""
    first_names = [n for n in identity.get("first_names") or [] if n]
    first = identity.get("first_name") or (first_names[0] if first_names else None)
    name: dict[str, Any] = {"use": "official", "family": identity["birth_name"]}
    if first:
        name["given"] = [first]
        name["extension"] = [{"url": BIRTH_LIST, "valueString": " ".join(first_names or [first])}]
    return name


def birth_place(cog: str) -> dict[str, Any]:
    """``patient-birthPlace`` holding the INSEE code (a foreign country's is ``99xxx``)."""
    insee = {"url": INSEE_CODE, "valueCoding": {"system": COG_SYSTEM, "code": cog}}
    return {"url": BIRTH_PLACE, "valueAddress": {"extension": [insee]}}


def fhir_date(lunar: str) -> str:
    """``YYYY-MM-DD``, with ``00`` day or month reduced to a FHIR partial date."""
    year, month, day = lunar.split("-")
    if month == "00":
        return year
    if day == "00":
        return f"{year}-{month}"
    return lunar


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
