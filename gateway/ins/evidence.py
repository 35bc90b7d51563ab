"""The identity document an application attests: which codes exist, which can qualify.

An INS is *qualified* (RNIV status ``QUAL``) only when it was retrieved or
verified through INSi **and** the identity was validated on a high-trust
identification device. The gateway cannot see the document: the application
attests that a user checked one (``identity_evidence``), and the gateway
decides whether that kind of document can qualify at all.

Codes: FR Core's ``fr-core-cs-mode-validation-identity``
(Interop-Sante/hl7.fhir.fr.core,
``input/fsh/codesystems/FRCoreCodeSystemIdentityModeValidation.fsh``). Any
other code is refused (400, field ``identity_evidence.document``).

Which ones qualify, by the *Référentiel national d'identitovigilance* (RNIV,
volet 1, 2024 edition: section 3.3.2 lists the high-trust devices, 3.3.3 the
special cases):

- qualify: ``PA`` passport, ``CN`` national identity card, ``eCN`` electronic
  identity card, ``CS`` residence permit;
- accepted but never qualify: ``AN``, ``LEP`` (birth certificate, family
  record book: for a minor only *with* a parent's high-trust device, which
  the code does not say), ``LECV``, ``ANCV`` (only for a direct admission to
  a nursing home, which the gateway cannot know), ``CC`` (a foreign minor's
  travel document: a special case), ``IN`` and ``AV`` (digital identities
  whose recognition the RNIV edition read does not settle). The safer reading
  for patient identity: these leave the status at ``RECUP`` at most, and the
  answer says so (``qualifying: false``). docs/ins-rules.md gives the table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from gateway.exceptions import InvalidInput
from gateway.models import IdentityEvidence

# fr-core-cs-mode-validation-identity: every code, with its meaning (for the docs and errors).
DOCUMENTS: Final = {
    "CN": "carte nationale d'identité",
    "PA": "passeport",
    "CS": "carte de séjour ou titre de séjour",
    "eCN": "e-carte d'identité",
    "IN": "Identité Numérique La Poste",
    "AV": "application carte Vitale",
    "LECV": "livret de famille, avec la carte Vitale avec photographie",
    "AN": "extrait d'acte de naissance",
    "LEP": "livret de famille des parents",
    "CC": "carnet de circulation pour étranger mineur",
    "ANCV": "acte de naissance, avec la carte Vitale avec photographie",
}
# RNIV volet 1, 3.3.2: the high-trust identification devices.
QUALIFYING: Final = frozenset({"PA", "CN", "eCN", "CS"})
EVIDENCE_FIELDS: Final = frozenset({"document", "checked_by", "checked_at"})
_CHECKED_AT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
MAX_CHECKED_BY = 128


def qualifies(evidence: IdentityEvidence | None) -> bool:
    """Whether ``evidence`` names a document that can make a fully agreeing identity ``QUAL``."""
    return evidence is not None and evidence.document in QUALIFYING


def identity_evidence(value: object, field: str = "identity_evidence") -> IdentityEvidence | None:
    """``identity_evidence`` of a request: absent or null, or an object with ``document``."""
    if value is None:
        return None
    if isinstance(value, str):  # a CSV cell or a plain code: the document alone
        value = {"document": value}
    if not isinstance(value, Mapping):
        raise InvalidInput(field, "must be an object with document (and checked_by, checked_at)")
    unknown = sorted(set(value) - EVIDENCE_FIELDS)
    if unknown:
        raise InvalidInput(f"{field}.{unknown[0]}", "is not a known field")
    document = value.get("document")
    if not isinstance(document, str) or document.strip() not in DOCUMENTS:
        codes = ", ".join(DOCUMENTS)
        raise InvalidInput(
            f"{field}.document",
            f"must be a code of fr-core-cs-mode-validation-identity ({codes})",
        )
    return IdentityEvidence(
        document=document.strip(),
        checked_by=_checked_by(f"{field}.checked_by", value.get("checked_by")),
        checked_at=_checked_at(f"{field}.checked_at", value.get("checked_at")),
    )


def _checked_by(field: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_CHECKED_BY:
        raise InvalidInput(field, f"must be a string of at most {MAX_CHECKED_BY} characters")
    return value


def _checked_at(field: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CHECKED_AT.fullmatch(value):
        raise InvalidInput(field, "must be a date (YYYY-MM-DD) or an ISO 8601 date-time")
    return value
