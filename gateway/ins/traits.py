"""Identity traits: validation and normalisation by the INS rules, before anything is sent.

The teleservice compares traits literally, so the gateway sends them in the
form the INS référentiel expects: upper case, no diacritics, ligatures
expanded, only letters A-Z, space, hyphen and apostrophe, separators cleaned.
Every refusal names the field and says why (the offending character, never
the whole value: it is health data).

Both local interfaces (JSON, SOAP) reach these rules through
:mod:`gateway.ins.queries`; no adapter validates on its own.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Mapping
from datetime import date

from gateway.exceptions import InvalidInput
from gateway.models import TraitsQuery

# Letters without a Unicode decomposition, transliterated as ICAO Doc 9303 part 3
# section 6 does for the machine-readable zone of identity documents (the documents
# an identity is checked on): Æ AE, Œ OE, ß/ẞ SS, Ø OE, Þ TH, Ł L, Đ D.
_LIGATURES = str.maketrans(
    {
        "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ß": "SS", "ẞ": "SS",
        "Ø": "OE", "ø": "oe", "Þ": "TH", "þ": "th", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d",
    }
)  # fmt: skip
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})
# Hyphen, non-breaking hyphen, figure dash, en dash: typed for '-' by word processors.
_HYPHENS = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-"})
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ -'")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_COG = re.compile(r"(?:[0-9]{5}|2[AB][0-9]{3})")
# After cleaning, a name is letters joined by ONE separator each: a hyphen, the civil
# registry's double hyphen, an apostrophe or a space (as padoa/tlsi-ins, a CNDA-approved
# client, checks names: src/ins/class/insi-person.class.ts, _isValidName).
_NAME_SHAPE = re.compile(r"[A-Z]+(?:(?:--|[-' ])[A-Z]+)*")
_MIXED_SEPARATORS = re.compile(r"[-' ]{2,}")
_SPACES = re.compile(r"\s+")
_HYPHEN_RUN = re.compile(r" *(-+) *")
_APOSTROPHE_RUN = re.compile(r" *' *")
_APOSTROPHES_REPEATED = re.compile(r"'{2,}")
_SPACES_REPEATED = re.compile(r" {2,}")
# INSEE COG department part of a birth place (docs/ins-rules.md, "Birth place").
_DEPARTMENT = re.compile(r"0[1-9]|1[0-9]|2[0-9AB]|[3-8][0-9]|9[0-5]|97[1-8]|98[4-9]|99[1-5]")
CORSICA_SPLIT_YEAR = 1976  # loi 75-356: department 20 became 2A and 2B on 1 January 1976
_SEXES = frozenset({"F", "M"})
MAX_NAME_LENGTH = 100
MAX_FIRST_NAMES = 10

TRAITS_FIELDS = frozenset({"birth_name", "first_names", "sex", "birth_date", "birth_place"})


def normalise_name(field: str, value: object) -> str:
    """The INS form of a name, or :class:`InvalidInput` naming ``field`` and the bad character."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_NAME_LENGTH} characters")
    if _NAME_SHAPE.fullmatch(value):  # already in INS form (the teleservice's, a clean
        return value  # input): every step of the slow path would leave it as it is
    return _normalise_slowly(field, value)


def _normalise_slowly(field: str, value: str) -> str:
    """Ligatures, apostrophes, hyphens, diacritics, case, spaces and separators, in order."""
    typed = value.translate(_LIGATURES).translate(_APOSTROPHES).translate(_HYPHENS)
    decomposed = unicodedata.normalize("NFKD", typed)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    letters = _SPACES.sub(" ", letters)
    for char in letters:
        if char not in _ALLOWED:
            raise InvalidInput(
                field,
                f"character {_describe(char)} is not allowed "
                "(letters, space, hyphen and apostrophe only)",
            )
    cleaned = _clean_separators(letters)
    if not cleaned:
        raise InvalidInput(field, "is empty once cleaned")
    if not _NAME_SHAPE.fullmatch(cleaned):
        run = _MIXED_SEPARATORS.search(cleaned)
        shown = f" ({run.group(0)!r})" if run else ""
        raise InvalidInput(
            field,
            f"mixes separators{shown}: the parts of a name are joined by one hyphen, "
            "a double hyphen, an apostrophe or a space",
        )
    return cleaned


def _clean_separators(text: str) -> str:
    """Spaces around separators dropped; a double hyphen is kept (see :func:`_hyphens`)."""
    text = _HYPHEN_RUN.sub(_hyphens, text)
    text = _APOSTROPHE_RUN.sub("'", text)
    text = _APOSTROPHES_REPEATED.sub("'", text)
    text = _SPACES_REPEATED.sub(" ", text)
    return text.strip(" -'")


def _hyphens(run: re.Match[str]) -> str:
    """``-`` stays ``-``; two or more hyphens are the civil registry's double hyphen ``--``.

    Since the 2005 reform of family names (loi 2002-304), a double family name is
    written with a double hyphen (``DUPONT--DURAND``) in the civil registry, and
    the teleservice returns it so: held and official names are both normalised
    here, so they compare equal.
    """
    return "--" if len(run.group(1)) > 1 else "-"


def comparable_name(value: str) -> str:
    """The form two names are compared in: :func:`normalise_name`'s, or upper case if refused."""
    try:
        return normalise_name("name", value)
    except InvalidInput:
        return value.strip().upper()


def _describe(char: str) -> str:
    if char.isprintable() and not char.isspace():
        return f"'{char}'"
    return f"U+{ord(char):04X}"


def normalise_first_names(field: str, value: object) -> tuple[str, ...]:
    """Birth first names as a list; an entry holding several names is split on spaces."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidInput(field, "must be a non-empty list of first names")
    names: list[str] = []
    for index, item in enumerate(value):
        names.extend(normalise_name(f"{field}[{index}]", item).split(" "))
    if len(names) > MAX_FIRST_NAMES:
        raise InvalidInput(field, f"must hold at most {MAX_FIRST_NAMES} first names")
    return tuple(names)


def validate_sex(field: str, value: object) -> str:
    if not isinstance(value, str) or value.upper() not in _SEXES:
        raise InvalidInput(field, "must be 'F' or 'M'")
    return value.upper()


def validate_birth_date(field: str, value: object, *, today: date | None = None) -> str:
    """``YYYY-MM-DD``; lunar dates (day and/or month ``00``) are valid, impossible dates are not.

    Compared to today as a string, so a lunar date is never turned into a ``date``.
    """
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(field, "must be a date as YYYY-MM-DD")
    year, month, day = (int(part) for part in match.groups())
    if year < 1800 or month > 12:
        raise InvalidInput(field, "is not a possible date")
    if month == 0 and day != 0:
        raise InvalidInput(field, "has a day but month 00: a lunar date with no month has no day")
    last_day = calendar.monthrange(year, month)[1] if month else 31
    if day > last_day:
        raise InvalidInput(field, "is not a possible date")
    if str(value) > (today or date.today()).isoformat():
        raise InvalidInput(field, "is in the future")
    return str(value)


def validate_birth_place(field: str, value: object) -> str | None:
    """An INSEE COG code: 5 digits, ``2A``/``2B`` + 3 digits (Corsica), ``99xxx`` abroad,
    whose department exists (``01``-``95``, ``2A``, ``2B``, ``971``-``978``, ``984``-``989``)
    or whose country code is in the INSEE country list's range (``99100``-``99599``)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _COG.fullmatch(value.upper()):
        raise InvalidInput(
            field, "must be a 5-character INSEE COG code (e.g. 63220, 2A020, 99350 abroad)"
        )
    code = value.upper()
    if not _DEPARTMENT.match(code):
        what = "country code" if code.startswith("99") else "department"
        raise InvalidInput(field, f"names no existing {what} (INSEE COG)")
    return code


def check_place_at_birth(field: str, place: str | None, birth_date: str) -> None:
    """Department ``20`` was split into ``2A``/``2B`` in 1976: a later birth cannot be in ``20``."""
    if place is not None and place.startswith("20") and int(birth_date[:4]) >= CORSICA_SPLIT_YEAR:
        raise InvalidInput(
            field,
            f"department 20 no longer exists for a birth from {CORSICA_SPLIT_YEAR} on "
            "(Corsica: 2A or 2B)",
        )


def traits_query(fields: Mapping[str, object]) -> TraitsQuery:
    """Validate and normalise the five traits into a :class:`TraitsQuery` (other keys ignored)."""
    for name in ("birth_name", "first_names", "sex", "birth_date"):
        if fields.get(name) is None:
            raise InvalidInput(name, "is required")
    query = TraitsQuery(
        birth_name=normalise_name("birth_name", fields["birth_name"]),
        first_names=normalise_first_names("first_names", fields["first_names"]),
        sex=validate_sex("sex", fields["sex"]),
        birth_date=validate_birth_date("birth_date", fields["birth_date"]),
        birth_place=validate_birth_place("birth_place", fields.get("birth_place")),
    )
    check_place_at_birth("birth_place", query.birth_place, query.birth_date)
    return query
