"""Who may call: application keys, allowed operations, quotas, the end user, for every interface.

JSON and SOAP adapters both go through :class:`Gatekeeper`; neither checks
a key or a quota on its own. Refusals raise from the exception tree
(401, 403, 429) and are journaled by the adapters' one error path.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from gateway.admission.cards import CardGate
from gateway.admission.floods import FailureThrottle
from gateway.admission.priority import InteractiveGate
from gateway.admission.quotas import Admission, QuotaGate
from gateway.exceptions import AuthenticationFailed, InvalidInput, OperationForbidden
from gateway.ids import new_message_id
from gateway.models import CallContext
from gateway.storage.apps import App, AppRegistry

_USER_ID = re.compile(r"[A-Za-z0-9._@:-]{1,128}")
KEY_HELP = "missing, unknown or revoked API key (Authorization: Bearer <key>)"
# A key's check is reused this long: a revocation or a rotation takes effect on every
# worker and replica within 1 s of `apps revoke` returning (docs/configuration.md).
APP_CACHE_SECONDS = 0.5


def presented_key(authorization: str, api_key_header: str = "") -> str:
    """The key from ``Authorization: Bearer <key>``, or the ``X-API-Key`` header given.

    Only the SOAP interface passes ``X-API-Key`` (SOAP toolkits set a header
    more easily than a scheme); the JSON interface, as its OpenAPI document
    says, takes ``Authorization: Bearer`` alone.
    """
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
        quotas: Admission | None = None,
        interactive: InteractiveGate | None = None,
        cards: CardGate | None = None,
        throttle: FailureThrottle | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._clock = clock  # seconds, for the key cache (like QuotaGate and FailureThrottle)
        self.cards = cards or CardGate(None)
        self._throttle = throttle
        self._quotas: Admission = quotas or QuotaGate()
        self.interactive = interactive or InteractiveGate()
        self._known: dict[str, tuple[App, float]] = {}  # key digest -> (app, cached until)
        self._lock = threading.Lock()

    def identify(self, key: str, client: str | None = None) -> App:
        """The application of ``key``; looked up at most every few seconds per key.

        A database read per request was a tenth of the gateway's CPU; one read
        per key and process every ``APP_CACHE_SECONDS`` costs nothing, and a
        revocation or rotation takes effect within it: an entry expires that
        long after its read *began*, so any answer given 1 s after the
        revocation's commit comes from a read that saw it.
        A ``client`` address with too many failures gets 429 instead of 401
        (and its refusals are journaled as counts): a valid key from the same
        address still passes, so a flooder cannot lock out its neighbours.
        """
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = self._clock()
        with self._lock:
            cached = self._known.get(digest)
        if key and cached is not None and cached[1] > now:
            return cached[0]
        app = self._registry.authenticate(key) if key else None
        if app is None or app.revoked:
            if self._throttle is not None:
                self._throttle.check(client)
                self._throttle.failed(client)
            raise AuthenticationFailed(KEY_HELP)
        with self._lock:
            if len(self._known) > 10_000:  # keys are few; never let it grow unbounded
                self._known.clear()
            self._known[digest] = (app, now + APP_CACHE_SECONDS)
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

    def context(
        self, request_id: str, app: App, user_id: str | None, assertions: Sequence[str] = ()
    ) -> CallContext:
        """The call's context: certificate mode, or CPx mode when a card assertion came."""
        return self.cards.context(interactive_context(request_id, app, user_id), app, assertions)


def interactive_context(request_id: str, app: App, user_id: str | None) -> CallContext:
    """The context of an application's own call: its default certificate, its end user."""
    return CallContext(
        request_id=request_id,
        message_id=new_message_id(),
        mode=app.cert_mode,
        user_id=user_id,
        app=app.name,
        activity_sector=app.activity_sector,
    )
