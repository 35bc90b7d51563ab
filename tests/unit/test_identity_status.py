"""Issue 8, point 2: RECUP only when the returned strict traits agree with the person's.

Expected values are written from the rule (RNIV and the ANS INS guide: an INS
whose returned traits differ from the local ones is not integrated until a user
has checked the identity), not from the code's output.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.ins.verdicts import IdentityStatus, Verdict, compare, judge
from gateway.models import (
    CallContext,
    Ins,
    InsResult,
    MatriculeRef,
    OfficialIdentity,
    ResultCode,
    TraitsQuery,
    VerifyQuery,
    VitaleQuery,
)
from gateway.render.answers import search_answer_json, timestamp, verify_answer_json
from gateway.service import SearchAnswer, VerifyAnswer

NIR = "1.2.250.1.213.1.4.8"
TCHITCHI = OfficialIdentity(
    "TCHITCHI", "CATARINA", ("CATARINA", "BELLA"), "F", "1936-06-21", "63220"
)
FOUND = InsResult(ResultCode.FOUND, "OK", Ins("2360663220836", "56", NIR), TCHITCHI)
CONTEXT = CallContext(request_id="r-1", message_id="uuid:1")
AT = datetime(2026, 11, 27, 18, 40, 0, 123000, tzinfo=UTC)


def _traits(first_names: tuple[str, ...], **changes: str | None) -> TraitsQuery:
    fields: dict[str, object] = {
        "birth_name": "TCHITCHI",
        "first_names": first_names,
        "sex": "F",
        "birth_date": "1936-06-21",
        "birth_place": "63220",
    }
    fields.update(changes)
    return TraitsQuery(**fields)


@pytest.mark.parametrize(
    "held",
    [
        ("CATARINA",),  # the first first name alone
        ("CATARINA", "BELLA"),  # the whole list
    ],
)
def test_agreeing_traits_are_recup(held: tuple[str, ...]) -> None:
    answer = search_answer_json(SearchAnswer(_traits(held), FOUND, CONTEXT, queried_at=AT))
    assert (answer["identity_status"], answer["differences"]) == ("RECUP", [])


def test_a_held_birth_place_left_out_is_unchecked_and_never_recup() -> None:
    """Issue 16, point 2: the birth place is one of the five strict traits."""
    answer = search_answer_json(
        SearchAnswer(_traits(("CATARINA",), birth_place=None), FOUND, CONTEXT, queried_at=AT)
    )
    assert answer["identity_status"] == "CHECK_REQUIRED"
    assert (answer["differences"], answer["unchecked_traits"]) == ([], ["birth_place"])
    assert answer["identity"]["birth_place"] == "63220"  # the official identity still comes back


@pytest.mark.parametrize(
    ("held", "changes", "field", "given", "official"),
    [
        (("OLA", "CATARINA", "BELLA"), {}, "first_names", ["OLA", "CATARINA", "BELLA"],
         ["CATARINA", "BELLA"]),
        (("BELLA",), {}, "first_names", ["BELLA"], ["CATARINA", "BELLA"]),
        (("CATARINA",), {"sex": "M"}, "sex", "M", "F"),
        (("CATARINA",), {"birth_date": "1936-06-22"}, "birth_date", "1936-06-22", "1936-06-21"),
        (("CATARINA",), {"birth_place": "75056"}, "birth_place", "75056", "63220"),
        (("CATARINA",), {"birth_name": "TCHITCHIE"}, "birth_name", "TCHITCHIE", "TCHITCHI"),
    ],
)  # fmt: skip
def test_a_differing_trait_makes_the_status_check_required(
    held: tuple[str, ...], changes: dict[str, str], field: str, given: object, official: object
) -> None:
    answer = search_answer_json(
        SearchAnswer(_traits(held, **changes), FOUND, CONTEXT, queried_at=AT)
    )
    assert answer["identity_status"] == "CHECK_REQUIRED"
    assert answer["differences"] == [{"field": field, "given": given, "official": official}]
    assert answer["status"] == "found"  # the INS is still given, for the user to check


@pytest.mark.parametrize("code", [ResultCode.NOT_FOUND, ResultCode.MULTIPLE])
def test_no_single_identity_has_no_status(code: ResultCode) -> None:
    answer = search_answer_json(SearchAnswer(_traits(("OLA",)), InsResult(code, "x"), CONTEXT))
    assert (answer["identity_status"], answer["differences"]) == (None, [])


def test_vitale_search_without_local_identity_compares_nothing() -> None:
    """Issue 16, point 1: the card is a key, not the person at the desk."""
    card = VitaleQuery(MatriculeRef("2360663220836", "56"), None, "TCHITCHI", "1936-06-21", "1")
    answer = search_answer_json(SearchAnswer(card, FOUND, CONTEXT, queried_at=AT))
    assert answer["identity_status"] == "CHECK_REQUIRED"
    assert answer["unchecked_traits"] == [
        "birth_name", "first_names", "sex", "birth_date", "birth_place"
    ]  # fmt: skip


def test_vitale_search_compares_the_local_identity() -> None:
    beneficiary = MatriculeRef("2360663220836", "56")
    same = VitaleQuery(beneficiary, None, "TCHITCHI", "1936-06-21", "1", _traits(("CATARINA",)))
    assert SearchAnswer(same, FOUND, CONTEXT).identity_status is IdentityStatus.RECUP
    twin = _traits(("BELLA",), birth_place="63220")  # the other twin's card
    other = VitaleQuery(beneficiary, None, "TCHITCHI", "1936-06-21", "1", twin)
    answer = search_answer_json(SearchAnswer(other, FOUND, CONTEXT, queried_at=AT))
    assert answer["identity_status"] == "CHECK_REQUIRED"
    assert [d["field"] for d in answer["differences"]] == ["first_names"]
    assert answer["unchecked_traits"] == []


def _verify(held: Ins, traits: TraitsQuery, result: InsResult) -> dict[str, object]:
    verdict, differences = judge(held, traits, result)
    search = SearchAnswer(traits, result, CONTEXT, queried_at=AT)
    return verify_answer_json(VerifyAnswer(VerifyQuery(held, traits), verdict, differences, search))


def test_verify_mismatch_is_never_recup() -> None:
    answer = _verify(FOUND.ins, _traits(("OLA", "CATARINA", "BELLA")), FOUND)
    assert (answer["verdict"], answer["identity_status"]) == ("mismatch", "CHECK_REQUIRED")


def test_verify_of_another_ins_is_check_required() -> None:
    answer = _verify(Ins("2360663220837", "59", NIR), _traits(("CATARINA",)), FOUND)
    assert (answer["verdict"], answer["identity_status"]) == ("mismatch", "CHECK_REQUIRED")


def test_verify_verified_and_superseded_with_agreeing_traits_are_recup() -> None:
    old = Ins("2360663220999", "18", NIR)
    with_history = InsResult(FOUND.code, "OK", FOUND.ins, TCHITCHI, history=(old,))
    assert _verify(FOUND.ins, _traits(("CATARINA",)), FOUND)["identity_status"] == "RECUP"
    superseded = _verify(old, _traits(("CATARINA",)), with_history)
    assert (superseded["verdict"], superseded["identity_status"]) == ("superseded", "RECUP")


def test_double_hyphen_held_as_the_teleservice_spells_it_is_not_a_difference() -> None:
    official = OfficialIdentity("DUPONT--DURAND", "ANNE", ("ANNE",), "F", "1990-01-01", None)
    held = TraitsQuery("DUPONT--DURAND", ("ANNE",), "F", "1990-01-01", None)
    assert compare(held, official).differences == ()
    assert (
        judge(
            Ins("2900199999999", "16", NIR),
            held,
            InsResult(ResultCode.FOUND, "OK", Ins("2900199999999", "16", NIR), official),
        )[0]
        is Verdict.VERIFIED
    )


def test_queried_at_is_iso_8601_utc() -> None:
    answer = search_answer_json(SearchAnswer(_traits(("CATARINA",)), FOUND, CONTEXT, queried_at=AT))
    assert answer["queried_at"] == "2026-11-27T18:40:00.123Z"
    paris = datetime(2026, 11, 27, 19, 40, tzinfo=timezone(timedelta(hours=1)))
    assert timestamp(paris) == "2026-11-27T18:40:00.000Z"
