"""Every storage test runs twice: on a SQLite file and on the local PostgreSQL.

PostgreSQL (127.0.0.1:5432, trust auth, user ``postgres``, database ``test``)
is part of the test environment, and ``scripts/test`` starts it when it is
down: an unreachable server makes the ``postgresql`` tests fail, never skip,
so that the replica backend cannot silently go untested. Each test gets its
own schema ``gw_test_<random>`` (through the connection's ``search_path``),
dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from gateway.storage import Database, default_sqlite_url
from testbed.postgres import POSTGRES_URL, fresh_schema

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test database, to create and drop the per-test schemas."""
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({error.orig}): "
            "start it (scripts/test does) and run again",
            pytrace=False,
        )
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A URL to an empty database of each backend (not migrated)."""
    if request.param == "sqlite":
        yield default_sqlite_url(tmp_path_factory.mktemp("db") / "gateway.db")
        return
    request.getfixturevalue("postgres_admin")  # fails the test, with why, if unreachable
    with fresh_schema("gw_test") as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated :class:`Database` of each backend."""
    db = Database(database_url)
    db.migrate()
    yield db
    db.close()
