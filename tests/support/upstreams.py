"""Upstreams for fault tests: the real mock on a chosen port or with another server
certificate, and a tiny HTTPS teleservice of our own that answers whatever bytes a test sets.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gateway.mock.server import SERVER_CERT_NAME, SERVER_KEY_NAME
from gateway.mock.settings import CA_BUNDLE_NAME
from gateway.pki.devpki import DevPki, PemFiles
from tests.integration.conftest import GatewayFactory, GatewayServer, MockServer, start_mock
from tests.integration.servers import LOOPBACK, ServerProcess, free_port

SOAP12 = "application/soap+xml; charset=utf-8"


def start_mock_on(dev_pki: DevPki, log_dir: Path, port: int, **env: str) -> MockServer:
    """The real mock (same settings as the suite's ``start_mock``) on ``port`` of 127.0.0.1."""
    return start_mock(dev_pki, log_dir, port=port, **env)


def pki_serving(dev_pki: DevPki, server: PemFiles, directory: Path) -> DevPki:
    """A PKI directory for ``insi-gateway mock`` whose server certificate is ``server``.

    The mock takes ``mock-server.pem``/``.key`` from its ``--pki`` directory;
    the client CA bundle stays the dev one, so the gateway's INSI-MANU
    certificate is still accepted and only the server side changes.
    """
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(server.pem, directory / SERVER_CERT_NAME)
    shutil.copyfile(server.key, directory / SERVER_KEY_NAME)
    shutil.copyfile(dev_pki.ca_bundle, directory / CA_BUNDLE_NAME)
    return dataclasses.replace(dev_pki, directory=directory)


@dataclasses.dataclass
class Canned:
    """The answer of :class:`FakeUpstream`: status, content type, body."""

    body: bytes
    status: int = 200
    content_type: str = SOAP12


class FakeUpstream:
    """A minimal HTTPS teleservice: mutual TLS (client certificate from ``ca_bundle``
    required), every POST read whole and answered with :attr:`answer`."""

    def __init__(self, dev_pki: DevPki) -> None:
        self.answer = Canned(b"")
        self.requests = 0
        self.client_cns: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(dev_pki.mock_server.pem, dev_pki.mock_server.key)
        context.load_verify_locations(cafile=str(dev_pki.ca_bundle))
        context.verify_mode = ssl.CERT_REQUIRED
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(min(length, 4 * 1024 * 1024))
                peer = (
                    self.connection.getpeercert()
                    if isinstance(self.connection, ssl.SSLSocket)
                    else None
                )
                subject = (peer or {}).get("subject", ())
                names = [value for rdn in subject for key, value in rdn if key == "commonName"]
                with upstream._lock:
                    upstream.requests += 1
                    upstream.client_cns.extend(names[-1:])
                    answer = upstream.answer
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}/lps"

    def start(self) -> FakeUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class Reaper:
    """Stops servers in the background (a graceful gunicorn stop takes seconds) and waits
    for all of them at the end of a module, so no process outlives the tests."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    def stop_later(self, process: ServerProcess) -> None:
        thread = threading.Thread(target=process.stop, name=f"stop-{process.name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(30)


class Launcher:
    """Starts the mocks and gateways of one test and has them stopped when it ends.

    Gateways come from the suite's ``gateway_factory`` (which still checks at
    the end of the session that none of them ever answered HTTP 500); they
    are stopped as soon as their test is over, to keep memory flat.
    """

    def __init__(
        self, gateway_factory: GatewayFactory, dev_pki: DevPki, log_dir: Path, reaper: Reaper
    ) -> None:
        self._factory = gateway_factory
        self._reaper = reaper
        self.dev_pki = dev_pki
        self.log_dir = log_dir
        self._servers: list[ServerProcess] = []

    def mock(self, *, port: int | None = None, pki: DevPki | None = None, **env: str) -> MockServer:
        server = start_mock_on(pki or self.dev_pki, self.log_dir, port or free_port(), **env)
        self._servers.append(server.process)
        return server

    def gateway(self, upstream_url: str, **env: str) -> GatewayServer:
        server = self._factory(upstream_url, **env)
        self._servers.append(server.process)
        return server

    def mock_and_gateway(
        self, mock_env: dict[str, str], *, pki: DevPki | None = None, **gateway_env: str
    ) -> tuple[MockServer, GatewayServer]:
        """A mock and a gateway in front of it, started side by side."""
        port = free_port()
        started: list[MockServer] = []
        failed: list[BaseException] = []

        def start() -> None:
            try:
                started.append(self.mock(port=port, pki=pki, **mock_env))
            except BaseException as error:  # re-raised below, in the test's thread
                failed.append(error)

        thread = threading.Thread(target=start)
        thread.start()
        try:
            server = self.gateway(f"https://{LOOPBACK}:{port}/lps", **gateway_env)
        finally:
            thread.join(60)
        if failed:
            raise failed[0]
        return started[0], server

    def close(self) -> None:
        for process in self._servers:
            self._reaper.stop_later(process)


class Tripwire:
    """A loopback TCP listener that only counts who connects to it: the target of an
    external DTD or entity, to prove that nobody ever fetched it."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/evil.dtd"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.hits += 1
            connection.close()

    def __enter__(self) -> Tripwire:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
