"""The one harness the tests and the bench share (neither package imports the other).

- ``waiting``: ``wait_until``, the one wait on a condition with a deadline.
- ``servers``: free loopback ports, the one readiness probe, the one server launcher.
- ``postgres``: the one fresh-PostgreSQL-schema helper and ``POSTGRES_URL``.
- ``processes``: /proc probes of a running server (its workers, their VmRSS).

Not part of the gateway's package (``setup.py`` ships ``gateway`` only).
"""
