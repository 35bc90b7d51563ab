"""Slow and hostile clients (slowloris), and probes measuring what honest clients get meanwhile.

Each attacker holds one connection open as long as it can: a header sent one
byte a second that never ends, or a whole header announcing a body that then
comes one byte a second. When the server cuts it, it connects again; the whole
attack is bounded in time. Probes open a new connection per request (a new
client must get in, not only a kept-alive one) and record each latency.
"""

from __future__ import annotations

import socket
import ssl
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

TARGET_SECONDS = 1.0  # the target: answered within 1 s while under attack


@dataclass
class AttackCounters:
    connected: int = 0
    cut_by_server: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


def slow_header() -> tuple[bytes, bytes]:
    """A request line and one header, then a header value that never ends."""
    return b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", b"a"


def slow_body(key: str | None) -> tuple[bytes, bytes]:
    """A whole header (with or without a valid key) announcing 60,000 bytes of body."""
    auth = f"Authorization: Bearer {key}\r\n".encode() if key else b""
    head = (
        b"POST /v1/ins/search HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + auth
        + b"Content-Length: 60000\r\n\r\n{"
    )
    return head, b" "


def _attacker(
    address: tuple[str, int],
    tls: ssl.SSLContext | None,
    payload: tuple[bytes, bytes],
    stop: threading.Event,
    counters: AttackCounters,
) -> None:
    head, drip = payload
    while not stop.is_set():
        try:
            with socket.create_connection(address, timeout=5) as raw:
                sock = tls.wrap_socket(raw, server_hostname="localhost") if tls else raw
                sock.sendall(head)
                counters.add("connected")
                while not stop.wait(1.0):
                    sock.sendall(drip)
        except OSError:
            if not stop.is_set():
                counters.add("cut_by_server")
            stop.wait(0.1)


@contextmanager
def attack(
    address: tuple[str, int],
    tls: ssl.SSLContext | None,
    payloads: list[tuple[bytes, bytes]],
    *,
    max_seconds: float,
) -> Iterator[AttackCounters]:
    """One thread per payload, each holding a slow connection, until the block ends."""
    stop = threading.Event()
    counters = AttackCounters()
    threads = [
        threading.Thread(target=_attacker, args=(address, tls, p, stop, counters), daemon=True)
        for p in payloads
    ]
    timer = threading.Timer(max_seconds, stop.set)  # bounded even if the test hangs
    timer.start()
    for thread in threads:
        thread.start()
    try:
        yield counters
    finally:
        stop.set()
        timer.cancel()
        for thread in threads:
            thread.join(timeout=10)


@dataclass
class ProbeFigures:
    name: str
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return len(self.latencies) + len(self.failures)

    @property
    def within_target(self) -> int:
        return sum(1 for latency in self.latencies if latency <= TARGET_SECONDS)

    def line(self) -> str:
        if not self.latencies:
            return f"{self.name}: {self.sent} sent, 0 answered ({self.failures[:2]})"
        return (
            f"{self.name}: {self.sent} sent, {len(self.latencies)} answered, "
            f"{len(self.failures)} failed; within {TARGET_SECONDS:.0f} s: "
            f"{self.within_target}/{self.sent}; p50 {statistics.median(self.latencies):.3f} s, "
            f"max {max(self.latencies):.3f} s"
        )


def probe(
    figures: ProbeFigures,
    send: Callable[[], requests.Response],
    expect: Callable[[requests.Response], bool],
    *,
    seconds: float,
    pause: float = 0.25,
) -> None:
    """Send ``send()`` repeatedly for ``seconds``, recording each latency or failure."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            response = send()
        except requests.RequestException as error:
            figures.failures.append(type(error).__name__)
        else:
            elapsed = time.perf_counter() - started
            if expect(response):
                figures.latencies.append(elapsed)
            else:
                figures.failures.append(f"HTTP {response.status_code}")
        time.sleep(pause)  # the probe's own pace (a client's think time), not a wait


def probe_in_parallel(jobs: list[tuple[ProbeFigures, Callable[[], None]]]) -> None:
    threads = [threading.Thread(target=run, daemon=True) for _, run in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


