"""The two answers (a search, a verdict) and the named schemas they share, described once.

See :mod:`.shapes` for what a :class:`~.shapes.Shape` says and who reads it.
The members are in the order of the published WSDL; the JSON answers carry
the same names (their order in a JSON object means nothing).
"""

from __future__ import annotations

from typing import Any, Final

from gateway.ins.verdicts import STRICT_TRAITS, IdentityStatus, Verdict
from gateway.render.shapes import (
    ALWAYS,
    ATTEMPT,
    CODES,
    DIFFERENCE,
    EVIDENCE,
    INS,
    MULTIPLE_HINT,
    OFFICIAL_IDENTITY,
    TEXT,
    TEXTS,
    TRAITS_SENT,
    VITALE_SENT,
    Field,
    Shape,
    nested,
    ref,
    repeated,
)

STATUSES: Final = [status.value for status in IdentityStatus]
QUERIED_AT: Final = (
    "When the teleservice was called (the last call of the search), ISO 8601 in UTC:"
    " FR Core's `dateInterrogationINSi`."
)
_DATE_TIME: Final = {"type": "string", "format": "date-time"}
_NO_IDENTITY: Final = {"ins": {"type": "null"}, "identity": {"type": "null"}}


def _status(description: str) -> Field:
    return Field(
        "identity_status",
        {"type": "string", "enum": STATUSES},
        description=description,
        nullable=True,
    )


def _common_tail(message_id: str | None) -> tuple[Field, ...]:
    """``message_id``, ``request_id``, ``queried_at``: the end of both answers."""
    return (
        Field("message_id", ref("MessageId"), ALWAYS, message_id),
        Field("request_id", {"type": "string"}, ALWAYS),
        Field(
            "queried_at", _DATE_TIME, description=QUERIED_AT, examples=("2026-11-27T18:40:00.123Z",)
        ),
    )


def _search_variant(title: str, code: str, **properties: Any) -> dict[str, Any]:
    variant: dict[str, Any] = {"title": title}
    if title == "multiple":
        variant["required"] = ["hint"]
    variant["properties"] = {"status": {"const": title}, "code": {"const": code}, **properties}
    if title != "multiple":
        variant["not"] = {"required": ["hint"]}
    return variant


_NOTHING: Final = {
    **_NO_IDENTITY,
    "identity_status": {"type": "null"},
    "differences": {"maxItems": 0},
    "history": {"maxItems": 0},
}

SEARCH_ANSWER: Final = Shape(
    "SearchAnswer",
    "SearchAnswer",
    description=(
        "The answer of both searches (traits, Vitale). `attempts` is given for traits searches"
        " only; `hint` only with `multiple`."
    ),
    fields=(
        Field("status", {"type": "string", "enum": ["found", "not_found", "multiple"]}, ALWAYS),
        Field(
            "code", {"type": "string", "enum": CODES}, ALWAYS, "The teleservice's CR (`CodeCR`)."
        ),
        Field("label", {"type": "string"}, ALWAYS, "The teleservice's `LibelleCR`."),
        Field(
            "ins", ref("Ins"), nested("Ins"), "The active INS; `null` unless found.", nullable=True
        ),
        Field("identity", ref("OfficialIdentity"), nested("Identity"), nullable=True),
        _status(
            "Status of the identity returned (RNIV), never more than was checked: `QUAL`"
            " (qualifiée) when all five strict traits (birth name, first names, sex, birth date,"
            " birth place) were compared, after normalisation, with the person's traits the"
            " application holds and agree, and the application attests a qualifying identity"
            " document (`identity_evidence`); `RECUP` (récupérée) on the same full agreement"
            " without qualifying evidence; `CHECK_REQUIRED` when an INS was returned but"
            " something differs (`differences`) or could not be compared (`unchecked_traits`):"
            " the RNIV and the ANS INS guide forbid integrating that INS until a user has checked"
            " the identity. A Vitale search compares `local_identity`, never the card's data."
            " `null` without a single identity. See docs/ins-rules.md."
        ),
        Field(
            "differences",
            {"type": "array", "items": ref("Difference")},
            repeated("Difference"),
            "Each sent trait that differs from the official one, with both values (as in a"
            " verification); empty unless found.",
        ),
        Field("unchecked_traits", ref("UncheckedTraits"), TEXTS),
        Field("identity_evidence", ref("EvidenceGiven"), nested("Evidence")),
        Field(
            "history",
            {"type": "array", "items": ref("Ins")},
            repeated("Ins"),
            "Former INS of the person (entries repeating the active INS are dropped).",
        ),
        Field("attempts", ref("Attempts"), repeated("Attempt"), optional=True),
        Field("hint", ref("MultipleHint"), optional=True),
        Field(
            "sent",
            {"oneOf": [ref("TraitsSent"), ref("VitaleSent")]},
            nested("SentQuery"),
        ),
        *_common_tail(
            "The `wsa:MessageID` of the upstream call whose answer is given (the last one, but"
            " when a CR 02 refinement found nobody: the CR 02 call)."
        ),
    ),
    variants=(
        _search_variant(
            "found",
            "00",
            ins={"type": "object"},
            identity={"type": "object"},
            identity_status={"enum": STATUSES},
        ),
        _search_variant("not_found", "01", **_NOTHING),
        _search_variant("multiple", "02", **_NOTHING),
    ),
)


def _verdict(verdict: Verdict, **properties: Any) -> dict[str, Any]:
    hint = {"type": "string" if verdict is Verdict.MULTIPLE else "null"}
    return {
        "title": verdict.value,
        "properties": {"verdict": {"const": verdict.value}, **properties, "hint": hint},
    }


_EMPTY: Final = {"maxItems": 0}
_AN_INS: Final = {"ins": {"type": "object"}}

VERIFY_ANSWER: Final = Shape(
    "VerifyAnswerFields",
    "VerifyAnswer",
    description="The members of a verdict (shared by the single answer and the batch results).",
    closed=False,  # VerifyAnswer closes it; the batch results add `index`
    fields=(
        Field("verdict", {"type": "string", "enum": [v.value for v in Verdict]}, ALWAYS),
        Field(
            "differences",
            {"type": "array", "items": ref("Difference")},
            repeated("Difference"),
            "Held values that differ from the official ones (with `mismatch`: also the INS itself"
            " when another INS is active; with `superseded`: the traits only).",
        ),
        Field(
            "ins",
            ref("Ins"),
            nested("Ins"),
            "The active INS, as in a search answer.",
            nullable=True,
        ),
        Field("identity", ref("OfficialIdentity"), nested("Identity"), nullable=True),
        _status(
            "As in a search answer (for `superseded`, `differences` about the INS itself do not"
            " count: the INS returned is the person's current one)."
        ),
        Field("unchecked_traits", ref("UncheckedTraits"), TEXTS),
        Field("identity_evidence", ref("EvidenceGiven"), nested("Evidence")),
        Field("history", {"type": "array", "items": ref("Ins")}, repeated("Ins")),
        Field("attempts", ref("Attempts"), repeated("Attempt")),
        Field("hint", ref("MultipleHint"), TEXT, nullable=True),
        *_common_tail(None),
    ),
    variants=(
        _verdict(
            Verdict.VERIFIED, differences=_EMPTY, **_AN_INS, identity_status={"enum": STATUSES}
        ),
        _verdict(
            Verdict.MISMATCH,
            differences={"minItems": 1},
            **_AN_INS,
            identity_status={"const": IdentityStatus.CHECK_REQUIRED.value},
        ),
        _verdict(Verdict.SUPERSEDED, **_AN_INS, identity_status={"enum": STATUSES}),
        _verdict(
            Verdict.NOT_FOUND, differences=_EMPTY, **_NO_IDENTITY, identity_status={"type": "null"}
        ),
        _verdict(
            Verdict.MULTIPLE, differences=_EMPTY, **_NO_IDENTITY, identity_status={"type": "null"}
        ),
    ),
)

#: Every answer object, parts first (the order SOAP types are built in).
SHAPES: Final = (
    INS,
    OFFICIAL_IDENTITY,
    TRAITS_SENT,
    VITALE_SENT,
    ATTEMPT,
    EVIDENCE,
    DIFFERENCE,
    SEARCH_ANSWER,
    VERIFY_ANSWER,
)


def evidence_given() -> dict[str, Any]:
    """``identity_evidence`` of an answer: the evidence object, or ``null``."""
    return {
        "oneOf": [{"type": "null"}, EVIDENCE.json_schema()],
        "description": (
            "The `identity_evidence` the request attested, as received, and whether it can"
            " qualify; `null` without one."
        ),
    }


#: The named schemas the answers share that are not objects of their own.
NAMED: Final[dict[str, dict[str, Any]]] = {
    "MessageId": {
        "type": "string",
        "pattern": "^uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        "description": (
            "The `wsa:MessageID` of an upstream message (quote it to the Assurance Maladie"
            " support)."
        ),
    },
    "Attempts": {
        "type": "array",
        "description": (
            "Every upstream call of a traits search, in order. The search goes on after a CR 01;"
            " a CR 02 on part of the first names is refined once with the whole list (a CR 01 to"
            " that keeps the answer `multiple`)."
        ),
        "items": ref("Attempt"),
    },
    "MultipleHint": {
        "type": "string",
        "description": "Present when several identities match (CR 02): how to narrow the search.",
        "examples": [MULTIPLE_HINT],
    },
    "DifferenceValue": {
        "oneOf": [
            {"type": "string"},
            {"type": "null"},
            {"type": "array", "items": {"type": "string"}},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["matricule", "key"],
                "properties": {"matricule": {"type": "string"}, "key": {"type": "string"}},
            },
        ]
    },
    "VerifyAnswer": {
        "description": (
            "The verdict on one INS held locally, the differences with their official values,"
            " and the official identity."
        ),
        "$ref": "#/components/schemas/VerifyAnswerFields",
        "unevaluatedProperties": False,
    },
    "UncheckedTraits": {
        "type": "array",
        "items": {"type": "string", "enum": list(STRICT_TRAITS)},
        "description": (
            "The strict traits that could not be compared (not sent, or unknown on one side; for"
            " a Vitale search without `local_identity`, all five). `RECUP` and `QUAL` require it"
            " empty. Empty without a single identity."
        ),
    },
}
