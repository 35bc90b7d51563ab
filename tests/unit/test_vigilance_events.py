"""Which answers become vigilance events, from the answer dicts alone; the CSV export's escaping."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.vigilance.events import Kind, finding
from gateway.vigilance.review import csv_cell

INS = {"matricule": "2751263220749", "key": "74", "oid": "1.2.250.1.213.1.4.8", "key_valid": True}


def _answer(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": "found",
        "ins": INS,
        "identity_status": "RECUP",
        "differences": [],
        "message_id": "m-1",
        "request_id": "r-1",
    }
    return {**base, **fields}


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({}, None),
        ({"status": "not_found", "ins": None, "identity_status": None}, None),
        ({"verdict": "verified"}, None),
        ({"status": "multiple", "ins": None, "identity_status": None}, Kind.MULTIPLE),
        ({"verdict": "multiple", "ins": None}, Kind.MULTIPLE),
        ({"verdict": "superseded"}, Kind.SUPERSEDED),
        ({"verdict": "mismatch", "identity_status": "CHECK_REQUIRED"}, Kind.MISMATCH),
        ({"ins": {**INS, "key_valid": False}}, Kind.KEY_INVALID),
        ({"identity_status": "CHECK_REQUIRED"}, Kind.CHECK_REQUIRED),
        ({"identity_status": "QUAL"}, None),
    ],
)
def test_the_kind_of_an_answer(fields: dict[str, Any], kind: Kind | None) -> None:
    found = finding(_answer(**fields))
    assert (found.kind if found else None) == kind


def test_only_trait_names_are_kept_never_values() -> None:
    answer = _answer(
        identity_status="CHECK_REQUIRED",
        differences=[
            {"field": "first_names", "given": ["OLA"], "official": ["CATARINA"]},
            {"field": "birth_date", "given": "1975-12-30", "official": "1975-12-31"},
        ],
        unchecked_traits=["birth_place"],
    )

    found = finding(answer)

    assert found is not None
    assert (found.traits, found.unchecked) == (("first_names", "birth_date"), ("birth_place",))
    assert (found.matricule, found.message_id, found.request_id) == (INS["matricule"], "m-1", "r-1")
    assert "OLA" not in repr(found)
    assert "1975" not in repr(found)


def test_a_batch_row_without_unchecked_traits_reads_fine() -> None:
    row = {"verdict": "mismatch", "ins": None, "differences": None, "message_id": None}
    found = finding(row)
    assert found is not None
    assert (found.traits, found.matricule) == ((), None)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("IPP-1", "IPP-1"),
        (None, ""),
        (["birth_name", "sex"], "birth_name;sex"),
        (3, "3"),
    ],
)
def test_csv_cells_never_start_a_formula(value: object, cell: str) -> None:
    assert csv_cell(value) == cell
