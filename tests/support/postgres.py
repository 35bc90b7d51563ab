"""A fresh PostgreSQL schema per test: the harness's own (``testbed.postgres``), named here
for the tests that import it from ``tests.support``."""

from __future__ import annotations

from testbed.postgres import POSTGRES_URL, fresh_schema

__all__ = ["POSTGRES_URL", "fresh_schema"]
