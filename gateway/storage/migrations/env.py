"""Alembic environment: runs on the connection that :meth:`Database.migrate` hands in.

There is no ``alembic.ini`` at runtime and no URL here: the gateway builds the
Config in code and passes its own connection (already in a transaction, and
on PostgreSQL holding the migration lock) through ``config.attributes``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from gateway.storage.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite's DDL is transactional too: one failed step leaves nothing half-done.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported: use Database.migrate()")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations with gateway.storage.Database.migrate()")
    _run(connection)


_main()
