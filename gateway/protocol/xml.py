"""The one way the gateway parses XML that comes from outside: hostile until proven otherwise.

No DTD (internal or external), no entity expansion, no network access, no
``huge_tree``, and a size cap checked before parsing. Everything else in the
gateway (upstream answers, the mock's requests, local SOAP later) goes
through :func:`parse_xml`.
"""

from __future__ import annotations

from lxml import etree

from gateway.exceptions import XmlRejected

DEFAULT_MAX_BYTES = 1024 * 1024
DTD_REFUSED = "XML document declares a DTD or entities, which are refused"


# Checked at startup (gateway.server.safety): never huge_tree, never entities or network.
PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
}


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(**PARSER_OPTIONS)  # type: ignore[arg-type]


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``data`` safely, or raise :class:`XmlRejected` saying why (never echoing content).

    A new parser per call: lxml parsers keep per-parse state and are not
    meant to be shared across threads.
    """
    if len(data) > max_bytes:
        raise XmlRejected(f"XML document larger than {max_bytes} bytes")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise XmlRejected(DTD_REFUSED)
    try:
        root = etree.fromstring(data, parser=_new_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"XML document is not well-formed (line {exc.lineno})") from None
    if root is None:
        raise XmlRejected("XML document is empty")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise XmlRejected(DTD_REFUSED)
    return root
