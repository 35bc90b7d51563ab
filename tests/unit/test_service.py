"""The service core and the zeep client, over a recording test transport.

The transport is the one narrow seam designed for this (httpx-style): the
double records the envelope the gateway would send and answers bytes from
``tests/fixtures/upstream``. End-to-end behaviour against the real mock is
in ``tests/integration``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import text

from gateway import ns
from gateway.audit.trail import Trail
from gateway.exceptions import (
    JournalWriteFailed,
    UpstreamBadResponse,
    UpstreamFault,
    UpstreamUnavailable,
)
from gateway.mock.contract import validate_envelope
from gateway.models import CallContext, CertificateMode, ResultCode, SoftwareIdentity, TraitsQuery
from gateway.pki.credentials import load_credential
from gateway.pki.devpki import DEV_STRUCTURE_ID, DevPki
from gateway.protocol.signing import VihfSigner
from gateway.render.answers import search_answer_json
from gateway.service import InsService
from gateway.storage.audit import AuditJournal
from gateway.storage.database import Database
from gateway.transport.transports import UpstreamRequest, UpstreamResponse
from gateway.upstream.client import InsiClient

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
QUERY = TraitsQuery("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", "2A020")
SOFTWARE = SoftwareIdentity(idam="IDAM-1", name="insi-gateway", version="0.1.0", instance="t-1")


@dataclass
class RecordingTransport:
    status: int = 200
    content: bytes = field(default_factory=lambda: (FIXTURES / "found_prefixed.xml").read_bytes())
    sent: list[UpstreamRequest] = field(default_factory=list)

    def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.sent.append(request)
        return UpstreamResponse(self.status, {}, self.content, 0.001)


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.migrate()
    return database


@pytest.fixture
def journal(database: Database) -> AuditJournal:
    return AuditJournal(database, pseudonym_key=b"unit-test-audit-key")


def _service(
    transport: RecordingTransport, dev_pki: DevPki, *, signed: bool, journal: AuditJournal
) -> InsService:
    client = InsiClient(
        endpoint="https://127.0.0.1:1/lps",
        transports={CertificateMode.MANU: transport},
        max_response_bytes=1 << 20,
    )
    credential = load_credential(dev_pki.insi_manu.p12, dev_pki.passphrase, setting="t")
    return InsService(
        client=client,
        signers={CertificateMode.MANU: VihfSigner(credential)} if signed else {},
        software=SOFTWARE,
        emitter=DEV_STRUCTURE_ID,
        structure_id=DEV_STRUCTURE_ID,
        trail=Trail(journal),
        clock=lambda: datetime(2026, 11, 23, 19, 0, tzinfo=UTC),
    )


def _context() -> CallContext:
    return CallContext(request_id="r-1", message_id="uuid:6f1c1d9e-1f44-4d7c-9a39-2d0b8b1e7a10")


@pytest.mark.parametrize("signed", [True, False])
def test_sent_envelope_follows_the_official_contract(
    dev_pki: DevPki, journal: AuditJournal, reference_dir: Path, signed: bool
) -> None:
    transport = RecordingTransport()

    _service(transport, dev_pki, signed=signed, journal=journal).search_by_traits(QUERY, _context())

    (request,) = transport.sent
    validate_envelope(request.body, reference_dir)
    envelope = etree.fromstring(request.body)
    header_tags = [child.tag for child in envelope.find(ns.qname(ns.SOAP12_ENV, "Header"))]
    assert (ns.qname(ns.WSSE, "Security") in header_tags) is signed
    assert header_tags[-4:] == [
        ns.qname(ns.WSA, "Action"),
        ns.qname(ns.WSA, "MessageID"),
        ns.qname(ns.CTXLPS, "ContexteLPS"),
        ns.qname(ns.CTXBAM, "ContexteBAM"),
    ]
    action = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
    assert request.headers["Content-Type"] == (
        f'application/soap+xml; charset=utf-8; action="{action}"'
    )
    assert envelope.findtext(f".//{{{ns.WSA}}}MessageID") == _context().message_id


def test_body_carries_the_normalised_traits(dev_pki: DevPki, journal: AuditJournal) -> None:
    transport = RecordingTransport()

    _service(transport, dev_pki, signed=False, journal=journal).search_by_traits(QUERY, _context())

    body = etree.fromstring(transport.sent[0].body).find(f".//{{{ns.INSI_RECSANS}}}RECSANSVITALE")
    assert [(child.tag.split("}")[1], child.text) for child in body] == [
        ("NomNaissance", "ADRTROIS"),
        ("Prenom", "DOMINIQUE"),
        ("Sexe", "F"),
        ("DateNaissance", "1997-02-26"),
        ("LieuNaissance", "2A020"),
    ]


def test_the_mock_contract_accepts_a_wsa_to_header(
    dev_pki: DevPki, journal: AuditJournal, reference_dir: Path
) -> None:
    """Issue 8: ``wsa:To`` is optional in the WS-Addressing schema the INSi WSDL imports."""
    transport = RecordingTransport()
    _service(transport, dev_pki, signed=True, journal=journal).search_by_traits(QUERY, _context())
    (request,) = transport.sent
    envelope = etree.fromstring(request.body)
    header = envelope.find(ns.qname(ns.SOAP12_ENV, "Header"))
    assert header is not None
    to = etree.Element(ns.qname(ns.WSA, "To"))
    to.text = "https://services-ps.ameli.fr/lps"
    header.find(ns.qname(ns.WSA, "MessageID")).addnext(to)  # type: ignore[union-attr]

    validate_envelope(etree.tostring(envelope), reference_dir)


def test_found_answer_is_parsed(dev_pki: DevPki, journal: AuditJournal) -> None:
    answer = _service(RecordingTransport(), dev_pki, signed=True, journal=journal).search_by_traits(
        QUERY, _context()
    )

    assert answer.result.code is ResultCode.FOUND
    assert answer.result.ins is not None


def test_answers_carry_the_time_of_the_teleservice_call(
    dev_pki: DevPki, journal: AuditJournal
) -> None:
    """FR Core's dateInterrogationINSi: the service's clock when it called, not a later time."""
    answer = _service(
        RecordingTransport(), dev_pki, signed=False, journal=journal
    ).search_by_traits(QUERY, _context())

    assert answer.queried_at == datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
    assert search_answer_json(answer)["queried_at"] == "2026-11-23T19:00:00.000Z"


@pytest.mark.parametrize(
    ("status", "fixture", "error", "why"),
    [
        (503, "not_found.xml", UpstreamUnavailable, "503"),
        (404, "not_found.xml", UpstreamBadResponse, "404"),
        (500, "fault_desir_560.xml", UpstreamFault, "certificat"),  # the fault's own reason
        (500, "html_error.html", UpstreamBadResponse, "not a SOAP envelope"),
    ],
)
def test_http_statuses_become_typed_errors(
    dev_pki: DevPki,
    journal: AuditJournal,
    status: int,
    fixture: str,
    error: type[Exception],
    why: str,
) -> None:
    transport = RecordingTransport(status=status, content=(FIXTURES / fixture).read_bytes())

    with pytest.raises(error, match=why):
        _service(transport, dev_pki, signed=False, journal=journal).search_by_traits(
            QUERY, _context()
        )


def test_every_upstream_call_is_journaled_with_hashed_matricules(
    dev_pki: DevPki, journal: AuditJournal
) -> None:
    service = _service(RecordingTransport(), dev_pki, signed=False, journal=journal)
    answer = service.search_by_traits(QUERY, _context())
    assert answer.result.ins is not None
    failing = RecordingTransport(status=503)

    with pytest.raises(UpstreamUnavailable):
        _service(failing, dev_pki, signed=False, journal=journal).search_by_traits(
            QUERY, _context()
        )

    records = journal.search()
    # Each call: its intent (outcome unknown, written before sending), then its outcome.
    outcomes = ["unknown", "00", "unknown", "upstream-unavailable"]
    assert [r.outcome for r in records] == outcomes
    assert (records[1].ref_seq, records[1].ref_hash) == (records[0].seq, records[0].hash)
    assert (records[3].ref_seq, records[3].ref_hash) == (records[2].seq, records[2].hash)
    assert records[0].message_id == records[1].message_id == _context().message_id
    assert journal.pseudonym(answer.result.ins.matricule) in records[1].matricule_hashes
    assert journal.verify().ok


def test_no_call_leaves_when_its_intent_cannot_be_journaled(
    dev_pki: DevPki, journal: AuditJournal, database: Database
) -> None:
    transport = RecordingTransport()
    service = _service(transport, dev_pki, signed=False, journal=journal)
    with database.transaction() as conn:
        conn.execute(text("DELETE FROM audit_head"))

    with pytest.raises(JournalWriteFailed):
        service.search_by_traits(QUERY, _context())
    assert transport.sent == []


def test_a_call_stopped_before_it_leaves_completes_its_intent_as_not_sent(
    dev_pki: DevPki, journal: AuditJournal
) -> None:
    """A batch row cancelled while it waits for its turn: intent, then ``not-sent``."""
    transport = RecordingTransport()
    service = _service(transport, dev_pki, signed=False, journal=journal)

    def cancelled(message_id: str) -> None:
        raise LookupError("row cancelled")

    context = dataclasses.replace(_context(), before_send=cancelled)
    with pytest.raises(LookupError):
        service.search_by_traits(QUERY, context)

    records = journal.search()
    assert transport.sent == []
    assert [r.outcome for r in records] == ["unknown", "not-sent"]
    assert (records[1].ref_seq, records[1].ref_hash) == (records[0].seq, records[0].hash)
