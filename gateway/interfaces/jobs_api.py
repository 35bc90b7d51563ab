"""``/v1/jobs``: submit a batch of identities, follow it, fetch its results, cancel it.

A thin adapter like :mod:`gateway.interfaces.json_api` (same authentication,
same problem documents): rows are parsed by :mod:`gateway.jobs.inputs`, kept
by :class:`gateway.storage.jobs.JobStore`, and processed later by the runner,
never in the request. A job is visible only to the application that
submitted it: any other key gets the same 404 as an unknown job id.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import NotFound

from gateway import logs
from gateway.exceptions import SubmissionsBusy
from gateway.interfaces import json_api
from gateway.jobs import JobStatus, NewRow, StoredResult, new_job_id
from gateway.jobs.inputs import InputRow, empty_result, error_result, read_submission
from gateway.jobs.spool import spooled
from gateway.settings import JobSettings
from gateway.storage.jobs import CANCELLED, JobStore

NDJSON = "application/x-ndjson"
CSV = "text/csv"
SUBMISSION_RETRY_AFTER = 5  # seconds: a submission of the maximum size takes a few seconds
OPERATION = "jobs"  # what an application must be allowed (``insi-gateway apps add --operations``)
CSV_COLUMNS = (
    *("row", "local_id", "kind", "verdict", "identity_status", "matricule", "key", "oid"),
    *("birth_name", "first_names", "sex", "birth_date", "birth_place", "differences"),
    *("unchecked_traits", "identity_evidence"),
    *("message_id", "queried_at", "error_type", "error_field", "error_detail"),
)

jobs_api = Blueprint("jobs_api", __name__, url_prefix="/v1/jobs")


def _store() -> JobStore:
    store: JobStore = current_app.extensions["insi_job_store"]
    return store


def _found(status: JobStatus | None) -> JobStatus:
    if status is None:
        raise NotFound("no such job for this application")
    return status


def _status_json(status: JobStatus) -> dict[str, Any]:
    return {
        "job_id": status.job_id,
        "state": status.state,
        "total": status.total,
        "done": status.done,
        "progress": round(status.done / status.total, 4) if status.total else 1.0,
        "counts": dict(status.counts),
        "created_at": status.created_at.isoformat(),
        "finished_at": status.finished_at.isoformat() if status.finished_at else None,
        "results": url_for("jobs_api.results", job_id=status.job_id),
    }


def _new_row(job_id: str, row: InputRow) -> NewRow:
    if row.error is None:
        return NewRow(row.number, row.local_id, row.kind.value, row.fields)
    request_id = f"job-{job_id}#{row.number}"
    result = error_result(
        row.number, row.local_id, row.kind.value, row.error, request_id=request_id
    )
    return NewRow(row.number, row.local_id, row.kind.value, None, "error", result)


@jobs_api.post("")
def submit() -> Response:
    """Stream the body's rows into the database: memory stays flat whatever its size."""
    settings: JobSettings = current_app.extensions["insi_job_settings"]
    with json_api.admitted(OPERATION) as caller, _submission_slot(caller.name):
        request.max_content_length = settings.max_body_bytes  # 413, even mid-stream
        rows = read_submission(
            request.stream, request.content_type or "", max_rows=settings.max_rows
        )
        job_id, tally = new_job_id(), _Tally()
        checked = spooled(tally.rows(job_id, rows))  # the whole body read before any write
        status = _store().create_job(job_id, caller.name, checked)
    logs.note(job_id=job_id, rows=status.total, invalid_rows=tally.invalid)
    document = {"job_id": job_id, "state": status.state, "total": status.total}
    response = jsonify({**document, "invalid_rows": tally.invalid})
    response.status_code = 202
    response.headers["Location"] = url_for("jobs_api.status", job_id=job_id)
    return response


@contextmanager
def _submission_slot(app: str) -> Iterator[None]:
    """One of the process's submission slots, or 429 ``too-many-submissions`` at once."""
    slots: threading.BoundedSemaphore = current_app.extensions["insi_job_submissions"]
    if not slots.acquire(blocking=False):
        raise SubmissionsBusy(app, retry_after=SUBMISSION_RETRY_AFTER)
    try:
        yield
    finally:
        slots.release()


class _Tally:
    """Counts the invalid rows of a submission as they stream past."""

    def __init__(self) -> None:
        self.invalid = 0

    def rows(self, job_id: str, rows: Iterable[InputRow]) -> Iterator[NewRow]:
        for row in rows:
            self.invalid += row.error is not None
            yield _new_row(job_id, row)


@jobs_api.get("/<job_id>")
def status(job_id: str) -> Response:
    with json_api.admitted(OPERATION) as caller:
        logs.note(job_id=job_id)
        return jsonify(_status_json(_found(_store().get_job(job_id, caller.name))))


@jobs_api.delete("/<job_id>")
def cancel(job_id: str) -> Response:
    with json_api.admitted(OPERATION) as caller:
        logs.note(job_id=job_id, action="cancel")
        return jsonify(_status_json(_found(_store().cancel(job_id, caller.name))))


@jobs_api.get("/<job_id>/results")
def results(job_id: str) -> Response:
    """One result per input row, in input order: JSON lines, or CSV with ``Accept: text/csv``."""
    with json_api.admitted(OPERATION) as caller:
        _found(_store().get_job(job_id, caller.name))
    wanted = request.accept_mimetypes.best_match([NDJSON, CSV], default=NDJSON)
    logs.note(job_id=job_id, format=wanted)
    stored = _store().results(job_id, caller.name)
    if wanted == CSV:
        return Response(_csv_lines(map(_result, stored)), mimetype=CSV)
    return Response((_json_line(_result(r)) for r in stored), mimetype=NDJSON)


def _result(stored: StoredResult) -> dict[str, Any]:
    if stored.result is not None:
        return stored.result
    verdict = CANCELLED if stored.state == CANCELLED else "pending"  # not answered (yet)
    return empty_result(stored.number, stored.local_id, stored.kind, verdict)


def _json_line(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n"


def _csv_lines(results: Iterable[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for result in results:
        writer.writerow(_csv_cells(result))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# OWASP "CSV Injection": a cell starting with one of these is run as a formula by
# spreadsheets; such a cell is written with a leading apostrophe (shown, never run).
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(_FORMULA_LEADS):
        return "'" + cell
    return cell


def _csv_cells(result: dict[str, Any]) -> list[object]:
    return [_inert(cell) for cell in _csv_values(result)]


def _csv_values(result: dict[str, Any]) -> list[object]:
    ins = result.get("ins") or {}
    identity = result.get("identity") or {}
    error = result.get("error") or {}
    differences = " ".join(d["field"] for d in result.get("differences") or [])
    return [
        *(result.get(k) for k in ("row", "local_id", "kind", "verdict", "identity_status")),
        *(ins.get(k) for k in ("matricule", "key", "oid")),
        identity.get("birth_name"),
        " ".join(identity.get("first_names") or []),
        *(identity.get(k) for k in ("sex", "birth_date", "birth_place")),
        differences,
        " ".join(result.get("unchecked_traits") or []),
        (result.get("identity_evidence") or {}).get("document"),
        result.get("message_id"),
        result.get("queried_at"),
        *(error.get(k) for k in ("type", "field", "detail")),
    ]


def install(app: Flask, store: JobStore, *, settings: JobSettings) -> None:
    """Register ``/v1/jobs`` on ``app`` (after :func:`json_api.install`: same auth and errors)."""
    app.extensions["insi_job_store"] = store
    app.extensions["insi_job_settings"] = settings
    limit = settings.max_concurrent_submissions
    app.extensions["insi_job_submissions"] = threading.BoundedSemaphore(limit)
    app.register_blueprint(jobs_api)
