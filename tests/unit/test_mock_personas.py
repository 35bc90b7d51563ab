"""The mock's referential: persona keys, traits matching, Vitale card matching.

Expected matricules come from the brief's persona table (public CNDA test
identities), never from the code under test.
"""

from __future__ import annotations

import pytest

from gateway.ins.matricule import OID_NIA, compute_key
from gateway.mock.personas import (
    NESSI_PARENT_KEY,
    NESSI_PARENT_MATRICULE,
    PERSONAS,
    VitaleQuery,
    search_by_traits,
    search_by_vitale,
    unavailable_for,
)
from gateway.models import TraitsQuery


def traits(
    birth_name: str, first_names: str, sex: str, birth_date: str, place: str | None = None
) -> TraitsQuery:
    return TraitsQuery(birth_name, tuple(first_names.split()), sex, birth_date, place)


def matricules(query: TraitsQuery) -> list[str]:
    return [p.active.matricule for p in search_by_traits(query) if p.active]


# --- keys --------------------------------------------------------------------------------------


def test_every_persona_ins_has_a_valid_key_but_the_ones_made_to_fail() -> None:
    failing, without_key = [], []
    checked = 0
    for persona in PERSONAS:
        for ins in (persona.active, *persona.history):
            if ins is not None:
                checked += 1
                if ins.key is None:
                    without_key.append(persona.birth_name)
                elif compute_key(ins.matricule) != ins.key:
                    failing.append(persona.birth_name)
        for card in persona.vitale_cards:
            assert compute_key(card.holder_matricule) == card.holder_key
    # HERMANN: the keys of CNDA test file 2.08 (active, repeated, former) fail the rule too
    assert failing == ["HERMANN", "HERMANN", "HERMANN", "CLEFAUSSE"]
    assert without_key == ["ANCIENCLE"]  # a former INS without Cle (optional in the XSD)
    assert checked == 22


def test_twins_share_their_first_first_name_date_and_place() -> None:
    twins = [p for p in PERSONAS if p.birth_name == "JUMELLES"]
    assert [p.first_names for p in twins] == [("MARIE", "CLAIRE"), ("MARIE", "ANNE")]
    assert len({(p.sex, p.birth_date, p.birth_place, p.first_names[0]) for p in twins}) == 1


def test_nessi_parent_matricule_is_an_invented_valid_one() -> None:
    assert compute_key(NESSI_PARENT_MATRICULE) == NESSI_PARENT_KEY
    assert all(p.active is None or p.active.matricule != NESSI_PARENT_MATRICULE for p in PERSONAS)


# --- traits ------------------------------------------------------------------------------------


def test_one_persona_by_all_traits() -> None:
    query = traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "2A020")
    assert matricules(query) == ["297022A020778"]


def test_birth_place_is_optional() -> None:
    assert matricules(traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26")) == ["297022A020778"]


def test_a_different_birth_place_matches_nobody() -> None:
    assert matricules(traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "63220")) == []


@pytest.mark.parametrize(
    "first_names",
    ["PIERRE-ALAIN", "MURIEL", "FLORIANT", "PIERRE-ALAIN MURIEL FLORIANT"],
)
def test_one_of_the_first_names_or_the_full_list_matches(first_names: str) -> None:
    query = traits("ECETINSI", first_names, "M", "2009-07-14")
    assert matricules(query) == ["1090763220834"]


@pytest.mark.parametrize("first_names", ["PIERRE-ALAIN MURIEL", "FLORIANT MURIEL", "PIERRE"])
def test_a_partial_or_reordered_list_does_not_match(first_names: str) -> None:
    assert matricules(traits("ECETINSI", first_names, "M", "2009-07-14")) == []


@pytest.mark.parametrize(
    ("birth_name", "sex", "birth_date"),
    [
        ("ADRTROIS", "M", "1997-02-26"),
        ("ADRTROIS", "F", "1997-02-27"),
        ("adrtrois", "F", "1997-02-26"),
    ],
)
def test_name_sex_and_date_must_be_exact(birth_name: str, sex: str, birth_date: str) -> None:
    assert matricules(traits(birth_name, "DOMINIQUE", sex, birth_date)) == []


def test_homonyms_give_several_without_place_and_one_with_it() -> None:
    assert len(search_by_traits(traits("DE VINCI", "LEONARDO", "M", "2014-02-01"))) == 2
    assert matricules(traits("DE VINCI", "LEONARDO", "M", "2014-02-01", "75056")) == [
        "1140275056204"
    ]


@pytest.mark.parametrize("place", [None, "63220"])
def test_houilles_never_matches(place: str | None) -> None:
    query = traits("HOUILLES", "PIERRE PAUL JACQUES", "M", "1993-01-27", place)
    assert search_by_traits(query) == ()
    assert search_by_traits(traits("HOUILLES", "PIERRE", "M", "1993-01-27")) == ()


def test_provisional_matricule_carries_the_nia_oid() -> None:
    (persona,) = search_by_traits(traits("PROVISOIRE", "MATRICULE", "M", "2009-07-01"))
    assert persona.active is not None
    assert persona.active.oid == OID_NIA == "1.2.250.1.213.1.4.9"


def test_history_of_ecetinsi() -> None:
    (persona,) = search_by_traits(traits("ECETINSI", "MURIEL", "M", "2009-07-14"))
    assert [(h.matricule, h.key, h.start_date, h.end_date) for h in persona.history] == [
        ("2090763220834", "39", "2019-03-01", "2019-02-28"),  # as recorded, end before start
        ("2090663220123", "55", None, None),
    ]


def test_hermann_gatien_of_cnda_test_2_08() -> None:
    (persona,) = search_by_traits(traits("HERMANN", "GATIEN", "M", "1981-03-24"))
    assert persona.active is not None
    assert (persona.active.matricule, persona.active.key) == ("1810363220456", "60")
    assert [(h.matricule, h.key) for h in persona.history] == [
        ("1810363220456", "60"),
        ("2810363220456", "10"),
    ]


def test_vandermonde_is_never_found_but_makes_the_service_unavailable() -> None:
    query = traits("VANDERMONDE", "ARIANA", "F", "1995-06-17")
    assert search_by_traits(query) == ()
    assert unavailable_for(query)
    assert not unavailable_for(traits("VANDERMONDE", "OTHER", "F", "1995-06-17"))
    assert not unavailable_for(traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26"))


# --- Vitale card -------------------------------------------------------------------------------


def vitale(number: str, key: str | None, name: str, date: str, rank: str) -> VitaleQuery:
    return VitaleQuery(((number, key),), name, date, rank)


def test_card_held_by_the_persona_herself() -> None:
    (persona,) = search_by_vitale(vitale("297022A020778", "78", "ADRTROIS", "1997-02-26", "1"))
    assert persona.first_names == ("DOMINIQUE",)


def test_card_held_by_a_parent_at_rank_two() -> None:
    query = vitale(NESSI_PARENT_MATRICULE, NESSI_PARENT_KEY, "NESSI", "2010-08-07", "2")
    (persona,) = search_by_vitale(query)
    assert persona.active is not None
    assert persona.active.matricule == "1100863220830"


@pytest.mark.parametrize(
    "query",
    [
        vitale(NESSI_PARENT_MATRICULE, NESSI_PARENT_KEY, "NESSI", "2010-08-07", "1"),  # rank
        vitale(NESSI_PARENT_MATRICULE, "11", "NESSI", "2010-08-07", "2"),  # key
        vitale(NESSI_PARENT_MATRICULE, None, "NESSI", "2010-08-08", "2"),  # date
        vitale("2751263220749", "74", "ADRUN", "1975-12-31", "1"),  # no card data
    ],
)
def test_card_data_must_all_match(query: VitaleQuery) -> None:
    assert search_by_vitale(query) == ()
