"""Alembic migrations of the gateway's schema, run by :meth:`gateway.storage.Database.migrate`.

A package (with ``versions/``) so that the scripts ship inside the wheel.
"""
