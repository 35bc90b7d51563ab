"""The batch form of verification: up to 100 identities in one call, each answered on its own.

An item that is invalid, or whose upstream call fails, gets its own problem
document in place of a verdict; it never fails the other items.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway.exceptions import GatewayError, InvalidInput
from gateway.ids import new_message_id
from gateway.ins.queries import attested, verify_query
from gateway.models import CallContext
from gateway.render.answers import verify_answer_json
from gateway.render.problems import problem_document
from gateway.service import InsService

MAX_BATCH_ITEMS = 100


def verify_batch(
    service: InsService, items: list[Any], *, context: CallContext
) -> list[dict[str, Any]]:
    """One result per item, in order, each tagged with its ``index``."""
    if not items or len(items) > MAX_BATCH_ITEMS:
        raise InvalidInput("body", f"a batch holds 1 to {MAX_BATCH_ITEMS} identities")
    return [_verify_one(service, index, item, context) for index, item in enumerate(items)]


def _verify_one(service: InsService, index: int, item: Any, batch: CallContext) -> dict[str, Any]:
    item_request_id = f"{batch.request_id}#{index}"
    try:
        if not isinstance(item, dict):
            raise InvalidInput(f"[{index}]", "must be a JSON object")
        query = verify_query(item)
        context = replace(batch, request_id=item_request_id, message_id=new_message_id())
        context = attested(context, item)
        return {"index": index, **verify_answer_json(service.verify(query, context))}
    except GatewayError as error:
        service.trail.refusal(
            error,
            request_id=item_request_id,
            operation="verify",
            app=batch.app,
            user_id=batch.user_id,
        )
        return {"index": index, "error": problem_document(error, request_id=item_request_id)}
