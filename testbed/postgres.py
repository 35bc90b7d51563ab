"""A fresh PostgreSQL schema: the room of one test or bench scenario on the local server."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


_SEARCH_PATH = "?options=-csearch_path%3D"


def schema_url(schema: str, url: str = POSTGRES_URL) -> str:
    """``url`` with its ``search_path`` set to ``schema``."""
    return f"{url}{_SEARCH_PATH}{schema}"


def schema_of(url: str) -> str:
    """The schema a :func:`schema_url` URL names."""
    return url.rsplit(_SEARCH_PATH, 1)[1]


@contextmanager
def fresh_schema(prefix: str, url: str = POSTGRES_URL) -> Iterator[str]:
    """A database URL whose ``search_path`` is a new schema ``<prefix>_<random>``, dropped after."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            yield schema_url(schema, url)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        admin.dispose()
