"""``insi-gateway card-assertion``: a test card-signed assertion, as a card middleware makes one.

For development and tests of CPx mode only (the test cards of ``dev-pki``);
prints the base64 value an application puts in ``X-INSi-Assertion``.
"""

from __future__ import annotations

import argparse
import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway.pki.cardsigner import sign_card_assertion
from gateway.pki.devcards import CARD_ID, generate_dev_cards


def add_card_commands(commands: Any) -> None:
    """Register ``card-assertion`` on the CLI's subparsers."""
    card = commands.add_parser(
        "card-assertion", help="sign a test CPx card assertion (dev PKI cards; prints base64)"
    )
    card.add_argument("--pki", required=True, help="dev PKI directory (see dev-pki)")
    card.add_argument("--name-id", default=CARD_ID, help="the professional's identifier")
    card.add_argument("--minutes", type=int, default=30, help="validity (NotOnOrAfter)")
    card.add_argument("--xml", action="store_true", help="print the XML instead of base64")
    card.set_defaults(run=_card_assertion)


def _card_assertion(args: argparse.Namespace) -> int:
    cards = generate_dev_cards(Path(args.pki))
    raw = sign_card_assertion(
        cards.card,
        name_id=args.name_id,
        lifetime=timedelta(minutes=args.minutes),
        chain=(cards.card_ca,),
    )
    print(raw.decode() if args.xml else base64.b64encode(raw).decode())
    return 0
