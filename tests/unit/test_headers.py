"""build_headers: WS-Addressing, ContexteLPS and ContexteBAM, checked against the official XSDs."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from gateway import ns
from gateway.mock.contract import validate_element
from gateway.models import CallContext, Operation, SoftwareIdentity
from gateway.protocol.headers import build_headers

SOFTWARE = SoftwareIdentity(
    idam="GW-IDAM-0042", name="insi-gateway", version="1.2.3", instance="node-7"
)
CONTEXT = CallContext(request_id="req-1", message_id="uuid:4f1c1f9e-5d7a-4c1b-9a57-0c3c2f0b6a11")
EMITTER = "499700000000001"
# 20:00:00.123456 at UTC+1 is 19:00:00.123 UTC.
NOW = datetime(2026, 11, 23, 20, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
TEMPS = "2026-11-23T19:00:00.123Z"


def headers(operation: Operation = Operation.SEARCH_TRAITS) -> list[etree._Element]:
    return build_headers(operation, CONTEXT, SOFTWARE, emitter=EMITTER, now=NOW)


def child_text(parent: etree._Element, path: str, namespace: str) -> str | None:
    qualified = "/".join(ns.qname(namespace, part) for part in path.split("/"))
    return parent.findtext(qualified)


def test_order_and_names() -> None:
    assert [h.tag for h in headers()] == [
        ns.qname(ns.WSA, "Action"),
        ns.qname(ns.WSA, "MessageID"),
        ns.qname(ns.CTXLPS, "ContexteLPS"),
        ns.qname(ns.CTXBAM, "ContexteBAM"),
    ]


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        (
            Operation.SEARCH_TRAITS,
            "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite",
        ),
        (
            Operation.SEARCH_VITALE,
            "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale",
        ),
    ],
)
def test_addressing(operation: Operation, action: str) -> None:
    action_el, message_id, *_ = headers(operation)

    assert action_el.text == action
    assert message_id.text == "uuid:4f1c1f9e-5d7a-4c1b-9a57-0c3c2f0b6a11"


def test_contexte_lps(reference_dir: Path) -> None:
    lps = headers()[2]

    validate_element(lps, reference_dir)
    assert (lps.get("Nature"), lps.get("Version")) == ("CTXLPS", "01_00")
    assert child_text(lps, "Temps", ns.CTXLPS) == TEMPS
    assert child_text(lps, "Emetteur", ns.CTXLPS) == EMITTER
    idam = lps.find(f"{ns.qname(ns.CTXLPS, 'LPS')}/{ns.qname(ns.CTXLPS, 'IDAM')}")
    assert idam is not None
    assert (idam.text, idam.get("R")) == ("GW-IDAM-0042", "4")
    assert child_text(lps, "LPS/Version", ns.CTXLPS) == "1.2.3"
    assert child_text(lps, "LPS/Instance", ns.CTXLPS) == "node-7"
    assert child_text(lps, "LPS/Nom", ns.CTXLPS) == "urn:lps:insi-gateway:1.2.3"


def test_contexte_bam(reference_dir: Path) -> None:
    bam = headers()[3]

    validate_element(bam, reference_dir)
    assert bam.get("Version") == "01_02"
    assert child_text(bam, "Temps", ns.CTXBAM) == TEMPS
    assert child_text(bam, "Emetteur", ns.CTXBAM) == EMITTER
    couverture = bam.find(ns.qname(ns.CTXBAM, "COUVERTURE"))
    assert couverture is not None
    assert len(couverture) == 0


def test_context_ids_are_fresh_uuids() -> None:
    first, second = headers(), headers()
    ids = [
        child_text(h[index], "Id", namespace)
        for h in (first, second)
        for index, namespace in ((2, ns.CTXLPS), (3, ns.CTXBAM))
    ]

    assert len(set(ids)) == 4
    for value in ids:
        assert value is not None
        uuid.UUID(value)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        build_headers(
            Operation.SEARCH_TRAITS, CONTEXT, SOFTWARE, emitter=EMITTER, now=datetime(2026, 1, 1)
        )
