"""Real servers for integration tests: gunicorn processes on free loopback ports.

The launcher, the readiness probe and the ports are the harness's (``testbed.servers``,
shared with the bench); this module adds how the tests run the gateway's command line.
"""

from __future__ import annotations

import sys

from testbed.servers import LOOPBACK, ServerProcess, answers, free_port, launch, port_open

CLI = [sys.executable, "-m", "gateway.cli"]

__all__ = ["CLI", "LOOPBACK", "ServerProcess", "answers", "free_port", "launch", "port_open"]
