"""Issue 16: every persona through zeep on the OFFICIAL WSDL, strict mode, over mutual TLS.

A third-party client generated from ``DESIR_ICIR_EXP_1.5.0.wsdl`` (zeep,
``strict=True``) calls the mock under real gunicorn on 127.0.0.1, with the
INSI-MANU certificate and a signed VIHF; the mock checks every request against
the official XSDs (``MOCK_CONTRACT_DIR``). zeep must bind each answer (and each
fault) to the official types: a mock answer the official contract does not
describe fails here. The WSDL imports WS-Addressing from the W3C site: the
loader answers that one URL with our own subset (``tests/fixtures/wsaddr``) and
refuses any other remote document.

Expected values come from the tests' own persona facts
(``tests/integration/personas.py``), never from the mock's table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault, XMLParseError

from gateway import ns
from gateway.pki.credentials import Credential, load_credential
from gateway.pki.devpki import DevPki
from tests.integration.personas import (
    CNDA_FLOWS,
    FOUND,
    HERMANN,
    WITH_CARD,
    WITH_PRENOM,
    CndaFlow,
    Expected,
)
from tests.integration.test_mock_server import Mock, client_cert, start
from tests.paths import ROOT
from tests.unit.test_mock_app import IDAM, assertion, child, security, sign

pytestmark = pytest.mark.integration

WS_ADDR_URL = "http://www.w3.org/2006/03/addressing/ws-addr.xsd"
WS_ADDR = ROOT / "tests" / "fixtures" / "wsaddr" / "ws-addr.xsd"
RECORDED = ROOT / "tests" / "fixtures" / "recorded"
BINDING = "{http://www.cnamts.fr/webservice}ICIRServiceBinding"
STRICT = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True)
UNKNOWN_IDAM_REASON = (
    "L'accès par ce progiciel au service n'est pas autorisé. Contactez l'éditeur du "
    "progiciel ou votre responsable informatique."
)


class _OfficialContractLoader(zeep.Transport):
    """Local files, plus our WS-Addressing subset for the one URL the WSDL imports."""

    def load(self, url: str) -> bytes:
        if url == WS_ADDR_URL:
            return WS_ADDR.read_bytes()
        if "://" in url and not url.startswith("file://"):
            raise AssertionError(f"the official WSDL must not fetch {url}")
        return super().load(url)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mock-wsdl")


@pytest.fixture(scope="module")
def manu(dev_pki: DevPki) -> Credential:
    return load_credential(dev_pki.insi_manu.p12, dev_pki.passphrase, setting="test")


@pytest.fixture(scope="module")
def mock(dev_pki: DevPki, tmp_dir: Path, reference_dir: Path) -> Iterator[Mock]:
    mock = start(
        dev_pki,
        tmp_dir,
        client_cert(dev_pki, dev_pki.insi_manu, tmp_dir),
        MOCK_CONTRACT_DIR=str(reference_dir),
    )
    try:
        yield mock
    finally:
        mock.process.stop()


@pytest.fixture(scope="module")
def client(mock: Mock, dev_pki: DevPki, tmp_dir: Path, reference_dir: Path) -> zeep.Client:
    """A zeep client of the official WSDL, strict, its session holding INSI-MANU."""
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE would win over session.verify
    session.cert = client_cert(dev_pki, dev_pki.insi_manu, tmp_dir)
    session.verify = str(mock.ca_bundle)
    transport = _OfficialContractLoader(session=session, timeout=10, operation_timeout=10)
    wsdl = reference_dir / "DESIR_ICIR_EXP_1.5.0.wsdl"
    return zeep.Client(str(wsdl), settings=STRICT, transport=transport)


@pytest.fixture(scope="module")
def service(client: zeep.Client, mock: Mock) -> Any:
    """The official WSDL's service, bound to the mock's ``/lps`` over mutual TLS."""
    return client.create_service(BINDING, mock.base_url + "/lps")


def headers(manu: Credential, idam: str = IDAM) -> list[etree._Element]:
    """``wsse:Security`` (signed VIHF), ``ctxlps:ContexteLPS``, ``wsa:MessageID``."""
    vihf = assertion(issuer=manu.certificate.subject.rfc4514_string())
    del child(vihf, ns.SAML2, "Subject").attrib["ID"]  # not in the SAML schema
    context = etree.Element(
        ns.qname(ns.CTXLPS, "ContexteLPS"), Version="01_00", nsmap={"ctxlps": ns.CTXLPS}
    )
    etree.SubElement(context, ns.qname(ns.CTXLPS, "Id")).text = uuid.uuid4().hex
    etree.SubElement(context, ns.qname(ns.CTXLPS, "Temps")).text = datetime.now(UTC).isoformat()
    lps = etree.SubElement(context, ns.qname(ns.CTXLPS, "LPS"))
    etree.SubElement(lps, ns.qname(ns.CTXLPS, "IDAM"), R="4").text = idam
    message_id = etree.Element(ns.qname(ns.WSA, "MessageID"), nsmap={"wsa": ns.WSA})
    message_id.text = f"uuid:{uuid.uuid4()}"
    return [security(sign(vihf, manu)), context, message_id]


def by_traits(
    service: Any,
    manu: Credential,
    name: str,
    first_names: tuple[str, ...],
    sex: str,
    date: str,
    place: str | None = None,
    idam: str = IDAM,
) -> Any:
    extra = {"LieuNaissance": place} if place else {}
    return service.rechercherInsAvecTraitsIdentite(
        NomNaissance=name,
        Prenom=list(first_names),
        Sexe=sex,
        DateNaissance=date,
        _soapheaders=headers(manu, idam),
        **extra,
    )


def erreur_of(fault: Fault) -> etree._Element:
    assert fault.detail is not None
    erreur = fault.detail.find(ns.qname(ns.SIRAM, "Erreur"))
    assert erreur is not None
    return erreur


# --- every persona -----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", [*FOUND, HERMANN], ids=lambda p: p.id)
def test_found_persona_binds_to_the_official_types(
    service: Any, manu: Credential, persona: Expected
) -> None:
    traits = (persona.birth_name, persona.first_names, persona.sex, persona.birth_date)
    answer = by_traits(service, manu, *traits, persona.place)

    assert (answer.CR.CodeCR, answer.CR.LibelleCR) == ("00", "OK")
    active = answer.INDIVIDU.INSACTIF
    assert (active.IdIndividu.NumIdentifiant, active.IdIndividu.Cle, active.OID) == (
        persona.matricule,
        persona.key,
        persona.oid,
    )
    history = [(h.IdIndividu.NumIdentifiant, h.IdIndividu.Cle) for h in answer.INDIVIDU.INSHISTO]
    assert history == list(persona.history)
    tiq = answer.INDIVIDU.TIQ
    assert (tiq.NomNaissance, tiq.Sexe, tiq.DateNaissance, tiq.LieuNaissance) == (
        persona.birth_name,
        persona.sex,
        persona.birth_date,
        persona.place,
    )
    assert tiq.ListePrenom == " ".join(persona.first_names)
    expected_prenom = persona.first_names[0] if persona.birth_name in WITH_PRENOM else None
    assert tiq.Prenom == expected_prenom


def test_recorded_history_dates_bind_as_dates(service: Any, manu: Credential) -> None:
    answer = by_traits(service, manu, "ECETINSI", ("PIERRE-ALAIN",), "M", "2009-07-14")

    first, second = answer.INDIVIDU.INSHISTO
    assert (str(first.DateDeb), str(first.DateFin)) == ("2019-03-01", "2019-02-28")
    assert (second.DateDeb, second.DateFin) == (None, None)


@pytest.mark.parametrize(
    ("traits", "code"),
    [
        (("HOUILLES", ("PIERRE", "PAUL", "JACQUES"), "M", "1993-01-27"), "01"),
        (("DE VINCI", ("LEONARDO",), "M", "2014-02-01"), "02"),
    ],
    ids=["HOUILLES", "DE VINCI"],
)
def test_not_found_and_several_bind_without_individu(
    service: Any, manu: Credential, traits: tuple[Any, ...], code: str
) -> None:
    answer = by_traits(service, manu, *traits)

    assert answer.CR.CodeCR == code
    assert answer.INDIVIDU is None


@pytest.mark.parametrize("persona", WITH_CARD, ids=lambda p: p.id)
def test_vitale_persona_binds_to_the_official_types(
    service: Any, manu: Credential, persona: Expected
) -> None:
    assert persona.card is not None
    beneficiary = persona.card.get("beneficiary_matricule")
    number = beneficiary or persona.card["holder_matricule"]
    matricule = {"NumIdentifiant": number[:13], "Cle": number[13:]}
    holder = {"MatriculeIndividu": matricule} if beneficiary else {"MatriculeOD": matricule}

    answer = service.rechercherInsAvecCarteVitale(
        NomNaissance=persona.birth_name,
        DateNaissance=persona.birth_date,
        RangNaissance=persona.card["birth_rank"],
        _soapheaders=headers(manu),
        **holder,
    )

    assert answer.CR.CodeCR == "00"
    assert answer.INDIVIDU.INSACTIF.IdIndividu.NumIdentifiant == persona.matricule


# --- the CNDA flows and the faults -------------------------------------------------------------


@pytest.mark.parametrize("flow", CNDA_FLOWS, ids=lambda f: f.birth_name)
def test_cnda_flow_gets_the_recorded_outcomes(
    service: Any, manu: Credential, flow: CndaFlow
) -> None:
    outcomes = []
    for step in flow.steps:
        try:
            answer = by_traits(
                service, manu, flow.birth_name, (step.first_name,), flow.sex, flow.birth_date
            )
        except Fault as fault:
            outcomes.append(erreur_of(fault).get("code"))
        else:
            outcomes.append(answer.CR.CodeCR)

    assert outcomes == [step.outcome for step in flow.steps]


def test_unknown_idam_fault_binds_with_the_recorded_texts(service: Any, manu: Credential) -> None:
    with pytest.raises(Fault) as caught:
        by_traits(service, manu, "HERMANN", ("GATIEN",), "M", "1981-03-24", idam="NOT-AUTHORISED")

    assert caught.value.message == UNKNOWN_IDAM_REASON
    erreur = erreur_of(caught.value)
    assert (erreur.get("code"), erreur.get("severite"), erreur.text) == (
        "desir_550",
        "erreur",
        "Numéro d'autorisation du logiciel inconnu.",
    )


def test_the_binding_is_strict(client: zeep.Client) -> None:
    """What makes the tests above able to fail: an element the contract lacks is refused."""
    operation = client.wsdl.bindings[BINDING].get("rechercherInsAvecTraitsIdentite")
    answer = (RECORDED / "adrtrois_list_only.xml").read_bytes()
    assert operation.process_reply(etree.fromstring(answer)).CR.CodeCR == "00"

    extra = answer.replace(b"<Sexe>", b"<Surnom>X</Surnom><Sexe>")

    with pytest.raises(XMLParseError, match="Surnom"):
        operation.process_reply(etree.fromstring(extra))
