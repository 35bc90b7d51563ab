"""Job submissions (CSV, JSON lines) into rows; the job settings; the interactive-first gate."""

from __future__ import annotations

import json
import threading
import time

import pytest

from gateway.admission.priority import InteractiveGate
from gateway.exceptions import (
    ConfigurationError,
    IdentityNotEligible,
    InvalidInput,
    MalformedRequest,
)
from gateway.jobs.inputs import InputRow, RowKind, error_result, parse_submission, row_query
from gateway.models import VerifyQuery
from gateway.settings import JobSettings
from testbed.waiting import wait_until

NIR = "1.2.250.1.213.1.4.8"
HEADER = "local_id,matricule,key,oid,birth_name,first_names,sex,birth_date,birth_place"


def csv_rows(*lines: str, header: str = HEADER, max_rows: int = 100) -> list[InputRow]:
    body = "\n".join([header, *lines]).encode()
    return parse_submission(body, "text/csv; charset=utf-8", max_rows=max_rows)


def jsonl_rows(*records: object) -> list[InputRow]:
    body = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records).encode()
    return parse_submission(body, "application/x-ndjson", max_rows=100)


def test_csv_rows_with_an_ins_are_verifications_and_without_are_refused_searches() -> None:
    verify, search = csv_rows(
        f"P1,297022A020778,78,{NIR},ADRTROIS,DOMINIQUE,F,1997-02-26,2A020",
        "P2,,,,Tchitchi,Catarina Bella,F,1936-06-21,",
    )

    assert (verify.number, verify.local_id, verify.kind, verify.error) == (
        1,
        "P1",
        RowKind.VERIFY,
        None,
    )
    query = row_query(verify.kind, verify.fields)
    assert isinstance(query, VerifyQuery)
    assert query.ins.key == "78"
    # Issue 8: INSi allows mass verification only; retrieval by traits is interactive.
    assert search.kind is RowKind.SEARCH
    assert isinstance(search.error, InvalidInput)
    assert search.error.field == "ins"
    assert "only verifies" in search.error.reason
    assert "interactive" in search.error.reason


def test_a_stored_search_row_is_refused_before_any_call() -> None:
    """The runner's check: a search row stored before the rule is never sent either."""
    fields = {"birth_name": "ADRUN", "first_names": ["ZOE"], "sex": "F", "birth_date": "1975-12-31"}
    with pytest.raises(InvalidInput) as caught:
        row_query(RowKind.SEARCH, fields)
    assert caught.value.field == "ins"


def test_csv_with_semicolons_a_bom_and_blank_lines() -> None:
    body = (
        "\ufefflocal_id;matricule;key;oid;birth_name;first_names;sex;birth_date\n\n"
        f"A;2751263220749;74;{NIR};ADRUN;ZOE;F;1975-12-31\n"
    )

    (row,) = parse_submission(body.encode(), "text/csv", max_rows=10)

    assert (row.number, row.local_id, row.error) == (1, "A", None)
    assert row.fields["birth_name"] == "ADRUN"


def test_malformed_rows_get_their_own_error_and_numbering_goes_on() -> None:
    zoe = f"2751263220749,74,{NIR}"
    rows = csv_rows(
        f"P1,{zoe},ADRUN,ZOE,F,1975-02-30,",  # impossible date
        f",{zoe},ADRUN,ZOE,F,1975-12-31,",  # no local_id
        f"P3,297022X020778,78,{NIR},ADRTROIS,DOMINIQUE,F,1997-02-26,",  # not a matricule
        f"P4,{zoe},ADRUN,ZOE,F,1975-12-31,63220,extra",  # more cells than columns
        f"P5,{zoe},ADRUN,ZOE,F,1975-12-31,63220",
    )

    assert [r.number for r in rows] == [1, 2, 3, 4, 5]
    errors = [r.error for r in rows]
    assert [type(e) for e in errors] == [InvalidInput] * 4 + [type(None)]
    fields = [e.field for e in errors if isinstance(e, InvalidInput)]
    assert fields == ["birth_date", "local_id", "ins.matricule", "row"]


def test_a_doubtful_identity_is_an_error_row_and_never_a_query() -> None:
    (row,) = csv_rows(
        "P1,,,,ADRUN,ZOE,F,1975-12-31,,douteuse",
        header="local_id,matricule,key,oid,birth_name,first_names,sex,birth_date,birth_place,flags",
    )

    assert isinstance(row.error, IdentityNotEligible)


def test_an_unknown_column_refuses_the_whole_body_without_echoing_it() -> None:
    with pytest.raises(MalformedRequest) as caught:
        csv_rows("P1,DUPONT", header="local_id,DUPONT JEAN")
    assert "column 2" in caught.value.reason
    assert "DUPONT" not in caught.value.reason


@pytest.mark.parametrize(
    ("body", "content_type", "error", "why"),
    [
        (b"local_id,birth_name\n", "text/csv", InvalidInput, "no rows"),  # header only
        (b"", "application/x-ndjson", InvalidInput, "no rows"),
        (b"birth_name\nADRUN\n", "text/csv", MalformedRequest, "local_id"),  # no such column
        (b"local_id,sex,sex\nA,F,F\n", "text/csv", MalformedRequest, "twice"),
        ("local_id\nÉ\n".encode("latin-1"), "text/csv", MalformedRequest, "UTF-8"),
        (b'{"local_id": "A"}', "application/json", MalformedRequest, "Content-Type"),
    ],
)
def test_bodies_refused_whole(
    body: bytes, content_type: str, error: type[Exception], why: str
) -> None:
    """Refused, and for the reason the rule gives (not merely with the right type)."""
    with pytest.raises(error, match=why):
        parse_submission(body, content_type, max_rows=10)


def test_the_row_limit() -> None:
    lines = [f"P{n},,,,ADRUN,ZOE,F,1975-12-31," for n in range(4)]

    assert len(csv_rows(*lines, max_rows=4)) == 4
    with pytest.raises(InvalidInput) as caught:
        csv_rows(*lines, max_rows=3)
    assert "at most 3 rows" in caught.value.reason


def test_json_lines_take_lists_strings_nested_ins_and_numeric_ids() -> None:
    traits = {"birth_name": "ADRUN", "sex": "F", "birth_date": "1975-12-31"}
    ins = {"matricule": "2751263220749", "key": "74", "oid": NIR}
    rows = jsonl_rows(
        {"local_id": 17, "first_names": ["ZOE"], **traits},
        {"local_id": "B", "first_names": "ZOE", **traits, **ins},
        "",
        {"local_id": "C", "first_names": "ZOE", **traits, "ins": ins},
    )

    assert [(r.local_id, r.kind) for r in rows] == [
        ("17", RowKind.SEARCH),
        ("B", RowKind.VERIFY),
        ("C", RowKind.VERIFY),
    ]
    assert [type(r.error) for r in rows] == [InvalidInput, type(None), type(None)]


def test_json_lines_bad_lines_are_error_rows() -> None:
    ins = {"matricule": "2751263220749", "key": "74", "oid": NIR}
    rows = jsonl_rows(
        "{not json",
        "[1, 2]",
        {"local_id": "X", "birth_name": "ADRUN", "nickname": "Zozo"},
        {"local_id": "Y", **ins, "ins": ins, "birth_name": "ADRUN"},
    )

    fields = [r.error.field for r in rows if isinstance(r.error, InvalidInput)]
    assert fields == ["row", "row", "nickname", "ins"]


def test_an_error_result_is_a_problem_document_without_values() -> None:
    (row,) = csv_rows("P1,,,,ADRUN,ZOE,X,1975-12-31,")
    assert row.error is not None

    result = error_result(1, "P1", "search", row.error, request_id="job-1#1")

    assert result["verdict"] == "error"
    assert result["ins"] is None
    assert result["error"]["type"] == "urn:insi-gateway:problem:invalid-input"
    assert (result["error"]["field"], result["error"]["request_id"]) == ("sex", "job-1#1")


# The job settings (GATEWAY_JOB_*), read with the gateway's in gateway.settings.


def test_job_settings_defaults_and_overrides() -> None:
    assert JobSettings.from_env({}) == JobSettings()
    settings = JobSettings.from_env({"GATEWAY_JOB_WORKERS": "0", "GATEWAY_JOB_RATE": "2.5"})
    assert (settings.workers, settings.rate, settings.max_rows) == (0, 2.5, 100_000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_JOB_RATE", "0"),
        ("GATEWAY_JOB_RATE", "fast"),
        ("GATEWAY_JOB_WORKERS", "-1"),
        ("GATEWAY_JOB_MAX_ROWS", "1.5"),
    ],
)
def test_job_settings_errors_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        JobSettings.from_env({name: value})
    assert caught.value.setting == name
    assert value not in caught.value.reason


# The interactive-first gate.


def test_the_batch_goes_at_once_when_nobody_waits() -> None:
    assert InteractiveGate().wait_for_batch_turn(timeout=0.01)


def test_the_batch_waits_for_interactive_requests_to_end() -> None:
    gate = InteractiveGate(max_wait=5.0)
    released = threading.Event()

    def interactive() -> None:
        with gate.interactive():
            released.wait(5)

    thread = threading.Thread(target=interactive)
    thread.start()
    wait_until(lambda: gate.in_flight, 10, "the interactive request in flight")
    assert not gate.wait_for_batch_turn(timeout=0.05)  # still busy
    threading.Timer(0.1, released.set).start()
    started = time.monotonic()
    assert gate.wait_for_batch_turn()
    assert 0.05 < time.monotonic() - started < 2
    thread.join()
    assert gate.in_flight == 0


def test_the_batch_is_never_starved_and_a_threshold_tolerates_some_load() -> None:
    starved = InteractiveGate(max_wait=0.05)
    tolerant = InteractiveGate(threshold=1)
    with starved.interactive(), tolerant.interactive():
        assert starved.wait_for_batch_turn()  # gave up waiting after max_wait
        assert tolerant.wait_for_batch_turn(timeout=0.01)
        with tolerant.interactive():
            assert not tolerant.wait_for_batch_turn(timeout=0.01)


def test_the_share_is_counted_from_when_the_batch_began_waiting_not_from_each_poll() -> None:
    """Before: a 1 s poll against a 5 s promise reset the clock, so no turn ever came."""
    gate = InteractiveGate(max_wait=5.0)
    with gate.interactive():
        began = time.monotonic()
        assert not gate.wait_for_batch_turn(timeout=0.01, since=began)  # waited 0 s of 5
        assert gate.wait_for_batch_turn(timeout=0.01, since=began - 5.0)  # waited 5 s: its turn


def test_batch_workers_are_woken_only_when_the_load_is_down_to_the_threshold() -> None:
    """Waking every waiting batch worker at each request's end cost two context switches
    per worker per request; they are woken only when they may go."""
    gate = InteractiveGate(threshold=1)
    woken_at: list[int] = []

    class Counting(threading.Condition):
        def notify_all(self) -> None:
            woken_at.append(gate._in_flight)
            super().notify_all()

    gate._changed = Counting()
    with gate.interactive(), gate.interactive():
        with gate.interactive():
            pass  # 3 -> 2: still above the threshold, nobody woken
        assert woken_at == []
    assert woken_at == [1, 0]  # 2 -> 1 and 1 -> 0: the batch may go
