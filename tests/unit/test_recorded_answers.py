"""Issue 8, point 3: every recorded real INSi answer parses to the right result.

The fixtures (``tests/fixtures/recorded``, see its README) are our own
rewriting of the CNDA answers recorded in padoa/tlsi-ins. The expected values
are those that repository's own "formatted" results give for the same answers
(e.g. ``firstName: 'PIERRE-ALAIN'`` for an answer without ``Prenom``), not our
parser's output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway import ns
from gateway.exceptions import UpstreamFault
from gateway.mock.contract import validate_element
from gateway.models import Ins, InsResult, OfficialIdentity, ResultCode
from gateway.protocol.results import parse_response
from gateway.render.answers import ins_json

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
NIR, NIA = "1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9"
ECETINSI = OfficialIdentity(
    "ECETINSI",
    "PIERRE-ALAIN",
    ("PIERRE-ALAIN", "MURIEL", "FLORIANT"),
    "M",
    "2009-07-14",
    "63220",
)


def _parse(name: str) -> InsResult:
    return parse_response((RECORDED / name).read_bytes(), http_status=200, max_bytes=1 << 20)


EXPECTED: dict[str, InsResult] = {
    "cr01.xml": InsResult(ResultCode.NOT_FOUND, "Aucune identite trouvee"),
    "provisoire_nia.xml": InsResult(
        ResultCode.FOUND,
        "OK",
        Ins("1090763220888", "35", NIA),
        OfficialIdentity("PROVISOIRE", "MATRICULE", ("MATRICULE",), "M", "2009-07-01", "63220"),
    ),
    "adrtrois_list_only.xml": InsResult(
        ResultCode.FOUND,
        "OK",
        Ins("297022A020778", "78", NIR),
        OfficialIdentity("ADRTROIS", "DOMINIQUE", ("DOMINIQUE",), "F", "1997-02-26", "2A020"),
    ),
    "tchitchi_list_only.xml": InsResult(
        ResultCode.FOUND,
        "OK",
        Ins("2360663220836", "56", NIR),
        OfficialIdentity("TCHITCHI", "CATARINA", ("CATARINA", "BELLA"), "F", "1936-06-21", "63220"),
    ),
    "ecetinsi_history.xml": InsResult(
        ResultCode.FOUND,
        "OK",
        Ins("1090763220834", "89", NIR),
        ECETINSI,
        (
            Ins("2090763220834", "39", NIR, "2019-03-01", "2019-02-28"),
            Ins("2090663220123", "55", NIR),
        ),
    ),
    "ecetinsi_history_live.xml": InsResult(
        ResultCode.FOUND,
        "OK",
        Ins("1090763220834", "89", NIR),
        ECETINSI,
        (Ins("2090763220834", "39", NIR, "2019-03-01", "2019-02-28"),),
    ),
    # The parser keeps the repeated active INS: the service layer drops it (ins-rules.md).
    "hermann_cnda_2_08.xml": InsResult(
        ResultCode.FOUND,
        "OK",
        Ins("1810363220456", "60", NIR),
        OfficialIdentity("HERMANN", "GATIEN", ("GATIEN",), "M", "1981-03-24", "63220"),
        (Ins("1810363220456", "60", NIR), Ins("2810363220456", "10", NIR)),
    ),
    "history_without_cle.xml": InsResult(
        ResultCode.FOUND,
        "OK",
        Ins("1090763220834", "89", NIR),
        ECETINSI,
        (Ins("2090763220834", None, NIR),),
    ),
}


def test_every_recorded_answer_has_an_expectation() -> None:
    answers = {p.name for p in RECORDED.glob("*.xml")} - {"fault_unknown_idam.xml"}
    assert answers == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_answer_parses_to_the_right_result(name: str) -> None:
    assert _parse(name) == EXPECTED[name]


def test_first_first_name_comes_from_the_list_when_prenom_is_absent() -> None:
    identity = _parse("tchitchi_list_only.xml").identity
    assert identity is not None
    assert (identity.first_name, identity.first_names) == ("CATARINA", ("CATARINA", "BELLA"))


def test_history_without_cle_is_schema_valid_kept_and_flagged(reference_dir: Path) -> None:
    root = etree.fromstring((RECORDED / "history_without_cle.xml").read_bytes())
    resultat = root.find(f"{{{ns.SOAP12_ENV}}}Body/{{{ns.INSI_RESULTAT}}}RESULTAT")
    assert resultat is not None
    validate_element(resultat, reference_dir)  # Cle is minOccurs="0" in INSi_RESULTAT_INS.xsd

    (former,) = _parse("history_without_cle.xml").history
    flagged = ins_json(former)
    assert (flagged["matricule"], flagged["key"], flagged["key_valid"]) == (
        "2090763220834",
        None,
        False,
    )


def test_recorded_fault_for_an_unknown_software_number() -> None:
    with pytest.raises(UpstreamFault) as caught:
        _parse_fault("fault_unknown_idam.xml")
    fault = caught.value
    assert (fault.code, fault.subcode, fault.error_code, fault.severity) == (
        "soap:Sender",
        "siram_100",
        "desir_550",
        "erreur",
    )
    assert "Numéro d'autorisation du logiciel inconnu." in fault.reason


def _parse_fault(name: str) -> InsResult:
    return parse_response((RECORDED / name).read_bytes(), http_status=500, max_bytes=1 << 20)
