"""Answers in the local interfaces' vocabulary, built once for JSON, SOAP and the CLI.

``identity_status`` is ``RECUP`` (RNIV: récupérée) only when all five strict
traits the teleservice returned were compared with the person's and agree
(``differences`` and ``unchecked_traits`` empty); ``QUAL`` (qualifiée) when
moreover the application attests a high-trust identity document
(``identity_evidence``); ``CHECK_REQUIRED`` when an INS came back but
something differs or was not compared: a user must check the identity before
the INS is used. See docs/ins-rules.md.

The shapes of these dicts (member names, types, presence) are described once
in :mod:`.shapes` and :mod:`.answer_shapes`; the SOAP types and the OpenAPI
answer schemas follow from them, and tests check these dicts against them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.ins.evidence import qualifies
from gateway.ins.matricule import key_matches, oid_identifier_type, oid_is_test, oid_kind
from gateway.ins.verdicts import Difference, IdentityStatus
from gateway.models import (
    IdentityEvidence,
    Ins,
    OfficialIdentity,
    ResultCode,
    TraitsQuery,
    VitaleQuery,
)
from gateway.render.shapes import MULTIPLE_HINT
from gateway.service import SearchAnswer, VerifyAnswer


def ins_json(ins: Ins) -> dict[str, Any]:
    """An INS and what the gateway knows of it; a former INS may have ``key: null`` (no ``Cle``)."""
    data: dict[str, Any] = {
        "matricule": ins.matricule,
        "key": ins.key,
        "oid": ins.oid,
        "kind": oid_kind(ins.oid),
        "oid_kind": oid_identifier_type(ins.oid),
        "test": oid_is_test(ins.oid),
        "key_valid": key_matches(ins.matricule, ins.key),
    }
    if ins.start_date:
        data["start_date"] = ins.start_date
    if ins.end_date:
        data["end_date"] = ins.end_date
    return data


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the millisecond: ``2026-11-27T18:40:00.123Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _status(status: IdentityStatus | None) -> str | None:
    return status.value if status is not None else None


def differences_json(differences: tuple[Difference, ...]) -> list[dict[str, Any]]:
    return [{"field": d.field, "given": d.given, "official": d.official} for d in differences]


def evidence_json(evidence: IdentityEvidence | None) -> dict[str, Any] | None:
    """The attested document as received, and whether it can qualify (RNIV high-trust)."""
    if evidence is None:
        return None
    return {
        "document": evidence.document,
        "checked_by": evidence.checked_by,
        "checked_at": evidence.checked_at,
        "qualifying": qualifies(evidence),
    }


def identity_json(identity: OfficialIdentity) -> dict[str, Any]:
    return {
        "birth_name": identity.birth_name,
        "first_name": identity.first_name,
        "first_names": list(identity.first_names),
        "sex": identity.sex,
        "birth_date": identity.birth_date,
        "birth_place": identity.birth_place,
    }


def query_json(query: TraitsQuery | VitaleQuery) -> dict[str, Any]:
    """What was sent, normalised, so the application sees what the teleservice saw."""
    if isinstance(query, VitaleQuery):
        held = query.local_identity
        return {
            "beneficiary_matricule": _ref(query.beneficiary),
            "holder_matricule": _ref(query.holder),
            "birth_name": query.birth_name,
            "birth_date": query.birth_date,
            "birth_rank": query.birth_rank,
            "local_identity": query_json(held) if held is not None else None,
        }
    return {
        "birth_name": query.birth_name,
        "first_names": list(query.first_names),
        "sex": query.sex,
        "birth_date": query.birth_date,
        "birth_place": query.birth_place,
    }


def _ref(ref: Any) -> str | None:
    return f"{ref.number}{ref.key}" if ref else None


def search_answer_json(answer: SearchAnswer) -> dict[str, Any]:
    """The answer of both searches (traits, Vitale)."""
    result = answer.result
    data: dict[str, Any] = {
        "status": result.code.status,
        "code": result.code.value,
        "label": result.label,
        "ins": ins_json(result.ins) if result.ins else None,
        "identity": identity_json(result.identity) if result.identity else None,
        "identity_status": _status(answer.identity_status),
        "differences": differences_json(answer.differences),
        "unchecked_traits": list(answer.unchecked_traits),
        "identity_evidence": evidence_json(answer.context.evidence),
        "history": [ins_json(entry) for entry in result.history],
        "sent": query_json(answer.query),
        "message_id": answer.context.message_id,
        "request_id": answer.context.request_id,
        "queried_at": timestamp(answer.queried_at),
    }
    if answer.attempts:
        data["attempts"] = [
            {"first_names": a.first_names, "code": a.code.value, "message_id": a.message_id}
            for a in answer.attempts
        ]
    if result.code is ResultCode.MULTIPLE:
        data["hint"] = MULTIPLE_HINT
    return data


def verify_answer_json(answer: VerifyAnswer) -> dict[str, Any]:
    """The verdict, the differences with their official values, and the official identity."""
    search = search_answer_json(answer.search)
    return {
        "verdict": answer.verdict.value,
        "differences": differences_json(answer.differences),
        "ins": search["ins"],
        "identity": search["identity"],
        "identity_status": _status(answer.identity_status),
        "unchecked_traits": list(answer.unchecked_traits),
        "identity_evidence": search["identity_evidence"],
        "history": search["history"],
        "attempts": search.get("attempts", []),
        "hint": search.get("hint"),
        "message_id": search["message_id"],
        "request_id": search["request_id"],
        "queried_at": search["queried_at"],
    }
