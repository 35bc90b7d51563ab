"""From request fields to core queries: the one mapping both local interfaces use.

JSON and SOAP adapters hand a plain mapping of field names (the JSON names)
to these functions; every rule lives in :mod:`gateway.ins.traits` or here, so no
adapter validates anything itself.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from gateway.exceptions import IdentityNotEligible, InvalidInput
from gateway.ins.evidence import identity_evidence
from gateway.ins.matricule import key_matches
from gateway.ins.traits import (
    TRAITS_FIELDS,
    normalise_name,
    traits_query,
    validate_birth_date,
)
from gateway.models import (
    CallContext,
    IdentityFlag,
    Ins,
    MatriculeRef,
    TraitsQuery,
    VerifyQuery,
    VitaleQuery,
)

_MATRICULE = re.compile(r"[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{6}")
_KEY = re.compile(r"[0-9]{2}")
_OID = re.compile(r"[0-9]+(?:\.[0-9]+){2,}")
_RANK = re.compile(r"[1-9]")

EVIDENCE_FIELD = "identity_evidence"
SEARCH_FIELDS = TRAITS_FIELDS | {"flags", EVIDENCE_FIELD}
VERIFY_FIELDS = TRAITS_FIELDS | {"flags", "ins", EVIDENCE_FIELD}
VITALE_FIELDS = frozenset(
    {"beneficiary_matricule", "holder_matricule", "birth_name", "birth_date", "birth_rank", "flags"}
    | {"local_identity", EVIDENCE_FIELD}
)


def _reject_unknown(fields: Mapping[str, object], known: frozenset[str]) -> None:
    unknown = sorted(set(fields) - known)
    if unknown:
        raise InvalidInput(unknown[0], "is not a known field")


def identity_flags(value: object) -> frozenset[IdentityFlag]:
    """The local identity's flags; raises :class:`IdentityNotEligible` for a blocking one."""
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput("flags", "must be a list of strings")
    try:
        flags = frozenset(IdentityFlag(item.lower()) for item in value)
    except ValueError:
        allowed = ", ".join(flag.value for flag in IdentityFlag)
        raise InvalidInput("flags", f"unknown flag (allowed: {allowed})") from None
    blocking = sorted(flag.value for flag in flags if flag.blocks_teleservice)
    if blocking:
        raise IdentityNotEligible(tuple(blocking))
    return flags


def search_query(fields: Mapping[str, object]) -> TraitsQuery:
    """``POST /v1/ins/search``: traits (and the flags, checked before anything is sent)."""
    _reject_unknown(fields, SEARCH_FIELDS)
    query = traits_query(fields)
    identity_flags(fields.get("flags"))
    identity_evidence(fields.get(EVIDENCE_FIELD))
    return query


def attested(context: CallContext, fields: Mapping[str, object]) -> CallContext:
    """``context`` with the identity document the request attests (``identity_evidence``).

    The evidence is never sent upstream: it decides whether a fully agreeing
    identity is ``QUAL`` (:mod:`gateway.ins.evidence`) and is journaled by type.
    """
    evidence = identity_evidence(fields.get(EVIDENCE_FIELD))
    return context if evidence is None else dataclasses.replace(context, evidence=evidence)


def local_identity(value: object) -> TraitsQuery | None:
    """A Vitale search's ``local_identity``: the five traits held, validated like a search."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput("local_identity", "must be an object with the five identity traits")
    unknown = sorted(set(value) - TRAITS_FIELDS)
    if unknown:
        raise InvalidInput(f"local_identity.{unknown[0]}", "is not a known field")
    try:
        return traits_query(value)
    except InvalidInput as error:
        raise InvalidInput(f"local_identity.{error.field}", error.reason) from None


def matricule_ref(field: str, value: object, *, check_key: bool = True) -> MatriculeRef:
    """A 15-character matricule+key (spaces allowed, as printed on a card).

    The key must verify (97-mod), unless ``check_key`` is false: see :func:`verify_query`.
    """
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string of 13 characters and a 2-digit key")
    compact = value.replace(" ", "").upper()
    number, key = compact[:13], compact[13:]
    if not _MATRICULE.fullmatch(number) or not _KEY.fullmatch(key):
        raise InvalidInput(field, "must be 13 characters (digits, 2A/2B) and a 2-digit key")
    if check_key and not key_matches(number, key):
        raise InvalidInput(field, "key does not match the matricule")
    return MatriculeRef(number, key)


def vitale_query(fields: Mapping[str, object]) -> VitaleQuery:
    """``POST /v1/ins/search/vitale``: card data; at least one of the two matricules."""
    _reject_unknown(fields, VITALE_FIELDS)
    beneficiary = fields.get("beneficiary_matricule")
    holder = fields.get("holder_matricule")
    if not beneficiary and not holder:
        raise InvalidInput("holder_matricule", "a beneficiary or holder matricule is required")
    for name in ("birth_name", "birth_date", "birth_rank"):
        if fields.get(name) is None:
            raise InvalidInput(name, "is required")
    identity_flags(fields.get("flags"))
    held = local_identity(fields.get("local_identity"))
    identity_evidence(fields.get(EVIDENCE_FIELD))
    rank = fields["birth_rank"]
    if isinstance(rank, int) and not isinstance(rank, bool):
        rank = str(rank)
    if not isinstance(rank, str) or not _RANK.fullmatch(rank):
        raise InvalidInput("birth_rank", "must be the birth rank on the card, 1 to 9")
    return VitaleQuery(
        beneficiary=matricule_ref("beneficiary_matricule", beneficiary) if beneficiary else None,
        holder=matricule_ref("holder_matricule", holder) if holder else None,
        birth_name=normalise_name("birth_name", fields["birth_name"]),
        birth_date=validate_birth_date("birth_date", fields["birth_date"]),
        birth_rank=rank,
        local_identity=held,
    )


def verify_query(fields: Mapping[str, object]) -> VerifyQuery:
    """``POST /v1/ins/verify``: the INS held locally and the traits held with it.

    The held key is not required to verify: the application may hold an INS
    whose key fails the 97-mod check because the teleservice itself returned it
    so (the teleservice is the authority). Verification is a traits search that
    never sends the held INS, so nothing wrong goes upstream; the answer says
    whether the teleservice returns that very INS (``verified``, with
    ``key_valid: false``) or another one (``mismatch``).
    """
    _reject_unknown(fields, VERIFY_FIELDS)
    held = fields.get("ins")
    if not isinstance(held, Mapping):
        raise InvalidInput("ins", "must be an object with matricule, key and oid")
    matricule_and_key = f"{held.get('matricule', '')}{held.get('key', '')}"
    ref = matricule_ref("ins.matricule", matricule_and_key, check_key=False)
    oid = held.get("oid")
    if not isinstance(oid, str) or not _OID.fullmatch(oid):
        raise InvalidInput("ins.oid", "must be an OID such as 1.2.250.1.213.1.4.8")
    traits = traits_query({k: v for k, v in fields.items() if k in TRAITS_FIELDS})
    identity_flags(fields.get("flags"))
    identity_evidence(fields.get(EVIDENCE_FIELD))
    return VerifyQuery(ins=Ins(ref.number, ref.key, oid), traits=traits)
