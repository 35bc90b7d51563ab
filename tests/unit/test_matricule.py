"""Matricule keys (97-mod rule with Corsica) and OID kinds."""

from __future__ import annotations

import pytest

from gateway.ins.matricule import (
    compute_key,
    key_matches,
    oid_identifier_type,
    oid_is_test,
    oid_kind,
)

# Public CNDA test identities: (matricule, key) as published.
PERSONAS = [
    ("297022A020778", "78"),
    ("160012B020777", "13"),
    ("2751263220749", "74"),
    ("2360663220836", "56"),
    ("1090763220834", "89"),
    ("180032B020401", "23"),
    ("1090763220888", "35"),
]


@pytest.mark.parametrize(("matricule", "key"), PERSONAS)
def test_published_keys_verify(matricule: str, key: str) -> None:
    assert compute_key(matricule) == key


def test_a_wrong_key_does_not_match() -> None:
    assert not key_matches("297022A020778", "77")
    assert not key_matches("29702", "78")


# FR Core, input/fsh/profiles/FRCorePatientINSProfile.fsh: the identifier slices fix
# INS-NIR = .8, INS-NIA = .9, INS-NIR-TEST = .10 and INS-NIR-DEMO = .11 ("patient
# fictif de démonstration"): .11 is a NIR of a fictitious patient, not a test NIA.
@pytest.mark.parametrize(
    ("oid", "kind", "test", "identifier_type"),
    [
        ("1.2.250.1.213.1.4.8", "NIR", False, "INS-NIR"),
        ("1.2.250.1.213.1.4.9", "NIA", False, "INS-NIA"),
        ("1.2.250.1.213.1.4.10", "NIR", True, "INS-NIR-TEST"),
        ("1.2.250.1.213.1.4.11", "NIR", True, "INS-NIR-DEMO"),
        ("1.2.3", None, None, None),
    ],
)
def test_oid_kinds(
    oid: str, kind: str | None, test: bool | None, identifier_type: str | None
) -> None:
    assert (oid_kind(oid), oid_is_test(oid), oid_identifier_type(oid)) == (
        kind,
        test,
        identifier_type,
    )


def test_a_missing_key_never_matches() -> None:
    assert not key_matches("297022A020778", None)


@pytest.mark.parametrize("number", ["29702", "297022X020778", "29702AA020778"])
def test_what_is_not_a_matricule_has_no_key(number: str) -> None:
    with pytest.raises(ValueError, match="matricule"):
        compute_key(number)
