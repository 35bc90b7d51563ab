"""Validation of SOAP envelopes against the OFFICIAL INSi schemas, for the mock and the tests.

The schemas are read from a directory holding the official contract
(``../shared/reference/insi`` in this repository's tests, ``MOCK_CONTRACT_DIR``
for the mock), never copied into the project: the project's own ``wsdl/``
files are ours, and these checks are what proves they describe the same
contract. With ``MOCK_CONTRACT_DIR`` set the mock refuses any request that
does not validate, so every envelope sent in the integration tests is
checked. Schemas load offline (``no_network=True``) and are cached per process.

A cached ``XMLSchema`` is shared by the mock's threads, and lxml keeps the
errors of the last ``validate()`` on the schema object itself: validating
and reading the error are done under one lock, or a request could be told
another request's error (see :func:`validate_element`).

The WS-Addressing schema is not shipped with the contract (the official WSDL
imports it from the network), so ``wsa:Action`` and ``wsa:MessageID`` are
only checked for namespace and non-empty text.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from lxml import etree

from gateway import ns
from gateway.protocol.xml import parse_xml


class ContractViolation(ValueError):
    """An envelope does not follow the official contract; the message says where."""


_SCHEMA_BY_ELEMENT: dict[str, str] = {
    ns.qname(ns.INSI_RECSANS, "RECSANSVITALE"): "xsd/ServiceIdentiteCertifiee/INSi_RECSANS_INS.xsd",
    ns.qname(ns.INSI_RECVIT, "RECVITALE"): "xsd/ServiceIdentiteCertifiee/INSi_RECVITALE_INS.xsd",
    ns.qname(ns.INSI_RESULTAT, "RESULTAT"): "xsd/ServiceIdentiteCertifiee/INSi_RESULTAT_INS.xsd",
    ns.qname(ns.CTXLPS, "ContexteLPS"): "xsd/CTX/ROOT_ctxlps_CTXLPS_V01_00.xsd",
    ns.qname(ns.CTXBAM, "ContexteBAM"): "xsd/CTX/ROOT_ctxbam_CTXBAM_V01_02.xsd",
    ns.qname(ns.WSSE, "Security"): "xsd/WSSE/Security.xsd",
    ns.qname(ns.SAML2, "Assertion"): "xsd/SAML/saml-schema-assertion-2.0.xsd",
    ns.qname(ns.SIRAM, "Erreur"): "xsd/schema_faultSOAP_V01_01.xsd",
}
# WS-Addressing headers the WSDL's imported ws-addr schema allows, all AttributedURIType
# (text): wsa:To is optional there, so a client may send it (issue 8).
_TEXT_ONLY_HEADERS = {
    ns.qname(ns.WSA, "Action"),
    ns.qname(ns.WSA, "MessageID"),
    ns.qname(ns.WSA, "To"),
}
_VALIDATING = threading.Lock()  # validate() and its error_log, atomically (module docstring)


@functools.cache
def load_schema(reference_dir: Path, relative_path: str) -> etree.XMLSchema:
    """One official schema (with its local imports), parsed without network access."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    document = etree.parse(str(reference_dir / relative_path), parser)
    return etree.XMLSchema(document)


def validate_element(element: etree._Element, reference_dir: Path) -> None:
    """Assert that ``element`` validates against the official schema of its QName."""
    relative_path = _SCHEMA_BY_ELEMENT.get(element.tag)
    if relative_path is None:
        raise ContractViolation(f"no official schema for element {element.tag}")
    standalone = etree.fromstring(etree.tostring(element))
    with _VALIDATING:  # the first load too: one parse of each schema, never two at once
        schema = load_schema(reference_dir, relative_path)
        valid = schema.validate(standalone)
        errors = "" if valid else str(schema.error_log)
    if not valid:
        raise ContractViolation(f"{element.tag} is invalid:\n{errors}")


def validate_envelope(
    envelope_bytes: bytes, reference_dir: Path, *, header_required: bool = True
) -> None:
    """Assert a SOAP 1.2 request/response envelope matches the official contract.

    Root ``Envelope`` with ``Header`` then ``Body``; every header child is
    known and valid; the Body holds exactly one element, valid against its
    schema (a ``Fault`` is accepted when its ``Detail`` children validate).
    ``header_required=False`` for answers: SOAP 1.2 makes the ``Header``
    optional, and the real teleservice answers without one.
    """
    root = parse_xml(envelope_bytes)
    if root.tag != ns.qname(ns.SOAP12_ENV, "Envelope"):
        raise ContractViolation(f"root is {root.tag}, not a SOAP 1.2 Envelope")
    tags = [child.tag for child in root]
    header_tag, body_tag = ns.qname(ns.SOAP12_ENV, "Header"), ns.qname(ns.SOAP12_ENV, "Body")
    if tags == [body_tag] and not header_required:
        _validate_body(root[0], reference_dir)
        return
    if tags != [header_tag, body_tag]:
        raise ContractViolation(f"Envelope children are {tags}, expected {[header_tag, body_tag]}")
    header, body = root
    for child in header:
        _validate_header(child, reference_dir)
    _validate_body(body, reference_dir)


def _validate_header(child: etree._Element, reference_dir: Path) -> None:
    if child.tag in _TEXT_ONLY_HEADERS:
        if not (child.text or "").strip() or len(child):
            raise ContractViolation(f"{child.tag} must hold non-empty text only")
        return
    validate_element(child, reference_dir)


def _validate_body(body: etree._Element, reference_dir: Path) -> None:
    children = list(body)
    if len(children) != 1:
        raise ContractViolation(f"Body must hold exactly one element, found {len(children)}")
    (payload,) = children
    if payload.tag == ns.qname(ns.SOAP12_ENV, "Fault"):
        for detail in payload.iterfind(ns.qname(ns.SOAP12_ENV, "Detail")):
            for item in detail:
                validate_element(item, reference_dir)
        return
    validate_element(payload, reference_dir)
