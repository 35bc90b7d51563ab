"""Which answers need a person, derived from the answer dicts the interfaces already return.

Read from the dict (JSON, SOAP and batch rows all carry the same keys) and never from
the core's objects, so that a change of the answer's shape touches one reader here.
Only the *names* of traits are kept, never their values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """Why a person must look; one kind per answer, the most specific first."""

    MULTIPLE = "multiple"  # several identities match: none can be used
    SUPERSEDED = "superseded"  # the INS held was replaced (NIA to NIR, a former NIR)
    MISMATCH = "mismatch"  # the INS held and the traits do not agree
    KEY_INVALID = "key_invalid"  # the INS returned has a key that does not verify
    CHECK_REQUIRED = "check_required"  # an INS came back, but a trait differs or went unchecked


KINDS_FR = {
    Kind.MULTIPLE: "Identités multiples",
    Kind.SUPERSEDED: "INS remplacé",
    Kind.MISMATCH: "Discordance",
    Kind.KEY_INVALID: "Clé INS invalide",
    Kind.CHECK_REQUIRED: "Vérification requise",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """What an answer asks a person to look at: kind, trait names, the INS to hash."""

    kind: Kind
    traits: tuple[str, ...]  # the fields that differ (``differences[].field``)
    unchecked: tuple[str, ...]  # strict traits not compared (``unchecked_traits``)
    matricule: str | None  # in clear here, hashed before it is stored
    message_id: str | None
    request_id: str | None


def finding(answer: Mapping[str, Any]) -> Finding | None:
    """The finding of one answer (search, verify or batch row), or None when all is well."""
    kind = _kind(answer)
    if kind is None:
        return None
    ins = answer.get("ins") if isinstance(answer.get("ins"), Mapping) else None
    differences = answer.get("differences") or []
    return Finding(
        kind=kind,
        traits=tuple(
            dict.fromkeys(
                str(d.get("field"))
                for d in differences
                if isinstance(d, Mapping) and d.get("field")
            )
        ),
        unchecked=tuple(str(name) for name in answer.get("unchecked_traits") or ()),
        matricule=str(ins["matricule"]) if ins and ins.get("matricule") else None,
        message_id=_text(answer.get("message_id")),
        request_id=_text(answer.get("request_id")),
    )


def _kind(answer: Mapping[str, Any]) -> Kind | None:
    verdict, status = answer.get("verdict"), answer.get("status")
    ins = answer.get("ins")
    if verdict == "multiple" or status == "multiple":
        return Kind.MULTIPLE
    if verdict == "superseded":
        return Kind.SUPERSEDED
    if verdict == "mismatch":
        return Kind.MISMATCH
    if isinstance(ins, Mapping) and ins.get("key_valid") is False:
        return Kind.KEY_INVALID
    if answer.get("identity_status") == "CHECK_REQUIRED":
        return Kind.CHECK_REQUIRED
    return None


def _text(value: object) -> str | None:
    return str(value) if value else None
