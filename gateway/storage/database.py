"""The one door to the database: engine, transactions, migrations, readiness.

Everything above this module is written once against SQLAlchemy Core and runs
unchanged on SQLite (the default, one host) and PostgreSQL (several replicas).
The backend differences live here:

- SQLite: each new DB-API connection gets WAL (readers never block the one
  writer), ``synchronous=FULL`` (a committed audit record survives a power
  cut), a ``busy_timeout`` (writers queue instead of failing) and foreign keys.
  pysqlite's own transaction handling is switched off so that writers can open
  with ``BEGIN IMMEDIATE``: they take the write lock up front, which serialises
  them and avoids the deadlock of two readers upgrading at once.
- PostgreSQL: ordinary READ COMMITTED transactions; callers lock rows
  themselves (``FOR UPDATE``) where order matters.

SQLAlchemy errors are turned into :class:`StorageError` here, with the
driver's one-line reason and never the SQL parameters (``hide_parameters``
too), because parameters may carry identity data or key digests.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from gateway.exceptions import ConfigurationError, StorageError
from gateway.storage.schema import audit_head

MIGRATIONS_DIR: Final = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS: Final = 5000
# Execution option read by the SQLite "begin" listener: DEFERRED or IMMEDIATE.
_BEGIN_OPTION: Final = "gateway_sqlite_begin"
# pg_advisory_xact_lock key taken by migrate(): replicas starting together migrate one at a time.
_MIGRATION_LOCK_KEY: Final = 0x494E5349
_URL_FORMS: Final = "expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"


def default_sqlite_url(path: Path) -> str:
    """The URL of a SQLite file, absolute so that it does not depend on the working directory."""
    return f"sqlite+pysqlite:///{path.resolve()}"


class Database:
    """An engine for one ``DATABASE_URL`` plus the few operations every store needs.

    Create one per process (per gunicorn worker, after the fork): pooled
    connections must not be shared across ``fork()``.
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        parsed = _parse(url)
        self.backend: Final = parsed.get_backend_name()
        self.engine: Final = (
            _sqlite_engine(parsed, busy_timeout_ms)
            if self.backend == "sqlite"
            else _pg_engine(parsed)
        )

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on success, rolled back on error.

        On SQLite it opens with ``BEGIN IMMEDIATE``, so writers queue (up to the
        busy timeout) and each sees the state the previous one committed.
        """
        with self._converted("database write failed"), self._begin(write=True) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction: one consistent snapshot, no write lock taken."""
        with self._converted("database read failed"), self._begin(write=False) as conn:
            yield conn

    def migrate(self) -> None:
        """``alembic upgrade head``, in one transaction, one replica at a time."""
        config = _alembic_config()
        with self._converted("database migration failed"), self._begin(write=True) as conn:
            if not self.is_sqlite:
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            config.attributes["connection"] = conn  # env.py migrates on this connection
            command.upgrade(config, "head")

    def check_writable(self) -> None:
        """Raise :class:`StorageError` unless a write would succeed now (for ``/readyz``).

        It connects, checks the schema revision, then performs a no-op update
        of the audit head and rolls it back: this catches an unreachable server,
        a read-only file or standby, a lock held beyond the timeout, and a
        schema that was never migrated, without leaving any trace.
        """
        with self._converted("database not writable"), self._begin(write=True) as conn:
            if not self.is_sqlite:
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            self._check_revision(conn)
            touched = conn.execute(
                update(audit_head)
                .where(audit_head.c.id == 1)
                .values(last_seq=audit_head.c.last_seq)
            ).rowcount
            conn.rollback()
        if touched != 1:
            raise StorageError("database not writable: the audit head row is missing")

    def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database and truncate it to zero bytes.

        Run after deleting identity data: until then the deleted rows' pages
        still sit in the WAL file. Nothing to do on PostgreSQL.
        """
        if not self.is_sqlite:
            return
        with self._converted("WAL checkpoint failed"), self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close pooled connections (at shutdown, and in tests before dropping a schema)."""
        self.engine.dispose()

    @cached_property
    def _revisions(self) -> tuple[str | None, frozenset[str]]:
        """The head revision of the shipped migrations, and every revision they know."""
        scripts = ScriptDirectory.from_config(_alembic_config())
        return scripts.get_current_head(), frozenset(s.revision for s in scripts.walk_revisions())

    def _check_revision(self, conn: Connection) -> None:
        current = MigrationContext.configure(conn).get_current_revision()
        head, known = self._revisions
        if current is None:
            raise StorageError("database schema not created: run the migrations")
        # A revision we do not know is a newer one (a replica already upgraded):
        # migrations are additive, so this code can still run against it.
        if current != head and current in known:
            raise StorageError(
                f"database schema at revision {current}, this gateway needs {head}: "
                "run the migrations"
            )

    @contextmanager
    def _begin(self, *, write: bool) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if write and self.is_sqlite:
                conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                yield conn

    @contextmanager
    def _converted(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as error:
            raise StorageError(f"{action}: {_reason(error)}") from None
        except CommandError as error:
            raise StorageError(f"{action}: {error}") from None


def _alembic_config() -> Config:
    """Alembic's configuration, built in code: no ``alembic.ini`` at runtime."""
    config = Config()
    # configparser interpolates '%': a path holding one must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError("DATABASE_URL", f"not a database URL ({_URL_FORMS})") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigurationError(
                "DATABASE_URL", "an in-memory SQLite database is not shared: give a file path"
            )
        return parsed.set(drivername="sqlite+pysqlite")
    if backend == "postgresql" and parsed.drivername in ("postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise ConfigurationError("DATABASE_URL", f"unsupported database ({_URL_FORMS})")


def _pg_engine(url: URL) -> Engine:
    # A bounded connect so that /readyz answers "not ready" instead of hanging.
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": 5}
    return create_engine(url, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: URL, busy_timeout_ms: int) -> Engine:
    """A SQLite engine whose connections carry the pragmas and honour BEGIN IMMEDIATE."""
    assert url.database is not None  # checked by _parse
    try:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        _owner_only(Path(url.database))
    except OSError as error:
        raise ConfigurationError(
            "DATABASE_URL", f"cannot create the SQLite file: {error.strerror}"
        ) from None
    engine = create_engine(
        url, hide_parameters=True, connect_args={"timeout": busy_timeout_ms / 1000}
    )

    def on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Autocommit at the driver level: transactions are begun by on_begin only.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = dbapi_connection.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise sqlite3.OperationalError("the SQLite file cannot use WAL journal mode")
        dbapi_connection.execute("PRAGMA synchronous = FULL")
        # Deleted rows (purged jobs: identities) are overwritten, not left in free pages.
        dbapi_connection.execute("PRAGMA secure_delete = ON")
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    def on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    return engine


def _owner_only(path: Path) -> None:
    """Create the database file mode 0600 (SQLite gives its -wal and -shm the same mode),
    and bring an existing one, with its -wal and -shm, back to 0600."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o777 != 0o600:
            file.chmod(0o600)


def _reason(error: SQLAlchemyError) -> str:
    """The driver's own first line (e.g. ``database is locked``), without SQL or parameters."""
    source: BaseException = getattr(error, "orig", None) or error
    lines = str(source).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(source).__name__}: {first}" if first else type(source).__name__
