"""The one composition root (issue 17): each transport, journal and client built once per process.

The real app factory builds a whole gateway in this process (dev PKI, CPx
configured, its own SQLite file, no job workers; the teleservice is never
called). Constructions are counted by wrapping the real constructors, which
still run: a second journal or transport built anywhere in the factory shows.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from gateway.exceptions import JournalWriteFailed
from gateway.pki.devcards import generate_dev_cards
from gateway.pki.devpki import DevPki
from gateway.server.app import create_app
from gateway.server.runtime import Runtime
from gateway.storage.audit import AuditEntry, AuditJournal
from gateway.storage.database import Database
from gateway.storage.group_commit import GroupCommitJournal
from gateway.transport.resilience import Resilience
from gateway.transport.transports import MutualTlsTransport
from gateway.upstream.client import InsiClient

COUNTED = (MutualTlsTransport, Resilience, InsiClient, AuditJournal, GroupCommitJournal, Database)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The factory routes the ``gateway`` loggers to stdout: put them back for later tests."""
    names = ["gateway", "zeep", "urllib3", "requests", "spyne", "sqlalchemy", "alembic"]
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate


def count_constructions(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Wrap each counted class's constructor (the real one still runs); the counts."""
    built: Counter[str] = Counter()
    for cls in COUNTED:
        original = cls.__init__

        def init(self: Any, *args: Any, _original: Any = original, _name: str = cls.__name__,
                 **kwargs: Any) -> None:  # fmt: skip
            built[_name] += 1
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", init)
    return built


def build(dev_pki: DevPki, tmp_path: Path) -> Flask:
    cards = generate_dev_cards(dev_pki.directory)
    return create_app(
        {
            "INSI_UPSTREAM_URL": "https://127.0.0.1:9/lps",  # never called: only built
            "INSI_UPSTREAM_CA": str(dev_pki.ca_bundle),
            "INSI_CERT_MANU": str(dev_pki.insi_manu.p12),
            "INSI_CERT_MANU_PASSPHRASE": dev_pki.passphrase,
            "INSI_CERT_AUTO": str(dev_pki.insi_auto.p12),
            "INSI_CERT_AUTO_PASSPHRASE": dev_pki.passphrase,
            "INSI_IDAM": "INSI-GW-DEV-IDAM",
            "GATEWAY_AUDIT_KEY": "unit-test-audit-key-0123456789",
            "INSI_CPX_URL": "https://127.0.0.1:9/cpx",
            "INSI_CPX_CA": str(cards.ca_bundle),
            "INSI_MAX_CONCURRENT": "40",
            "GATEWAY_JOB_WORKERS": "0",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}",
        }
    )


@pytest.fixture
def counted_app(
    dev_pki: DevPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restored_logging: None
) -> Iterator[tuple[Flask, Counter[str]]]:
    built = count_constructions(monkeypatch)
    app = build(dev_pki, tmp_path)
    yield app, built
    runtime(app).close()


def runtime(app: Flask) -> Runtime:
    built: Runtime = app.extensions["insi_runtime"]
    return built


def test_the_factory_builds_each_transport_journal_and_client_once(
    counted_app: tuple[Flask, Counter[str]],
) -> None:
    _, built = counted_app
    assert built == {
        "MutualTlsTransport": 3,  # INSI-MANU, INSI-AUTO, CPx
        "Resilience": 2,  # the certificate endpoint's (shared by both certificates), CPx's
        "InsiClient": 1,
        "AuditJournal": 1,
        "GroupCommitJournal": 1,
        "Database": 1,
    }


def test_every_pool_is_sized_from_insi_max_concurrent(
    counted_app: tuple[Flask, Counter[str]],
) -> None:
    teleservice = runtime(counted_app[0]).teleservice
    assert teleservice.cpx is not None
    assert teleservice.cpx.pool_size == 40
    assert [t.pool_size for t in teleservice.transports.values()] == [40, 40]


def test_readyz_names_both_circuits(counted_app: tuple[Flask, Counter[str]]) -> None:
    answer = counted_app[0].test_client().get("/readyz")
    checks = answer.get_json()["checks"]
    assert answer.status_code == 200
    assert checks["circuit"] == {"ok": True, "detail": "closed"}
    assert checks["circuit cpx"] == {"ok": True, "detail": "closed"}


def test_close_ends_the_journal_writer_once(counted_app: tuple[Flask, Counter[str]]) -> None:
    built = runtime(counted_app[0])
    entry = AuditEntry(request_id="r-1", operation="search", outcome="00")
    built.journal.append(entry)  # starts the writer thread

    built.close()
    built.close()  # a second close (atexit after a first one) does nothing

    assert built.journal.closed
    with pytest.raises(JournalWriteFailed):
        built.journal.submit(entry)
    assert built.journal.journal.head()[0] == 1


def test_a_step_that_fails_at_close_does_not_keep_the_journal_open(
    counted_app: tuple[Flask, Counter[str]],
) -> None:
    built = runtime(counted_app[0])
    built.journal.append(AuditEntry(request_id="r-1", operation="search", outcome="00"))

    def stuck() -> None:
        raise RuntimeError("a background thread that will not stop")

    built.stops.append(stuck)
    built.close()

    assert built.journal.closed  # the queued records were still written, the writer ended
