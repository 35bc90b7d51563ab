"""The FHIR Patient follows FR Core (issue 8, point 7): each rule from the FSH, not from our code.

The answers below are written by hand in the JSON contract of the API
(docs, openapi.json), the way the service answers; every resulting Patient
also goes through :func:`tests.support.fr_core.check_patient`, and the last
tests show that those checks do refuse what FR Core forbids.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.interfaces.fhir import patient
from tests.support.fr_core import (
    INS_PROFILE,
    PATIENT_PROFILE,
    FrCoreViolation,
    check_patient,
)

FR_CORE = "https://hl7.fr/ig/fhir/core"
RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
STATUS_SYSTEM = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
BIRTH_LIST = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
TYPES = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
TRE_R338 = "https://mos.esante.gouv.fr/NOS/TRE_R338-ModaliteIdentite/FHIR/TRE-R338-ModaliteIdentite"


def nir(matricule: str = "297022A020778", key: str = "78") -> dict[str, Any]:
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
    """A found, RECUP search answer for two birth first names, born in 2A020."""
    base: dict[str, Any] = {
        "status": "found",
        "code": "00",
        "ins": nir(),
        "identity": {
            "birth_name": "ADRTROIS", "first_name": "MARIE", "first_names": ["MARIE", "CLAIRE"],
            "sex": "F", "birth_date": "1997-02-26", "birth_place": "2A020",
        },
        "identity_status": "RECUP",
        "differences": [],
        "history": [],
        "sent": {"birth_name": "ADRTROIS", "first_names": ["MARIE", "CLAIRE"], "sex": "F",
                 "birth_date": "1997-02-26", "birth_place": "2A020"},
        "queried_at": "2026-11-27T10:15:00.000Z",
    }  # fmt: skip
    base.update(changes)
    return base


def checked(data: dict[str, Any]) -> dict[str, Any]:
    resource = patient(data)
    check_patient(resource)
    return resource


def reliability(resource: dict[str, Any]) -> dict[str, Any]:
    (extension,) = [e for e in resource["extension"] if e["url"] == RELIABILITY]
    return {part["url"]: part for part in extension["extension"]}


def test_a_recup_identity_is_a_fr_core_patient_ins() -> None:
    resource = checked(answer())

    assert resource["meta"]["profile"] == [INS_PROFILE]
    status = reliability(resource)["identityStatus"]["valueCoding"]
    assert (status["system"], status["code"]) == (STATUS_SYSTEM, "RECUP")
    assert resource["identifier"] == [
        {
            "use": "official",
            "system": "urn:oid:1.2.250.1.213.1.4.8",
            "value": "297022A020778" + "78",
            "type": {"coding": [{"system": TYPES, "code": "INS-NIR"}]},
        }
    ]
    assert (resource["gender"], resource["birthDate"]) == ("female", "1997-02-26")


def test_the_old_tre_r338_system_is_gone() -> None:
    assert "TRE_R338" not in str(checked(answer()))


def test_given_is_the_first_first_name_and_the_list_is_in_its_extension() -> None:
    (name,) = checked(answer())["name"]

    assert (name["use"], name["family"], name["given"]) == ("official", "ADRTROIS", ["MARIE"])
    assert name["extension"] == [{"url": BIRTH_LIST, "valueString": "MARIE CLAIRE"}]


def test_without_a_first_name_field_the_first_of_the_list_is_given() -> None:
    """A real answer may carry only ListePrenom (issue 8, point 3)."""
    data = answer()
    data["identity"]["first_name"] = None

    assert checked(data)["name"][0]["given"] == ["MARIE"]


def test_an_ins_nia_has_use_temp() -> None:
    (identifier,) = checked(answer(ins=nia()))["identifier"]

    assert identifier["use"] == "temp"
    assert identifier["type"]["coding"][0]["code"] == "INS-NIA"


def test_a_demonstration_nir_is_an_official_ins_nir_demo() -> None:
    demo = {**nir("199999999999999"[:13], "42"), "oid": "1.2.250.1.213.1.4.11"}
    demo.update(kind="NIR", test=True, oid_kind="INS-NIR-DEMO")

    (identifier,) = checked(answer(ins=demo))["identifier"]

    assert identifier["use"] == "official"
    assert identifier["system"] == "urn:oid:1.2.250.1.213.1.4.11"
    assert identifier["type"]["coding"][0]["code"] == "INS-NIR-DEMO"


def test_former_ins_of_the_history_are_identifiers_with_use_old() -> None:
    history = [nia(), {**nir("197022A020111", "05")}, {**nir("197022A020222", ""), "key": None}]

    identifiers = checked(answer(history=history))["identifier"]

    assert [(i["use"], i["value"]) for i in identifiers] == [
        ("official", "297022A02077878"),
        ("old", "297022A02099912"),  # a NIA once, now replaced: old, not temp
        ("old", "197022A02011105"),
        ("old", "197022A020222"),  # a history entry without Cle (issue 8, point 3)
    ]


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
    assert reliability(resource)["identityStatus"]["valueCoding"]["code"] == "RECUP"


def test_an_identity_a_person_must_check_is_prov_base_profile_and_carries_no_ins() -> None:
    differing = [{"field": "first_names", "given": "MARIE ANNE", "official": "MARIE CLAIRE"}]

    resource = checked(answer(identity_status="CHECK_REQUIRED", differences=differing))

    assert resource["meta"]["profile"] == [PATIENT_PROFILE]
    assert reliability(resource)["identityStatus"]["valueCoding"]["code"] == "PROV"
    assert "identifier" not in resource


@pytest.mark.parametrize("status", [None, "SOMETHING-NEW"])
def test_an_answer_without_a_known_status_is_prov(status: str | None) -> None:
    data = answer(identity_status=status)

    resource = checked(data)

    assert reliability(resource)["identityStatus"]["valueCoding"]["code"] == "PROV"
    assert resource["meta"]["profile"] == [PATIENT_PROFILE]


def test_the_date_of_the_insi_call_is_a_french_calendar_date() -> None:
    late_evening = answer(queried_at="2026-11-27T23:30:00.000Z")  # 00:30 in Paris

    parts = reliability(checked(late_evening))

    assert parts["dateInterrogationINSi"]["valueDate"] == "2026-11-28"
    assert parts["methodCollection"]["valueCoding"]["code"] == "INSI"


def test_a_vitale_search_was_collected_from_the_card() -> None:
    sent = {"beneficiary_matricule": "297022A02077878", "holder_matricule": None,
            "birth_name": "ADRTROIS", "birth_date": "1997-02-26", "birth_rank": "1"}  # fmt: skip
    vitale = answer(sent=sent)

    assert reliability(checked(vitale))["methodCollection"]["valueCoding"]["code"] == "CV"


def test_a_lunar_birth_date_is_reduced_and_stays_valid() -> None:
    data = answer()
    data["identity"]["birth_date"] = "1950-00-00"

    assert checked(data)["birthDate"] == "1950"


# --- the FR Core checks refuse what FR Core forbids ----------------------------------------


def broken(change: Any) -> dict[str, Any]:
    resource = copy.deepcopy(patient(answer(history=[nia()])))
    change(resource)
    return resource


@pytest.mark.parametrize(
    ("change", "cited"),
    [
        (lambda r: r["identifier"][0].update(use="usual"), "FRCorePatientINSProfile.fsh"),
        (lambda r: r["identifier"][1].update(use="temp"), "fr-core-2"),  # two active INS
        (lambda r: r["name"][0].update(given=["MARIE", "CLAIRE"]), ":83-84"),
        (lambda r: r["name"][0].pop("extension"), ":86"),
        (lambda r: r["extension"].pop(1), ":16"),  # INS profile without birth place
        (
            lambda r: r["extension"][0]["extension"][0]["valueCoding"].update(system=TRE_R338),
            "FRCoreCodeSystemIdentityStatus.fsh",
        ),
        (
            lambda r: r["extension"][0]["extension"][0]["valueCoding"].update(code="PROV"),
            "issue 8",  # fr-core-patient-ins claimed for an unchecked identity
        ),
        (lambda r: r["extension"][0]["extension"][2].update(valueDate="2026-11-27T10:15Z"), "R4"),
        (lambda r: r.update(gender="F"), ":76-77"),  # R4 models check a code's form, not its value
    ],
)
def test_the_fr_core_checks_refuse_what_fr_core_forbids(change: Any, cited: str) -> None:
    with pytest.raises(FrCoreViolation) as caught:
        check_patient(broken(change))
    assert cited in str(caught.value)
