"""Strict JSON reading: duplicate members and unsafe characters are refused by name."""

from __future__ import annotations

import json
import logging

import pytest

from gateway.exceptions import InvalidInput, MalformedRequest
from gateway.logs import GunicornJsonFormatter
from gateway.protocol import json_input


def _refusal(text: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        json_input.loads(text)
    return refused.value


def test_a_duplicate_member_is_named_even_nested() -> None:
    assert _refusal('{"flags": ["douteuse"], "flags": []}').field == "flags"
    assert _refusal('{"ins": {"oid": "1", "oid": "2"}}').field == "oid"


def test_the_same_member_in_two_objects_is_fine() -> None:
    assert json_input.loads('[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    ("text", "field", "code"),
    [
        ('{"birth_name": "A\\u202eB"}', "birth_name", "U+202E"),
        ('{"first_names": ["A", "B\\u0007"]}', "first_names[1]", "U+0007"),
        ('[{"ins": {"key": "\\u2067"}}]', "[0].ins.key", "U+2067"),
        ('{"a\\u0000b": 1}', "a\\u0000b", "U+0000"),
    ],
)
def test_control_and_bidi_characters_are_refused_by_path(text: str, field: str, code: str) -> None:
    refused = _refusal(text)

    assert refused.field == field
    assert code in refused.reason


def test_a_refused_member_name_is_shown_escaped() -> None:
    refused = _refusal('{"x\\u202ey": 1, "x\\u202ey": 2}')

    assert refused.field == "x\\u202ey"
    assert "\u202e" not in refused.message


@pytest.mark.parametrize("text", ["{", "", "\xff", "[" * 100_000 + "]" * 100_000])
def test_unreadable_json_is_malformed(text: str) -> None:
    with pytest.raises(MalformedRequest):
        json_input.loads(text)


def _formatted(message: str, *args: object) -> str:
    record = logging.LogRecord("gunicorn.error", logging.WARNING, "", 0, message, args, None)
    return GunicornJsonFormatter().format(record)


def test_gunicorn_invalid_requests_keep_the_kind_never_the_content() -> None:
    line = _formatted("Invalid request from ip=127.0.0.1: Invalid HTTP request line: 'DUPONT'")

    assert "DUPONT" not in line
    assert '"client": "127.0.0.1"' in line
    assert '"error": "Invalid HTTP request line"' in line


def test_gunicorn_arguments_are_shown_only_for_its_own_messages() -> None:
    assert "4242" in _formatted("Booting worker with pid: %s", 4242)
    assert "DUPONT" not in _formatted("Error handling request %s %s", "GET", "/DUPONT")
    hidden = json.loads(_formatted("Error handling request %s %-5.2f%% %(x)s", "GET", 1.0))
    assert hidden["event"] == "Error handling request … …% …"  # formatted, never a raw %s
