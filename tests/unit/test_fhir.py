"""FHIR output never contradicts FR Core (issues 8 and 16): each rule from the FSH, not our code.

The answers below are written by hand in the JSON contract of the API
(docs, openapi.json, the identity_status / differences / unchecked_traits /
identity_evidence members of issue 16), the way the service answers; every
resulting document also goes through :mod:`tests.support.fr_core`, and the last
tests show that those checks do refuse what FR Core forbids.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask import Flask

from gateway.interfaces.fhir import document, patient, response
from tests.support.fr_core import (
    INS_PROFILE,
    PATIENT_PROFILE,
    FrCoreViolation,
    check_document,
    check_patient,
)

FR_CORE = "https://hl7.fr/ig/fhir/core"
RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
STATUS_SYSTEM = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
EVIDENCE_SYSTEM = f"{FR_CORE}/CodeSystem/fr-core-cs-mode-validation-identity"
BIRTH_LIST = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
LUNAR = f"{FR_CORE}/StructureDefinition/fr-core-lunar-date"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
TYPES = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
TRE_R338 = "https://mos.esante.gouv.fr/NOS/TRE_R338-ModaliteIdentite/FHIR/TRE-R338-ModaliteIdentite"
PASSPORT = {
    "document": "PA",
    "checked_by": "agent-12",
    "checked_at": "2026-11-26",
    "qualifying": True,
}


def nir(matricule: str = "297022A020778", key: str | None = "78") -> dict[str, Any]:
    return {
        "matricule": matricule, "key": key, "oid": "1.2.250.1.213.1.4.8", "kind": "NIR",
        "oid_kind": "INS-NIR", "test": False, "key_valid": True,
    }  # fmt: skip


def nia() -> dict[str, Any]:
    return {
        "matricule": "297022A020999", "key": "12", "oid": "1.2.250.1.213.1.4.9", "kind": "NIA",
        "oid_kind": "INS-NIA", "test": False, "key_valid": True,
    }  # fmt: skip


def answer(**changes: Any) -> dict[str, Any]:
    """A found search answer, QUAL on a passport, for two birth first names, born in 2A020."""
    base: dict[str, Any] = {
        "status": "found",
        "code": "00",
        "ins": nir(),
        "identity": {
            "birth_name": "ADRTROIS", "first_name": "MARIE", "first_names": ["MARIE", "CLAIRE"],
            "sex": "F", "birth_date": "1997-02-26", "birth_place": "2A020",
        },
        "identity_status": "QUAL",
        "differences": [],
        "unchecked_traits": [],
        "identity_evidence": dict(PASSPORT),
        "history": [],
        "sent": {"birth_name": "ADRTROIS", "first_names": ["MARIE", "CLAIRE"], "sex": "F",
                 "birth_date": "1997-02-26", "birth_place": "2A020"},
        "queried_at": "2026-11-27T10:15:00.000Z",
    }  # fmt: skip
    base.update(changes)
    return base


def checked(data: dict[str, Any]) -> dict[str, Any]:
    """The Patient of a QUAL or RECUP answer, whatever the document holding it."""
    resource = document(data)
    check_document(resource)
    if resource["resourceType"] == "Bundle":
        (resource,) = [e["resource"] for e in resource["entry"] if e["search"]["mode"] == "match"]
    assert resource["resourceType"] == "Patient"
    return resource


def reliability(resource: dict[str, Any]) -> dict[str, Any]:
    (extension,) = [e for e in resource["extension"] if e["url"] == RELIABILITY]
    return {part["url"]: part for part in extension["extension"]}


def outcome_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    issues: list[dict[str, Any]] = outcome["issue"]
    return issues


# --- the INS and fr-core-patient-ins only for a QUAL identity ----------------------------------


def test_a_qual_identity_is_a_fr_core_patient_ins_carrying_its_ins() -> None:
    resource = document(answer())
    check_document(resource)

    assert resource["resourceType"] == "Patient"
    assert resource["meta"]["profile"] == [INS_PROFILE]
    status = reliability(resource)["identityStatus"]["valueCoding"]
    assert (status["system"], status["code"]) == (STATUS_SYSTEM, "QUAL")
    assert resource["identifier"] == [
        {
            "use": "official",
            "type": {"coding": [{"system": TYPES, "code": "INS-NIR"}]},
            "system": "urn:oid:1.2.250.1.213.1.4.8",
            "value": "297022A020778" + "78",
        }
    ]
    assert (resource["gender"], resource["birthDate"]) == ("female", "1997-02-26")


def test_a_qual_identity_says_which_document_was_checked_and_when() -> None:
    evidence = {**PASSPORT, "document": "CN", "checked_at": "2026-11-26T23:30:00Z"}

    parts = reliability(checked(answer(identity_evidence=evidence)))

    mode = parts["validationMode"]["valueCoding"]
    assert (mode["system"], mode["code"]) == (EVIDENCE_SYSTEM, "CN")
    assert parts["validationDate"] == {"url": "validationDate", "valueDate": "2026-11-27"}  # Paris


def test_a_document_fr_core_does_not_list_is_not_sent_as_validation_mode() -> None:
    evidence = {**PASSPORT, "document": "XYZ"}

    parts = reliability(checked(answer(identity_evidence=evidence)))

    assert "validationMode" not in parts
    assert parts["validationDate"]["valueDate"] == "2026-11-26"


def test_a_recup_identity_is_a_plain_patient_without_ins_in_a_searchset() -> None:
    bundle = document(answer(identity_status="RECUP", identity_evidence=None))
    check_document(bundle)

    assert (bundle["resourceType"], bundle["type"], bundle["total"]) == ("Bundle", "searchset", 1)
    resource = checked(answer(identity_status="RECUP", identity_evidence=None))
    assert resource["meta"]["profile"] == [PATIENT_PROFILE]
    assert "identifier" not in resource
    parts = reliability(resource)
    assert parts["identityStatus"]["valueCoding"]["code"] == "RECUP"
    assert "validationMode" not in parts
    assert "validationDate" not in parts
    (status,) = outcome_of(bundle)
    assert (status["severity"], status["details"]["text"]) == ("information", "RECUP")
    assert "QUAL" in status["diagnostics"]


def test_an_identity_to_check_gives_no_patient_but_its_differences_and_unchecked_traits() -> None:
    differing = [
        {"field": "first_names", "given": ["MARIE", "ANNE"], "official": ["MARIE", "CLAIRE"]},
        {"field": "sex", "given": "M", "official": "F"},
    ]
    data = answer(
        identity_status="CHECK_REQUIRED",
        differences=differing,
        unchecked_traits=["birth_place"],
        identity_evidence=None,
    )

    bundle = document(data)
    check_document(bundle)

    assert (bundle["resourceType"], bundle["type"], bundle["total"]) == ("Bundle", "searchset", 0)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["OperationOutcome"]
    assert "297022A020778" not in str(bundle)
    status, first_names, sex, place = outcome_of(bundle)
    assert (status["severity"], status["details"]["text"]) == ("warning", "CHECK_REQUIRED")
    assert first_names["details"]["text"] == "difference: first_names"
    assert "MARIE ANNE" in first_names["diagnostics"]
    assert "MARIE CLAIRE" in first_names["diagnostics"]
    assert sex["details"]["text"] == "difference: sex"
    assert (place["code"], place["details"]["text"]) == ("incomplete", "unchecked: birth_place")


@pytest.mark.parametrize("status", [None, "PROV", "SOMETHING-NEW"])
def test_an_answer_without_a_known_status_is_treated_as_one_to_check(status: str | None) -> None:
    bundle = document(answer(identity_status=status))
    check_document(bundle)

    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["OperationOutcome"]
    assert outcome_of(bundle)[0]["details"]["text"] == "CHECK_REQUIRED"


def test_a_verify_verdict_stays_visible_in_the_outcome() -> None:
    data = answer(identity_status="CHECK_REQUIRED", verdict="superseded", identity_evidence=None)
    data["differences"] = [{"field": "ins", "given": "297022A020111", "official": "297022A020778"}]

    texts = [issue["details"]["text"] for issue in outcome_of(document(data))]

    assert texts == ["CHECK_REQUIRED", "difference: ins", "verdict: superseded"]


# --- the X-INS-Status header agrees with the body -----------------------------------------------


def body_status(resource: dict[str, Any]) -> str:
    """The status the body itself states: the Patient's, else the outcome's first issue."""
    if resource["resourceType"] == "Patient":
        return str(reliability(resource)["identityStatus"]["valueCoding"]["code"])
    if resource["resourceType"] == "Bundle":
        return str(outcome_of(resource)[0]["details"]["text"])
    return str(resource["issue"][0]["code"]).replace("-matches", "").replace("-", "_")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "QUAL"),
        ({"identity_status": "RECUP", "identity_evidence": None}, "RECUP"),
        ({"identity_status": "CHECK_REQUIRED", "unchecked_traits": ["sex"]}, "CHECK_REQUIRED"),
        ({"identity_status": "CHECK_REQUIRED", "verdict": "mismatch"}, "CHECK_REQUIRED"),
        ({"status": "not_found", "identity": None, "ins": None}, "not_found"),
        ({"status": "multiple", "identity": None, "ins": None}, "multiple"),
    ],
)
def test_the_status_header_agrees_with_the_body(changes: dict[str, Any], expected: str) -> None:
    with Flask(__name__).app_context():
        reply = response(answer(**changes))

    assert reply.mimetype == "application/fhir+json"
    assert reply.headers["X-INS-Status"] == expected
    assert body_status(reply.get_json()) == expected


# --- names, identifiers, dates -------------------------------------------------------------------


def test_the_old_tre_r338_system_is_gone() -> None:
    assert "TRE_R338" not in str(checked(answer()))


def test_given_is_the_first_of_liste_prenom_not_prenom() -> None:
    """FR Core: "extraire le premier prénom de la liste des prénoms" (issue 16, point 5)."""
    data = answer()
    data["identity"]["first_name"] = "CLAIRE"  # Prenom: the usual first name, not the list's first

    (name,) = checked(data)["name"]

    assert (name["use"], name["family"], name["given"]) == ("official", "ADRTROIS", ["MARIE"])
    assert name["extension"] == [{"url": BIRTH_LIST, "valueString": "MARIE CLAIRE"}]


def test_without_liste_prenom_the_first_name_is_given() -> None:
    data = answer()
    data["identity"]["first_names"] = []

    (name,) = checked(data)["name"]

    assert name["given"] == ["MARIE"]
    assert name["extension"] == [{"url": BIRTH_LIST, "valueString": "MARIE"}]


def test_an_active_ins_nia_has_use_temp() -> None:
    (identifier,) = checked(answer(ins=nia()))["identifier"]

    assert identifier["use"] == "temp"
    assert identifier["type"]["coding"][0]["code"] == "INS-NIA"


def test_a_demonstration_nir_is_an_official_ins_nir_demo() -> None:
    demo = {**nir("1999999999999", "42"), "oid": "1.2.250.1.213.1.4.11"}
    demo.update(kind="NIR", test=True, oid_kind="INS-NIR-DEMO")

    (identifier,) = checked(answer(ins=demo))["identifier"]

    assert identifier["use"] == "official"
    assert identifier["system"] == "urn:oid:1.2.250.1.213.1.4.11"
    assert identifier["type"]["coding"][0]["code"] == "INS-NIR-DEMO"


def test_a_former_nia_keeps_the_use_its_slice_fixes_and_a_former_nir_is_old() -> None:
    former_nia = {**nia(), "end_date": "2025-03-01"}
    history = [former_nia, nir("197022A020111", "05")]

    identifiers = checked(answer(history=history))["identifier"]

    assert [(i["use"], i["type"]["coding"][0]["code"], i["value"]) for i in identifiers] == [
        ("official", "INS-NIR", "297022A02077878"),
        ("temp", "INS-NIA", "297022A02099912"),  # INS-NIA.use = #temp, former or not
        ("old", "INS-NIR", "197022A02011105"),
    ]
    assert identifiers[1]["period"] == {"end": "2025-03-01"}


def test_a_former_ins_without_key_is_never_an_identifier() -> None:
    """No 13-character INS, and no key made up for it (issue 16, section 4)."""
    history = [nir("197022A020222", None), nir("197022A020111", "05")]

    identifiers = checked(answer(history=history))["identifier"]

    assert [i["value"] for i in identifiers] == ["297022A02077878", "197022A02011105"]
    assert all(len(i["value"]) == 15 for i in identifiers)
    assert "197022A020222" not in str(identifiers)


def test_birth_place_carries_the_insee_code() -> None:
    (place,) = [e for e in checked(answer())["extension"] if e["url"] == BIRTH_PLACE]

    (insee,) = place["valueAddress"]["extension"]
    assert insee["url"] == f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
    assert insee["valueCoding"]["code"] == "2A020"


def test_without_birth_place_the_ins_profile_is_not_claimed() -> None:
    data = answer()
    data["identity"]["birth_place"] = None

    resource = checked(data)

    assert resource["meta"]["profile"] == [PATIENT_PROFILE]
    assert BIRTH_PLACE not in str(resource)


def test_the_date_of_the_insi_call_is_a_french_calendar_date() -> None:
    late_evening = answer(queried_at="2026-11-27T23:30:00.000Z")  # 00:30 in Paris

    parts = reliability(checked(late_evening))

    assert parts["dateInterrogationINSi"]["valueDate"] == "2026-11-28"
    assert parts["methodCollection"]["valueCoding"]["code"] == "INSI"


def test_a_vitale_search_was_collected_from_the_card() -> None:
    sent = {"beneficiary_matricule": "297022A02077878", "holder_matricule": None,
            "birth_name": "ADRTROIS", "birth_date": "1997-02-26", "birth_rank": "1"}  # fmt: skip

    method = reliability(checked(answer(sent=sent)))["methodCollection"]
    assert method["valueCoding"]["code"] == "CV"


@pytest.mark.parametrize(("lunar", "partial"), [("1950-00-00", "1950"), ("1950-04-00", "1950-04")])
def test_a_lunar_birth_date_keeps_its_ins_form_beside_the_fhir_partial_date(
    lunar: str, partial: str
) -> None:
    data = answer()
    data["identity"]["birth_date"] = lunar

    resource = checked(data)

    assert resource["birthDate"] == partial
    assert [e for e in resource["extension"] if e["url"] == LUNAR] == [
        {"url": LUNAR, "valueString": lunar}
    ]


def test_a_full_birth_date_has_no_lunar_extension() -> None:
    assert LUNAR not in str(checked(answer()))


# --- the FR Core checks refuse what FR Core forbids ----------------------------------------------


def broken(change: Any) -> dict[str, Any]:
    resource = copy.deepcopy(patient(answer(history=[nia()])))
    lunar = answer()
    lunar["identity"]["birth_date"] = "1950-00-00"
    resource["extension"].append(patient(lunar)["extension"][-1])
    change(resource)
    return resource


def _part(resource: dict[str, Any], url: str) -> dict[str, Any]:
    (part,) = [p for p in resource["extension"][0]["extension"] if p["url"] == url]
    return part


def _retyped(extension: dict[str, Any], value_type: str, value: str | None = None) -> None:
    """The same value under another R4 type: valid FHIR, not what FR Core says."""
    (old,) = [key for key in extension if key.startswith("value")]
    extension[value_type] = value or extension.pop(old)
    extension.pop(old, None)


@pytest.mark.parametrize(
    ("change", "cited"),
    [
        (lambda r: r["identifier"][0].update(use="usual"), "FRCorePatientINSProfile.fsh"),
        (lambda r: r["identifier"][1].update(use="old"), ":33/45"),  # INS-NIA use is fixed temp
        (lambda r: r["identifier"][1].update(use="official"), ":33/45"),
        (lambda r: r["name"][0].update(given=["MARIE", "CLAIRE"]), ":83-84"),
        (lambda r: r["name"][0].pop("extension"), ":86"),
        (lambda r: r["extension"].pop(1), ":16"),  # INS profile without birth place
        (
            lambda r: _part(r, "identityStatus")["valueCoding"].update(system=TRE_R338),
            "FRCoreCodeSystemIdentityStatus.fsh",
        ),
        (lambda r: _part(r, "identityStatus")["valueCoding"].update(code="RECUP"), ":5"),
        (lambda r: _retyped(_part(r, "dateInterrogationINSi"), "valueDateTime"), ":41"),
        (lambda r: _retyped(_part(r, "validationDate"), "valueDateTime"), ":53"),
        (
            lambda r: _part(r, "validationMode")["valueCoding"].update(system=TRE_R338),
            "FRCoreCodeSystemIdentityModeValidation.fsh",
        ),
        (lambda r: _retyped(r["extension"][-1], "valueDate", "1950"), "FRCoreLunarDateExtension"),
        (lambda r: r.update(gender="F"), ":76-77"),  # R4 models check a code's form, not its value
    ],
)
def test_the_fr_core_checks_refuse_what_fr_core_forbids(change: Any, cited: str) -> None:
    check_patient(broken(lambda r: None))  # the unbroken one passes

    with pytest.raises(FrCoreViolation) as caught:
        check_patient(broken(change))
    assert cited in str(caught.value)


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.update(type="not-a-bundle-type"),
        lambda b: b["entry"][0]["search"].update(mode="best"),
        lambda b: b["entry"][1]["resource"]["issue"][0].update(severity="notice"),
        lambda b: b.update(count=b.pop("total")),  # no such element in R4
        lambda b: b["entry"][0]["resource"]["meta"].update(profile=[INS_PROFILE]),  # RECUP
    ],
)
def test_the_document_checks_refuse_a_bundle_r4_forbids(change: Any) -> None:
    bundle = document(answer(identity_status="RECUP"))
    check_document(bundle)
    change(bundle)

    with pytest.raises(FrCoreViolation):
        check_document(bundle)
