"""Verifying an INS held locally against what the teleservice answers for the same traits.

The teleservice has no "verify" operation: verification is a traits search
whose answer is compared with the INS and traits the application holds.
A matricule found in the history means the application holds an older INS
(``superseded``); any trait that differs is listed with its official value
so the application can correct its record.

The same comparison gives every answer its RNIV status (:func:`identity_status`):
``RECUP`` only when all five strict traits were compared and agree with the
person's, ``QUAL`` when moreover the application attests a high-trust identity
document (:mod:`gateway.ins.evidence`), ``CHECK_REQUIRED`` when an INS came
back but something differs or could not be compared (``unchecked``). A status
never says more than was checked: docs/ins-rules.md has the table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.ins.evidence import qualifies
from gateway.ins.traits import comparable_name
from gateway.models import (
    IdentityEvidence,
    Ins,
    InsResult,
    OfficialIdentity,
    ResultCode,
    TraitsQuery,
)

# The five strict traits, in the order answers list them (``unchecked_traits``).
STRICT_TRAITS = ("birth_name", "first_names", "sex", "birth_date", "birth_place")


class Verdict(enum.StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    SUPERSEDED = "superseded"
    NOT_FOUND = "not_found"
    MULTIPLE = "multiple"


class IdentityStatus(enum.StrEnum):
    """The status an answer gives the identity it returns (``identity_status``).

    ``RECUP`` (RNIV: identité récupérée) only once all five returned strict traits
    were compared with the person's and agree; ``QUAL`` (qualifiée) when moreover
    the application attests a high-trust identity document; ``CHECK_REQUIRED``
    when an INS was returned but a trait (or the INS held) differs or could not
    be compared: the RNIV and the ANS INS guide forbid integrating such an INS
    until a user has checked the identity.
    """

    QUAL = "QUAL"
    RECUP = "RECUP"
    CHECK_REQUIRED = "CHECK_REQUIRED"


@dataclass(frozen=True, slots=True)
class Difference:
    """One field whose held value differs from the official one."""

    field: str
    given: object
    official: object


@dataclass(frozen=True, slots=True)
class Comparison:
    """Held traits against the official ones: what differs, and what could not be compared."""

    differences: tuple[Difference, ...] = ()
    unchecked: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Every strict trait compared, and all agree."""
        return not self.differences and not self.unchecked


NOTHING_COMPARED = Comparison(unchecked=STRICT_TRAITS)


def identity_status(
    result: InsResult, comparison: Comparison, evidence: IdentityEvidence | None = None
) -> IdentityStatus | None:
    """``None`` without a single identity; ``QUAL``/``RECUP`` only on a complete comparison.

    Evidence never upgrades ``CHECK_REQUIRED``: it only lifts a complete
    comparison from ``RECUP`` to ``QUAL``, and only for a qualifying document.
    """
    if result.code is not ResultCode.FOUND or result.identity is None:
        return None
    if not comparison.complete:
        return IdentityStatus.CHECK_REQUIRED
    return IdentityStatus.QUAL if qualifies(evidence) else IdentityStatus.RECUP


def judge(
    held: Ins, traits: TraitsQuery, result: InsResult
) -> tuple[Verdict, tuple[Difference, ...]]:
    """The verdict for ``held``/``traits`` given the search ``result``."""
    if result.code is ResultCode.NOT_FOUND:
        return Verdict.NOT_FOUND, ()
    if result.code is ResultCode.MULTIPLE or result.ins is None or result.identity is None:
        return Verdict.MULTIPLE, ()
    differences = compare(traits, result.identity).differences
    if _same_ins(held, result.ins):
        if held.oid != result.ins.oid:  # same number, other kind (e.g. a NIA held for a NIR)
            differences = (Difference("ins.oid", held.oid, result.ins.oid), *differences)
        return (Verdict.MISMATCH if differences else Verdict.VERIFIED), differences
    if any(_is_former(held, old) for old in result.history):
        return Verdict.SUPERSEDED, differences
    ins_difference = Difference(
        "ins",
        {"matricule": held.matricule, "key": held.key},
        {"matricule": result.ins.matricule, "key": result.ins.key},
    )
    return Verdict.MISMATCH, (ins_difference, *differences)


def _same_ins(a: Ins, b: Ins) -> bool:
    return (a.matricule, a.key) == (b.matricule, b.key)


def _is_former(held: Ins, old: Ins) -> bool:
    """``old``, a history entry, is the INS held; an entry sent without ``Cle``
    (``INSi_RESULTAT_INS.xsd``: minOccurs 0) is matched on its ``NumIdentifiant`` alone."""
    if old.key is None:
        return held.matricule == old.matricule
    return _same_ins(held, old)


def compare(held: TraitsQuery | None, official: OfficialIdentity) -> Comparison:
    """The five strict traits held against the official ones, after normalisation.

    A trait missing on either side (no birth place sent, none returned, no
    first name returned) is *unchecked*, never taken as agreeing. Nothing held
    (a Vitale search without ``local_identity``): nothing compared.
    """
    if held is None:
        return NOTHING_COMPARED
    differences: list[Difference] = []
    unchecked: list[str] = []
    if comparable_name(held.birth_name) != comparable_name(official.birth_name):
        differences.append(Difference("birth_name", held.birth_name, official.birth_name))
    official_names = official.first_names or ((official.first_name,) if official.first_name else ())
    if not official_names:
        unchecked.append("first_names")
    elif not _first_names_agree(held.first_names, official_names):
        differences.append(Difference("first_names", list(held.first_names), list(official_names)))
    if held.sex != official.sex:
        differences.append(Difference("sex", held.sex, official.sex))
    if held.birth_date != official.birth_date:
        differences.append(Difference("birth_date", held.birth_date, official.birth_date))
    if held.birth_place is None or official.birth_place is None:
        unchecked.append("birth_place")
    elif held.birth_place != official.birth_place:
        differences.append(Difference("birth_place", held.birth_place, official.birth_place))
    return Comparison(tuple(differences), tuple(unchecked))


def _first_names_agree(held: tuple[str, ...], official: tuple[str, ...]) -> bool:
    """One held first name must be the official first first name; several, the whole list."""
    held_names = [comparable_name(name) for name in held]
    official_names = [comparable_name(name) for name in official]
    if len(held_names) == 1:
        return held_names[0] == official_names[0]
    return held_names == official_names
