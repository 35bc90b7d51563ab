"""Probes of a running server from /proc: the harness's own (``testbed.processes``), named
here for the tests that import them from ``tests.support``."""

from __future__ import annotations

from testbed.processes import children, connected_to, only_worker, rss_bytes, rss_kib

__all__ = ["children", "connected_to", "only_worker", "rss_bytes", "rss_kib"]
