"""Which way a call authenticates upstream, and the card checks in front of CPx mode.

An application calls either in certificate mode (the establishment's INSI-MANU
/ INSI-AUTO certificate, the gateway signs the VIHF) or in CPx mode (it passes
the assertion its user's CPS card signed, which the gateway checks and relays
unchanged). The registry says which modes each application may use; this is
the one place that decides, for JSON and SOAP alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from gateway.exceptions import AssertionWrapped, ModeForbidden
from gateway.models import CallContext
from gateway.protocol.cpx import (
    CardAssertionPolicy,
    check_card_assertion,
    decode_assertion_header,
)
from gateway.storage.apps import App

CERTIFICATE_MODE = "certificate"
CPX_MODE = "cpx"


class CardGate:
    """Turns a call context into a CPx one when a card assertion came with the call.

    ``policy`` None means CPx mode is off on this gateway (no ``INSI_CPX_CA``).
    Holds only immutable settings: shared by every thread of a worker.
    """

    def __init__(
        self,
        policy: CardAssertionPolicy | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._policy = policy
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._policy is not None

    def context(self, context: CallContext, app: App, assertions: Sequence[str]) -> CallContext:
        """``context`` unchanged (certificate mode) or carrying the checked card assertion.

        The professional the card names becomes the call's user: the journal
        and the ``Emetteur`` headers carry their ``NameID``.
        """
        # Repeated header lines reach WSGI joined by commas, which base64 never holds.
        assertions = [part.strip() for value in assertions for part in value.split(",")]
        assertions = [value for value in assertions if value]
        if not assertions:
            if CERTIFICATE_MODE not in app.modes:
                raise ModeForbidden(app.name, CERTIFICATE_MODE)
            return context
        if CPX_MODE not in app.modes or self._policy is None:
            raise ModeForbidden(app.name, CPX_MODE)
        if len(assertions) != 1:
            raise AssertionWrapped("exactly one card assertion per call")
        card = check_card_assertion(
            decode_assertion_header(assertions[0]),
            policy=self._policy,
            now=self._clock(),
            user_id=context.user_id,
        )
        return dataclasses.replace(context, card=card, user_id=card.name_id)
