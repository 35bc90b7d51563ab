"""Hostile XML, both ways: sent to the gateway's local SOAP interface, and answered to the
gateway by a fake teleservice of our own.

Every XML the gateway reads goes through ``gateway.protocol.xml.parse_xml`` (no DTD, no
entity, no network, size cap). A local SOAP request that breaks those rules is a client
fault (``Client.xml-rejected``: HTTP 500 in SOAP 1.1, 400 ``Sender`` in SOAP 1.2); an
upstream answer that does is ``502 upstream-bad-response``. Never a file's content, an
expanded entity or a network fetch (a :class:`Tripwire` listens where the external DTDs
point), and the worker stays up with a flat memory.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from gateway.pki.devpki import DevPki
from testbed.processes import only_worker, rss_bytes
from tests.integration.conftest import GatewayFactory, GatewayServer
from tests.integration.personas import NIR, PERSONAS
from tests.integration.servers import LOOPBACK, answers
from tests.support.upstreams import Canned, FakeUpstream, Launcher, Reaper, Tripwire

pytestmark = pytest.mark.integration

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
PROBLEM = "urn:insi-gateway:problem:"
DOMINIQUE = PERSONAS[0].traits()
TWO_MB = 2 * 1024 * 1024
DRAINED = 64 * 1024  # unread request body gunicorn (27) discards to keep a connection alive
# over GATEWAY_MAX_BODY_BYTES (64 KB) + what gunicorn drains, small enough to be sent whole
# before the gateway answers (so the answer can always be read)
OVER_THE_DRAIN = 3 * DRAINED
RSS_GROWTH_LIMIT = 100 * 1024 * 1024
# Texts that would only show up if a file were read or an entity expanded.
LEAKS = ("root:", "/bin/", "daemon:", "lollollol")


def local_request(namespace: str) -> Callable[[str], str]:
    """A local ``searchByTraits`` envelope whose ``birth_name`` holds ``text`` (raw XML)."""

    def envelope(text: str) -> str:
        return (
            f'<soapenv:Envelope xmlns:soapenv="{namespace}" '
            'xmlns:gw="urn:insi-gateway:soap:v1"><soapenv:Body><gw:searchByTraits>'
            f"<gw:birth_name>{text}</gw:birth_name><gw:first_names>DOMINIQUE</gw:first_names>"
            "<gw:sex>F</gw:sex><gw:birth_date>1997-02-26</gw:birth_date>"
            "</gw:searchByTraits></soapenv:Body></soapenv:Envelope>"
        )

    return envelope


def upstream_answer(text: str) -> str:
    """A valid INSi answer (CR 00, one identity found) whose ``NomNaissance`` holds ``text``
    (raw XML): with a plain name it parses to ``found`` (the baseline test below), so each
    hostile variant is refused for its hostile part, not for the rest of the document."""
    return (
        f'<soap:Envelope xmlns:soap="{SOAP12}"><soap:Body>'
        '<RESULTAT xmlns="http://www.cnamts.fr/INSiResultat">'
        "<CR><CodeCR>00</CodeCR><LibelleCR>OK</LibelleCR></CR>"
        "<INDIVIDU><INSACTIF><IdIndividu><NumIdentifiant>297022A020778</NumIdentifiant>"
        f"<Cle>78</Cle></IdIndividu><OID>{NIR}</OID></INSACTIF>"
        f"<TIQ><NomNaissance>{text}</NomNaissance><Prenom>DOMINIQUE</Prenom>"
        "<ListePrenom>DOMINIQUE</ListePrenom><Sexe>F</Sexe>"
        "<DateNaissance>1997-02-26</DateNaissance><LieuNaissance>2A020</LieuNaissance></TIQ>"
        "</INDIVIDU></RESULTAT></soap:Body></soap:Envelope>"
    )


def _laughs() -> str:
    entities = ['<!ENTITY lol "lol">']
    for level in range(1, 10):
        previous = f"&lol{level - 1};" if level > 1 else "&lol;"
        entities.append(f'<!ENTITY lol{level} "{previous * 10}">')
    return "".join(entities)


def hostile_documents(document: Callable[[str], str], dtd_url: str) -> dict[str, bytes]:
    """The hostile variants of ``document`` (which wraps a text into a whole document)."""
    xxe = f'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>{document("&e;")}'
    laughs = f"<!DOCTYPE lolz [{_laughs()}]>{document('&lol9;')}"

    def utf16(text: str) -> bytes:
        return ('<?xml version="1.0" encoding="UTF-16"?>' + text).encode("utf-16")

    return {
        "xxe-file": ('<?xml version="1.0"?>' + xxe).encode(),
        "xxe-network": f'<!DOCTYPE x [<!ENTITY e SYSTEM "{dtd_url}">]>{document("&e;")}'.encode(),
        "xxe-parameter": (
            f'<!DOCTYPE x [<!ENTITY % p SYSTEM "{dtd_url}"> %p;]>{document("ADRTROIS")}'
        ).encode(),
        "billion-laughs": laughs.encode(),
        "external-dtd": f'<!DOCTYPE x SYSTEM "{dtd_url}">{document("ADRTROIS")}'.encode(),
        # UTF-16 hides "<!DOCTYPE" from a byte search: the parser's own checks must hold
        "xxe-file-utf16": utf16(xxe),
        "billion-laughs-utf16": utf16(laughs),
        "deep-nesting": document("<a>" * 5000 + "</a>" * 5000).encode(),
        "oversized-2mb": document("A" * TWO_MB).encode(),
    }


LOCAL_CASES = list(hostile_documents(local_request(SOAP11), "http://x/"))
UPSTREAM_CASES = list(hostile_documents(upstream_answer, "http://x/"))


def leaked(text: str) -> list[str]:
    return [leak for leak in LEAKS if leak in text]


@dataclass
class Local:
    gateway: GatewayServer
    worker: int
    tripwire: Tripwire


@pytest.fixture(scope="module")
def reaper() -> Iterator[Reaper]:
    stopping = Reaper()
    yield stopping
    stopping.join()


@pytest.fixture(scope="module")
def tripwire() -> Iterator[Tripwire]:
    with Tripwire() as wire:
        yield wire


@pytest.fixture(scope="module")
def local(
    gateway_factory: GatewayFactory,
    dev_pki: DevPki,
    log_dir: Path,
    reaper: Reaper,
    tripwire: Tripwire,
) -> Iterator[Local]:
    launcher = Launcher(gateway_factory, dev_pki, log_dir, reaper)
    try:
        _, gateway = launcher.mock_and_gateway({})
        yield Local(gateway, only_worker(gateway.process.process.pid), tripwire)
    finally:
        launcher.close()
    assert tripwire.hits == 0


def soap_post(
    gateway: GatewayServer, endpoint: str, body: bytes | Iterator[bytes]
) -> requests.Response | None:
    """The answer; None only for an oversized body, if the gateway refused it by closing
    the connection while it was still being uploaded (the client cannot read the fault
    then: a legitimate way for a server to refuse a body it will not read)."""
    content_type = (
        "text/xml; charset=utf-8"
        if endpoint == "/soap"
        else 'application/soap+xml; charset=utf-8; action="searchByTraits"'
    )
    headers = {
        "Authorization": f"Bearer {gateway.api_key}",
        "Content-Type": content_type,
        "SOAPAction": "searchByTraits",
    }
    oversized = not isinstance(body, bytes) or len(body) > DRAINED
    if not isinstance(body, bytes):
        # a chunked body over the cap is still left to gunicorn, which drops the connection
        # after a keep-alive answer (test_oversized_refusal_keeps_keep_alive_honest)
        headers["Connection"] = "close"
    try:
        return gateway.session.post(
            gateway.base_url + endpoint,
            data=body,
            headers=headers,
            verify=str(gateway.ca_bundle),
            timeout=30,
        )
    except requests.ConnectionError:
        if not oversized:
            raise
        return None


def answered(response: requests.Response | None) -> requests.Response:
    assert response is not None, "the gateway closed the connection without an answer"
    return response


def assert_client_fault(response: requests.Response, endpoint: str, slug: str) -> None:
    if endpoint == "/soap":  # SOAP 1.1: every fault is HTTP 500, the code tells whose fault
        assert response.status_code == 500
        assert f"<faultcode>soap11env:Client.{slug}</faultcode>" in response.text
    else:  # SOAP 1.2 HTTP binding: a Sender fault is 400
        assert response.status_code == 400
        assert "<soap12env:Value>soap12env:Sender</soap12env:Value>" in response.text
        assert f"<soap12env:Value>{slug}</soap12env:Value>" in response.text
    assert f"{PROBLEM}{slug}" in response.text


def healthy(gateway: GatewayServer) -> bool:
    url, verify = gateway.base_url + "/healthz", str(gateway.ca_bundle)
    return answers(url, verify=verify, session=gateway.session, timeout=5)


@pytest.mark.parametrize("endpoint", ["/soap", "/soap12"])
@pytest.mark.parametrize("case", LOCAL_CASES)
def test_hostile_xml_to_the_soap_interface_is_a_client_fault(
    local: Local, endpoint: str, case: str
) -> None:
    namespace = SOAP11 if endpoint == "/soap" else SOAP12
    body = hostile_documents(local_request(namespace), local.tripwire.url)[case]

    response = soap_post(local.gateway, endpoint, body)

    if response is not None:  # None: an oversized body, refused by closing the connection
        assert_client_fault(response, endpoint, "xml-rejected")
        assert leaked(response.text) == []
    assert local.tripwire.hits == 0
    assert healthy(local.gateway)


@pytest.mark.parametrize("endpoint", ["/soap", "/soap12"])
def test_a_chunked_2mb_body_is_refused_without_reading_it_all(local: Local, endpoint: str) -> None:
    namespace = SOAP11 if endpoint == "/soap" else SOAP12
    body = local_request(namespace)("A" * TWO_MB).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = soap_post(local.gateway, endpoint, chunks())

    if response is not None:  # None: refused by closing the connection during the upload
        assert_client_fault(response, endpoint, "xml-rejected")
    assert healthy(local.gateway)


def _raw_exchange(tls: ssl.SSLSocket, request: bytes) -> bytes | None:
    """Send one HTTP/1.1 request, read its answer's head and body; None if the peer closed."""
    try:
        tls.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            chunk = tls.recv(65536)
            if not chunk:
                return None
            body += chunk
    except (OSError, ssl.SSLError):
        return None
    return head


def _chunked(data: bytes) -> bytes:
    pieces = [data[i : i + DRAINED] for i in range(0, len(data), DRAINED)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize(
    ("endpoint", "content_type"),
    [
        ("/soap", "text/xml"),
        ("/soap12", "application/soap+xml"),
        ("/v1/ins/search", "application/json"),
    ],
)
def test_oversized_refusal_keeps_keep_alive_honest(
    local: Local, endpoint: str, content_type: str, framing: str
) -> None:
    """An answer that does not say ``Connection: close`` leaves the connection usable
    (RFC 9112 9.6): a client's next request on it must be served."""
    gateway = local.gateway
    context = ssl.create_default_context(cafile=str(gateway.ca_bundle))
    body = b"x" * OVER_THE_DRAIN
    if framing == "chunked":
        length, body = "Transfer-Encoding: chunked", _chunked(body)
    else:
        length = f"Content-Length: {len(body)}"
    head = (
        f"POST {endpoint} HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {gateway.api_key}\r\nContent-Type: {content_type}\r\n"
        f"{length}\r\n\r\n"
    ).encode()
    health = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with (
        socket.create_connection((LOOPBACK, gateway.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        refusal = _raw_exchange(tls, head + body)
        if refusal is None or b"connection: close" in refusal.lower():
            return  # the client knows the connection is over
        assert refusal.split(b" ")[1] in (b"400", b"413", b"500")
        next_answer = _raw_exchange(tls, health)

    # a refused body, declared or chunked, is drained first: the connection stays usable
    assert next_answer is not None, f"{endpoint}: connection dropped after a keep-alive refusal"
    assert next_answer.startswith(b"HTTP/1.1 200")


def test_entity_text_in_soap_content_is_just_text(local: Local) -> None:
    """Escaped markup is character data: refused by the trait rules, not as XML."""
    body = local_request(SOAP11)("&lt;!ENTITY e SYSTEM 'file:///etc/passwd'&gt;").encode()

    response = answered(soap_post(local.gateway, "/soap", body))

    assert_client_fault(response, "/soap", "invalid-input")
    assert leaked(response.text) == []


def test_worker_memory_stays_flat_under_hostile_xml(local: Local) -> None:
    before = rss_bytes(local.worker)
    started = time.monotonic()
    for _ in range(5):
        for endpoint, namespace in (("/soap", SOAP11), ("/soap12", SOAP12)):
            documents = hostile_documents(local_request(namespace), local.tripwire.url)
            for body in documents.values():
                response = soap_post(local.gateway, endpoint, body)
                assert response is None or response.status_code in (400, 500)
    after = rss_bytes(local.worker)

    assert time.monotonic() - started < 60
    assert after - before < RSS_GROWTH_LIMIT, (before, after)
    assert only_worker(local.gateway.process.process.pid) == local.worker
    good = answered(soap_post(local.gateway, "/soap", local_request(SOAP11)("ADRTROIS").encode()))
    assert good.status_code == 200
    assert "297022A020778" in good.text


def test_entity_declarations_in_json_strings_are_just_text(local: Local) -> None:
    declaration = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;'
    gateway = local.gateway

    in_a_name = gateway.post("/v1/ins/search", {**DOMINIQUE, "birth_name": declaration})
    in_first_names = gateway.post("/v1/ins/search", {**DOMINIQUE, "first_names": ["&e;"]})
    # members of "ins" beyond matricule, key and oid are ignored (openapi.json, HeldIns)
    ins = {"matricule": "297022A020778", "key": "78", "oid": NIR, "note": declaration}
    ignored = gateway.post("/v1/ins/verify", {**DOMINIQUE, "ins": ins})
    xml_body = gateway.post(
        "/v1/ins/search",
        data=declaration.encode(),
        headers={"Content-Type": "application/json"},
    )

    for response, field in ((in_a_name, "birth_name"), (in_first_names, "first_names[0]")):
        assert response.status_code == 400
        assert response.headers["Content-Type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == PROBLEM + "invalid-input"  # a bad name, not "XML refused"
        assert problem["field"] == field
    assert ignored.status_code == 200
    assert ignored.json()["verdict"] == "verified"
    assert xml_body.status_code == 400
    assert xml_body.json()["type"] == PROBLEM + "malformed-request"
    for response in (in_a_name, in_first_names, ignored, xml_body):
        assert leaked(response.text) == []
        assert declaration not in json.dumps(response.json())


@dataclass
class Upstream:
    fake: FakeUpstream
    gateway: GatewayServer
    worker: int
    tripwire: Tripwire


@pytest.fixture(scope="module")
def upstream(
    gateway_factory: GatewayFactory,
    dev_pki: DevPki,
    log_dir: Path,
    reaper: Reaper,
    tripwire: Tripwire,
) -> Iterator[Upstream]:
    launcher = Launcher(gateway_factory, dev_pki, log_dir, reaper)
    fake = FakeUpstream(dev_pki).start()
    try:
        gateway = launcher.gateway(fake.url)
        state = Upstream(fake, gateway, only_worker(gateway.process.process.pid), tripwire)
        yield state
        assert only_worker(gateway.process.process.pid) == state.worker
    finally:
        launcher.close()
        fake.stop()
    assert tripwire.hits == 0
    assert set(fake.client_cns) == {"INSI-MANU"}  # it really was the gateway, over mutual TLS


def test_the_baseline_upstream_answer_is_found(upstream: Upstream) -> None:
    """Without this, every hostile case's 502 would hold whatever the parser did with the
    hostile part (before: a namespace the parser refuses and no INDIVIDU, so 502 always)."""
    upstream.fake.answer = Canned(upstream_answer("ADRTROIS").encode())

    response = upstream.gateway.post("/v1/ins/search", DOMINIQUE)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "found"
    assert answer["ins"]["matricule"] == "297022A020778"
    assert answer["identity"]["birth_name"] == "ADRTROIS"


@pytest.mark.parametrize("case", UPSTREAM_CASES)
def test_hostile_upstream_answer_is_502_bad_response(upstream: Upstream, case: str) -> None:
    upstream.fake.answer = Canned(hostile_documents(upstream_answer, upstream.tripwire.url)[case])
    calls = upstream.fake.requests

    response = upstream.gateway.post("/v1/ins/search", DOMINIQUE)

    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM + "upstream-bad-response"
    assert upstream.fake.requests == calls + 1  # an answer is final: never retried
    assert leaked(response.text) == []
    assert upstream.tripwire.hits == 0
    assert healthy(upstream.gateway)
    assert only_worker(upstream.gateway.process.process.pid) == upstream.worker
