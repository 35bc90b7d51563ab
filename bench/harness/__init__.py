"""What every bench scenario shares: servers, load generators, CPU accounting, profiles.

- ``servers``: the mock and the gateway as real gunicorn processes (``Harness``), the
  commands log of the report.
- ``cpu``: CPU seconds of our processes and of the machine over one measured window.
- ``load``: wrk against the gateway, the direct client against the mock.
- ``profile``: py-spy on a gateway worker under load, summarised by component.
- ``schema``: what a scenario returns for the report (``Section``, ``Target``) and the
  formatting helpers.
- ``machine``: the machine and code facts printed at the top of the report.

The ports, the readiness probe, the server launcher, the PostgreSQL schemas and the /proc
probes are the repository's one harness, ``testbed`` (shared with the tests; the bench
imports nothing from ``tests``): importing ``harness`` puts the repository on ``sys.path``.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)  # the gateway's own code and testbed
