"""Helpers of the integration tests that are not fixtures: a fault proxy, process probes."""
