"""Persistent state shared by every gateway replica: the app registry and the audit journal.

One code path (SQLAlchemy 2 Core, no ORM) for both backends: a SQLite file by
default (one host), PostgreSQL when several replicas share the state.
``docs/storage.md`` explains the choices; :class:`Database` is the boundary
where database errors become :class:`gateway.exceptions.StorageError`.
"""

from __future__ import annotations

from gateway.storage.apps import OPERATIONS, App, AppRegistry
from gateway.storage.audit import AuditEntry, AuditJournal, AuditRecord, ChainReport
from gateway.storage.database import Database, default_sqlite_url

__all__ = [
    "OPERATIONS",
    "App",
    "AppRegistry",
    "AuditEntry",
    "AuditJournal",
    "AuditRecord",
    "ChainReport",
    "Database",
    "default_sqlite_url",
]
