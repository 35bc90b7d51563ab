"""Answers of the mock: ``RESULTAT`` envelopes and SOAP 1.2 faults, in two serialisations.

Shaped like the real answers recorded on the CNDA platform (padoa/tlsi-ins,
``src/ins/fixtures``; our rewritings in ``tests/fixtures/recorded``): no
``soap:Header`` (the real service answers a ``Body`` alone), ``RESULTAT`` in a
default namespace, history dates after ``OID`` when the persona has them,
``Prenom`` only for the personas recorded with it, fault subcodes written
with the envelope's prefix (``soap:siram_100``, as recorded) and
``siram:Erreur`` declaring its own prefix. Both styles validate against the
official ``INSi_RESULTAT_INS.xsd`` / ``schema_faultSOAP_V01_01.xsd`` (a test
checks it); they differ only in what a namespace-aware parser must not care
about:

* ``plain``: the live answers' shape: ``soap:Envelope`` around ``env:Body``
  (declaring ``env`` and ``S``), ``RESULTAT`` declaring ``ns0``/``ns1``;
* ``variant``: the CNDA test files' shape: ``S:Body``, ``RESULTAT`` declaring
  ``ns2``/``ns3``, plus ``TypeMatricule`` (optional in the XSD).

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
from gateway.models import Ins, ResultCode

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
    detail: str | None = None  # the siram:Erreur text, when it differs from the reason


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


def unknown_idam() -> Fault:
    """``ContexteLPS/LPS/IDAM`` absent or not an authorised software number.

    Code, severity and texts are the recorded ones (accents included), so a
    client showing the teleservice's message shows the real one.
    """
    return Fault(
        "Sender",
        "siram_100",
        "desir_550",
        "L'accès par ce progiciel au service n'est pas autorisé. Contactez l'éditeur du "
        "progiciel ou votre responsable informatique.",
        severity="erreur",
        detail="Numéro d'autorisation du logiciel inconnu.",
    )


def service_unavailable() -> Fault:
    """The teleservice cannot search right now (CNDA flow of VANDERMONDE ARIANA).

    Texts and codes of padoa/tlsi-ins' CNDA flow data; severity ``fatale``
    (that data writes ``fatal``, which ``schema_faultSOAP_V01_01.xsd`` refuses).
    """
    return Fault(
        "Receiver",
        "siram_40",
        "insi_102",
        "Le service est temporairement inaccessible. Veuillez renouveler votre demande "
        "ultérieurement. Si le problème persiste, contactez l'éditeur du progiciel ou votre "
        "responsable informatique.",
        detail="L'appel au service de recherche avec les traits d'identité renvoie une "
        "erreur technique.",
    )


def internal_error(reason: str) -> Fault:
    """The mock itself failed: the server's fault, not the caller's."""
    return Fault("Receiver", "siram_50", "DESIR_500", reason)


def result_code(matches: tuple[Persona, ...]) -> ResultCode:
    """00 for exactly one persona, 01 for none, 02 for several."""
    if not matches:
        return ResultCode.NOT_FOUND
    return ResultCode.FOUND if len(matches) == 1 else ResultCode.MULTIPLE


class _Writer:
    """Creates ``Envelope`` and ``Body`` with the prefixes of one style; never a ``Header``."""

    def __init__(self, style: ResponseStyle) -> None:
        self.variant = style is ResponseStyle.VARIANT
        self.envelope = etree.Element(_s("Envelope"), nsmap={"soap": ns.SOAP12_ENV})
        body_nsmap = (
            {"S": ns.SOAP12_ENV} if self.variant else {"env": ns.SOAP12_ENV, "S": ns.SOAP12_ENV}
        )
        self.body = etree.SubElement(self.envelope, _s("Body"), nsmap=body_nsmap)

    def resultat_nsmap(self) -> Mapping[Any, str]:
        """The default namespace, plus the request namespaces the real answers declare there."""
        first, second = ("ns2", "ns3") if self.variant else ("ns0", "ns1")
        return {None: ns.INSI_RESULTAT, first: ns.INSI_RECSANS, second: ns.INSI_RECVIT}

    def serialise(self) -> bytes:
        return etree.tostring(self.envelope, xml_declaration=True, encoding="UTF-8")


def result_envelope(
    matches: tuple[Persona, ...],
    *,
    style: ResponseStyle,
) -> bytes:
    """The ``RESULTAT`` answer for ``matches`` (INDIVIDU only when exactly one).

    The same for both operations: the real answers carry no ``wsa:Action``.
    """
    writer = _Writer(style)
    resultat = etree.SubElement(writer.body, _r("RESULTAT"), nsmap=writer.resultat_nsmap())
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
    for name, value in (("DateDeb", ins.start_date), ("DateFin", ins.end_date)):
        if value:  # after OID, in schema order, as in the live recording
            _leaf(element, name, value)


def _r(local: str) -> str:
    return ns.qname(ns.INSI_RESULTAT, local)


def _leaf(parent: etree._Element, local: str, text: str) -> None:
    etree.SubElement(parent, _r(local)).text = text


def fault_envelope(fault: Fault, *, style: ResponseStyle, message_id: str | None) -> bytes:
    """A SOAP 1.2 ``Fault`` with a ``siram:Erreur`` detail (``messageID``: the request's)."""
    writer = _Writer(style)
    body_fault = etree.SubElement(writer.body, _s("Fault"))
    code = etree.SubElement(body_fault, _s("Code"))
    etree.SubElement(code, _s("Value")).text = f"soap:{fault.code}"
    if fault.subcode:  # the envelope's prefix, as the real service writes it (not siram:)
        subcode = etree.SubElement(code, _s("Subcode"))
        etree.SubElement(subcode, _s("Value")).text = f"soap:{fault.subcode}"
    reason = etree.SubElement(etree.SubElement(body_fault, _s("Reason")), _s("Text"))
    reason.set(ns.qname(ns.XML, "lang"), "fr")
    reason.text = fault.reason
    detail = etree.SubElement(body_fault, _s("Detail"))
    erreur = etree.SubElement(detail, ns.qname(ns.SIRAM, "Erreur"), nsmap={"siram": ns.SIRAM})
    erreur.set("code", fault.error_code)
    if message_id:
        erreur.set("messageID", message_id)
    erreur.set("severite", fault.severity)
    erreur.text = fault.detail or fault.reason
    return writer.serialise()


def _s(local: str) -> str:
    return ns.qname(ns.SOAP12_ENV, local)
