"""gateway.jobs.spool: every row is read and checked before any is given back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.exceptions import InvalidInput
from gateway.jobs import NewRow
from gateway.jobs.spool import spooled

ROWS = [
    NewRow(1, "P1", "verify", {"birth_name": "ÉLODIE", "first_names": ["A", "B"]}),
    NewRow(2, None, "verify", None, "error", {"error": {"field": "ins", "status": 400}}),
]


def test_rows_come_back_as_they_went_in() -> None:
    assert list(spooled(iter(ROWS))) == ROWS


def test_a_refusal_late_in_the_body_is_raised_before_any_row_is_given_back() -> None:
    given: list[int] = []

    def rows() -> Iterator[NewRow]:
        for row in ROWS:
            given.append(row.number)
            yield row
        raise InvalidInput("body", "too many rows")

    with pytest.raises(InvalidInput, match="too many rows"):
        spooled(rows())
    assert given == [1, 2]  # the whole body was consumed by spooled() itself
