"""Prometheus metrics: what ops teams watch. Labels never carry identity data.

Under ``insi-gateway serve`` the workers write their values to files of one
directory (prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``,
emptied by ``serve`` at start) and a scrape, whichever worker answers it,
adds them up: counters and histograms are summed over every worker that ever
ran, gauges say how they combine (``multiprocess_mode``): requests in flight
summed over live workers, the circuit the worst of live workers, certificate
days the least. Without that directory (tests, ``insi-gateway search``) the
registry is the process's own. Gauges that are states rather than events
(circuit, certificate expiry) are refreshed from their owners at each scrape
and every few seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.exceptions import StorageError

CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}
REFRESH_SECONDS = 5.0  # state gauges of a worker that is not scraped stay this fresh


class Metrics:
    """The gateway's metrics, registered in their own registry (no global state)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry()
        self._multiprocess_dir = multiprocess_dir
        self._states: list[Callable[[], None]] = []  # refresh the state gauges
        self._refresher: threading.Thread | None = None
        self.requests = Counter(
            "gateway_requests",
            "Requests by application, operation and outcome",
            ["app", "operation", "outcome"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "gateway_requests_in_flight",
            "Requests being served",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.upstream_latency = Histogram(
            "gateway_upstream_latency_seconds",
            "Teleservice call latency (per attempt)",
            ["operation"],
            registry=self.registry,
            buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 20),
        )
        self.upstream_results = Counter(
            "gateway_upstream_results",
            "Teleservice outcomes: CR code, fault code or error",
            ["operation", "result"],
            registry=self.registry,
        )
        self.retries = Counter(
            "gateway_upstream_retries", "Retried teleservice calls", registry=self.registry
        )
        self.circuit = Gauge(
            "gateway_circuit_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.certificate_days = Gauge(
            "gateway_certificate_expiry_days",
            "Days until each establishment certificate expires",
            ["mode"],
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.job_rows_open = Gauge(
            "gateway_job_rows_open",
            "Batch job rows not answered yet, all jobs and replicas (read from the database)",
            registry=self.registry,
            multiprocess_mode="livemax",  # every worker reads the same shared figure
        )

    def watch_job_backlog(self, open_rows: Callable[[], int]) -> None:
        """The backlog, refreshed like the states; NaN when the database cannot be read."""

        def backlog() -> None:
            try:
                self.job_rows_open.set(float(open_rows()))
            except StorageError:  # neither a scrape nor the refresher may fail: /readyz tells
                self.job_rows_open.set(math.nan)

        self._states.append(backlog)

    def watch_circuit(self, state: Callable[[], str]) -> None:
        self._states.append(lambda: self.circuit.set(CIRCUIT_VALUES.get(state(), 2)))

    def watch_certificate(self, mode: str, not_after: datetime) -> None:
        gauge = self.certificate_days.labels(mode=mode)

        def days_left() -> None:
            gauge.set((not_after - datetime.now(UTC)).total_seconds() / 86400)

        self._states.append(days_left)

    def refresh(self) -> None:
        """Set the state gauges from their owners (this process's circuit, certificates)."""
        for update in self._states:
            update()

    def start_refreshing(self) -> None:
        """In multiprocess mode, keep this worker's state gauges fresh between scrapes."""
        if self._multiprocess_dir is None or self._refresher is not None:
            return
        self.refresh()
        self._refresher = threading.Thread(target=self._refresh_forever, daemon=True)
        self._refresher.start()

    def _refresh_forever(self) -> None:
        while True:
            time.sleep(REFRESH_SECONDS)
            self.refresh()

    def observe_request(self, facts: Mapping[str, Any]) -> None:
        """Count a finished request (facts of its log line; no identity data there)."""
        self.requests.labels(
            app=str(facts.get("app", "-")),
            operation=str(facts.get("operation", "-")),
            outcome=str(facts.get("outcome", "-")),
        ).inc()

    def observe_upstream(self, operation: str, seconds: float, result: str) -> None:
        self.upstream_latency.labels(operation=operation).observe(seconds)
        self.upstream_results.labels(operation=operation, result=result).inc()

    def exposition(self) -> bytes:
        """The whole gateway's metrics (every worker's, added up), else this process's."""
        self.refresh()
        if self._multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self._multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(registry)


class InFlight:
    """WSGI middleware keeping ``gateway_requests_in_flight`` (until the body is sent)."""

    def __init__(self, app: WSGIApplication, metrics: Metrics) -> None:
        self._app = app
        self._gauge = metrics.in_flight

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self._gauge.inc()
        try:
            body = self._app(environ, start_response)
        except BaseException:
            self._gauge.dec()
            raise
        return _ClosingBody(body, self._gauge.dec)


class _ClosingBody:
    """Iterates a WSGI body and runs ``on_close`` once when the server closes it."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self._body = body
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()
