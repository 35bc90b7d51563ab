"""Whether this gateway process is shutting down: set by its gunicorn worker, read by /readyz.

A module-level event because both sides live in the same worker process and
the state is that process's own: a draining worker answers ``/readyz`` 503
while it still serves every request it gets (see :mod:`gateway.server.serving`).
"""

from __future__ import annotations

import threading

DRAINING = threading.Event()
