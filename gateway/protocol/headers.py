"""The unsigned SOAP headers of an INSi request: WS-Addressing and the two SIRAM contexts.

The teleservice requires, besides the signed ``wsse:Security`` (see
:mod:`gateway.protocol.vihf` and :mod:`gateway.protocol.signing`):

- ``wsa:Action`` and ``wsa:MessageID``: WS-Addressing, so the answer and the
  server logs can be correlated with our ``CallContext.message_id``;
- ``ctxlps:ContexteLPS`` (v01_00): which software calls (its IDAM
  authorisation number, version, instance, name);
- ``ctxbam:ContexteBAM`` (v01_02): the health-insurance context; INSi
  requires the element but the gateway never reads a Vitale card here, so
  ``COUVERTURE`` stays empty.

They are built here as plain lxml elements rather than through zeep, because
our WSDL does not declare header parts (the WS-Addressing schema is only
online) and because building them by hand keeps their exact shape under test
against the official schemas. No identity trait of the patient goes into any
header.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from gateway import ids, ns
from gateway.models import CallContext, Operation, SoftwareIdentity

CTXLPS_VERSION = "01_00"
CTXBAM_VERSION = "01_02"
IDAM_REFERENTIAL = "4"
"""``IDAM/@R``: the referential of the authorisation number (4 = INSi authorisation)."""


def xsd_datetime(moment: datetime) -> str:
    """``moment`` as ``xsd:dateTime``, UTC with milliseconds: ``2026-11-23T19:00:00.123Z``.

    The teleservice checks freshness against its own clock, so the offset
    must be explicit; a naive datetime is refused rather than guessed.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamps sent upstream must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def build_headers(
    operation: Operation,
    context: CallContext,
    software: SoftwareIdentity,
    *,
    emitter: str,
    now: datetime,
) -> list[etree._Element]:
    """The unsigned headers of one call, in the order the gateway sends them.

    ``emitter`` identifies the sending structure (``Emetteur``); ``now`` is
    passed in so a call's headers and VIHF share one instant and tests are
    deterministic. Each context gets its own fresh ``Id``.
    """
    timestamp = xsd_datetime(now)
    return [
        _text_element(ns.WSA, "Action", operation.action),
        _text_element(ns.WSA, "MessageID", context.message_id),
        _contexte_lps(software, emitter=emitter, timestamp=timestamp),
        _contexte_bam(emitter=emitter, timestamp=timestamp),
    ]


def _text_element(namespace: str, local: str, text: str) -> etree._Element:
    element = etree.Element(ns.qname(namespace, local), nsmap=_nsmap(namespace))
    element.text = text
    return element


def _nsmap(namespace: str) -> dict[str, str]:
    """One prefix declaration per header, the conventional one from :data:`ns.PREFIXES`."""
    prefix = next(p for p, uri in ns.PREFIXES.items() if uri == namespace)
    return {prefix: namespace}


def _child(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    """A child in the parent's namespace (the CTX schemas are elementFormDefault=qualified)."""
    namespace = etree.QName(parent).namespace
    assert namespace is not None
    element = etree.SubElement(parent, ns.qname(namespace, local))
    if text is not None:
        element.text = text
    return element


def _context_root(namespace: str, local: str, *, emitter: str, timestamp: str) -> etree._Element:
    """Root of a SIRAM context with the ``Id``/``Temps``/``Emetteur`` children both share."""
    root = etree.Element(ns.qname(namespace, local), nsmap=_nsmap(namespace))
    _child(root, "Id", str(ids.random_uuid()))
    _child(root, "Temps", timestamp)
    _child(root, "Emetteur", emitter)
    return root


def _contexte_lps(software: SoftwareIdentity, *, emitter: str, timestamp: str) -> etree._Element:
    root = _context_root(ns.CTXLPS, "ContexteLPS", emitter=emitter, timestamp=timestamp)
    root.set("Nature", "CTXLPS")
    root.set("Version", CTXLPS_VERSION)
    lps = _child(root, "LPS")
    _child(lps, "IDAM", software.idam).set("R", IDAM_REFERENTIAL)
    _child(lps, "Version", software.version)
    _child(lps, "Instance", software.instance)
    _child(lps, "Nom", software.urn)
    return root


def _contexte_bam(*, emitter: str, timestamp: str) -> etree._Element:
    root = _context_root(ns.CTXBAM, "ContexteBAM", emitter=emitter, timestamp=timestamp)
    root.set("Version", CTXBAM_VERSION)
    _child(root, "COUVERTURE")
    return root
