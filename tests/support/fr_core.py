"""Every FHIR Patient the gateway produces must pass these checks: R4 structure, then FR Core.

R4 structure: the ``fhir.resources`` models (``R4B``, whose Patient is the R4
Patient), strict about unknown elements and data types.

FR Core: each check below cites the FSH line of ``Interop-Sante/hl7.fhir.fr.core``
it comes from, as ``<file>@<commit>:<line>`` (read with the search tool; the
rules are rewritten here, not copied). The same constants are written out
here again on purpose, from the FSH, not imported from the code under test.
The version targeted is FR Core 2.2.0, with the identity reliability model
(the four RNIV statuses, ``dateInterrogationINSi``, the document codes) from the
development sources that alone define it (docs/fhir.md, "The reference").

``check_document`` (and so ``check_patient``) is called by the unit tests of
``gateway/interfaces/fhir/`` and, through ``GatewayServer.post`` and the fuzz
test, on every ``application/fhir+json`` answer an integration test receives.
"""

from __future__ import annotations

import re
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

FR_CORE = "https://hl7.fr/ig/fhir/core"
INS_PROFILE_FSH = "input/fsh/profiles/FRCorePatientINSProfile.fsh@bb7f2c4a"
PATIENT_FSH = "input/fsh/profiles/FRCorePatientProfile.fsh@0192d45c"
RELIABILITY_FSH = "input/fsh/extensions/FRCorePatientIdentityReliabilityExtension.fsh@09cbf83c"
STATUS_CS_FSH = "input/fsh/codesystems/FRCoreCodeSystemIdentityStatus.fsh@bf812f31"
METHOD_CS_FSH = "input/fsh/codesystems/FRCoreCodeSystemIdentityMethodCollection.fsh@04526bea"
TYPES_CS_FSH = "input/fsh/codesystems/FRCoreCodeSystemv2-0203.fsh@08475511"
BIRTH_LIST_FSH = "input/fsh/extensions/FRCorePatientBirthName.fsh@51005702"
INSEE_FSH = "input/fsh/extensions/FRCoreAddressInseeCodeExtension.fsh@14814152"
EVIDENCE_CS_FSH = "input/fsh/codesystems/FRCoreCodeSystemIdentityModeValidation.fsh@031b4310"
LUNAR_FSH = "input/fsh/extensions/FRCoreLunarDateExtension.fsh@91007638"

PATIENT_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-patient"
INS_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"
RELIABILITY_URL = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
BIRTH_LIST_URL = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
INSEE_URL = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
BIRTH_PLACE_URL = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
# LUNAR_FSH:2 "Id: fr-core-lunar-date"; :6-7 context Patient; :9 value[x] only string.
LUNAR_URL = f"{FR_CORE}/StructureDefinition/fr-core-lunar-date"
# EVIDENCE_CS_FSH:2 "Id: fr-core-cs-mode-validation-identity"; :9-19 its codes.
EVIDENCE_SYSTEM = f"{FR_CORE}/CodeSystem/fr-core-cs-mode-validation-identity"
EVIDENCE_CODES = {"CN", "PA", "CS", "eCN", "IN", "AV", "LECV", "AN", "LEP", "CC", "ANCV"}
# STATUS_CS_FSH:2 "Id: fr-core-cs-identity-status"; :9-12 the four codes.
STATUS_SYSTEM = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
STATUS_CODES = {"PROV", "VALI", "RECUP", "QUAL"}
# METHOD_CS_FSH:2 "Id: fr-core-cs-method-collection"; :11-16 the six codes.
METHOD_SYSTEM = f"{FR_CORE}/CodeSystem/fr-core-cs-method-collection"
METHOD_CODES = {"SM", "CV", "INSI", "CB", "RFID", "AV"}
# TYPES_CS_FSH:2 "Id: fr-core-cs-v2-0203"; :16-19 INS-NIA, INS-NIR, INS-NIR-TEST, INS-NIR-DEMO.
TYPES_SYSTEM = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
# INS_PROFILE_FSH:36/38, :49/51, :60/62, :70/72: each INS slice's type code and system.
INS_TYPE_BY_SYSTEM = {
    "urn:oid:1.2.250.1.213.1.4.8": "INS-NIR",
    "urn:oid:1.2.250.1.213.1.4.9": "INS-NIA",
    "urn:oid:1.2.250.1.213.1.4.10": "INS-NIR-TEST",
    "urn:oid:1.2.250.1.213.1.4.11": "INS-NIR-DEMO",
}
# INS_PROFILE_FSH:45 INS-NIA use = #temp (fixed: a former NIA too); :58, :68 TEST and DEMO
# use = #official; :33 INS-NIR use from FRCoreValueSetPatientIdentifierUseINS (official | old,
# :34 "old" = a deactivated INS).
USES = {"INS-NIR": ("official", "old"), "INS-NIA": ("temp",), "INS-NIR-TEST": ("official",),
        "INS-NIR-DEMO": ("official",)}  # fmt: skip
_FHIR_DATE = re.compile(r"[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?")


class FrCoreViolation(AssertionError):
    """A Patient breaks FR Core; the message names the FSH line."""


def _require(condition: bool, where: str, what: str) -> None:
    if not condition:
        raise FrCoreViolation(f"{where}: {what}")


def check_patient(resource: dict[str, Any]) -> None:
    """R4 structure, then every FR Core rule below, then the profile the resource claims."""
    check_r4_structure(resource)
    check_identity_reliability(resource)
    check_ins_identifiers(resource)
    check_official_name(resource)
    check_birth_place(resource)
    check_lunar_date(resource)
    check_claimed_profile(resource)


def check_r4_structure(resource: dict[str, Any]) -> None:
    """FHIR R4 ``Patient`` (fhir.resources, R4B models: the same Patient as R4)."""
    _require(resource.get("resourceType") == "Patient", "FHIR R4", "resourceType Patient")
    try:
        Patient.model_validate(resource)
    except ValueError as error:
        raise FrCoreViolation(f"FHIR R4 Patient structure: {error}") from None


def extensions(element: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in element.get("extension", []) if e.get("url") == url]


def check_identity_reliability(resource: dict[str, Any]) -> None:
    """PATIENT_FSH:21 identityReliability 0..*; each one's sub-extensions as the extension says."""
    for reliability in extensions(resource, RELIABILITY_URL):
        statuses = extensions(reliability, "identityStatus")
        _require(len(statuses) <= 1, f"{RELIABILITY_FSH}:17", "identityStatus 0..1")
        for status in statuses:
            coding = status.get("valueCoding", {})
            _require(
                coding.get("system") == STATUS_SYSTEM and coding.get("code") in STATUS_CODES,
                f"{RELIABILITY_FSH}:44-45, {STATUS_CS_FSH}:9-12",
                f"identityStatus is a Coding from fr-core-cs-identity-status, got {coding}",
            )
        for method in extensions(reliability, "methodCollection"):
            coding = method.get("valueCoding", {})
            _require(
                coding.get("system") == METHOD_SYSTEM and coding.get("code") in METHOD_CODES,
                f"{RELIABILITY_FSH}:35-36, {METHOD_CS_FSH}:11-16",
                f"methodCollection is a Coding of fr-core-cs-method-collection, got {coding}",
            )
        for name, line in (("dateInterrogationINSi", 41), ("validationDate", 53)):
            for dated in extensions(reliability, name):
                value = dated.get("valueDate")
                _require(
                    set(dated) == {"url", "valueDate"} and bool(_FHIR_DATE.fullmatch(value or "")),
                    f"{RELIABILITY_FSH}:{line}",
                    f"{name}.value[x] only date, got {dated}",
                )
        for mode in extensions(reliability, "validationMode"):
            coding = mode.get("valueCoding", {})
            _require(
                coding.get("system") == EVIDENCE_SYSTEM and coding.get("code") in EVIDENCE_CODES,
                f"{RELIABILITY_FSH}:56-57, {EVIDENCE_CS_FSH}:9-19",
                f"validationMode is a Coding of fr-core-cs-mode-validation-identity, got {coding}",
            )


def ins_identifiers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in resource.get("identifier", []) if i.get("system") in INS_TYPE_BY_SYSTEM]


def check_ins_identifiers(resource: dict[str, Any]) -> None:
    """Each INS identifier: its slice's type code and use (active), or ``old`` (a former INS)."""
    active = []
    for identifier in ins_identifiers(resource):
        expected = INS_TYPE_BY_SYSTEM[identifier["system"]]
        codings = identifier.get("type", {}).get("coding", [])
        _require(
            [(c.get("system"), c.get("code")) for c in codings] == [(TYPES_SYSTEM, expected)],
            f"{INS_PROFILE_FSH}:36/49/60/70, {TYPES_CS_FSH}:16-19",
            f"{identifier['system']} has type {expected} of fr-core-cs-v2-0203, got {codings}",
        )
        _require(bool(identifier.get("value")), f"{INS_PROFILE_FSH}:40/53/64/74", "value 1..")
        use = identifier.get("use")
        _require(
            use in USES[expected],
            f"{INS_PROFILE_FSH}:33/45/58/68",
            f"an {expected} identifier has use {' or '.join(USES[expected])}, got {use}",
        )
        if use == "official":
            active.append(identifier)
    _require(
        len(active) <= 1,
        f"{INS_PROFILE_FSH}:33-34 (old = a deactivated INS), fr-core-2",
        f"one official INS, the others use old (NIR) or temp (NIA); got {len(active)}",
    )


def official_names(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in resource.get("name", []) if n.get("use") == "official"]


def check_official_name(resource: dict[str, Any]) -> None:
    """PATIENT_FSH:117-122 the official name; BIRTH_LIST_FSH:7-8 the list of first names."""
    for name in official_names(resource):
        _require(bool(name.get("family")), f"{PATIENT_FSH}:119", "officialName.family 1..")
        given = name.get("given", [])
        _require(len(given) == 1, f"{INS_PROFILE_FSH}:83-84", f"given 1..1 (first only): {given}")
        lists = extensions(name, BIRTH_LIST_URL)
        _require(len(lists) == 1, f"{PATIENT_FSH}:122, {INS_PROFILE_FSH}:86", "birth list 1..1")
        value = lists[0].get("valueString")
        _require(
            isinstance(value, str) and value.split(" ")[0] == given[0],
            f"{BIRTH_LIST_FSH}:7-8",
            f"valueString: every first name, the first one (= given) first, got {value!r}",
        )


def check_birth_place(resource: dict[str, Any]) -> None:
    """PATIENT_FSH:24 birthPlace 0..1; its INSEE code in fr-core-address-insee-code."""
    places = extensions(resource, BIRTH_PLACE_URL)
    _require(len(places) <= 1, f"{PATIENT_FSH}:24", "birthPlace 0..1")
    for place in places:
        codes = extensions(place.get("valueAddress", {}), INSEE_URL)
        _require(len(codes) == 1, f"{INS_PROFILE_FSH}:18", "valueAddress.extension[inseeCode] 1..1")
        code = codes[0].get("valueCoding", {}).get("code", "")
        _require(
            bool(re.fullmatch(r"[0-9][0-9AB][0-9]{3}", code)),
            f"{INSEE_FSH}:4,8-9",
            f"an INSEE code (5 characters, 99xxx abroad) as valueCoding, got {code!r}",
        )


def check_lunar_date(resource: dict[str, Any]) -> None:
    """LUNAR_FSH:6-7 on Patient, :9 a string; it holds the INS form of the birth date."""
    for lunar in extensions(resource, LUNAR_URL):
        value = lunar.get("valueString")
        _require(
            set(lunar) == {"url", "valueString"} and isinstance(value, str),
            f"{LUNAR_FSH}:9",
            f"fr-core-lunar-date.value[x] only string, got {lunar}",
        )


def claimed(resource: dict[str, Any]) -> list[str]:
    return list(resource.get("meta", {}).get("profile", []))


def check_claimed_profile(resource: dict[str, Any]) -> None:
    """A resource claims fr-core-patient-ins only if it is one, and only a QUAL identity does."""
    profiles = claimed(resource)
    _require(
        set(profiles) <= {PATIENT_PROFILE, INS_PROFILE},
        f"{PATIENT_FSH}:13, {INS_PROFILE_FSH}:11",
        f"only FR Core Patient canonicals, got {profiles}",
    )
    status = identity_status(resource)
    if INS_PROFILE in profiles:
        check_ins_profile(resource)
        _require(
            status == "QUAL",
            f"{INS_PROFILE_FSH}:5, {STATUS_CS_FSH}:12",
            f"fr-core-patient-ins (the INS) is for a qualified (QUAL) identity, got {status}",
        )
    if status != "QUAL":
        _require(
            not ins_identifiers(resource),
            f"{INS_PROFILE_FSH}:5 (INS only carried for a qualified identity)",
            f"a {status} identity carries no INS identifier",
        )


def identity_status(resource: dict[str, Any]) -> str | None:
    for reliability in extensions(resource, RELIABILITY_URL):
        for status in extensions(reliability, "identityStatus"):
            return str(status.get("valueCoding", {}).get("code"))
    return None


def check_ins_profile(resource: dict[str, Any]) -> None:
    """The cardinalities fr-core-patient-ins adds to fr-core-patient."""
    where = INS_PROFILE_FSH
    _require(bool(extensions(resource, RELIABILITY_URL)), f"{where}:14", "identityReliability 1..*")
    _require(len(extensions(resource, BIRTH_PLACE_URL)) == 1, f"{where}:16", "birthPlace 1..1")
    _require(bool(resource.get("identifier")), f"{where}:20", "identifier 1..")
    _require(
        resource.get("gender") in ("male", "female", "unknown"),
        f"{where}:76-77",
        "gender 1..1 from fr-core-vs-patient-gender-INS (male | female | unknown)",
    )
    _require(bool(resource.get("birthDate")), f"{where}:80", "birthDate 1..")
    _require(len(official_names(resource)) == 1, f"{where}:82", "name[officialName] 1..1")


def check_document(document: Any) -> None:
    """Any FHIR answer: a Patient as above; a Bundle or OperationOutcome R4-valid, with
    every Patient it holds checked as above (docs/fhir.md)."""
    _require(isinstance(document, dict), "FHIR R4", "a JSON object")
    kind = document.get("resourceType")
    if kind == "Patient":
        check_patient(document)
        return
    model = {"Bundle": Bundle, "OperationOutcome": OperationOutcome}.get(kind)
    _require(model is not None, "FHIR R4", f"Patient, Bundle or OperationOutcome, got {kind}")
    assert model is not None
    try:
        model.model_validate(document)
    except ValueError as error:
        raise FrCoreViolation(f"FHIR R4 {kind} structure: {error}") from None
    check_r4_codes(document)
    for entry in document.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Patient":
            check_patient(resource)
        else:
            check_r4_codes(resource)


# The R4 required bindings the models do not check (a code's form only): Bundle.type
# (bundle-type), Bundle.entry.search.mode (search-entry-mode), OperationOutcome.issue.severity.
_BUNDLE_TYPES = {"document", "message", "transaction", "transaction-response", "batch",
                 "batch-response", "history", "searchset", "collection"}  # fmt: skip
_SEARCH_MODES = {"match", "include", "outcome"}
_SEVERITIES = {"fatal", "error", "warning", "information"}


def check_r4_codes(resource: dict[str, Any]) -> None:
    """The codes of a Bundle or OperationOutcome come from their R4 value sets."""
    if resource.get("resourceType") == "Bundle":
        _require(resource.get("type") in _BUNDLE_TYPES, "R4 Bundle.type", "bundle-type")
        modes = {e.get("search", {}).get("mode") for e in resource.get("entry", [])}
        _require(modes <= _SEARCH_MODES, "R4 Bundle.entry.search.mode", f"got {modes}")
    for issue in resource.get("issue", []):
        _require(issue.get("severity") in _SEVERITIES, "R4 issue.severity", f"got {issue}")
