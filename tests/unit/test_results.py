"""parse_response: every answer form the teleservice (or what stands in front of it) sends.

Expected values come from the persona data of the INSi test base (ECETINSI
PIERRE-ALAIN, ADRTROIS DOMINIQUE) and from the fixtures, never from the code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway import ns
from gateway.exceptions import UpstreamBadResponse, UpstreamFault
from gateway.mock.contract import validate_element
from gateway.models import Ins, InsResult, OfficialIdentity, ResultCode
from gateway.protocol.results import parse_response

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
MAX_BYTES = 64 * 1024
INS_OID = "1.2.250.1.213.1.4.8"


def parse(name: str, *, http_status: int = 200) -> InsResult:
    return parse_response(
        (FIXTURES / name).read_bytes(), http_status=http_status, max_bytes=MAX_BYTES
    )


def fault(name: str) -> UpstreamFault:
    with pytest.raises(UpstreamFault) as caught:
        parse(name, http_status=500)
    return caught.value


def bad(content: bytes, *, http_status: int = 200) -> UpstreamBadResponse:
    with pytest.raises(UpstreamBadResponse) as caught:
        parse_response(content, http_status=http_status, max_bytes=MAX_BYTES)
    assert caught.value.http_status == http_status
    return caught.value


# --- results -------------------------------------------------------------------------------


def test_found_with_history() -> None:
    result = parse("found_with_history.xml")

    assert result.code is ResultCode.FOUND
    assert result.label == "OK"
    assert result.ins == Ins(matricule="1090763220834", key="89", oid=INS_OID)
    assert result.history == (
        Ins(matricule="2090763220834", key="39", oid=INS_OID),
        Ins(matricule="2090663220123", key="55", oid=INS_OID),
    )
    assert result.identity == OfficialIdentity(
        birth_name="ECETINSI",
        first_name="PIERRE-ALAIN",  # no Prenom: the first of ListePrenom
        first_names=("PIERRE-ALAIN", "MURIEL", "FLORIANT"),
        sex="M",
        birth_date="2009-07-14",
        birth_place="63220",
    )


def test_other_prefixes_type_matricule_and_dates() -> None:
    result = parse("found_prefixed.xml")

    assert result.ins == Ins(
        matricule="297022A020778",
        key="78",
        oid=INS_OID,
        start_date="2020-01-01",
        end_date="2099-12-31",
    )
    assert result.history == ()
    assert result.identity == OfficialIdentity(
        birth_name="ADRTROIS",
        first_name="DOMINIQUE",
        first_names=("DOMINIQUE",),
        sex="F",
        birth_date="1997-02-26",
        birth_place="2A020",
    )


def test_date_deb_before_id_individu() -> None:
    result = parse("found_datedeb_first.xml")

    assert result.ins == Ins("297022A020778", "78", INS_OID, start_date="2021-03-01")


def test_not_found() -> None:
    result = parse("not_found.xml")

    assert result == InsResult(code=ResultCode.NOT_FOUND, label="Aucune identite trouvee")


def test_multiple() -> None:
    result = parse("multiple.xml")

    assert result.code is ResultCode.MULTIPLE
    assert result.ins is None
    assert result.identity is None


@pytest.mark.parametrize(
    "name",
    ["found_with_history.xml", "found_prefixed.xml", "not_found.xml", "multiple.xml"],
)
def test_result_fixtures_follow_the_official_schema(name: str, reference_dir: Path) -> None:
    """The hand-written fixtures are real RESULTATs (DateDeb-first is the known deviation)."""
    root = etree.parse(str(FIXTURES / name)).getroot()
    resultat = root.find(f".//{ns.qname(ns.INSI_RESULTAT, 'RESULTAT')}")
    assert resultat is not None
    validate_element(resultat, reference_dir)


# --- faults --------------------------------------------------------------------------------


def test_fault_desir_550() -> None:
    error = fault("fault_desir_550.xml")

    assert error.code == "soap:Sender"
    assert error.subcode == "siram_100"
    assert error.error_code == "desir_550"
    assert error.severity == "erreur"
    assert error.error_message_id == "uuid:b3549edd-4ae9-472a-b26f-fd2fb4ef397f"
    assert error.reason.startswith("L'accès par ce progiciel au service n'est pas autorisé.")
    assert "Numéro d'autorisation du logiciel inconnu." in error.reason


def test_fault_desir_560_other_prefixes_prefers_french_reason() -> None:
    error = fault("fault_desir_560.xml")

    assert (error.code, error.subcode) == ("soap:Sender", "siram_100")
    assert error.error_code == "DESIR_560"
    assert error.error_message_id == "uuid:7d0f4b6e-4f3a-4a55-9d57-2b0c1e9a3f10"
    assert error.reason.startswith("Accès refusé")


def test_fault_without_detail() -> None:
    error = fault("fault_without_detail.xml")

    assert error.code == "soap:Receiver"
    assert error.subcode is None
    assert error.reason == "Service momentanément indisponible"
    assert (error.error_code, error.severity, error.error_message_id) == (None, None, None)


def test_soap11_fault() -> None:
    error = fault("fault_soap11.xml")

    assert error.code == "soap:Server"
    assert error.error_code == "DESIR_500"
    assert error.severity == "fatale"


def test_fault_fixtures_detail_follows_the_official_schema(reference_dir: Path) -> None:
    for name in ("fault_desir_550.xml", "fault_desir_560.xml"):
        erreur = etree.parse(str(FIXTURES / name)).find(f".//{ns.qname(ns.SIRAM, 'Erreur')}")
        assert erreur is not None
        validate_element(erreur, reference_dir)


# --- unusable answers ----------------------------------------------------------------------


def test_html_error_page() -> None:
    bad((FIXTURES / "html_error.html").read_bytes(), http_status=502)


def test_html_page_with_doctype() -> None:
    bad(b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", http_status=503)


@pytest.mark.parametrize("content", [b"", b"   \n", b"not xml at all"])
def test_empty_or_garbage_body(content: bytes) -> None:
    bad(content, http_status=200)


def test_xml_without_resultat() -> None:
    bad((FIXTURES / "no_resultat.xml").read_bytes())


def test_empty_soap_body() -> None:
    bad(b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>')


def test_not_an_envelope() -> None:
    bad(
        b'<RESULTAT xmlns="http://www.cnamts.fr/INSiResultat"><CR><CodeCR>00</CodeCR></CR></RESULTAT>'
    )


def test_unknown_code_cr() -> None:
    bad((FIXTURES / "unknown_code.xml").read_bytes())


def test_found_without_individu() -> None:
    content = (FIXTURES / "multiple.xml").read_bytes().replace(b">02<", b">00<")
    bad(content)


def test_resultat_with_error_http_status() -> None:
    bad((FIXTURES / "not_found.xml").read_bytes(), http_status=500)


def test_xxe_payload_is_refused_without_reading_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    payload = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        '<RESULTAT xmlns="http://www.cnamts.fr/INSiResultat"><CR><CodeCR>01</CodeCR>'
        "<LibelleCR>&x;</LibelleCR></CR></RESULTAT></soap:Body></soap:Envelope>"
    ).encode()
    error = bad(payload)
    assert "TOP-SECRET" not in error.reason


def test_oversized_answer() -> None:
    padding = b"<!-- " + b"x" * MAX_BYTES + b" -->"
    content = (FIXTURES / "not_found.xml").read_bytes() + padding
    error = bad(content)
    assert str(MAX_BYTES) in error.reason


def test_errors_never_quote_the_answer() -> None:
    content = (FIXTURES / "found_with_history.xml").read_bytes().replace(b"<Cle>89</Cle>", b"")
    error = bad(content)
    assert "ECETINSI" not in error.reason
    assert "1090763220834" not in error.reason
