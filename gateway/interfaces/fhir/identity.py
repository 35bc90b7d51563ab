"""The FR Core ``Patient`` of an answer that holds a RECUP or QUAL identity (docs/fhir.md).

Every element below follows an FSH line of FR Core (``Interop-Sante/hl7.fhir.fr.core``);
docs/fhir.md names the version targeted and the file, commit and line of each rule:

- the INS identifiers and the ``fr-core-patient-ins`` profile only for a ``QUAL``
  identity ("le matricule INS ne peut être véhiculé que dans le cas d'une identité
  qualifiée"); a RECUP identity is a plain ``fr-core-patient`` without INS;
- the identity reliability extension: the RNIV status, the channel, the date of
  the INSi call and, for QUAL, the document checked (``validationMode``) and the
  date it was checked (``validationDate``);
- ``given`` is the first name of the official list (``ListePrenom``), the whole
  list in the birth-list-given-name extension;
- a lunar birth date keeps its INS form in ``fr-core-lunar-date`` beside the
  FHIR partial ``birthDate``.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.ins.matricule import oid_identifier_type

_FR_CORE: Final = "https://hl7.fr/ig/fhir/core"
PATIENT_PROFILE: Final = f"{_FR_CORE}/StructureDefinition/fr-core-patient"
INS_PROFILE: Final = f"{_FR_CORE}/StructureDefinition/fr-core-patient-ins"
RELIABILITY: Final = f"{_FR_CORE}/StructureDefinition/fr-core-identity-reliability"
STATUS_SYSTEM: Final = f"{_FR_CORE}/CodeSystem/fr-core-cs-identity-status"
METHOD_SYSTEM: Final = f"{_FR_CORE}/CodeSystem/fr-core-cs-method-collection"
EVIDENCE_SYSTEM: Final = f"{_FR_CORE}/CodeSystem/fr-core-cs-mode-validation-identity"
IDENTIFIER_TYPES: Final = f"{_FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
BIRTH_LIST: Final = f"{_FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
LUNAR_DATE: Final = f"{_FR_CORE}/StructureDefinition/fr-core-lunar-date"
INSEE_CODE: Final = f"{_FR_CORE}/StructureDefinition/fr-core-address-insee-code"
BIRTH_PLACE: Final = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
COG_SYSTEM: Final = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"

# The statuses the gateway can give a Patient; CHECK_REQUIRED has none (docs/fhir.md).
PATIENT_STATUSES: Final = frozenset({"RECUP", "QUAL"})
_STATUS_DISPLAY: Final = {"RECUP": "Identité récupérée", "QUAL": "Identité qualifiée"}
_METHOD_DISPLAY: Final = {"INSI": "Téléservice INSi", "CV": "Carte Vitale"}
# fr-core-cs-mode-validation-identity: the codes an answer's evidence document may carry.
_EVIDENCE_DISPLAY: Final = {
    "CN": "Carte nationale d'identité", "PA": "Passeport", "CS": "Carte de séjour",
    "eCN": "e-carte d'identité", "IN": "Identité Numérique La Poste",
    "AV": "Application Carte Vitale", "AN": "Extrait d'acte de naissance",
    "LEP": "Livret de famille des parents", "CC": "Carnet de circulation",
    "LECV": "Livret de famille, accompagné de la carte Vitale avec photographie",
    "ANCV": "Acte de naissance, accompagné de la carte Vitale avec photographie",
}  # fmt: skip
_GENDER: Final = {"F": "female", "M": "male"}


def _french_time() -> tzinfo:
    """Europe/Paris: FR Core's dates are calendar dates read in France; UTC if no tz data."""
    try:
        return ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:  # pragma: no cover - Debian ships tzdata
        return UTC


_FRANCE: Final = _french_time()


def patient(answer: dict[str, Any]) -> dict[str, Any]:
    """The Patient of a RECUP or QUAL answer; the INS and its profile for QUAL only."""
    identity = answer["identity"]
    status = answer.get("identity_status")
    if status not in PATIENT_STATUSES:
        raise ValueError(f"no FR Core Patient for an identity {status}")
    identifiers = ins_identifiers(answer) if status == "QUAL" else []
    name = official_name(identity)
    place = identity.get("birth_place")
    extensions = [reliability(answer, status)]
    if place:
        extensions.append(birth_place(place))
    lunar = lunar_date(identity["birth_date"])
    if lunar:
        extensions.append(lunar)
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


def reliability(answer: dict[str, Any], status: str) -> dict[str, Any]:
    """Status, channel, date of the INSi call; for QUAL the evidence checked and its date."""
    method = "CV" if "beneficiary_matricule" in (answer.get("sent") or {}) else "INSI"
    parts: list[dict[str, Any]] = [
        {"url": "identityStatus", "valueCoding": _coding(STATUS_SYSTEM, status, _STATUS_DISPLAY)},
        {"url": "methodCollection", "valueCoding": _coding(METHOD_SYSTEM, method, _METHOD_DISPLAY)},
    ]
    queried = french_date(answer.get("queried_at"))
    if queried:
        parts.append({"url": "dateInterrogationINSi", "valueDate": queried})
    if status == "QUAL":
        parts += evidence(answer.get("identity_evidence") or {})
    return {"url": RELIABILITY, "extension": parts}


def evidence(document: dict[str, Any]) -> list[dict[str, Any]]:
    """``validationMode`` (a code FR Core knows) and ``validationDate`` of the checked document."""
    parts: list[dict[str, Any]] = []
    code = document.get("document")
    if code in _EVIDENCE_DISPLAY:
        coding = _coding(EVIDENCE_SYSTEM, code, _EVIDENCE_DISPLAY)
        parts.append({"url": "validationMode", "valueCoding": coding})
    checked = french_date(document.get("checked_at"))
    if checked:
        parts.append({"url": "validationDate", "valueDate": checked})
    return parts


def french_date(moment: str | None) -> str | None:
    """The French calendar date (``YYYY-MM-DD``) of an ISO date or date-time, or None."""
    if not moment:
        return None
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return None
    if len(moment) == 10:  # a date alone: already a calendar date
        return parsed.date().isoformat()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(_FRANCE).date().isoformat()


def _coding(system: str, code: str, displays: dict[str, str]) -> dict[str, str]:
    return {"system": system, "code": code, "display": displays[code]}


def ins_identifiers(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The active INS, then the former ones FR Core can carry (see :func:`_identifier`)."""
    ins = answer.get("ins")
    active = _identifier(ins, former=False) if ins else None
    if active is None:  # an OID FR Core does not know, or no key: not an INS it can carry
        return []
    former = [_identifier(entry, former=True) for entry in answer.get("history") or []]
    return [active, *(entry for entry in former if entry is not None)]


def _identifier(ins: dict[str, Any], *, former: bool) -> dict[str, Any] | None:
    """One INS slice; None without a key (never a 13-character INS) or for an unknown OID.

    ``use``: INS-NIA is fixed ``temp`` by its slice, former or not; INS-NIR-TEST and
    -DEMO are fixed ``official``; only INS-NIR's value set has ``old`` for a former INS.
    A former INS's end date, when the teleservice gave it, is the identifier's period.
    """
    type_code = ins.get("oid_kind") or oid_identifier_type(ins["oid"])
    if not type_code or not ins.get("key"):
        return None
    if type_code == "INS-NIA":
        use = "temp"
    else:
        use = "old" if former and type_code == "INS-NIR" else "official"
    if former and use == "official":  # a former TEST/DEMO INS: no slice can say it is old
        return None
    identifier: dict[str, Any] = {
        "use": use,
        "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": type_code}]},
        "system": f"urn:oid:{ins['oid']}",
        "value": f"{ins['matricule']}{ins['key']}",
    }
    period = {k: ins[f"{k}_date"] for k in ("start", "end") if _is_date(ins.get(f"{k}_date"))}
    if former and period:
        identifier["period"] = period
    return identifier


def _is_date(value: Any) -> bool:
    """A full ``YYYY-MM-DD`` date (FHIR ``dateTime`` accepts it as a period bound)."""
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def official_name(identity: dict[str, Any]) -> dict[str, Any]:
    """Birth name; ``given`` = the first of ListePrenom (not Prenom); the list in its extension."""
    first_names = [n for n in identity.get("first_names") or [] if n]
    if not first_names and identity.get("first_name"):
        first_names = [identity["first_name"]]  # an answer without ListePrenom
    name: dict[str, Any] = {"use": "official", "family": identity["birth_name"]}
    if first_names:
        name["given"] = [first_names[0]]
        name["extension"] = [{"url": BIRTH_LIST, "valueString": " ".join(first_names)}]
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


def lunar_date(birth_date: str) -> dict[str, Any] | None:
    """``fr-core-lunar-date`` holding the INS form (``1950-00-00``) when day or month is unknown."""
    if fhir_date(birth_date) == birth_date:
        return None
    return {"url": LUNAR_DATE, "valueString": birth_date}
