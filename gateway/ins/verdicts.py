"""Verifying an INS held locally against what the teleservice answers for the same traits.

The teleservice has no "verify" operation: verification is a traits search
whose answer is compared with the INS and traits the application holds.
A matricule found in the history means the application holds an older INS
(``superseded``); any trait that differs is listed with its official value
so the application can correct its record.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.models import Ins, InsResult, OfficialIdentity, ResultCode, TraitsQuery


class Verdict(enum.StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    SUPERSEDED = "superseded"
    NOT_FOUND = "not_found"
    MULTIPLE = "multiple"


@dataclass(frozen=True, slots=True)
class Difference:
    """One field whose held value differs from the official one."""

    field: str
    given: object
    official: object


def judge(
    held: Ins, traits: TraitsQuery, result: InsResult
) -> tuple[Verdict, tuple[Difference, ...]]:
    """The verdict for ``held``/``traits`` given the search ``result``."""
    if result.code is ResultCode.NOT_FOUND:
        return Verdict.NOT_FOUND, ()
    if result.code is ResultCode.MULTIPLE or result.ins is None or result.identity is None:
        return Verdict.MULTIPLE, ()
    differences = _trait_differences(traits, result.identity)
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


def _trait_differences(traits: TraitsQuery, official: OfficialIdentity) -> tuple[Difference, ...]:
    pairs: list[tuple[str, object, object]] = [
        ("birth_name", traits.birth_name, official.birth_name),
        ("first_names", list(traits.first_names), list(official.first_names)),
        ("sex", traits.sex, official.sex),
        ("birth_date", traits.birth_date, official.birth_date),
    ]
    if traits.birth_place is not None:  # not held locally: nothing to compare
        pairs.append(("birth_place", traits.birth_place, official.birth_place))
    return tuple(Difference(name, given, value) for name, given, value in pairs if given != value)
