"""What SOAP itself requires of a request, checked before spyne reads it.

spyne tolerates (or crashes on) several things SOAP says must be refused:

- a body whose bytes do not decode in the declared ``charset``, or an
  unknown charset: spyne raised ``UnicodeDecodeError``/``LookupError`` deep
  in its parser and gunicorn answered an HTML 500 with a traceback;
- an envelope of the other SOAP version: spyne answered a generic client
  fault, where SOAP 1.1 §4.4.1 and SOAP 1.2 part 1 §5.4.8 require
  ``VersionMismatch`` (with an ``Upgrade`` header naming what we accept);
- a header block with ``mustUnderstand`` targeted at us: we understand no
  header block at all, so SOAP (1.1 §4.2.3, 1.2 part 1 §5.2.3) requires a
  ``MustUnderstand`` fault before anything else is done, never silence;
- a Body holding several elements: spyne ran the first and ignored the rest.

Each check raises a :mod:`gateway.exceptions` error; the SOAP layer turns it
into the fault (and journals the refusal) like any other.
"""

from __future__ import annotations

import re
from typing import Final

from lxml import etree
from werkzeug.http import parse_options_header

from gateway.exceptions import MalformedRequest, SoapHeaderNotUnderstood, SoapVersionMismatch

SOAP11_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV: Final = "http://www.w3.org/2003/05/soap-envelope"
_CHARSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,39}")
# Roles/actors meaning "the node that receives this": the gateway is always the last one.
_TARGETED_AT_US: Final = {
    SOAP11_ENV: frozenset({"", "http://schemas.xmlsoap.org/soap/actor/next"}),
    SOAP12_ENV: frozenset(
        {
            "",
            f"{SOAP12_ENV}/role/next",
            f"{SOAP12_ENV}/role/ultimateReceiver",
        }
    ),
}
_ROLE_ATTRIBUTE: Final = {SOAP11_ENV: "actor", SOAP12_ENV: "role"}


def check_charset(body: bytes, content_type: str) -> None:
    """The declared ``charset`` exists, is a text encoding, and the body's bytes decode in it.

    Without a declared charset the XML declaration (or UTF-8) rules, as XML says.
    The message names the charset only when it looks like a charset name
    (it is the caller's text), and the offset of the first bad byte.
    """
    charset = parse_options_header(content_type)[1].get("charset", "").strip()
    if not charset:
        return
    if not _CHARSET_NAME.fullmatch(charset):
        raise MalformedRequest("the Content-Type charset is not a charset name")
    try:
        body.decode(charset)  # LookupError too for codecs that are not text encodings (hex, zip)
    except LookupError:
        raise MalformedRequest(f"unknown charset {charset!r} in Content-Type") from None
    except UnicodeDecodeError as error:
        raise MalformedRequest(
            f"body is not valid {charset}: undecodable byte at offset {error.start}"
        ) from None


def check_envelope(root: etree._Element, envelope_ns: str) -> None:
    """Version, then mandatory header blocks, then a Body holding exactly one element."""
    name = etree.QName(root)
    wrong_root = name.localname != "Envelope" and envelope_ns == SOAP12_ENV
    if (name.localname == "Envelope" and name.namespace != envelope_ns) or wrong_root:
        raise SoapVersionMismatch(
            f"this endpoint takes SOAP {_version(envelope_ns)} envelopes ({envelope_ns})"
        )
    if name.localname != "Envelope":
        raise MalformedRequest("the document is not a SOAP Envelope")
    _check_headers(root, envelope_ns)
    _check_body(root, envelope_ns)


def _version(envelope_ns: str) -> str:
    return "1.1" if envelope_ns == SOAP11_ENV else "1.2"


def _check_headers(root: etree._Element, envelope_ns: str) -> None:
    """Every header block we must understand is one we do not: refuse them all, by name."""
    not_understood: list[str] = []
    for header in root.iterfind(f"{{{envelope_ns}}}Header"):
        for block in header.iterchildren(tag=etree.Element):
            if _mandatory_for_us(block, envelope_ns):
                not_understood.append(str(block.tag))
    if not_understood:
        raise SoapHeaderNotUnderstood(tuple(not_understood))


def _mandatory_for_us(block: etree._Element, envelope_ns: str) -> bool:
    flag = (block.get(f"{{{envelope_ns}}}mustUnderstand") or "").strip().lower()
    role = (block.get(f"{{{envelope_ns}}}{_ROLE_ATTRIBUTE[envelope_ns]}") or "").strip()
    return flag in {"1", "true"} and role in _TARGETED_AT_US[envelope_ns]


def _check_body(root: etree._Element, envelope_ns: str) -> None:
    bodies = root.findall(f"{{{envelope_ns}}}Body")
    if len(bodies) != 1:
        raise MalformedRequest(f"the Envelope holds {len(bodies)} Body elements, not one")
    operations = list(bodies[0].iterchildren(tag=etree.Element))
    if len(operations) != 1:
        raise MalformedRequest(
            f"the Body holds {len(operations)} elements: exactly one operation element is expected"
        )


def fault_header_blocks(error: Exception, envelope_ns: str) -> list[etree._Element]:
    """Header blocks the fault for ``error`` carries (SOAP 1.2 part 1 §5.4.7, §5.4.8).

    ``VersionMismatch``: an ``Upgrade`` block naming the envelope this endpoint
    accepts (SOAP 1.2 appendix A asks the same of a SOAP 1.1 node).
    ``MustUnderstand`` (SOAP 1.2): one ``NotUnderstood`` block per refused header.
    Their ``qname`` attributes are written in Clark notation (``{ns}local``) with
    the namespace declared; :func:`resolve_qnames` gives them their prefix once
    the blocks are in the answer (lxml may replace a declaration there).
    """
    if isinstance(error, SoapVersionMismatch):
        upgrade = etree.Element(f"{{{SOAP12_ENV}}}Upgrade", nsmap={"upg": SOAP12_ENV})
        supported = etree.SubElement(
            upgrade, f"{{{SOAP12_ENV}}}SupportedEnvelope", nsmap={"sup": envelope_ns}
        )
        supported.set("qname", f"{{{envelope_ns}}}Envelope")
        return [upgrade]
    if isinstance(error, SoapHeaderNotUnderstood) and envelope_ns == SOAP12_ENV:
        return [_not_understood(tag) for tag in error.headers]
    return []


def _not_understood(tag: str) -> etree._Element:
    name = etree.QName(tag)
    nsmap = {"h": name.namespace} if name.namespace else {}
    block = etree.Element(f"{{{SOAP12_ENV}}}NotUnderstood", nsmap={"env": SOAP12_ENV, **nsmap})
    block.set("qname", tag)
    return block


def resolve_qnames(header: etree._Element) -> None:
    """``qname="{ns}local"`` becomes ``prefix:local`` with a prefix in scope at that element."""
    for element in header.iter(tag=etree.Element):
        value = element.get("qname", "")
        if not value.startswith("{"):
            continue
        name = etree.QName(value)
        prefixes = [p for p, uri in element.nsmap.items() if uri == name.namespace and p]
        element.set("qname", f"{prefixes[0]}:{name.localname}" if prefixes else name.localname)
