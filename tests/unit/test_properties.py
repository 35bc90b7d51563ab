"""Property-based tests (hypothesis) for the INS rules that must hold for every input."""

from __future__ import annotations

import string

from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.exceptions import InvalidInput
from gateway.ins.matricule import compute_key, key_matches
from gateway.ins.traits import normalise_name

ALLOWED = set(string.ascii_uppercase + " -'")

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40
)
french_names = st.text(alphabet="abcdeéèêëàâäîïôöùûüçæœÆŒÉÈÇ '-’ABCXYZ", min_size=1, max_size=40)


def _normalised(raw: str) -> str | None:
    try:
        return normalise_name("birth_name", raw)
    except InvalidInput:
        return None


@given(st.one_of(names, french_names))
def test_normalisation_is_idempotent_and_stays_in_the_alphabet(raw: str) -> None:
    once = _normalised(raw)
    assume(once is not None)
    assert once is not None
    assert set(once) <= ALLOWED
    assert once == once.strip(" -'")
    assert "  " not in once
    assert "---" not in once  # a double hyphen (double family name) is kept, never more
    assert normalise_name("birth_name", once) == once


@given(french_names)
def test_french_letters_always_normalise_or_are_empty(raw: str) -> None:
    refusal = None
    try:
        normalise_name("birth_name", raw)
    except InvalidInput as error:
        refusal = error.reason
    # never a refused character; separators mixed between two parts are refused (issue 16)
    assert refusal in (None, "is empty once cleaned") or refusal.startswith("mixes separators")


departments = st.one_of(st.integers(1, 95).map(lambda n: f"{n:02d}"), st.sampled_from(["2A", "2B"]))
matricules = st.builds(
    lambda sex, year, month, dept, commune, order: (
        f"{sex}{year:02d}{month:02d}{dept}{commune:03d}{order:03d}"
    ),
    st.sampled_from("12"),
    st.integers(0, 99),
    st.integers(1, 12),
    departments,
    st.integers(1, 999),
    st.integers(1, 999),
)


@given(matricules)
def test_a_computed_key_verifies(matricule: str) -> None:
    key = compute_key(matricule)
    assert len(key) == 2
    assert key.isdigit()
    assert 1 <= int(key) <= 97
    assert key_matches(matricule, key)


@given(matricules, st.integers(0, 14), st.integers(1, 9))
def test_any_single_digit_change_is_detected(matricule: str, position: int, shift: int) -> None:
    full = matricule + compute_key(matricule)
    assume(full[position].isdigit())
    changed_digit = str((int(full[position]) + shift) % 10)
    changed = full[:position] + changed_digit + full[position + 1 :]
    assert not key_matches(changed[:13], changed[13:])
