"""Reading a job submission (CSV or JSON lines) into rows, and the shape of a row's result.

Every data row becomes an :class:`InputRow`, valid or not: a malformed row
gets its own error result and never fails the job. Only what makes the whole
body unreadable (not UTF-8, unknown CSV column, no rows, too many rows) is a
400 for the submission. Rows are validated here with the same functions the
JSON interface uses (:mod:`gateway.ins.queries`), so a job and a single call
accept exactly the same identities; the runner validates again before the
call, since the rules may change between submission and processing.

Error messages name fields and positions, never values: they end up in
results files that are mailed around and opened in spreadsheets.
"""

from __future__ import annotations

import csv
import enum
import io
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, TextIO, cast

from gateway.exceptions import GatewayError, IdentityNotEligible, InvalidInput, MalformedRequest
from gateway.ins.queries import search_query, verify_query
from gateway.ins.traits import TRAITS_FIELDS
from gateway.models import VerifyQuery
from gateway.protocol import json_input
from gateway.render.problems import problem_document

CSV_TYPE = "text/csv"
JSONL_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/json-lines"})
INS_FIELDS = ("matricule", "key", "oid")
# identity_evidence: the code of the identity document checked (PA, CN...), as in a single call.
CSV_COLUMNS = frozenset({"local_id", "flags", "identity_evidence", *INS_FIELDS, *TRAITS_FIELDS})
# The members of a verification answer a result line repeats (docs/jobs.md).
ANSWER_KEYS = (
    "identity_status",
    "unchecked_traits",
    "identity_evidence",
    "ins",
    "identity",
    "history",
    "differences",
)
MAX_LOCAL_ID = 128


class RowKind(enum.StrEnum):
    """A row with an INS is a verification; a row with traits only is a search (refused)."""

    VERIFY = "verify"
    SEARCH = "search"


# The CNAM's INSi rules: mass (batch) use of the teleservice is for *verifying* INS already
# held; retrieving an INS by traits is a unitary, interactive act (a user at the desk, who
# can check the identity). docs/jobs.md names the sources.
SEARCH_ROW_REASON = (
    "is required: a batch job only verifies INS already held (INSi rules: retrieving an "
    "INS by traits is a unitary, interactive act); search this identity with "
    "POST /v1/ins/search"
)


@dataclass(frozen=True, slots=True)
class InputRow:
    """One data row: ``number`` counts data rows from 1 (header and blank lines excluded)."""

    number: int
    local_id: str | None
    kind: RowKind
    fields: dict[str, Any]
    error: GatewayError | None = None


def row_query(kind: RowKind, fields: Mapping[str, object]) -> VerifyQuery:
    """The core query of a row (raises ``InvalidInput`` / ``IdentityNotEligible``).

    A search row is refused here, so one stored before this rule (or by any
    path) is never sent: the runner calls this before every row.
    """
    if kind is RowKind.SEARCH:
        search_query(fields)  # a malformed trait is reported first, as for any row
        raise InvalidInput("ins", SEARCH_ROW_REASON)
    return verify_query(fields)


def parse_submission(data: bytes, content_type: str, *, max_rows: int) -> list[InputRow]:
    """Every row of a CSV (``text/csv``) or JSON-lines (``application/x-ndjson``) body."""
    return list(read_submission(io.BytesIO(data), content_type, max_rows=max_rows))


def read_submission(stream: IO[bytes], content_type: str, *, max_rows: int) -> Iterator[InputRow]:
    """The rows of a submission read from ``stream`` one at a time (memory stays flat).

    Errors of the whole body (not UTF-8, bad header, too many rows, no rows)
    are raised when they are met, possibly after rows were yielded: the
    caller stores rows in one transaction that such an error rolls back.
    """
    mimetype = content_type.split(";", 1)[0].strip().lower()
    if mimetype != CSV_TYPE and mimetype not in JSONL_TYPES:
        raise MalformedRequest("Content-Type must be text/csv or application/x-ndjson")
    text = io.TextIOWrapper(_buffered(stream), encoding="utf-8-sig", newline="")
    records = _csv_records(text) if mimetype == CSV_TYPE else _jsonl_records(text)
    number = 0
    try:
        for number, record in enumerate(records, start=1):
            if number > max_rows:
                raise InvalidInput("body", f"a job holds at most {max_rows} rows")
            yield _row(number, record)
    except UnicodeDecodeError:
        raise MalformedRequest("body is not UTF-8 text") from None
    if number == 0:
        raise InvalidInput("body", "holds no rows")


def _buffered(stream: IO[bytes]) -> IO[bytes]:
    """``stream`` with the ``read1`` TextIOWrapper wants (a raw WSGI stream has none)."""
    if hasattr(stream, "read1"):
        return stream
    return io.BufferedReader(cast(io.RawIOBase, stream), buffer_size=64 * 1024)


def _csv_records(text: TextIO) -> Iterator[dict[str, object] | InvalidInput]:
    first_line = text.readline()
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(itertools.chain([first_line], text), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        _check_header(header)
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                yield InvalidInput("row", "has more cells than the header has columns")
                continue
            yield _csv_fields(header, cells)
    except csv.Error:
        raise MalformedRequest(f"CSV unreadable at line {reader.line_num}") from None


def _check_header(header: list[str]) -> None:
    for position, name in enumerate(header, start=1):
        if name not in CSV_COLUMNS:
            known = ", ".join(sorted(CSV_COLUMNS))
            raise MalformedRequest(f"header column {position} is not one of: {known}")
    if len(set(header)) != len(header):
        raise MalformedRequest("the header names a column twice")
    if "local_id" not in header:
        raise MalformedRequest("the header row must name a local_id column")


def _csv_fields(header: list[str], cells: list[str]) -> dict[str, object]:
    record: dict[str, object] = {}
    for name, cell in zip(header, cells, strict=False):
        value = cell.strip()
        if not value:
            continue
        record[name] = value.replace(",", " ").split() if name == "flags" else value
    return record


def _jsonl_records(text: TextIO) -> Iterator[dict[str, object] | InvalidInput]:
    # newline="": each piece ends at \n, \r or \r\n; splitlines() then splits it where
    # str.splitlines() split the whole text (U+2028, \x1c...), as before streaming.
    lines = (line for piece in text for line in piece.splitlines())
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json_input.loads(line)  # duplicate members, control characters: refused
        except MalformedRequest:
            yield InvalidInput("row", "is not valid JSON")
            continue
        except InvalidInput as error:
            yield error
            continue
        if isinstance(record, dict):
            yield record
        else:
            yield InvalidInput("row", "must be a JSON object")


def _row(number: int, record: dict[str, object] | InvalidInput) -> InputRow:
    if isinstance(record, InvalidInput):
        return InputRow(number, None, RowKind.SEARCH, {}, record)
    fields = dict(record)
    raw_id = fields.pop("local_id", None)
    flat = {name: fields.pop(name) for name in INS_FIELDS if name in fields}
    kind = RowKind.VERIFY if flat or "ins" in fields else RowKind.SEARCH
    if flat:
        fields["ins"] = flat if "ins" not in fields else None  # both forms: refused below
    local_id = _local_id(raw_id)
    try:
        if local_id is not None and json_input.unsafe_character(local_id) is not None:
            unsafe, local_id = local_id, None  # never stored, never echoed in the results
            json_input.check_text("local_id", unsafe)
        if local_id is None:
            raise InvalidInput(
                "local_id", f"is required: a string of 1 to {MAX_LOCAL_ID} characters"
            )
        if kind is RowKind.VERIFY and fields["ins"] is None:
            raise InvalidInput("ins", "give either ins or matricule/key/oid, not both")
        row_query(kind, fields)
    except (InvalidInput, IdentityNotEligible) as error:
        return InputRow(number, local_id, kind, fields, error)
    return InputRow(number, local_id, kind, fields)


def _local_id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_LOCAL_ID:
        return None
    return value.strip()


def empty_result(number: int, local_id: str | None, kind: str, verdict: str) -> dict[str, Any]:
    """A result without an answer: the common keys every result line has, in order."""
    return {
        "row": number,
        "local_id": local_id,
        "kind": kind,
        "verdict": verdict,
        "identity_status": None,
        "unchecked_traits": [],
        "identity_evidence": None,
        "ins": None,
        "identity": None,
        "history": [],
        "differences": [],
        "message_id": None,
        "queried_at": None,
        "error": None,
    }


def error_result(
    number: int,
    local_id: str | None,
    kind: str,
    error: BaseException,
    *,
    request_id: str,
    message_id: str | None = None,
) -> dict[str, Any]:
    """The result of a row that got no verdict: a bad row, or a fault the teleservice answered."""
    result = empty_result(number, local_id, kind, "error")
    result["message_id"] = message_id
    result["error"] = problem_document(error, request_id=request_id)
    return result
