"""gunicorn's own log lines are JSON, one per event, and never echo what a client sent.

A real gateway under gunicorn gets malformed request lines, headers, chunks
and plain garbage (over TLS and not); every line it writes must parse as
JSON and none may hold any part of what was sent (it can be identity data).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl

import pytest

from testbed.waiting import wait_until
from tests.integration.conftest import GatewayFactory, GatewayServer, MockServer
from tests.integration.servers import LOOPBACK

pytestmark = pytest.mark.integration

MARK = "ADRTROIS1997"  # what must never reach a log line
GARBAGE: list[bytes] = [
    f"GET /v1/{MARK} HTTP/1.1 extra\r\nHost: x\r\n\r\n".encode(),
    f"GET /v1/ins/{MARK} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),  # well formed, unknown path
    f"POST /soap/{MARK} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode(),
    f"{MARK}\r\n\r\n".encode(),
    f"GET / HTTP/9.{MARK}\r\nHost: x\r\n\r\n".encode(),
    f"G{MARK}T / HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    f"GET / HTTP/1.1\r\nHost: x\r\nBad Name {MARK}: y\r\n\r\n".encode(),
    f"GET / HTTP/1.1\r\nHost: x\r\nX-A: {MARK}\x00\r\n\r\n".encode(),
    ("GET /" + MARK * 800 + " HTTP/1.1\r\nHost: x\r\n\r\n").encode(),
    b"\x00\xff\xfe" + MARK.encode() + b"\x16\x03\x01\r\n\r\n",
    (
        "POST /v1/ins/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\n\r\nZZ{MARK}\r\n{MARK}\r\n0\r\n\r\n"
    ).encode(),
    (
        "POST /soap HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n5;{MARK}\r\nabcde\r\n0\r\n\r\n"
    ).encode(),
]


@pytest.fixture(scope="module")
def fresh_gateway(gateway_factory: GatewayFactory, mock_server: MockServer) -> GatewayServer:
    return gateway_factory(mock_server.url)


def _send_tls(gateway: GatewayServer, data: bytes) -> bytes:
    context = ssl.create_default_context(cafile=str(gateway.ca_bundle))
    with (
        socket.create_connection((LOOPBACK, gateway.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(data)
        return _read_all(tls)


def _send_plain(gateway: GatewayServer, data: bytes) -> bytes:
    with socket.create_connection((LOOPBACK, gateway.port), timeout=10) as raw:
        raw.sendall(data)
        return _read_all(raw)


def _read_all(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, OSError):
        pass
    return received


def test_malformed_requests_and_garbage_leave_json_lines_without_their_content(
    fresh_gateway: GatewayServer,
) -> None:
    answers = [_send_tls(fresh_gateway, data) for data in GARBAGE]
    key = f"Authorization: Bearer {fresh_gateway.api_key}\r\n".encode()
    json_chunks, soap_chunks = (
        _send_tls(fresh_gateway, data.replace(b"Host: x\r\n", b"Host: x\r\n" + key))
        for data in (GARBAGE[-2], GARBAGE[-1].replace(b"5;", b"ZZ"))
    )
    for data in GARBAGE[:3]:
        _send_plain(fresh_gateway, data)  # not even TLS
    _wait_for_the_log_of(fresh_gateway, "gunicorn-logs-sentinel")  # logged after answering

    output = fresh_gateway.process.output()
    lines = [line for line in output.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line, not only the gateway's
    assert MARK not in output
    assert MARK[:8] not in output
    events = [line["event"] for line in parsed]
    assert "invalid request" in events  # gunicorn did log them, as JSON
    assert any(event.startswith("Starting gunicorn") for event in events)
    invalid = [line for line in parsed if line["event"] == "invalid request"]
    assert all(line["client"] == LOOPBACK for line in invalid)
    assert all("exception" not in line or "\n" not in line["exception"] for line in parsed)
    assert sum(answer.startswith(b"HTTP/1.1 4") for answer in answers) >= 6
    # An unreadable chunked body with a valid key is the client's error, never a 500.
    assert json_chunks.startswith(b"HTTP/1.1 400"), json_chunks[:300]
    assert b"malformed-request" in json_chunks
    assert b"Client.malformed-request" in soap_chunks, soap_chunks[:600]


def test_every_line_of_a_sigterm_is_formatted(
    gateway_factory: GatewayFactory, mock_server: MockServer
) -> None:
    """The drain's own messages (and gunicorn's) carry their numbers, never a bare ``%d``."""
    stopping = gateway_factory(mock_server.url, GATEWAY_DRAIN_SECONDS="0.5")
    process = stopping.process.process
    os.kill(process.pid, signal.SIGTERM)  # the arbiter only, as Kubernetes sends it
    process.wait(timeout=30)

    lines = [json.loads(line) for line in stopping.process.output().splitlines() if line.strip()]
    events = [str(line["event"]) for line in lines]
    assert "SIGTERM: draining for 0.5 s, then closing the listener" in events
    closed = re.compile(r"listener closed; finishing [0-9]+ connection\(s\)")
    assert any(closed.fullmatch(event) for event in events), events[-8:]
    assert [event for event in events if "%" in event] == []


def _wait_for_the_log_of(gateway: GatewayServer, request_id: str) -> None:
    """One well-formed request after the others, and its log line written (they came first)."""
    gateway.session.get(
        gateway.base_url + "/healthz",
        headers={"X-Request-ID": request_id},
        verify=str(gateway.ca_bundle),
        timeout=30,
    )
    wait_until(
        lambda: f'"request_id": "{request_id}"' in gateway.process.output(),
        30,
        f"the gateway logged the request {request_id}",
    )
