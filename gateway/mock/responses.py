"""Answers of the mock: ``RESULTAT`` envelopes and SOAP 1.2 faults, in two serialisations.

Both styles carry the same information and validate against the official
``INSi_RESULTAT_INS.xsd`` / ``schema_faultSOAP_V01_01.xsd`` (a test checks it);
they differ only in what a namespace-aware parser must not care about:

* ``plain``: ``soap:`` envelope, ``ns:`` for ``RESULTAT``, all namespaces
  declared on the envelope, optional elements left out;
* ``variant``: ``soap:Envelope`` but ``S:Header``/``S:Body``, ``RESULTAT`` in a
  default namespace, ``TypeMatricule`` present, ``DateDeb``/``DateFin`` of the
  historical INS present (in schema order: the XSD sequence forbids moving them).

Faults never have a default namespace in scope of ``siram:Erreur``: its
``severite`` is an ``xs:QName`` and would otherwise resolve into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway import ns
from gateway.ins.matricule import OID_NIA
from gateway.mock.personas import Persona
from gateway.mock.settings import ResponseStyle
from gateway.models import Ins, Operation, ResultCode

_LABELS = {
    ResultCode.FOUND: "OK",
    ResultCode.NOT_FOUND: "Aucune identite trouvee",
    ResultCode.MULTIPLE: "Plusieurs identites trouvees",
}


@dataclass(frozen=True, slots=True)
class Fault:
    """A SOAP 1.2 fault: ``code`` is a SOAP local name, ``subcode`` one in ``urn:siram``."""

    code: str
    subcode: str | None
    error_code: str
    reason: str
    severity: str = "fatale"


def malformed(reason: str) -> Fault:
    """Request unreadable or incomplete (not XML, no Body, unknown operation, missing field)."""
    return Fault("Sender", "siram_20", "DESIR_400", reason)


def version_mismatch(reason: str) -> Fault:
    """Envelope of another SOAP version: SOAP 1.2 says ``VersionMismatch``, no subcode."""
    return Fault("VersionMismatch", None, "DESIR_400", reason)


def access_denied(reason: str) -> Fault:
    """Client certificate is not an INSi one (CN not INSI-MANU/INSI-AUTO)."""
    return Fault("Sender", "siram_40", "DESIR_560", reason)


def vihf_rejected(reason: str) -> Fault:
    """VIHF missing, unsigned, untrusted, or its signature does not cover the assertion."""
    return Fault("Sender", "siram_100", "DESIR_480", reason)


def unknown_idam(reason: str) -> Fault:
    """``ContexteLPS/LPS/IDAM`` absent or not an authorised software number."""
    return Fault("Sender", "siram_100", "desir_550", reason)


def internal_error(reason: str) -> Fault:
    """The mock itself failed: the server's fault, not the caller's."""
    return Fault("Receiver", "siram_50", "DESIR_500", reason)


def result_code(matches: tuple[Persona, ...]) -> ResultCode:
    """00 for exactly one persona, 01 for none, 02 for several."""
    if not matches:
        return ResultCode.NOT_FOUND
    return ResultCode.FOUND if len(matches) == 1 else ResultCode.MULTIPLE


class _Writer:
    """Creates the envelope parts with the prefixes of one style."""

    def __init__(self, style: ResponseStyle, *, with_result: bool) -> None:
        self.variant = style is ResponseStyle.VARIANT
        nsmap = {"soap": ns.SOAP12_ENV}
        if not self.variant:
            nsmap["wsa"] = ns.WSA
            nsmap.update({"ns": ns.INSI_RESULTAT} if with_result else {"siram": ns.SIRAM})
        self.envelope = etree.Element(ns.qname(ns.SOAP12_ENV, "Envelope"), nsmap=nsmap)

    def part(self, name: str) -> etree._Element:
        nsmap = {"S": ns.SOAP12_ENV} if self.variant else None
        return etree.SubElement(self.envelope, ns.qname(ns.SOAP12_ENV, name), nsmap=nsmap)

    def header(self, action: str) -> None:
        """``wsa:Action`` of the answer (the WSDL's output action, or the WS-A fault action)."""
        wsa = {"wsa": ns.WSA} if self.variant else None
        etree.SubElement(self.part("Header"), ns.qname(ns.WSA, "Action"), nsmap=wsa).text = action

    def serialise(self) -> bytes:
        return etree.tostring(self.envelope, xml_declaration=True, encoding="UTF-8")


def result_envelope(
    matches: tuple[Persona, ...],
    *,
    operation: Operation,
    style: ResponseStyle,
) -> bytes:
    """The ``RESULTAT`` answer for ``matches`` (INDIVIDU only when exactly one)."""
    writer = _Writer(style, with_result=True)
    writer.header(f"{operation.action}Response")
    nsmap: Mapping[Any, str] | None = {None: ns.INSI_RESULTAT} if writer.variant else None
    resultat = etree.SubElement(writer.part("Body"), _r("RESULTAT"), nsmap=nsmap)
    code = result_code(matches)
    cr = etree.SubElement(resultat, _r("CR"))
    _leaf(cr, "CodeCR", code.value)
    _leaf(cr, "LibelleCR", _LABELS[code])
    if code is ResultCode.FOUND:
        _individu(resultat, matches[0], variant=writer.variant)
    return writer.serialise()


def _individu(resultat: etree._Element, persona: Persona, *, variant: bool) -> None:
    assert persona.active is not None  # personas without INS never match
    individu = etree.SubElement(resultat, _r("INDIVIDU"))
    _ins(individu, "INSACTIF", persona.active, variant=variant)
    for old in persona.history:
        _ins(individu, "INSHISTO", old, variant=variant)
    tiq = etree.SubElement(individu, _r("TIQ"))
    _leaf(tiq, "NomNaissance", persona.birth_name)
    if persona.with_prenom:
        _leaf(tiq, "Prenom", persona.first_names[0])
    _leaf(tiq, "ListePrenom", " ".join(persona.first_names))
    _leaf(tiq, "Sexe", persona.sex)
    _leaf(tiq, "DateNaissance", persona.birth_date)
    if persona.birth_place:
        _leaf(tiq, "LieuNaissance", persona.birth_place)


def _ins(parent: etree._Element, tag: str, ins: Ins, *, variant: bool) -> None:
    element = etree.SubElement(parent, _r(tag))
    ident = etree.SubElement(element, _r("IdIndividu"))
    _leaf(ident, "NumIdentifiant", ins.matricule)
    if ins.key is not None:  # optional in INSi_RESULTAT_INS.xsd: a former INS may lack it
        _leaf(ident, "Cle", ins.key)
    if variant:
        _leaf(ident, "TypeMatricule", "NIA" if ins.oid == OID_NIA else "NIR")
    _leaf(element, "OID", ins.oid)
    if variant:
        for name, value in (("DateDeb", ins.start_date), ("DateFin", ins.end_date)):
            if value:
                _leaf(element, name, value)


def _r(local: str) -> str:
    return ns.qname(ns.INSI_RESULTAT, local)


def _leaf(parent: etree._Element, local: str, text: str) -> None:
    etree.SubElement(parent, _r(local)).text = text


def fault_envelope(fault: Fault, *, style: ResponseStyle, message_id: str | None) -> bytes:
    """A SOAP 1.2 ``Fault`` with a ``siram:Erreur`` detail (``messageID``: the request's)."""
    writer = _Writer(style, with_result=False)
    writer.header("http://www.w3.org/2005/08/addressing/soap/fault")
    nsmap = {"siram": ns.SIRAM} if writer.variant else None
    body_fault = etree.SubElement(writer.part("Body"), _s("Fault"), nsmap=nsmap)
    code = etree.SubElement(body_fault, _s("Code"))
    etree.SubElement(code, _s("Value")).text = f"soap:{fault.code}"
    if fault.subcode:
        subcode = etree.SubElement(code, _s("Subcode"))
        etree.SubElement(subcode, _s("Value")).text = f"siram:{fault.subcode}"
    reason = etree.SubElement(etree.SubElement(body_fault, _s("Reason")), _s("Text"))
    reason.set(ns.qname(ns.XML, "lang"), "fr")
    reason.text = fault.reason
    detail = etree.SubElement(body_fault, _s("Detail"))
    erreur = etree.SubElement(detail, ns.qname(ns.SIRAM, "Erreur"))
    erreur.set("severite", fault.severity)
    erreur.set("code", fault.error_code)
    if message_id:
        erreur.set("messageID", message_id)
    erreur.text = fault.reason
    return writer.serialise()


def _s(local: str) -> str:
    return ns.qname(ns.SOAP12_ENV, local)
