"""Reading the teleservice's answer: a ``RESULTAT``, a SOAP fault, or something unusable.

Everything is located by namespace URI and local name, never by prefix or
position: the real service varies its prefixes (``soap:Envelope`` around
``S:Body`` or ``env:Body``, ``RESULTAT`` in a default namespace), sometimes
adds ``TypeMatricule``, and puts ``DateDeb``/``DateFin`` before or after
``IdIndividu``. SOAP 1.2 is what INSi speaks; SOAP 1.1 envelopes and faults
are accepted too, since a proxy or load balancer in front may answer in 1.1.

Outcomes: an :class:`~gateway.models.InsResult`, or
:class:`~gateway.exceptions.UpstreamFault` for a SOAP fault, or
:class:`~gateway.exceptions.UpstreamBadResponse` for anything else (HTML
error page, empty or oversized body, DTD, XML without ``RESULTAT``, unknown
``CodeCR``, missing mandatory field). Error messages never quote the answer:
it may hold identity traits.
"""

from __future__ import annotations

from lxml import etree

from gateway import ns
from gateway.exceptions import UpstreamBadResponse, UpstreamFault, XmlRejected
from gateway.models import Ins, InsResult, OfficialIdentity, ResultCode
from gateway.protocol.xml import parse_xml

_ENVELOPE_NAMESPACES = (ns.SOAP12_ENV, ns.SOAP11_ENV)
_XML_LANG = ns.qname(ns.XML, "lang")


class _BadAnswerError(Exception):
    """Internal: the answer is unusable; converted to UpstreamBadResponse with the HTTP status."""


def parse_response(content: bytes, *, http_status: int, max_bytes: int) -> InsResult:
    """Turn the raw HTTP body of an INSi answer into a result, or raise.

    ``http_status`` is only carried into :class:`UpstreamBadResponse` (and
    used to refuse a ``RESULTAT`` that came with a non-2xx status); faults
    are recognised by content, whatever the status (INSi sends them as 500).
    """
    try:
        root = parse_xml(content, max_bytes=max_bytes)
        body = _soap_body(root)
        payload = _single_child(body)
        if etree.QName(payload).localname == "Fault" and _namespace(payload) == _namespace(root):
            raise _fault(payload)
        if not 200 <= http_status < 300:
            raise _BadAnswerError(f"HTTP {http_status} answer that is not a SOAP fault")
        return _resultat(payload)
    except XmlRejected as exc:
        reason = f"answer refused: {exc.message}"
        raise UpstreamBadResponse(reason, http_status=http_status) from None
    except _BadAnswerError as exc:
        raise UpstreamBadResponse(str(exc), http_status=http_status) from None


# --- SOAP envelope -------------------------------------------------------------------------


def _namespace(element: etree._Element) -> str | None:
    return etree.QName(element).namespace


def _soap_body(root: etree._Element) -> etree._Element:
    envelope_ns = _namespace(root)
    if etree.QName(root).localname != "Envelope" or envelope_ns not in _ENVELOPE_NAMESPACES:
        raise _BadAnswerError("answer is not a SOAP envelope")
    assert envelope_ns is not None
    body = root.find(ns.qname(envelope_ns, "Body"))
    if body is None:
        raise _BadAnswerError("SOAP envelope has no Body")
    return body


def _single_child(body: etree._Element) -> etree._Element:
    children = [child for child in body if isinstance(child.tag, str)]
    if not children:
        raise _BadAnswerError("SOAP Body is empty")
    return children[0]


# --- Faults --------------------------------------------------------------------------------


def _fault(fault: etree._Element) -> UpstreamFault:
    """An :class:`UpstreamFault` from a SOAP 1.2 or 1.1 ``Fault``.

    Codes are normalised, since prefixes are arbitrary: ``code`` is the
    SOAP code as ``soap:<local name>`` when it is in a SOAP envelope namespace
    (``soap:Sender``, ``soap:Receiver``...), its bare text otherwise;
    ``subcode`` is the local name only (``siram_100``: INSi writes
    ``soap:siram_100``, misusing the envelope prefix). The ``siram:Erreur``
    text, when present and different, is appended to the reason in parentheses.
    """
    if _namespace(fault) == ns.SOAP12_ENV:
        code, subcode, reason, detail = _soap12_fault_parts(fault)
    else:
        code, subcode, reason, detail = _soap11_fault_parts(fault)
    erreur = detail.find(ns.qname(ns.SIRAM, "Erreur")) if detail is not None else None
    erreur_text = _text(erreur)
    if erreur_text and erreur_text != reason:
        reason = f"{reason} ({erreur_text})" if reason else erreur_text
    return UpstreamFault(
        reason or "SOAP fault without reason",
        code=code or "soap:Fault",
        subcode=subcode,
        error_code=erreur.get("code") if erreur is not None else None,
        severity=erreur.get("severite") if erreur is not None else None,
        error_message_id=erreur.get("messageID") if erreur is not None else None,
    )


_FaultParts = tuple[str | None, str | None, str | None, etree._Element | None]


def _soap12_fault_parts(fault: etree._Element) -> _FaultParts:
    value = fault.find(_soap12_path("Code", "Value"))
    subcode = fault.find(_soap12_path("Code", "Subcode", "Value"))
    texts = fault.findall(_soap12_path("Reason", "Text"))
    detail = fault.find(_soap12_path("Detail"))
    return _code(value), _local(subcode), _preferred_text(texts), detail


def _soap12_path(*locals_: str) -> str:
    """An ElementPath of SOAP 1.2 envelope elements, e.g. ``{env}Code/{env}Value``."""
    return "/".join(ns.qname(ns.SOAP12_ENV, local) for local in locals_)


def _soap11_fault_parts(fault: etree._Element) -> _FaultParts:
    """SOAP 1.1: ``faultcode``, ``faultstring``, ``detail`` are unqualified children."""
    code, reason = fault.find("faultcode"), fault.find("faultstring")
    return _code(code), None, _text(reason), fault.find("detail")


def _preferred_text(texts: list[etree._Element]) -> str | None:
    """The French ``Reason/Text`` when several languages are given, else the first."""
    french = [t for t in texts if (t.get(_XML_LANG) or "").lower().startswith("fr")]
    chosen = french or texts
    return _text(chosen[0]) if chosen else None


def _split_qname(element: etree._Element | None) -> tuple[str | None, str] | None:
    """(namespace, local name) of a QName-valued element's text; None when empty."""
    text = _text(element)
    if text is None or element is None:
        return None
    prefix, _, local = text.rpartition(":")
    return (element.nsmap.get(prefix) if prefix else element.nsmap.get(None)), local


def _code(element: etree._Element | None) -> str | None:
    parts = _split_qname(element)
    if parts is None:
        return None
    namespace, local = parts
    return f"soap:{local}" if namespace in _ENVELOPE_NAMESPACES else local


def _local(element: etree._Element | None) -> str | None:
    parts = _split_qname(element)
    return parts[1] if parts else None


# --- RESULTAT ------------------------------------------------------------------------------


def _res(parent: etree._Element, local: str) -> etree._Element | None:
    """First child ``local`` in the INSiResultat namespace, wherever it stands among siblings."""
    return parent.find(ns.qname(ns.INSI_RESULTAT, local))


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _required(parent: etree._Element, local: str) -> str:
    value = _text(_res(parent, local))
    if value is None:
        raise _BadAnswerError(f"RESULTAT lacks mandatory {local}")
    return value


def _resultat(payload: etree._Element) -> InsResult:
    if _namespace(payload) != ns.INSI_RESULTAT or etree.QName(payload).localname != "RESULTAT":
        raise _BadAnswerError("SOAP Body holds neither a RESULTAT nor a Fault")
    report = _res(payload, "CR")
    if report is None:
        raise _BadAnswerError("RESULTAT lacks mandatory CR")
    try:
        code = ResultCode(_required(report, "CodeCR"))
    except ValueError:
        raise _BadAnswerError("RESULTAT has an unknown CodeCR") from None
    label = _text(_res(report, "LibelleCR")) or ""
    if code is not ResultCode.FOUND:
        return InsResult(code=code, label=label)
    individu = _res(payload, "INDIVIDU")
    if individu is None:
        raise _BadAnswerError("RESULTAT with CodeCR 00 lacks INDIVIDU")
    return InsResult(
        code=code,
        label=label,
        ins=_ins(_res(individu, "INSACTIF"), "INSACTIF"),
        identity=_identity(_res(individu, "TIQ")),
        history=tuple(_ins(h, "INSHISTO") for h in individu.iterfind(_tag("INSHISTO"))),
    )


def _tag(local: str) -> str:
    return ns.qname(ns.INSI_RESULTAT, local)


def _ins(element: etree._Element | None, name: str) -> Ins:
    """An ``INSACTIF`` or ``INSHISTO``.

    ``Cle`` is optional in the official ``INSi_RESULTAT_INS.xsd`` (type
    ``Matricule``): a former INS without it is kept with ``key=None``. The
    active INS must have its key: without it, it could not be used at all.
    """
    if element is None:
        raise _BadAnswerError(f"RESULTAT lacks mandatory {name}")
    individual = _res(element, "IdIndividu")
    if individual is None:
        raise _BadAnswerError(f"RESULTAT {name} lacks IdIndividu")
    key = _text(_res(individual, "Cle"))
    if key is None and name == "INSACTIF":
        raise _BadAnswerError("RESULTAT INSACTIF lacks its Cle")
    return Ins(
        matricule=_required(individual, "NumIdentifiant"),
        key=key,
        oid=_required(element, "OID"),
        start_date=_text(_res(element, "DateDeb")),
        end_date=_text(_res(element, "DateFin")),
    )


def _identity(tiq: etree._Element | None) -> OfficialIdentity:
    """The ``TIQ``; the first first name is ``Prenom``, else the first of ``ListePrenom``.

    Real answers (the CNDA recordings of padoa/tlsi-ins) often carry only
    ``ListePrenom``; an answer with only ``Prenom`` gets it as its list.
    """
    if tiq is None:
        raise _BadAnswerError("RESULTAT lacks mandatory TIQ")
    listed = _text(_res(tiq, "ListePrenom"))
    first_names = tuple(listed.split(" ")) if listed else ()
    first_names = tuple(name for name in first_names if name)
    first_name = _text(_res(tiq, "Prenom")) or (first_names[0] if first_names else None)
    if not first_names and first_name:
        first_names = (first_name,)
    return OfficialIdentity(
        birth_name=_required(tiq, "NomNaissance"),
        first_name=first_name,
        first_names=first_names,
        sex=_required(tiq, "Sexe"),
        birth_date=_required(tiq, "DateNaissance"),
        birth_place=_text(_res(tiq, "LieuNaissance")),
    )
