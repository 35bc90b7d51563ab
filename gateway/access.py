"""Who may call: application keys, allowed operations, quotas, the end user, for every interface.

JSON and SOAP adapters both go through :class:`Gatekeeper`; neither checks
a key or a quota on its own. Refusals raise from the exception tree
(401, 403, 429) and are journaled by the adapters' one error path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from gateway.exceptions import AuthenticationFailed, InvalidInput, OperationForbidden
from gateway.jobs.priority import InteractiveGate
from gateway.models import CertificateMode
from gateway.quotas import QuotaGate
from gateway.storage.apps import App, AppRegistry

_USER_ID = re.compile(r"[A-Za-z0-9._@:-]{1,128}")
KEY_HELP = "missing, unknown or revoked API key (Authorization: Bearer <key>)"


def presented_key(authorization: str, api_key_header: str = "") -> str:
    """The key from ``Authorization: Bearer <key>`` (or an ``X-API-Key`` header)."""
    scheme, _, bearer = authorization.partition(" ")
    key = bearer.strip() if scheme.lower() == "bearer" else ""
    return key or api_key_header.strip()


def user_id(header: str) -> str | None:
    """The end user an application acts for (``X-User-Id``), if given and well formed."""
    if not header:
        return None
    if not _USER_ID.fullmatch(header):
        raise InvalidInput("X-User-Id", "must be 1 to 128 letters, digits or . _ @ : -")
    return header


class Gatekeeper:
    """Authenticates applications, checks their operations and admits them under quota."""

    def __init__(
        self,
        registry: AppRegistry,
        *,
        quotas: QuotaGate | None = None,
        interactive: InteractiveGate | None = None,
    ) -> None:
        self._registry = registry
        self._quotas = quotas or QuotaGate()
        self.interactive = interactive or InteractiveGate()

    def identify(self, key: str) -> App:
        app = self._registry.authenticate(key) if key else None
        if app is None or app.revoked:
            raise AuthenticationFailed(KEY_HELP)
        return app

    @contextmanager
    def admit(self, app: App, operation: str) -> Iterator[None]:
        """Hold one of the app's quota slots while ``operation`` runs (403/429 otherwise).

        While it runs, batch jobs of this process give way (interactive priority).
        """
        if operation not in app.operations:
            raise OperationForbidden(app.name, operation)
        with self._quotas.admit(app), self.interactive.interactive():
            yield


def interactive_mode(app: App) -> CertificateMode:
    """The certificate of an application's own calls: its configured default."""
    return app.cert_mode
