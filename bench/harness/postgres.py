"""A private PostgreSQL schema for one scenario: created, handed out as a URL, dropped."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from harness.servers import record

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _run(url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, connect_args={"connect_timeout": 5})
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


@contextmanager
def fresh_schema(url: str = DEFAULT_URL) -> Iterator[str]:
    """A ``DATABASE_URL`` whose ``search_path`` is a new, empty schema; dropped at the end."""
    schema = f"bench_{secrets.token_hex(5)}"
    _run(url, f"CREATE SCHEMA {schema}")
    record(["psql", "-c", f"CREATE SCHEMA {schema}"])
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        _run(url, f"DROP SCHEMA {schema} CASCADE")
