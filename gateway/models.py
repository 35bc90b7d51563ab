"""Value objects shared by every layer: what is asked, what the teleservice answered.

They are frozen and hold plain strings: birth dates stay ``YYYY-MM-DD`` strings
end to end, because lunar dates (``1980-00-00``) are valid INS birth dates that
``datetime.date`` would reject. OIDs are passed through as given.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

ACTIVITY_SECTOR: Final = re.compile(r"SA[0-9]{2}")
"""The form of a TRE_R02 SecteurActivite code (``SA01`` .. ``SA99``): an application's
VIHF ``secteurActivite``, checked when it is registered and by the mock."""


class Operation(enum.StrEnum):
    """Upstream INSi operations, valued by their WSDL operation name."""

    SEARCH_TRAITS = "rechercherInsAvecTraitsIdentite"
    SEARCH_VITALE = "rechercherInsAvecCarteVitale"

    @property
    def action(self) -> str:
        """The ``wsa:Action`` / SOAP 1.2 action URI of the request."""
        return f"urn:ServiceIdentiteCertifiee:1.0.0:{self.value}"


class CertificateMode(enum.StrEnum):
    """Which establishment certificate a call uses (its CN)."""

    MANU = "INSI-MANU"  # a person triggered the call
    AUTO = "INSI-AUTO"  # unattended call (batch, automatic)


class ResultCode(enum.StrEnum):
    """``CR/CodeCR`` of a ``RESULTAT``."""

    FOUND = "00"
    NOT_FOUND = "01"
    MULTIPLE = "02"

    @property
    def status(self) -> str:
        return _STATUS_BY_CODE[self]


_STATUS_BY_CODE = {
    ResultCode.FOUND: "found",
    ResultCode.NOT_FOUND: "not_found",
    ResultCode.MULTIPLE: "multiple",
}


@dataclass(frozen=True, slots=True)
class TraitsQuery:
    """A search by identity traits, already validated and normalised."""

    birth_name: str
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place: str | None = None


@dataclass(frozen=True, slots=True)
class MatriculeRef:
    """A matricule as a caller gives it (13 characters + key), e.g. read on a Vitale card."""

    number: str
    key: str


@dataclass(frozen=True, slots=True)
class VitaleQuery:
    """A search with Vitale card data (``RECVITALE``); at least one matricule is set.

    The card is only a key to the teleservice: it names a beneficiary, not the
    person at the desk. ``local_identity`` holds the five traits the
    application holds for the patient; only they are compared with the
    official identity (never sent upstream).
    """

    beneficiary: MatriculeRef | None
    holder: MatriculeRef | None
    birth_name: str
    birth_date: str
    birth_rank: str
    local_identity: TraitsQuery | None = None


@dataclass(frozen=True, slots=True)
class IdentityEvidence:
    """The identity document a user of the application says they checked (never sent upstream).

    ``document`` is a code of FR Core's ``fr-core-cs-mode-validation-identity``;
    whether it can qualify an identity is decided in :mod:`gateway.ins.evidence`.
    ``checked_by`` and ``checked_at`` are the application's words, kept as given.
    """

    document: str
    checked_by: str | None = None
    checked_at: str | None = None


class IdentityFlag(enum.StrEnum):
    """Attributes of the local identity (INS référentiel); some forbid calling the teleservice."""

    DOUBTFUL = "douteuse"
    FICTITIOUS = "fictive"
    HOMONYM = "homonyme"

    @property
    def blocks_teleservice(self) -> bool:
        return self in (IdentityFlag.DOUBTFUL, IdentityFlag.FICTITIOUS)


@dataclass(frozen=True, slots=True)
class Ins:
    """An INS: matricule (13 characters), its 2-digit key, and the OID of its kind.

    ``key`` is ``None`` only for a former INS (``INSHISTO``) the teleservice sent
    without ``Cle``, which ``INSi_RESULTAT_INS.xsd`` allows (``Cle`` minOccurs 0).
    """

    matricule: str
    key: str | None
    oid: str
    start_date: str | None = None
    end_date: str | None = None


@dataclass(frozen=True, slots=True)
class OfficialIdentity:
    """The identity traits (TIQ) the teleservice returned."""

    birth_name: str
    first_name: str | None
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place: str | None


@dataclass(frozen=True, slots=True)
class InsResult:
    """A parsed ``RESULTAT``: the report code, and the individual when one was found."""

    code: ResultCode
    label: str
    ins: Ins | None = None
    identity: OfficialIdentity | None = None
    history: tuple[Ins, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class VerifyQuery:
    """An INS the application holds, with the traits it holds for the same person."""

    ins: Ins
    traits: TraitsQuery


@dataclass(frozen=True, slots=True)
class CardAssertion:
    """A checked CPx card assertion (:mod:`gateway.protocol.cpx`): the bytes to relay and
    what the signed part says."""

    relayed: bytes
    """The received bytes from the root element on (any XML declaration dropped): relayed as is."""
    assertion_id: str
    name_id: str
    issuer: str
    issued_at: datetime
    not_on_or_after: datetime | None


@dataclass(frozen=True, slots=True)
class CallContext:
    """Per-call facts that end up in headers, the VIHF and logs (never identity traits)."""

    request_id: str
    message_id: str
    mode: CertificateMode = CertificateMode.MANU
    user_id: str | None = None
    app: str | None = None
    # The calling application's TRE_R02 sector for the VIHF ``secteurActivite`` (None: default).
    activity_sector: str | None = None
    # Called with the wsa:MessageID right before each upstream send (batch jobs pace
    # themselves and record what they sent with it); may raise to send nothing.
    before_send: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
    # CPx mode: the professional's checked card assertion, relayed as received (never logged).
    card: CardAssertion | None = field(default=None, compare=False, repr=False)
    # The identity document the user attests to have checked (QUAL); journaled by type only.
    evidence: IdentityEvidence | None = None

    @property
    def channel(self) -> str:
        """How the call authenticates upstream: ``CPX``, or the certificate mode's value."""
        return "CPX" if self.card is not None else self.mode.value


@dataclass(frozen=True, slots=True)
class SoftwareIdentity:
    """The calling software as the teleservice knows it (``ContexteLPS/LPS`` and the VIHF).

    ``idam`` is the software's INSi authorisation number (``IDAM R="4"``).
    """

    idam: str
    name: str
    version: str
    instance: str

    @property
    def urn(self) -> str:
        """``urn:lps:<name>:<version>``, the ``LPS/Nom`` value."""
        return f"urn:lps:{self.name}:{self.version}"
