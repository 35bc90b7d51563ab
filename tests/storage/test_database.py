"""The database boundary: URLs, SQLite pragmas, migrations, transactions, readiness, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select, text

from gateway.exceptions import ConfigurationError, StorageError
from gateway.storage import Database, default_sqlite_url
from gateway.storage.database import MIGRATIONS_DIR
from gateway.storage.schema import apps, metadata


def _app_row(name: str) -> dict[str, object]:
    return {
        "name": name,
        "key_sha256": name.ljust(64, "0")[:64],
        "operations": "search",
        "rate_per_second": 1.0,
        "burst": 1,
        "max_concurrent": 1,
        "cert_mode": "INSI-MANU",
        "created_at": datetime.now(UTC),
    }


def test_sqlite_runs_in_wal_with_full_sync_on_every_connection(tmp_path: Path) -> None:
    db = Database(default_sqlite_url(tmp_path / "g.db"))
    try:
        # Two connections checked out at once: the pragmas are per connection.
        with db.read() as first, db.read() as second:
            for conn in (first, second):
                pragma = conn.exec_driver_sql
                assert pragma("PRAGMA journal_mode").scalar() == "wal"
                assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
                assert pragma("PRAGMA foreign_keys").scalar() == 1
                assert pragma("PRAGMA busy_timeout").scalar() == 5000
    finally:
        db.close()


def test_sqlite_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "var" / "gateway.db"
    db = Database(default_sqlite_url(path))
    db.migrate()
    db.close()
    assert path.is_file()


def test_default_sqlite_url_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        default_sqlite_url(Path("var/gateway.db"))
        == f"sqlite+pysqlite:///{tmp_path}/var/gateway.db"
    )


@pytest.mark.parametrize(
    "url",
    ["not a url", "mysql+pymysql://root@127.0.0.1/test", "sqlite://", "sqlite:///:memory:"],
)
def test_unusable_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Database(url)
    assert caught.value.setting == "DATABASE_URL"


def test_plain_postgresql_url_uses_psycopg() -> None:
    db = Database("postgresql://postgres:s3cret@127.0.0.1:5432/test")
    assert db.engine.url.drivername == "postgresql+psycopg"
    assert "s3cret" not in repr(db)


def test_migrate_creates_the_current_schema_and_is_idempotent(database: Database) -> None:
    database.migrate()  # second run: nothing to do, no error
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    assert scripts.get_revision("0001").down_revision is None
    with database.read() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == scripts.get_current_head()
        found = inspect(conn)
        for table in metadata.sorted_tables:
            columns = {c["name"] for c in found.get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name
        assert conn.execute(text("SELECT last_seq FROM audit_head WHERE id = 1")).scalar() == 0


def test_transaction_commits_or_rolls_back(database: Database) -> None:
    with database.transaction() as conn:
        conn.execute(insert(apps).values(**_app_row("kept")))

    def failing_write() -> None:
        with database.transaction() as conn:
            conn.execute(insert(apps).values(**_app_row("dropped")))
            raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError):
        failing_write()
    with database.read() as conn:
        assert conn.execute(select(apps.c.name)).scalars().all() == ["kept"]


def test_database_errors_become_storage_errors_without_parameters(database: Database) -> None:
    with database.transaction() as conn:
        conn.execute(insert(apps).values(**_app_row("secret-patient-name")))
    with pytest.raises(StorageError) as caught, database.transaction() as conn:
        conn.execute(insert(apps).values(**_app_row("secret-patient-name")))
    message = str(caught.value)
    assert message.startswith("database write failed: ")
    assert "IntegrityError" in message or "UniqueViolation" in message
    assert "secret" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__  # the driver's error (with parameters) is not chained


def test_check_writable_passes_on_a_migrated_database(database: Database) -> None:
    database.check_writable()
    database.check_writable()  # left no lock and no change behind
    with database.read() as conn:
        assert conn.execute(text("SELECT last_seq FROM audit_head")).scalar() == 0


def test_check_writable_names_a_missing_schema(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(StorageError, match="schema not created: run the migrations"):
            db.check_writable()
    finally:
        db.close()


def test_check_writable_accepts_a_newer_schema(database: Database) -> None:
    with database.transaction() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    database.check_writable()


def test_check_writable_names_an_unreachable_server() -> None:
    db = Database("postgresql+psycopg://postgres@127.0.0.1:1/test")
    with pytest.raises(StorageError, match="database not writable: OperationalError"):
        db.check_writable()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_check_writable_names_a_read_only_server(database: Database, database_url: str) -> None:
    # A hot standby behaves like this: every transaction is read-only.
    db = Database(database_url + "%20-cdefault_transaction_read_only%3Don")
    try:
        with pytest.raises(StorageError, match="read-only"):
            db.check_writable()
    finally:
        db.close()


def test_check_writable_names_a_held_write_lock(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path / "g.db")
    holder, prober = Database(url), Database(url, busy_timeout_ms=100)
    holder.migrate()
    try:
        # BEGIN IMMEDIATE: the holder has the write lock while the prober checks.
        with holder.transaction(), pytest.raises(StorageError, match="database is locked"):
            prober.check_writable()
        prober.check_writable()
    finally:
        holder.close()
        prober.close()
