"""From request fields to queries: the rules both interfaces share."""

from __future__ import annotations

import pytest

from gateway.exceptions import IdentityNotEligible, InvalidInput
from gateway.ins.queries import search_query, verify_query, vitale_query

TRAITS = {
    "birth_name": "ADRTROIS",
    "first_names": ["DOMINIQUE"],
    "sex": "F",
    "birth_date": "1997-02-26",
}
CARD = {"birth_name": "ADRTROIS", "birth_date": "1997-02-26", "birth_rank": "1"}


def test_unknown_field_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        search_query({**TRAITS, "birthname": "typo"})
    assert caught.value.field == "birthname"


@pytest.mark.parametrize("empty", ["", None])
def test_a_card_search_needs_a_real_matricule(empty: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        vitale_query({**CARD, "beneficiary_matricule": empty})
    assert caught.value.field == "holder_matricule"


def test_card_matricule_as_printed_with_spaces() -> None:
    query = vitale_query({**CARD, "beneficiary_matricule": "2 97 02 2A 020 778 78"})
    assert query.beneficiary is not None
    assert (query.beneficiary.number, query.beneficiary.key) == ("297022A020778", "78")


def test_card_matricule_with_a_wrong_key_is_refused() -> None:
    with pytest.raises(InvalidInput, match="key does not match"):
        vitale_query({**CARD, "holder_matricule": "297022A02077877"})


@pytest.mark.parametrize("flag", ["douteuse", "fictive"])
def test_blocking_flags_stop_every_operation(flag: str) -> None:
    ins = {"matricule": "297022A020778", "key": "78", "oid": "1.2.250.1.213.1.4.8"}
    for build, fields in (
        (search_query, TRAITS),
        (verify_query, {**TRAITS, "ins": ins}),
        (vitale_query, {**CARD, "beneficiary_matricule": "297022A02077878"}),
    ):
        with pytest.raises(IdentityNotEligible, match=flag):  # the flag that forbids the call
            build({**fields, "flags": [flag]})


def test_homonym_flag_does_not_block() -> None:
    assert search_query({**TRAITS, "flags": ["homonyme"]}).birth_name == "ADRTROIS"


def test_verify_needs_a_well_formed_oid() -> None:
    ins = {"matricule": "297022A020778", "key": "78", "oid": "not-an-oid"}
    with pytest.raises(InvalidInput) as caught:
        verify_query({**TRAITS, "ins": ins})
    assert caught.value.field == "ins.oid"
