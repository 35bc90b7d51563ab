"""A fault-injecting TCP relay on 127.0.0.1, placed between the gateway and the mock teleservice.

The relay works below TLS: it sees encrypted bytes only, so faults are
placed by byte counts, never by HTTP content. The server's side of a TLS 1.3
connection is always, in this order: its handshake flight, its session
tickets (sent once the client's Finished is in, i.e. while or after the
request goes up: timing cannot tell them from the answer), then the HTTP
response. The **answer** is therefore what follows the first
:attr:`Fault.skip` server bytes, a count the caller measures on a clean
exchange (``record.server_bytes`` after one, and after two requests on the
same connection: the difference is one response, the rest handshake and
tickets).

Each accepted connection takes the :class:`Fault` current at accept time;
:meth:`FaultProxy.set_fault` changes it for the next connections and closes
the open ones, so a client's keep-alive pool cannot carry a connection (and
its old fault) from one case to the next.

One thread per connection multiplexes both directions with ``select`` (a
blocked ``recv`` in another thread would keep a closed socket alive and
delay the RST); every wait has a timeout, so stopping never hangs.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
_POLL = 0.05  # seconds between checks of the stop / close flags
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to the server's answer on one connection (the default: nothing)."""

    skip: int = 0  # server bytes before the answer (handshake flight and session tickets)
    latency: float = 0.0  # seconds slept before relaying the first byte of the answer
    fragment: bool = False  # relay every server byte (handshake included) in its own send
    reset_after: int | None = None  # answer bytes relayed, then an RST (SO_LINGER 0 close)
    cut_after: int | None = None  # answer bytes relayed, then a clean close (FIN)
    corrupt_at: int | None = None  # this byte of the answer is flipped (a TLS record fails)


@dataclass(slots=True)
class ConnectionRecord:
    """What happened on one relayed connection."""

    fault: Fault
    client_bytes: int = 0
    server_bytes: int = 0
    answer_bytes: int = 0
    fired: str | None = None  # "reset", "cut" or "corrupt" once the fault was applied
    delays: int = 0  # times the answer was held back by ``latency``
    chunks: list[tuple[str, int]] = field(default_factory=list)  # ("c"|"s", size), in order
    closed: threading.Event = field(default_factory=threading.Event)


class FaultProxy:
    """Relay ``127.0.0.1:port`` to ``127.0.0.1:target_port``; start with :meth:`start`."""

    def __init__(self, target_port: int) -> None:
        self._target = (LOOPBACK, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(64)
        self._listener.settimeout(_POLL)
        self.port: int = self._listener.getsockname()[1]
        self._fault = Fault()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._generation = 0  # bumped by set_fault: connections of older generations close
        self._threads: list[threading.Thread] = []
        self.connections: list[ConnectionRecord] = []

    def start(self) -> FaultProxy:
        thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def set_fault(self, fault: Fault, *, settle: float = 2.0) -> None:
        """Apply ``fault`` to new connections; close the open ones (cleanly) and wait for them."""
        with self._lock:
            self._fault = fault
            self._generation += 1
            open_ones = [record for record in self.connections if not record.closed.is_set()]
        deadline = time.monotonic() + settle
        for record in open_ones:
            record.closed.wait(max(0.0, deadline - time.monotonic()))
        # let the peers see the FIN before their next request (nothing here can tell when
        # they have: a short grace, not a synchronisation of the test)
        time.sleep(0.05)

    def records_since(self, index: int) -> list[ConnectionRecord]:
        with self._lock:
            return list(self.connections[index:])

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(5)
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                record = ConnectionRecord(self._fault)
                generation = self._generation
                self.connections.append(record)
            thread = threading.Thread(
                target=self._serve, args=(client, record, generation), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve(self, client: socket.socket, record: ConnectionRecord, generation: int) -> None:
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            _abort(client)
            record.closed.set()
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(10)
        try:
            _Relay(client, upstream, record, lambda: self._closing(generation)).run()
        except OSError:
            pass  # a peer reset or went away: the relay of this connection is over
        finally:
            for sock in (client, upstream):
                sock.close()
            record.closed.set()

    def _closing(self, generation: int) -> bool:
        return self._stop.is_set() or generation != self._generation


class _Relay:
    """Both directions of one connection, in one thread."""

    def __init__(
        self,
        client: socket.socket,
        upstream: socket.socket,
        record: ConnectionRecord,
        closing: Callable[[], bool],
    ) -> None:
        self._client = client
        self._upstream = upstream
        self._record = record
        self._fault = record.fault
        self._closing = closing

    def run(self) -> None:
        open_ends = {self._client, self._upstream}
        while open_ends and not self._closing():
            readable, _, _ = select.select(list(open_ends), [], [], _POLL)
            for sock in readable:
                data = sock.recv(_CHUNK)
                if not data:
                    open_ends.discard(sock)
                    other = self._upstream if sock is self._client else self._client
                    _half_close(other)
                    continue
                self._record.chunks.append(("c" if sock is self._client else "s", len(data)))
                if sock is self._client:
                    self._record.client_bytes += len(data)
                    self._upstream.sendall(data)
                elif not self._from_server(data):
                    return
        _half_close(self._client)

    def _from_server(self, data: bytes) -> bool:
        """Relay server bytes with the fault applied; False once the connection is finished."""
        fault, record = self._fault, self._record
        before = record.server_bytes
        record.server_bytes += len(data)
        if before < fault.skip:  # the handshake and tickets pass untouched
            head, data = data[: fault.skip - before], data[fault.skip - before :]
            self._send(head)
            if not data:
                return True
        if fault.latency and record.answer_bytes == 0 and not record.delays:
            record.delays += 1
            self._sleep(fault.latency)
        at = None if fault.corrupt_at is None else fault.corrupt_at - record.answer_bytes
        if at is not None and 0 <= at < len(data):
            data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
            record.fired = "corrupt"
        limit = fault.reset_after if fault.reset_after is not None else fault.cut_after
        if limit is not None and record.answer_bytes + len(data) >= limit:
            self._send(data[: limit - record.answer_bytes])
            record.answer_bytes = limit
            if fault.reset_after is not None:
                record.fired = "reset"
                _abort(self._client)
            else:
                record.fired = "cut"
                _half_close(self._client)
            return False
        record.answer_bytes += len(data)
        self._send(data)
        return True

    def _sleep(self, seconds: float) -> None:
        """Sleep, but stop early when the proxy stops or the connection is being closed."""
        deadline = time.monotonic() + seconds
        while not self._closing() and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, _POLL))

    def _send(self, data: bytes) -> None:
        if not self._fault.fragment:
            self._client.sendall(data)
            return
        for index in range(len(data)):
            self._client.sendall(data[index : index + 1])


def _half_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def _abort(sock: socket.socket) -> None:
    """Close with a TCP RST: SO_LINGER on with a zero timeout."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
