"""The error table: every exception class has a row, and statuses follow the contract."""

from __future__ import annotations

import inspect

import pytest

from gateway import exceptions
from gateway.render.problems import PROBLEMS, problem_document, problem_kind


def _all_gateway_errors() -> set[type[exceptions.GatewayError]]:
    return {
        cls
        for _, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, exceptions.GatewayError)
    }


def test_every_exception_class_has_its_row() -> None:
    missing = _all_gateway_errors() - set(PROBLEMS)
    assert not missing, f"no problem mapping for {sorted(c.__name__ for c in missing)}"


def test_every_problem_type_is_distinct() -> None:
    slugs = [kind.slug for kind in PROBLEMS.values()]
    assert len(slugs) == len(set(slugs))


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (exceptions.InvalidInput("sex", "must be 'F' or 'M'"), 400),
        (exceptions.MalformedRequest("not JSON"), 400),
        (exceptions.AuthenticationFailed("no key"), 401),
        (exceptions.UpstreamFault("refused", code="soap:Sender", error_code="DESIR_560"), 502),
        (exceptions.UpstreamBadResponse("html", http_status=500), 502),
        (exceptions.UpstreamUnavailable("refused"), 503),
        (exceptions.UpstreamTimeout("slow"), 504),
    ],
)
def test_statuses_follow_the_interface_contract(
    error: exceptions.GatewayError, status: int
) -> None:
    assert problem_kind(error).status == status
    assert problem_document(error, request_id="r")["status"] == status


def test_invalid_input_names_the_field() -> None:
    document = problem_document(exceptions.InvalidInput("birth_date", "impossible"), request_id="r")
    assert (document["field"], document["reason"]) == ("birth_date", "impossible")


def test_fault_codes_are_carried() -> None:
    fault = exceptions.UpstreamFault(
        "IDAM inconnu", code="soap:Sender", subcode="siram_100", error_code="desir_550"
    )
    upstream = problem_document(fault, request_id="r")["upstream"]
    assert (upstream["subcode"], upstream["error_code"]) == ("siram_100", "desir_550")


def test_a_bug_is_reported_without_detail() -> None:
    document = problem_document(KeyError("secret-ish internal detail"), request_id="r")
    assert document["status"] == 500
    assert "secret" not in str(document)


def test_builtin_bases_let_callers_catch_naturally() -> None:
    assert issubclass(exceptions.UpstreamTimeout, TimeoutError)
    assert issubclass(exceptions.UpstreamUnavailable, ConnectionError)
    assert issubclass(exceptions.InvalidInput, ValueError)
