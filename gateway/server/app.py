"""The app factory: it assembles the gateway from the settings the process read once.

gunicorn loads :func:`create_app` in each worker after the fork, so
certificates, keys, the TLS session pool, the zeep client and the database
engine are built once per worker process and never per request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask, Response, current_app, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from gateway import logs
from gateway.admission.cards import CardGate
from gateway.admission.floods import FailureThrottle
from gateway.admission.gatekeeper import Gatekeeper
from gateway.admission.priority import InteractiveGate
from gateway.admission.proxies import TrustedProxies
from gateway.admission.quotas import Admission, QuotaGate
from gateway.admission.shared_quotas import RedisQuotaGate, RedisRateSlots, connect
from gateway.audit.anchoring import JournalWatch
from gateway.audit.refusals import RefusalAggregator
from gateway.audit.trail import Trail
from gateway.exceptions import ConfigurationError, StorageError
from gateway.interfaces import jobs_api, json_api, ops, vigilance_api, vigilance_pages
from gateway.interfaces.soap import soap_wsgi_apps
from gateway.jobs.runner import JobRunner
from gateway.metrics import InFlight, Metrics
from gateway.models import CertificateMode, SoftwareIdentity
from gateway.pki.credentials import Credential, load_ca_bundle, load_credential
from gateway.protocol.cpx import CardAssertionPolicy
from gateway.protocol.signing import VihfSigner
from gateway.server import safety
from gateway.server.lifecycle import DRAINING
from gateway.service import InsService
from gateway.settings import (
    CertificateSource,
    Settings,
    SharedStateSettings,
    SigningMode,
    StorageSettings,
)
from gateway.storage.apps import AppRegistry
from gateway.storage.audit import AuditJournal
from gateway.storage.database import Database
from gateway.storage.group_commit import GroupCommitJournal
from gateway.storage.jobs import JobStore
from gateway.transport.breaker import CircuitState
from gateway.transport.resilience import Resilience, ResilientTransport
from gateway.transport.transports import MutualTlsTransport, Transport
from gateway.upstream.client import InsiClient
from gateway.vigilance.review import build_vigilance

# Read once at import (in each worker): served as is, never re-read per request.
OPENAPI = (Path(__file__).resolve().parents[1] / "interfaces" / "openapi.json").read_bytes()


def _load(source: CertificateSource, setting: str) -> Credential:
    passphrase = source.passphrase.reveal() if source.passphrase else None
    return load_credential(source.path, passphrase, setting=setting)


def load_credentials(settings: Settings) -> dict[CertificateMode, Credential]:
    """Both establishment credentials, loaded once."""
    credentials = {CertificateMode.MANU: _load(settings.cert_manu, "INSI_CERT_MANU")}
    if settings.cert_auto is not None:
        credentials[CertificateMode.AUTO] = _load(settings.cert_auto, "INSI_CERT_AUTO")
    return credentials


def open_storage(settings: StorageSettings) -> tuple[Database, AuditJournal]:
    """The database, migrated to the current schema, and the audit journal on it."""
    database = Database(settings.database_url)
    database.migrate()
    journal = AuditJournal(database, pseudonym_key=settings.audit_key.reveal().encode())
    return database, journal


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything one worker process builds once and shares between its threads."""

    settings: Settings
    database: Database
    service: InsService
    gatekeeper: Gatekeeper
    metrics: Metrics
    resilience: Resilience
    credentials: Mapping[CertificateMode, Credential]
    rate_wait: Callable[[float], float] | None  # the batch runner's global slots, if shared


def shared_quotas(
    settings: SharedStateSettings,
) -> tuple[Admission, Callable[[float], float] | None]:
    """Per-application quotas and the batch runner's call slots: in Redis when configured.

    Without ``REDIS_URL`` each process keeps its own quotas (exact for one worker process)
    and the runner takes its slots from the database.
    """
    if settings.redis_url is None:
        return QuotaGate(), None
    client = connect(settings.redis_url.reveal())
    slots = RedisRateSlots(client, settings.redis_prefix)
    return RedisQuotaGate(client, settings.redis_prefix), slots.wait_seconds


def build_runtime(settings: Settings) -> Runtime:
    """Assemble credentials, transports, client, storage and the service core."""
    credentials = load_credentials(settings)
    safety.check_xml()
    safety.check_timeouts(settings, worker_timeout=None)
    safety.check_certificates(credentials, load_ca_bundle(settings.cert_ca, setting="INSI_CERT_CA"))
    structure_id = credentials[CertificateMode.MANU].organizational_unit
    emitter = settings.emitter or structure_id
    if not emitter or not structure_id:
        raise ConfigurationError(
            "INSI_CERT_MANU", "certificate has no OU (structure id); set INSI_EMITTER"
        )
    metrics = Metrics(settings.metrics_dir)
    resilience = Resilience(settings.resilience, on_retry=metrics.retries.inc)
    metrics.watch_circuit(lambda: resilience.breaker.state.value)
    for mode, credential in credentials.items():
        metrics.watch_certificate(mode.value, credential.not_valid_after)
    database, journal = open_storage(settings.storage)
    service = InsService(
        client=InsiClient(
            endpoint=settings.upstream_url,
            transports=_transports(settings, credentials, resilience),
            max_response_bytes=settings.max_response_bytes,
            cpx=_cpx_route(settings, metrics),
        ),
        signers=(
            {mode: VihfSigner(credential) for mode, credential in credentials.items()}
            if settings.signing is SigningMode.VIHF
            else {}
        ),
        software=SoftwareIdentity(
            idam=settings.idam,
            name=settings.software_name,
            version=settings.software_version,
            instance=settings.software_instance,
        ),
        emitter=emitter,
        structure_id=structure_id,
        trail=Trail(
            GroupCommitJournal(journal),
            metrics,
            aggregator=RefusalAggregator(settings.audit.aggregate_seconds),
        ),
        strategy=settings.first_name_strategy,
    )
    quotas, rate_wait = shared_quotas(settings.shared)
    gatekeeper = Gatekeeper(
        AppRegistry(database),
        quotas=quotas,
        interactive=InteractiveGate(settings.jobs.interactive_threshold),
        cards=CardGate(_card_policy(settings)),
        throttle=FailureThrottle(
            settings.audit.auth_failure_limit, settings.audit.auth_failure_window
        ),
    )
    return Runtime(
        settings, database, service, gatekeeper, metrics, resilience, credentials, rate_wait
    )


def start_watch(runtime: Runtime) -> JournalWatch:
    """This worker's journal watch: head to the log, counted refusals to the journal."""
    settings = runtime.settings
    journal = AuditJournal(
        runtime.database, pseudonym_key=settings.storage.audit_key.reveal().encode()
    )
    watch = JournalWatch(
        runtime.service.trail, journal, anchor_seconds=settings.audit.anchor_seconds
    )
    watch.start()
    return watch


def start_jobs(runtime: Runtime) -> JobRunner:
    """The batch runner of this worker process (it stops itself at exit)."""
    jobs = runtime.settings.jobs
    runner = JobRunner(
        JobStore(runtime.database),
        runtime.service,
        workers=jobs.workers,
        rate=jobs.rate,
        gate=runtime.gatekeeper.interactive,
        lease_seconds=jobs.lease_seconds,
        retry_seconds=jobs.retry_seconds,
        retention_days=jobs.retention_days,
        rate_wait=runtime.rate_wait,
        activity_sector=AppRegistry(runtime.database).activity_sector,
        call_seconds=runtime.settings.resilience.deadline
        + runtime.settings.resilience.queue_timeout,
    )
    runner.start()
    return runner


def _transports(
    settings: Settings, credentials: Mapping[CertificateMode, Credential], resilience: Resilience
) -> dict[CertificateMode, Transport]:
    """One mutual-TLS transport per certificate, all sharing one circuit and retry budget."""
    plain = mutual_tls_transports(settings, credentials)
    return {mode: ResilientTransport(inner, resilience) for mode, inner in plain.items()}


def mutual_tls_transports(
    settings: Settings, credentials: Mapping[CertificateMode, Credential]
) -> dict[CertificateMode, MutualTlsTransport]:
    """Each pool keeps one connection per slot toward the teleservice (``INSI_MAX_CONCURRENT``).

    A smaller pool would discard connections above its size, each new one paying a full
    mutual-TLS handshake.
    """
    return {
        mode: MutualTlsTransport(
            credential,
            ca_bundle=settings.upstream_ca,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_response_bytes=settings.max_response_bytes,
            pool_size=settings.resilience.max_concurrent,
        )
        for mode, credential in credentials.items()
    }


def _cpx_route(settings: Settings, metrics: Metrics) -> tuple[str, Transport] | None:
    """The CPx endpoint and its server-authenticated transport, with its own breaker, retry
    budget and concurrency bound: one endpoint's outage does not open the other's circuit."""
    if settings.cpx is None:
        return None
    transport = MutualTlsTransport(
        None,
        ca_bundle=settings.upstream_ca,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_response_bytes=settings.max_response_bytes,
    )
    resilience = Resilience(settings.resilience, on_retry=metrics.retries.inc)
    return settings.cpx.url, ResilientTransport(transport, resilience)


def _card_policy(settings: Settings) -> CardAssertionPolicy | None:
    if settings.cpx is None:
        return None
    load_ca_bundle(settings.cpx.card_ca, setting="INSI_CPX_CA")  # unusable bundle: refuse to start
    return CardAssertionPolicy(
        ca_bundle=settings.cpx.card_ca, max_age=timedelta(seconds=settings.cpx.max_age)
    )


def create_app(
    env: Mapping[str, str] | None = None,
    *,
    ops_port: int | None = None,
    settings: Settings | None = None,
) -> Flask:
    """Build the gateway's WSGI app from ``settings`` (``serve`` reads them before the fork),
    else from ``env`` (default: the process environment, for a bare gunicorn app path).

    ``ops_port``: the port of the ops listener (``serve --ops-bind``), which alone then
    serves ``/metrics`` and ``/readyz``.
    """
    if settings is None:
        settings = Settings.from_env(os.environ if env is None else env)
    logs.configure(settings.log_level)
    runtime = build_runtime(settings)
    app = Flask("gateway", static_folder=None)  # no static files: no /static route
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["insi_runtime"] = runtime
    json_api.install(app, runtime.service, runtime.gatekeeper, runtime.metrics)
    audit_key = settings.storage.audit_key.reveal().encode()
    found = build_vigilance(runtime.database, audit_key, runtime.service, runtime.metrics.registry)
    vigilance_api.install(app, found)
    vigilance_pages.install(app)
    job_store = JobStore(runtime.database)
    jobs_api.install(app, job_store, settings=settings.jobs)
    runtime.metrics.watch_job_backlog(job_store.open_rows)
    start_jobs(runtime)
    runtime.metrics.start_refreshing()
    start_watch(runtime)
    soap = soap_wsgi_apps(
        runtime.service, runtime.gatekeeper, runtime.metrics, max_body_bytes=settings.max_body_bytes
    )
    flask_only = app.wsgi_app
    app.wsgi_app = InFlight(  # type: ignore[method-assign]
        TrustedProxies(DispatcherMiddleware(app.wsgi_app, soap), settings.trusted_proxies),
        runtime.metrics,
    )
    if ops_port is not None:
        ops.install(app, ops_port, flask_only=flask_only)
    app.add_url_rule("/healthz", "healthz", _healthz)
    app.add_url_rule("/readyz", "readyz", _readyz)
    app.add_url_rule("/metrics", "metrics", _metrics)
    app.add_url_rule("/openapi.json", "openapi", _openapi)
    return app


def _runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["insi_runtime"]
    return runtime


def _healthz() -> Response:
    """The process is alive and serving (readiness is /readyz)."""
    return jsonify({"status": "ok"})


def _readyz() -> Response:
    """Ready to serve: certificates valid, database writable, circuit not open. 503 otherwise."""
    runtime = _runtime()
    now = datetime.now(UTC)
    checks: dict[str, dict[str, object]] = {}
    for mode, credential in runtime.credentials.items():
        cert = credential.certificate
        valid = cert.not_valid_before_utc <= now < cert.not_valid_after_utc
        days = (cert.not_valid_after_utc - now).days
        checks[f"certificate {mode.value}"] = {
            "ok": valid,
            "detail": f"{days} days left" if valid else "expired or not yet valid",
            "serial": f"{cert.serial_number:x}",
        }
    try:
        runtime.database.check_writable()
        checks["database"] = {"ok": True, "detail": "writable"}
    except StorageError as error:
        checks["database"] = {"ok": False, "detail": error.message}
    circuit = runtime.resilience.breaker.state
    checks["circuit"] = {"ok": circuit is not CircuitState.OPEN, "detail": circuit.value}
    draining = DRAINING.is_set()  # SIGTERM received: still serving, leaving the pool
    checks["shutdown"] = {"ok": not draining, "detail": "draining" if draining else "serving"}
    ready = all(check["ok"] for check in checks.values())
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks})
    response.status_code = 200 if ready else 503
    return response


def _metrics() -> Response:
    metrics = _runtime().metrics
    return Response(metrics.exposition(), mimetype=metrics.content_type)


def _openapi() -> Response:
    """The OpenAPI 3.1 document of the JSON interface (kept in the repo, served as is)."""
    return Response(OPENAPI, mimetype="application/json")
