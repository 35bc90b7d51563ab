"""Our own mock of the national INSi teleservice (SOAP 1.2 over mutual TLS), for dev and tests.

It plays the other side of the wire: it shares only :mod:`gateway.ns`,
:mod:`gateway.models` and the safe XML parser with the gateway, never the
gateway's request builder, so a mistake in what the gateway sends shows up
as a fault here instead of being mirrored. :mod:`gateway.mock.server` runs it
under gunicorn (not imported here, so ``python -m gateway.mock.server`` runs
cleanly).
"""

from gateway.mock.app import create_mock_app
from gateway.mock.settings import MockSettings

__all__ = ["MockSettings", "create_mock_app"]
