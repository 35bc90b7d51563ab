"""Reading JSON from callers strictly: no duplicate members, no invisible or reordering text.

- Duplicate member names: ``json`` keeps the last one silently, so
  ``{"flags": ["douteuse"], "flags": []}`` read as "no flag" and the
  teleservice was called for a doubtful identity. A duplicate is refused,
  naming the member.
- Control characters and bidirectional controls (``U+202E`` and friends) in
  any string or member name: they hide or reorder text for whoever reads it
  later (results files, spreadsheets, logs, support screens). Refused,
  naming the field; the same rule serves CSV job rows (:func:`check_text`).

Names of members the caller chose are shown escaped (:func:`shown_name`),
so an error message cannot carry what it refuses.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, Final

from gateway.exceptions import InvalidInput, MalformedRequest

# Unicode bidirectional formatting characters (UAX #9): embeddings, overrides, isolates, marks.
BIDI_CONTROLS: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e") | frozenset(
    "\u2066\u2067\u2068\u2069"
)


class _Duplicate(Exception):
    """Raised inside the parser (not a ``ValueError``: json would call it invalid JSON)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            raise _Duplicate(name)
        members[name] = value
    return members


def loads(data: bytes | str) -> object:
    """The JSON value of ``data``, strictly (see the module); raises a 400 error saying why."""
    try:
        value = json.loads(data, object_pairs_hook=_unique_members)
        check_strings(value)
    except _Duplicate as duplicate:
        raise InvalidInput(
            shown_name(duplicate.name), "appears twice in the same JSON object"
        ) from None
    except RecursionError:  # hostile nesting
        raise MalformedRequest("body is nested too deeply") from None
    except InvalidInput:
        raise
    except ValueError:  # UnicodeDecodeError included
        raise MalformedRequest("body is not valid JSON") from None
    return value


def check_strings(value: object, path: str = "") -> None:
    """Every string and member name in ``value`` passes :func:`check_text`, named by its path."""
    if isinstance(value, dict):
        for name, item in value.items():
            field = f"{path}.{shown_name(name)}" if path else shown_name(name)
            check_text(field, name, what="its name")
            check_strings(item, field)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        check_text(path or "body", value)


def unsafe_character(text: str) -> int | None:
    """The position of the first control or bidirectional control character, if any."""
    for position, char in enumerate(text):
        if char in BIDI_CONTROLS or unicodedata.category(char) == "Cc":
            return position
    return None


def check_text(field: str, text: str, *, what: str = "") -> None:
    """Refuse ``text`` holding a control or bidirectional control character, naming ``field``."""
    position = unsafe_character(text)
    if position is not None:
        subject = f"{what} contains" if what else "contains"
        raise InvalidInput(
            field,
            f"{subject} a control or bidirectional control character "
            f"(U+{ord(text[position]):04X} at position {position})",
        )


def shown_name(name: str) -> str:
    """A caller's member name as it can be shown: itself if plain, else JSON-escaped ASCII."""
    if name.isascii() and name.isprintable() and len(name) <= 64:
        return name
    return json.dumps(name[:64], ensure_ascii=True)[1:-1]
