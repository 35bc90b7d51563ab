"""Verifying an INS held locally against what the teleservice answers for the same traits.

The teleservice has no "verify" operation: verification is a traits search
whose answer is compared with the INS and traits the application holds.
A matricule found in the history means the application holds an older INS
(``superseded``); any trait that differs is listed with its official value
so the application can correct its record.

The same comparison gives every answer its RNIV status (:func:`identity_status`):
``RECUP`` only when the returned strict traits agree with the person's,
``CHECK_REQUIRED`` when an INS came back but something differs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.ins.traits import comparable_name
from gateway.models import (
    Ins,
    InsResult,
    OfficialIdentity,
    ResultCode,
    TraitsQuery,
    VitaleQuery,
)


class Verdict(enum.StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    SUPERSEDED = "superseded"
    NOT_FOUND = "not_found"
    MULTIPLE = "multiple"


class IdentityStatus(enum.StrEnum):
    """The status an answer gives the identity it returns (``identity_status``).

    ``RECUP`` (RNIV: identité récupérée) only once the returned strict traits were
    compared with the person's and agree; ``CHECK_REQUIRED`` when an INS was
    returned but a trait (or the INS held) differs: the RNIV and the ANS INS guide
    forbid integrating such an INS until a user has checked the identity.
    """

    RECUP = "RECUP"
    CHECK_REQUIRED = "CHECK_REQUIRED"


@dataclass(frozen=True, slots=True)
class Difference:
    """One field whose held value differs from the official one."""

    field: str
    given: object
    official: object


def identity_status(
    result: InsResult, differences: tuple[Difference, ...]
) -> IdentityStatus | None:
    """``None`` without a single identity; ``RECUP`` if nothing differs, else ``CHECK_REQUIRED``."""
    if result.code is not ResultCode.FOUND or result.identity is None:
        return None
    return IdentityStatus.CHECK_REQUIRED if differences else IdentityStatus.RECUP


def judge(
    held: Ins, traits: TraitsQuery, result: InsResult
) -> tuple[Verdict, tuple[Difference, ...]]:
    """The verdict for ``held``/``traits`` given the search ``result``."""
    if result.code is ResultCode.NOT_FOUND:
        return Verdict.NOT_FOUND, ()
    if result.code is ResultCode.MULTIPLE or result.ins is None or result.identity is None:
        return Verdict.MULTIPLE, ()
    differences = trait_differences(traits, result.identity)
    if _same_ins(held, result.ins):
        if held.oid != result.ins.oid:  # same number, other kind (e.g. a NIA held for a NIR)
            differences = (Difference("ins.oid", held.oid, result.ins.oid), *differences)
        return (Verdict.MISMATCH if differences else Verdict.VERIFIED), differences
    if any(_same_ins(held, old) for old in result.history):
        return Verdict.SUPERSEDED, differences
    ins_difference = Difference(
        "ins",
        {"matricule": held.matricule, "key": held.key},
        {"matricule": result.ins.matricule, "key": result.ins.key},
    )
    return Verdict.MISMATCH, (ins_difference, *differences)


def _same_ins(a: Ins, b: Ins) -> bool:
    return (a.matricule, a.key) == (b.matricule, b.key)


def trait_differences(
    held: TraitsQuery | VitaleQuery, official: OfficialIdentity
) -> tuple[Difference, ...]:
    """Every held strict trait that differs from the official one, after normalisation.

    Compared: birth name, first names (:func:`_first_names_agree`), sex, birth
    date, and the birth place when it is held. A Vitale search holds only the
    birth name and date (the card's data), so only those are compared.
    """
    differences: list[Difference] = []
    if comparable_name(held.birth_name) != comparable_name(official.birth_name):
        differences.append(Difference("birth_name", held.birth_name, official.birth_name))
    if isinstance(held, TraitsQuery):
        official_names = official.first_names or (official.first_name or "",)
        if not _first_names_agree(held.first_names, official_names):
            differences.append(
                Difference("first_names", list(held.first_names), list(official_names))
            )
        if held.sex != official.sex:
            differences.append(Difference("sex", held.sex, official.sex))
    if held.birth_date != official.birth_date:
        differences.append(Difference("birth_date", held.birth_date, official.birth_date))
    held_place = held.birth_place if isinstance(held, TraitsQuery) else None
    if held_place is not None and held_place != official.birth_place:
        differences.append(Difference("birth_place", held_place, official.birth_place))
    return tuple(differences)


def _first_names_agree(held: tuple[str, ...], official: tuple[str, ...]) -> bool:
    """One held first name must be the official first first name; several, the whole list."""
    held_names = [comparable_name(name) for name in held]
    official_names = [comparable_name(name) for name in official]
    if len(held_names) == 1:
        return held_names[0] == official_names[0]
    return held_names == official_names
