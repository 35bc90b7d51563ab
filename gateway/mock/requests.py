"""Reading an incoming SOAP 1.2 request, by namespace and local name only.

The mock plays the other side of the wire, so it never imports the
gateway's request builder: it reads what was actually sent, with the safe
parser, and refuses what the real teleservice would refuse (wrong envelope
version, wrong content type, unknown operation, missing mandatory field).
Prefixes are never relied upon. The TLS client certificate is read here
too: it is part of what the caller presented.
"""

from __future__ import annotations

from dataclasses import dataclass
from wsgiref.types import WSGIEnvironment

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree
from werkzeug.http import parse_options_header

from gateway import ns
from gateway.exceptions import MalformedRequest
from gateway.mock.personas import VitaleQuery
from gateway.models import Operation, TraitsQuery
from gateway.protocol.xml import parse_xml

SOAP_CONTENT_TYPE = "application/soap+xml"

_OPERATIONS = {
    ns.qname(ns.INSI_RECSANS, "RECSANSVITALE"): Operation.SEARCH_TRAITS,
    ns.qname(ns.INSI_RECVIT, "RECVITALE"): Operation.SEARCH_VITALE,
}


@dataclass(frozen=True, slots=True)
class Peer:
    """The verified TLS client certificate: its CN and public key (PEM SPKI), when known."""

    common_name: str | None = None
    public_key: bytes | None = None


def tls_peer(environ: WSGIEnvironment) -> Peer:
    """The client certificate from gunicorn's TLS socket (an empty :class:`Peer` when absent)."""
    getpeercert = getattr(environ.get("gunicorn.socket"), "getpeercert", None)
    if getpeercert is None:
        return Peer()
    cert = getpeercert()
    if not cert:
        return Peer()
    subject = cert.get("subject", ())
    names = [value for rdn in subject for key, value in rdn if key == "commonName"]
    der = getpeercert(binary_form=True)
    public_key = None
    if der:
        key = x509.load_der_x509_certificate(der).public_key()
        public_key = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return Peer(str(names[-1]) if names else None, public_key)


class SoapVersionMismatch(MalformedRequest):
    """The envelope is SOAP 1.1 (or another version): answered with ``soap:VersionMismatch``."""


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """The parts of a request the mock decides on; the body stays an element until needed."""

    operation: Operation
    message_id: str | None
    idam: str | None
    security: tuple[etree._Element, ...]
    body: etree._Element


def parse_request(data: bytes, *, content_type: str) -> SoapRequest:
    """Parse ``data`` (raises ``XmlRejected``, ``MalformedRequest`` or ``SoapVersionMismatch``)."""
    mimetype, params = parse_options_header(content_type)
    if mimetype != SOAP_CONTENT_TYPE:
        raise MalformedRequest(f"Content-Type must be {SOAP_CONTENT_TYPE} (SOAP 1.2)")
    root = parse_xml(data)
    if root.tag != ns.qname(ns.SOAP12_ENV, "Envelope"):
        if etree.QName(root).localname == "Envelope":
            raise SoapVersionMismatch("the envelope is not SOAP 1.2")
        raise MalformedRequest("the document is not a SOAP envelope")
    header = root.find(ns.qname(ns.SOAP12_ENV, "Header"))
    operation, body = _operation(root)
    _check_action(operation, params.get("action"), _header_text(header, ns.WSA, "Action"))
    return SoapRequest(
        operation=operation,
        message_id=_header_text(header, ns.WSA, "MessageID"),
        idam=_idam(header),
        security=tuple(header.iterchildren(ns.qname(ns.WSSE, "Security")))
        if header is not None
        else (),
        body=body,
    )


def _operation(root: etree._Element) -> tuple[Operation, etree._Element]:
    bodies = root.findall(ns.qname(ns.SOAP12_ENV, "Body"))
    if len(bodies) != 1:
        raise MalformedRequest("the envelope must have exactly one soap:Body")
    children = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(children) != 1:
        raise MalformedRequest("soap:Body must hold exactly one element")
    operation = _OPERATIONS.get(children[0].tag)
    if operation is None:
        raise MalformedRequest(f"unknown operation element {etree.QName(children[0]).localname}")
    return operation, children[0]


def _check_action(operation: Operation, *actions: str | None) -> None:
    """The HTTP ``action`` parameter and ``wsa:Action``, when sent, must name the body operation."""
    for action in actions:
        if action is not None and action != operation.action:
            raise MalformedRequest(f"action does not match the body operation {operation.value}")


def _header_text(header: etree._Element | None, namespace: str, name: str) -> str | None:
    if header is None:
        return None
    return _text(header.find(ns.qname(namespace, name)))


def _idam(header: etree._Element | None) -> str | None:
    if header is None:
        return None
    path = "/".join(ns.qname(ns.CTXLPS, part) for part in ("ContexteLPS", "LPS", "IDAM"))
    return _text(header.find(path))


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def read_traits(request: SoapRequest) -> TraitsQuery:
    """``RECSANSVITALE`` as a query: NomNaissance, Prenom+, Sexe, DateNaissance are mandatory."""
    fields = _Fields(request.body, ns.INSI_RECSANS)
    first_names = fields.all("Prenom")
    if not first_names:
        raise MalformedRequest("RECSANSVITALE/Prenom is required")
    return TraitsQuery(
        birth_name=fields.required("NomNaissance"),
        first_names=first_names,
        sex=fields.required("Sexe"),
        birth_date=fields.required("DateNaissance"),
        birth_place=fields.optional("LieuNaissance"),
    )


def read_vitale(request: SoapRequest) -> VitaleQuery:
    """``RECVITALE`` as a query: a matricule (individual or OD), name, date, rank are mandatory."""
    fields = _Fields(request.body, ns.INSI_RECVIT)
    matricules = tuple(
        (number, fields.optional(f"{holder}/Cle"))
        for holder in ("MatriculeIndividu", "MatriculeOD")
        if (number := fields.optional(f"{holder}/NumIdentifiant")) is not None
    )
    if not matricules:
        raise MalformedRequest("RECVITALE/MatriculeIndividu or MatriculeOD is required")
    return VitaleQuery(
        matricules=matricules,
        birth_name=fields.required("NomNaissance"),
        birth_date=fields.required("DateNaissance"),
        rank=fields.required("RangNaissance"),
    )


class _Fields:
    """Children of an operation element, qualified in the operation's namespace."""

    def __init__(self, element: etree._Element, namespace: str) -> None:
        self._element = element
        self._namespace = namespace
        self._name = etree.QName(element).localname

    def _path(self, path: str) -> str:
        return "/".join(ns.qname(self._namespace, part) for part in path.split("/"))

    def optional(self, path: str) -> str | None:
        return _text(self._element.find(self._path(path)))

    def required(self, path: str) -> str:
        value = self.optional(path)
        if value is None:
            raise MalformedRequest(f"{self._name}/{path} is required")
        return value

    def all(self, path: str) -> tuple[str, ...]:
        found = (_text(e) for e in self._element.iterfind(self._path(path)))
        return tuple(value for value in found if value is not None)
