"""Relaying a card assertion byte for byte inside the envelope zeep builds.

zeep (and lxml) re-serialise whatever element they are given, which could
change namespace declarations, attribute quoting or whitespace of the
professional's signed assertion. So the ``wsse:Security`` header first holds
a marker element carrying the call's ``wsa:MessageID``; once the envelope is
serialised, the marker is replaced by the assertion's bytes exactly as
received (they declare all their own namespaces: a standalone document).
"""

from __future__ import annotations

import re

from lxml import etree

from gateway import ns
from gateway.exceptions import SigningError

RELAY_NS = "urn:insi-gateway:cpx-relay"


def relay_security_header(token: str) -> etree._Element:
    """``<wsse:Security>`` holding the marker that :func:`splice_assertion` replaces."""
    header = etree.Element(ns.qname(ns.WSSE, "Security"), nsmap={"wsse": ns.WSSE})
    marker = etree.SubElement(header, f"{{{RELAY_NS}}}relay", nsmap={"relay": RELAY_NS})
    marker.text = token
    return header


def splice_assertion(envelope: bytes, token: str, assertion: bytes) -> bytes:
    """``envelope`` with its one marker (holding ``token``) replaced by ``assertion``."""
    pattern = re.compile(
        rb"<(?:[A-Za-z_][\w.-]*:)?relay\b[^>]*>"
        + re.escape(token.encode())
        + rb"</(?:[A-Za-z_][\w.-]*:)?relay>"
    )
    found = list(pattern.finditer(envelope))
    if len(found) != 1:  # our own serialisation changed shape: never send a half-built call
        raise SigningError("CPx relay marker not found exactly once in the envelope")
    start, end = found[0].span()
    return envelope[:start] + assertion + envelope[end:]
