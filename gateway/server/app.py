"""The app factory: the one composition root, assembling the gateway from settings read once.

gunicorn loads :func:`create_app` in each worker after the fork: what the
worker needs is built there once (:mod:`gateway.server.runtime`, its
teleservice side in :mod:`gateway.server.teleservice`), the interfaces get
it handed over, and :meth:`Runtime.close` releases it once at the worker's exit.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask, Response
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from gateway import logs
from gateway.admission.proxies import TrustedProxies
from gateway.audit.anchoring import JournalWatch
from gateway.interfaces import jobs_api, json_api, ops, vigilance_api, vigilance_pages
from gateway.interfaces.soap import soap_wsgi_apps
from gateway.jobs.runner import JobRunner
from gateway.metrics import InFlight
from gateway.server.lifecycle import DRAINING
from gateway.server.runtime import (
    Runtime,
    build_runtime,
    load_credentials,
    open_storage,
    shared_quotas,
)
from gateway.server.teleservice import mutual_tls_transports
from gateway.settings import Settings
from gateway.storage.apps import AppRegistry
from gateway.storage.jobs import JobStore
from gateway.vigilance.review import build_vigilance

__all__ = [
    "Runtime",
    "Settings",
    "build_runtime",
    "create_app",
    "load_credentials",
    "mutual_tls_transports",
    "open_storage",
    "shared_quotas",
]

# Read once at import (in each worker): served as is, never re-read per request.
OPENAPI = (Path(__file__).resolve().parents[1] / "interfaces" / "openapi.json").read_bytes()


def start_watch(runtime: Runtime) -> JournalWatch:
    """This worker's journal watch: head to the log, counted refusals to the journal.

    It reads the head through the process's one journal (no second one is built).
    """
    watch = JournalWatch(
        runtime.service.trail,
        runtime.journal.journal,
        anchor_seconds=runtime.settings.audit.anchor_seconds,
    )
    watch.start()
    runtime.stops.append(watch.stop)
    return watch


def start_jobs(runtime: Runtime, store: JobStore) -> JobRunner:
    """The batch runner of this worker process (stopped first at the worker's exit)."""
    jobs = runtime.settings.jobs
    runner = JobRunner(
        store,
        runtime.service,
        workers=jobs.workers,
        rate=jobs.rate,
        gate=runtime.gatekeeper.interactive,
        lease_seconds=jobs.lease_seconds,
        retry_seconds=jobs.retry_seconds,
        retention_days=jobs.retention_days,
        rate_wait=runtime.shared.rate_wait,
        activity_sector=AppRegistry(runtime.database).activity_sector,
        call_seconds=runtime.settings.resilience.deadline
        + runtime.settings.resilience.queue_timeout,
    )
    runner.start()
    if jobs.workers > 0:  # none started: nothing to stop
        runtime.stops.append(runner.stop)
    return runner


def readiness(runtime: Runtime) -> ops.Readiness:
    """What ``/readyz`` checks: each certificate, the database, every breaker, the drain."""
    return ops.Readiness(
        certificates={
            f"certificate {mode.value}": credential.certificate
            for mode, credential in runtime.credentials.items()
        },
        database=runtime.database,
        circuits=runtime.teleservice.breakers(),
        draining=DRAINING.is_set,
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
    found = build_vigilance(
        runtime.database, runtime.journal, runtime.service, runtime.metrics.registry
    )
    vigilance_api.install(app, found)
    vigilance_pages.install(app)
    job_store = JobStore(runtime.database)
    jobs_api.install(app, job_store, settings=settings.jobs)
    runtime.metrics.watch_job_backlog(job_store.open_rows)
    start_jobs(runtime, job_store)
    runtime.metrics.start_refreshing()
    start_watch(runtime)
    atexit.register(runtime.close)  # after the threads' own hooks: runs before them
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
    ops.register(app, readiness(runtime), runtime.metrics)
    app.add_url_rule("/openapi.json", "openapi", _openapi)
    return app


def _openapi() -> Response:
    """The OpenAPI 3.1 document of the JSON interface (kept in the repo, served as is)."""
    return Response(OPENAPI, mimetype="application/json")
