"""The mock's CPx endpoint: verifying a professional's card-signed assertion, as INSi would.

The same structural and signature checks as the establishment's VIHF
(:mod:`gateway.mock.vihf_check`: one assertion, enveloped signature on its own
ID, what signxml returns as signed), against the card CAs instead of the
establishment CAs; ``Issuer`` must be the card certificate's DN, the subject a
``CPS``-qualified ``NameID``, and the assertion must not be past ``NotOnOrAfter``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lxml import etree

from gateway.mock.vihf_check import (
    VihfClaims,
    VihfRejectedError,
    check_issuer,
    check_subject,
    read_claims,
    signing_certificate,
    single_assertion,
    verified,
)

CARD_QUALIFIERS = frozenset({"CPS"})


def verify_card_assertion(
    security: tuple[etree._Element, ...], *, ca_bundle: Path, now: datetime
) -> VihfClaims:
    """Verify the card assertion of the one ``wsse:Security`` header, or say why not."""
    assertion, assertion_id = single_assertion(security)
    signed, signature, signer_key = verified(assertion, assertion_id, ca_bundle)
    claims = read_claims(signed, assertion_id, signer_key)
    check_issuer(signed, signing_certificate(signature, signer_key))
    check_subject(claims, CARD_QUALIFIERS)
    card_assertion_current(claims, now=now)
    return claims


def card_assertion_current(claims: VihfClaims, *, now: datetime) -> None:
    """CPx: a card assertion past its ``NotOnOrAfter`` is refused (the card session ended)."""
    if claims.not_on_or_after is None:
        return
    try:
        limit = datetime.fromisoformat(claims.not_on_or_after.replace("Z", "+00:00"))
    except ValueError:
        raise VihfRejectedError("NotOnOrAfter is not an xsd:dateTime") from None
    if limit.tzinfo is None or now >= limit:
        raise VihfRejectedError("the assertion has expired (NotOnOrAfter)")
