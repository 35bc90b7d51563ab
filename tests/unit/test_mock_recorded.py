"""Issue 16, section 6: the mock answers like the real teleservice's recorded answers.

The references are our rewritings of the answers recorded on the CNDA platform
(``tests/fixtures/recorded``, see its README) and the tests' own persona facts
(``tests/integration/personas.py``), never the mock's tables: a mock drifting
from the recordings must fail here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from werkzeug.test import Client, TestResponse

from gateway import ns
from gateway.mock import MockSettings, create_mock_app
from gateway.mock.contract import validate_envelope
from gateway.pki.credentials import Credential, load_credential
from gateway.pki.devpki import DevPki
from tests.integration.personas import CNDA_FLOWS, FOUND, HERMANN, WITH_PRENOM, Expected
from tests.unit.test_mock_app import IDAM, FakeTlsSocket, envelope, soap_content_type, traits_body

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
R = f"{{{ns.INSI_RESULTAT}}}"
S = f"{{{ns.SOAP12_ENV}}}"
STYLES = ("plain", "variant")

Search = Callable[..., TestResponse]


@pytest.fixture(scope="module")
def manu(dev_pki: DevPki) -> Credential:
    return load_credential(dev_pki.insi_manu.p12, dev_pki.passphrase, setting="test")


@pytest.fixture(scope="module")
def searches(dev_pki: DevPki, manu: Credential) -> dict[str, Search]:
    """One in-process mock per style, mutual TLS alone (the VIHF is tested elsewhere)."""

    def make(style: str) -> Search:
        env = {"MOCK_AUTH": "tls", "MOCK_RESPONSE_STYLE": style}
        client = Client(create_mock_app(MockSettings.from_env(env, pki_dir=dev_pki.directory)))

        def search(*traits: Any, idam: str = IDAM, data: bytes | None = None) -> TestResponse:
            return client.post(
                "/lps",
                data=data or envelope(traits_body(*traits), idam=idam),
                headers={"Content-Type": soap_content_type()},
                environ_overrides={"gunicorn.socket": FakeTlsSocket(manu)},
            )

        return search

    return {style: make(style) for style in STYLES}


def traits_of(persona: Expected) -> tuple[str, tuple[str, ...], str, str, str | None]:
    return (persona.birth_name, persona.first_names, persona.sex, persona.birth_date, None)


def resultat(response: TestResponse, reference_dir: Path) -> etree._Element:
    assert response.status_code == 200, response.text
    validate_envelope(response.data, reference_dir, header_required=False)
    found = etree.fromstring(response.data).find(f"{S}Body/{R}RESULTAT")
    assert found is not None
    return found


def shape(element: etree._Element) -> tuple[Any, ...]:
    """Local name, text and children (sorted: the XSD validation checks their order)."""
    children = sorted(shape(child) for child in element if isinstance(child.tag, str))
    return (etree.QName(element).localname, (element.text or "").strip(), tuple(children))


# --- ListePrenom, and Prenom only where a CNDA test file has it --------------------------------


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("persona", [*FOUND, HERMANN], ids=lambda p: p.id)
def test_live_style_answers_carry_liste_prenom_and_no_prenom(
    searches: dict[str, Search], reference_dir: Path, style: str, persona: Expected
) -> None:
    tiq = resultat(searches[style](*traits_of(persona)), reference_dir).find(f"{R}INDIVIDU/{R}TIQ")
    assert tiq is not None

    assert tiq.findtext(f"{R}ListePrenom") == " ".join(persona.first_names)
    prenom = tiq.findtext(f"{R}Prenom")
    if persona.birth_name in WITH_PRENOM:  # PROVISOIRE (CNDA 2.05), HERMANN (CNDA 2.08)
        assert prenom == persona.first_names[0]
    else:
        assert prenom is None


# --- no soap:Header ----------------------------------------------------------------------------

ANSWERS: dict[str, dict[str, Any]] = {
    "found": {"traits": traits_of(HERMANN)},
    "not-found": {"traits": ("HOUILLES", ("PIERRE",), "M", "1993-01-27", None)},
    "several": {"traits": ("DE VINCI", ("LEONARDO",), "M", "2014-02-01", None)},
    "fault-unknown-idam": {"traits": traits_of(HERMANN), "idam": "NOT-AUTHORISED"},
    "fault-malformed": {"traits": (), "data": b"not XML"},
}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("case", ANSWERS)
def test_answers_have_no_soap_header(
    searches: dict[str, Search], reference_dir: Path, style: str, case: str
) -> None:
    given = dict(ANSWERS[case])
    response = searches[style](*given.pop("traits"), **given)

    assert response.status_code == (500 if case.startswith("fault") else 200)
    validate_envelope(response.data, reference_dir, header_required=False)
    root = etree.fromstring(response.data)
    assert [child.tag for child in root] == [f"{S}Body"]


# --- the same answers as recorded --------------------------------------------------------------

RECORDED_SEARCHES = {
    "adrtrois_list_only.xml": ("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", None),
    "tchitchi_list_only.xml": ("TCHITCHI", ("CATARINA",), "F", "1936-06-21", None),
    "ecetinsi_history.xml": ("ECETINSI", ("PIERRE-ALAIN",), "M", "2009-07-14", None),
    "provisoire_nia.xml": ("PROVISOIRE", ("MATRICULE",), "M", "2009-07-01", None),
    "hermann_cnda_2_08.xml": traits_of(HERMANN),
    "cr01.xml": ("HOUILLES", ("PIERRE",), "M", "1993-01-27", None),
}


@pytest.mark.parametrize("name", sorted(RECORDED_SEARCHES))
def test_answer_holds_what_the_recorded_one_holds(
    searches: dict[str, Search], reference_dir: Path, name: str
) -> None:
    recorded = etree.fromstring((RECORDED / name).read_bytes()).find(f".//{R}RESULTAT")
    assert recorded is not None

    answered = resultat(searches["plain"](*RECORDED_SEARCHES[name]), reference_dir)

    assert shape(answered) == shape(recorded)


@pytest.mark.parametrize("style", STYLES)
def test_history_entries_are_dated_as_recorded_after_the_oid(
    searches: dict[str, Search], reference_dir: Path, style: str
) -> None:
    answer = resultat(searches[style](*RECORDED_SEARCHES["ecetinsi_history.xml"]), reference_dir)
    first, second = answer.iterfind(f"{R}INDIVIDU/{R}INSHISTO")

    assert [etree.QName(c).localname for c in first] == ["IdIndividu", "OID", "DateDeb", "DateFin"]
    assert (first.findtext(f"{R}DateDeb"), first.findtext(f"{R}DateFin")) == (
        "2019-03-01",
        "2019-02-28",
    )
    assert second.find(f"{R}DateDeb") is None  # the second recorded entry is undated


@pytest.mark.parametrize("persona", [*FOUND, HERMANN], ids=lambda p: p.id)
def test_active_ins_is_repeated_in_the_history_only_where_recorded(
    searches: dict[str, Search], reference_dir: Path, persona: Expected
) -> None:
    individu = resultat(searches["plain"](*traits_of(persona)), reference_dir).find(f"{R}INDIVIDU")
    assert individu is not None
    number = f"{R}IdIndividu/{R}NumIdentifiant"

    history = [entry.findtext(number) for entry in individu.iterfind(f"{R}INSHISTO")]

    assert (individu.findtext(f"{R}INSACTIF/{number}") in history) is (persona is HERMANN)


# --- the unknown-IDAM fault --------------------------------------------------------------------


def fault_parts(data: bytes) -> dict[str, Any]:
    root = etree.fromstring(data)
    subcode = root.find(f"{S}Body/{S}Fault/{S}Code/{S}Subcode/{S}Value")
    erreur = root.find(f"{S}Body/{S}Fault/{S}Detail/{{{ns.SIRAM}}}Erreur")
    reason = root.find(f"{S}Body/{S}Fault/{S}Reason/{S}Text")
    assert subcode is not None
    assert erreur is not None
    assert reason is not None
    prefix = (subcode.text or "").partition(":")[0]
    return {
        "code": root.findtext(f"{S}Body/{S}Fault/{S}Code/{S}Value"),
        "subcode": subcode.text,
        "subcode namespace": subcode.nsmap.get(prefix),
        "reason": reason.text,
        "lang": reason.get(f"{{{ns.XML}}}lang"),
        "erreur": (erreur.get("code"), erreur.get("severite"), erreur.text),
    }


@pytest.mark.parametrize("style", STYLES)
def test_unknown_idam_fault_is_the_recorded_one(
    searches: dict[str, Search], reference_dir: Path, style: str
) -> None:
    recorded = fault_parts((RECORDED / "fault_unknown_idam.xml").read_bytes())

    response = searches[style](*traits_of(HERMANN), idam="NOT-AUTHORISED")

    assert response.status_code == 500
    validate_envelope(response.data, reference_dir, header_required=False)
    assert fault_parts(response.data) == recorded
    assert recorded["subcode"] == "soap:siram_100"  # the envelope's prefix, as INSi writes it
    erreur = etree.fromstring(response.data).find(f".//{{{ns.SIRAM}}}Erreur")
    assert erreur is not None
    assert erreur.get("messageID") == "uuid:0f2c5d0e-1111-4222-8333-444455556666"  # the request's


# --- the CNDA flows ----------------------------------------------------------------------------


@pytest.mark.parametrize("flow", CNDA_FLOWS, ids=lambda f: f.birth_name)
def test_cnda_flow_gets_the_recorded_outcome_at_every_step(
    searches: dict[str, Search], reference_dir: Path, flow: Any
) -> None:
    outcomes = []
    for step in flow.steps:
        traits = (flow.birth_name, (step.first_name,), flow.sex, flow.birth_date, None)
        response = searches["plain"](*traits)
        validate_envelope(response.data, reference_dir, header_required=False)
        root = etree.fromstring(response.data)
        if response.status_code == 500:
            erreur = root.find(f".//{{{ns.SIRAM}}}Erreur")
            assert erreur is not None
            outcomes.append(erreur.get("code"))
        else:
            outcomes.append(root.findtext(f".//{R}CR/{R}CodeCR"))

    assert outcomes == [step.outcome for step in flow.steps]


def test_service_unavailable_fault_is_a_receiver_fault(
    searches: dict[str, Search], reference_dir: Path
) -> None:
    response = searches["plain"]("VANDERMONDE", ("ARIANA",), "F", "1995-06-17", None)

    assert response.status_code == 500
    parts = fault_parts(response.data)
    assert (parts["code"], parts["subcode"], parts["subcode namespace"]) == (
        "soap:Receiver",
        "soap:siram_40",
        ns.SOAP12_ENV,
    )
    assert parts["erreur"][:2] == ("insi_102", "fatale")
    assert "temporairement inaccessible" in parts["reason"]
