"""What one worker process builds once, after the fork, and closes once, at its exit.

gunicorn loads the app factory in each worker after the fork, so
certificates, keys, the TLS session pools, the zeep client, the audit journal
and its writer, the database engine and the Redis client are built here once
per worker process and never per request, nor twice. :meth:`Runtime.close`
undoes it in order at the worker's exit: background threads first (they use
the rest), then the journal's writer (what is queued is written), the
transports, Redis, the database engine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import redis

from gateway import logs
from gateway.admission.cards import CardGate
from gateway.admission.floods import FailureThrottle
from gateway.admission.gatekeeper import Gatekeeper
from gateway.admission.priority import InteractiveGate
from gateway.admission.quotas import Admission, QuotaGate
from gateway.admission.shared_quotas import RedisQuotaGate, RedisRateSlots, connect
from gateway.audit.refusals import RefusalAggregator
from gateway.audit.trail import Trail
from gateway.exceptions import ConfigurationError
from gateway.metrics import Metrics
from gateway.models import CertificateMode, SoftwareIdentity
from gateway.pki.credentials import Credential, load_ca_bundle, load_credential
from gateway.protocol.cpx import CardAssertionPolicy
from gateway.protocol.signing import VihfSigner
from gateway.server import safety
from gateway.server.teleservice import Teleservice, build_teleservice
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

log = logging.getLogger("gateway.server")
_T = TypeVar("_T")


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
class SharedState:
    """Per-application quotas and the batch runner's call slots, with their Redis client."""

    quotas: Admission
    rate_wait: Callable[[float], float] | None  # the batch runner's global slots, if shared
    client: redis.Redis | None


def shared_state(settings: SharedStateSettings) -> SharedState:
    """Per-application quotas and the batch runner's call slots: in Redis when configured.

    Without ``REDIS_URL`` each process keeps its own quotas (exact for one worker process)
    and the runner takes its slots from the database.
    """
    if settings.redis_url is None:
        return SharedState(QuotaGate(), None, None)
    client = connect(settings.redis_url.reveal())
    slots = RedisRateSlots(client, settings.redis_prefix)
    return SharedState(RedisQuotaGate(client, settings.redis_prefix), slots.wait_seconds, client)


def shared_quotas(
    settings: SharedStateSettings,
) -> tuple[Admission, Callable[[float], float] | None]:
    """The quotas and the runner's slots of :func:`shared_state` (its client left open)."""
    state = shared_state(settings)
    return state.quotas, state.rate_wait


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything one worker process builds once and shares between its threads."""

    settings: Settings
    database: Database
    journal: GroupCommitJournal  # the one journal (and its one writer thread) of the process
    service: InsService
    gatekeeper: Gatekeeper
    metrics: Metrics
    teleservice: Teleservice
    credentials: Mapping[CertificateMode, Credential]
    shared: SharedState
    # Stops of the background threads started on this runtime, run first at close.
    stops: list[Callable[[], None]] = field(default_factory=list)
    _closed: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        """Release what this process built, once, in order; one log line says what closed.

        Each step runs even if one before it failed (a failure is logged by its type):
        the queued audit records are written even if a thread would not stop.
        """
        if self._closed.is_set():
            return
        self._closed.set()
        for stop in reversed(self.stops):
            _step("background thread", stop)
        flushed = _step("audit journal writer", self.journal.close)
        connections = _step("upstream transports", self.teleservice.close)
        if self.shared.client is not None:
            _step("Redis client", self.shared.client.close)
        _step("database engine", self.database.close)
        logs.event(
            log,
            "worker resources closed",
            transports=len(self.teleservice.all_transports()),
            connections=connections,
            journal_flushed=flushed is True,
            redis=self.shared.client is not None,
        )


def _step(what: str, close: Callable[[], _T]) -> _T | None:
    """Run one step of :meth:`Runtime.close`; on failure log its error's type (never its text,
    which may name a URL with credentials) and go on."""
    try:
        return close()
    except Exception as error:
        logs.event(log, "close failed", level=logging.WARNING, step=what,
                   error=type(error).__name__)  # fmt: skip
        return None


def build_runtime(settings: Settings) -> Runtime:
    """Assemble credentials, transports, client, storage and the service core."""
    credentials = load_credentials(settings)
    safety.check_xml()
    safety.check_timeouts(settings, worker_timeout=None)
    safety.check_certificates(credentials, load_ca_bundle(settings.cert_ca, setting="INSI_CERT_CA"))
    structure_id, emitter = _identity(settings, credentials)
    metrics = Metrics(settings.metrics_dir)
    teleservice = build_teleservice(settings, credentials, on_retry=metrics.retries.inc)
    metrics.watch_circuit(lambda: teleservice.resilience.breaker.state.value)
    for mode, credential in credentials.items():
        metrics.watch_certificate(mode.value, credential.not_valid_after)
    database, audit_journal = open_storage(settings.storage)
    journal = GroupCommitJournal(audit_journal)
    trail = Trail(journal, metrics, aggregator=RefusalAggregator(settings.audit.aggregate_seconds))
    service = InsService(
        client=teleservice.client,
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
        trail=trail,
        strategy=settings.first_name_strategy,
    )
    shared = shared_state(settings.shared)
    gatekeeper = Gatekeeper(
        AppRegistry(database),
        quotas=shared.quotas,
        interactive=InteractiveGate(settings.jobs.interactive_threshold),
        cards=CardGate(_card_policy(settings)),
        throttle=FailureThrottle(
            settings.audit.auth_failure_limit, settings.audit.auth_failure_window
        ),
    )
    return Runtime(
        settings, database, journal, service, gatekeeper, metrics, teleservice, credentials, shared
    )


def _identity(
    settings: Settings, credentials: Mapping[CertificateMode, Credential]
) -> tuple[str, str]:
    """The structure id (the INSI-MANU certificate's OU) and the emitter; refuse to start
    without them, before anything is opened."""
    structure_id = credentials[CertificateMode.MANU].organizational_unit
    emitter = settings.emitter or structure_id
    if not emitter or not structure_id:
        raise ConfigurationError(
            "INSI_CERT_MANU", "certificate has no OU (structure id); set INSI_EMITTER"
        )
    return structure_id, emitter


def _card_policy(settings: Settings) -> CardAssertionPolicy | None:
    if settings.cpx is None:
        return None
    load_ca_bundle(settings.cpx.card_ca, setting="INSI_CPX_CA")  # unusable bundle: refuse to start
    return CardAssertionPolicy(
        ca_bundle=settings.cpx.card_ca, max_age=timedelta(seconds=settings.cpx.max_age)
    )
