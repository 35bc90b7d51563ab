"""A private PostgreSQL schema for one scenario: created, handed out as a URL, dropped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from harness.servers import record
from testbed.postgres import POSTGRES_URL, schema_of
from testbed.postgres import fresh_schema as testbed_schema

DEFAULT_URL = POSTGRES_URL


@contextmanager
def fresh_schema(url: str = DEFAULT_URL) -> Iterator[str]:
    """A ``DATABASE_URL`` whose ``search_path`` is a new, empty schema; dropped at the end."""
    with testbed_schema("bench", url) as schema_url:
        record(["psql", "-c", f"CREATE SCHEMA {schema_of(schema_url)}"])
        yield schema_url
