"""Answers in the local interfaces' vocabulary, built once for JSON, SOAP and the CLI."""

from __future__ import annotations

from typing import Any

from gateway.matricule import oid_is_test, oid_kind
from gateway.models import Ins, OfficialIdentity, TraitsQuery
from gateway.service import SearchAnswer


def ins_json(ins: Ins) -> dict[str, Any]:
    data: dict[str, Any] = {
        "matricule": ins.matricule,
        "key": ins.key,
        "oid": ins.oid,
        "kind": oid_kind(ins.oid),
        "test": oid_is_test(ins.oid),
    }
    if ins.start_date:
        data["start_date"] = ins.start_date
    if ins.end_date:
        data["end_date"] = ins.end_date
    return data


def identity_json(identity: OfficialIdentity) -> dict[str, Any]:
    return {
        "birth_name": identity.birth_name,
        "first_name": identity.first_name,
        "first_names": list(identity.first_names),
        "sex": identity.sex,
        "birth_date": identity.birth_date,
        "birth_place": identity.birth_place,
    }


def query_json(query: TraitsQuery) -> dict[str, Any]:
    return {
        "birth_name": query.birth_name,
        "first_names": list(query.first_names),
        "sex": query.sex,
        "birth_date": query.birth_date,
        "birth_place": query.birth_place,
    }


def search_answer_json(answer: SearchAnswer) -> dict[str, Any]:
    """The ``POST /v1/ins/search`` answer body."""
    result = answer.result
    return {
        "status": result.code.status,
        "code": result.code.value,
        "label": result.label,
        "ins": ins_json(result.ins) if result.ins else None,
        "identity": identity_json(result.identity) if result.identity else None,
        "history": [ins_json(entry) for entry in result.history],
        "sent": query_json(answer.query),
        "message_id": answer.context.message_id,
        "request_id": answer.context.request_id,
    }
