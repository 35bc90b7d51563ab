"""INS trait rules: normalisation and validation, each refusal naming its field."""

from __future__ import annotations

import random
from datetime import date

import pytest

from gateway.exceptions import InvalidInput
from gateway.ins.traits import (
    _normalise_slowly,
    normalise_first_names,
    normalise_name,
    validate_birth_date,
    validate_birth_place,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("adrtrois", "ADRTROIS"),
        ("Éloïse", "ELOISE"),
        ("François", "FRANCOIS"),
        ("Lætitia", "LAETITIA"),
        ("Œdipe", "OEDIPE"),
        ("  de   vinci ", "DE VINCI"),
        ("jean - pierre", "JEAN-PIERRE"),
        ("d’artagnan", "D'ARTAGNAN"),
        ("--martin--", "MARTIN"),
        # issue 8: the civil registry's double hyphen (double family name) is kept
        ("Dupont--Durand", "DUPONT--DURAND"),
        ("dupont -- durand", "DUPONT--DURAND"),
        ("dupont---durand", "DUPONT--DURAND"),
        # issue 8: hyphen, non-breaking hyphen, figure dash, en dash are typed for '-'
        ("jean\u2010pierre", "JEAN-PIERRE"),
        ("jean\u2011pierre", "JEAN-PIERRE"),
        ("jean\u2012pierre", "JEAN-PIERRE"),
        ("jean \u2013 pierre", "JEAN-PIERRE"),
        # issue 8: letters without a Unicode decomposition, transliterated (ICAO 9303)
        ("Søren", "SOEREN"),
        ("ØSTERGÅRD", "OESTERGARD"),
        ("Łukasz", "LUKASZ"),
        ("Đorđe", "DORDE"),
        ("Þór", "THOR"),
        ("GROẞ", "GROSS"),
    ],
)
def test_names_are_normalised(raw: str, expected: str) -> None:
    assert normalise_name("birth_name", raw) == expected


@pytest.mark.parametrize(
    ("raw", "bad"),
    [
        ("ADR3", "'3'"),
        ("A_B", "'_'"),
        ("A/B", "'/'"),
        ("A\u0000B", "U+0000"),
        ("A\u2014B", "'\u2014'"),  # an em dash is not a hyphen variant: refused, named
        ("ĦAL", "'Ħ'"),  # no decomposition, no INS transliteration: refused, named
    ],
)
def test_forbidden_character_is_named(raw: str, bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_name("birth_name", raw)
    assert caught.value.field == "birth_name"
    assert bad in caught.value.reason


@pytest.mark.parametrize("raw", ["", "   ", "-'-"])
def test_empty_after_cleaning_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        normalise_name("birth_name", raw)


def test_first_names_split_on_spaces_and_name_the_entry() -> None:
    assert normalise_first_names("first_names", ["ola catarina", "Bella"]) == (
        "OLA",
        "CATARINA",
        "BELLA",
    )
    with pytest.raises(InvalidInput) as caught:
        normalise_first_names("first_names", ["OLA", "B3LLA"])
    assert caught.value.field == "first_names[1]"


@pytest.mark.parametrize("date", ["1997-02-26", "1980-00-00", "1980-05-00", "2000-02-29"])
def test_possible_and_lunar_dates_are_valid(date: str) -> None:
    assert validate_birth_date("birth_date", date) == date


def test_a_day_with_month_00_is_refused() -> None:
    """A lunar date with an unknown month has an unknown day too (issue 8)."""
    with pytest.raises(InvalidInput) as caught:
        validate_birth_date("birth_date", "1980-00-15")
    assert caught.value.field == "birth_date"
    assert "month 00" in caught.value.reason


@pytest.mark.parametrize(
    "date",
    ["2023-02-30", "1999-02-29", "1997-13-01", "1997-2-26", "26/02/1997", "1700-01-01", 19970226],
)
def test_impossible_dates_are_refused(date: object) -> None:
    with pytest.raises(InvalidInput):
        validate_birth_date("birth_date", date)


@pytest.mark.parametrize(
    ("place", "expected"),
    [("63220", "63220"), ("2a020", "2A020"), ("99350", "99350"), (None, None)],
)
def test_cog_codes(place: str | None, expected: str | None) -> None:
    assert validate_birth_place("birth_place", place) == expected


@pytest.mark.parametrize("place", ["2C020", "6322", "632200", "ABCDE"])
def test_bad_cog_codes(place: str) -> None:
    with pytest.raises(InvalidInput):
        validate_birth_place("birth_place", place)


def test_spaces_around_apostrophes_are_cleaned() -> None:
    assert normalise_name("birth_name", "d' artagnan") == "D'ARTAGNAN"
    assert normalise_first_names("first_names", ["pierre ' paul"]) == ("PIERRE'PAUL",)


@pytest.mark.parametrize("value", ["١٩٩٧-٠٢-٢٦", "１９９７-０２-２６"])
def test_non_ascii_digits_are_not_a_date(value: str) -> None:
    with pytest.raises(InvalidInput):
        validate_birth_date("birth_date", value)


def test_a_future_birth_date_is_refused() -> None:
    with pytest.raises(InvalidInput, match="future"):
        validate_birth_date("birth_date", "2031-01-01", today=date(2030, 12, 31))
    assert validate_birth_date("birth_date", "2030-12-00", today=date(2030, 12, 31))


def test_non_ascii_digits_are_not_a_cog_code() -> None:
    with pytest.raises(InvalidInput):
        validate_birth_place("birth_place", "٦٣٢٢٠")


def _names_in_ins_form(count: int) -> list[str]:
    """Names already in INS form: letters joined by one separator each, of every kind."""
    rng = random.Random(17)
    parts = ["A", "DE", "ADRTROIS", "DOMINIQUE", "O", "ZOE"]
    separators = ["-", "--", "'", " "]
    names = []
    for _ in range(count):
        name = rng.choice(parts)
        for _ in range(rng.randrange(4)):
            name += rng.choice(separators) + rng.choice(parts)
        names.append(name)
    return names


@pytest.mark.parametrize("name", _names_in_ins_form(300))
def test_a_name_in_ins_form_takes_the_fast_path_to_the_same_result(name: str) -> None:
    """The shortcut for names already in INS form (the teleservice's, clean inputs) returns
    what the full normalisation returns: the two never disagree on a name they both take."""
    assert normalise_name("birth_name", name) == name
    assert _normalise_slowly("birth_name", name) == name


@pytest.mark.parametrize("raw", ["  de   vinci ", "d’artagnan", "dupont -- durand", "Éloïse"])
def test_normalisation_is_idempotent(raw: str) -> None:
    once = normalise_name("birth_name", raw)
    assert normalise_name("birth_name", once) == once == _normalise_slowly("birth_name", once)
