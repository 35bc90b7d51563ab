"""The answer shapes, described once: each member's name, JSON Schema, presence and SOAP element.

The JSON answers (:mod:`.answers`) are plain dicts; their shapes used to be
written three times (those dicts, the spyne answer types, the answer schemas
of ``openapi.json``) and kept together by tests. Now one :class:`Shape` per
answer object says, member by member and in the order of the published WSDL:

- its JSON Schema (type, enum, pattern, description, examples), ``nullable``
  adding ``null``; ``optional`` when the member is absent from some answers
  (everything else is in the schema's ``required``);
- its SOAP element (:class:`Xml`), from which
  :mod:`gateway.interfaces.soap.types` builds the spyne answer types.

:mod:`.openapi_schemas` writes the answer component schemas of
``openapi.json`` from them, and a unit test regenerates them in memory and
fails if the file differs. Pure data: no spyne, no jsonschema here, so the
render layer stays light.

The shapes themselves: this module holds the parts (an INS, the official
identity, what was sent, an attempt, the evidence, a difference);
:mod:`.answer_shapes` the two answers and the named helper schemas.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from gateway.ins.verdicts import STRICT_TRAITS
from gateway.models import ResultCode

#: What :func:`.answers.search_answer_json` says when several identities match.
MULTIPLE_HINT: Final = (
    "several identities match: send every birth first name and the birth place to narrow the search"
)
DATE: Final = r"^\d{4}-\d{2}-\d{2}$"
CODES: Final = [code.value for code in ResultCode]


@dataclass(frozen=True)
class Xml:
    """How a member is an element of the SOAP answer types.

    ``kind``: ``text`` (``xs:string``), ``boolean``, ``texts`` (a repeated
    string), ``shape`` (the SOAP type named ``of``), ``shapes`` (that type,
    repeated). ``always`` is ``minOccurs="1"`` (single elements only): the
    published WSDL documents which members every answer carries, and that
    does not follow from the JSON Schema (``key_valid`` and ``queried_at`` are
    always there, yet optional in the WSDL), so it is kept member by member.
    """

    kind: Literal["text", "boolean", "texts", "shape", "shapes"]
    of: str = ""
    always: bool = False


TEXT: Final = Xml("text")
ALWAYS: Final = Xml("text", always=True)
BOOLEAN: Final = Xml("boolean")
TEXTS: Final = Xml("texts")


def nested(of: str) -> Xml:
    """One element of the SOAP type ``of``."""
    return Xml("shape", of)


def repeated(of: str) -> Xml:
    """A repeated element of the SOAP type ``of`` (unwrapped, as JSON's list)."""
    return Xml("shapes", of)


def ref(component: str) -> dict[str, Any]:
    """A JSON Schema reference to one of the document's component schemas."""
    return {"$ref": f"#/components/schemas/{component}"}


@dataclass(frozen=True)
class Field:
    """One member of an answer object: ``schema`` is its JSON Schema without ``null``."""

    name: str
    schema: Mapping[str, Any]
    xml: Xml = TEXT
    description: str | None = None
    examples: tuple[Any, ...] = ()
    nullable: bool = False
    optional: bool = False

    def json_schema(self) -> dict[str, Any]:
        """The property schema: the value's, ``null`` added when nullable, then the prose."""
        value = copy.deepcopy(dict(self.schema))
        if self.nullable:
            value = _or_null(value)
        if self.description is not None:
            value["description"] = self.description
        if self.examples:
            value["examples"] = list(self.examples)
        return value


def _or_null(value: dict[str, Any]) -> dict[str, Any]:
    """``type: [t, "null"]`` (and ``null`` in an enum) for a plain type, else a ``oneOf``."""
    if "type" not in value:
        return {"oneOf": [value, {"type": "null"}]}
    nullable: dict[str, Any] = {}
    for key, item in value.items():
        if key == "type":
            nullable[key] = [item, "null"]
        elif key == "enum":
            nullable[key] = [*item, None]
        else:
            nullable[key] = item
    return nullable


@dataclass(frozen=True)
class Shape:
    """An answer object: its OpenAPI component name, its SOAP type name, its members in order.

    ``soap_name`` is ``None`` for what SOAP carries otherwise (what was sent:
    one ``SentQuery`` type for both searches).

    ``closed`` objects refuse unknown members (``additionalProperties:
    false``); ``variants`` are the schema's ``oneOf`` (the status-dependent
    constraints, JSON only).
    """

    name: str
    soap_name: str | None
    fields: tuple[Field, ...]
    description: str | None = None
    closed: bool = True
    variants: tuple[Mapping[str, Any], ...] = field(default=())

    def json_schema(self) -> dict[str, Any]:
        """The object's JSON Schema, in the key order ``openapi.json`` is written in."""
        schema: dict[str, Any] = {"type": "object"}
        if self.description is not None:
            schema["description"] = self.description
        if self.closed:
            schema["additionalProperties"] = False
        schema["required"] = [f.name for f in self.fields if not f.optional]
        schema["properties"] = {f.name: f.json_schema() for f in self.fields}
        if self.variants:
            schema["oneOf"] = copy.deepcopy([dict(v) for v in self.variants])
        return schema


_STRING: Final = {"type": "string"}
_BOOLEAN: Final = {"type": "boolean"}
_NAME: Final = {"type": "string", "pattern": "^[A-Z' -]+$"}
_MATRICULE: Final = {"type": "string", "pattern": "^[0-9]{5}([0-9]{2}|2[AB])[0-9]{8}$"}
_UNKNOWN_OID: Final = "`null` for an OID the gateway does not know."

INS: Final = Shape(
    "Ins",
    "Ins",
    description=(
        "An INS as the teleservice returned it. The gateway passes matricule, key and OID"
        " through and adds what it knows of them."
    ),
    fields=(
        Field("matricule", _STRING, ALWAYS, "13 characters (NIR or NIA).", ("297022A020778",)),
        Field(
            "key",
            _STRING,
            description=(
                "The 2-digit key. `null` only in a `history` entry the teleservice sent without"
                " `Cle` (optional in `INSi_RESULTAT_INS.xsd`): such an entry is kept, flagged by"
                " the missing key (`key_valid: false`)."
            ),
            examples=("78",),
            nullable=True,
        ),
        Field(
            "oid",
            _STRING,
            ALWAYS,
            "`1.2.250.1.213.1.4.8` NIR, `.9` NIA, `.10` test NIR, `.11` demonstration NIR"
            " (FR Core `FRCorePatientINSProfile` identifier slices).",
            ("1.2.250.1.213.1.4.8",),
        ),
        Field(
            "kind",
            {"type": "string", "enum": ["NIR", "NIA"]},
            description=f"The kind the OID designates; {_UNKNOWN_OID}",
            nullable=True,
        ),
        Field(
            "oid_kind",
            {"type": "string", "enum": ["INS-NIR", "INS-NIA", "INS-NIR-TEST", "INS-NIR-DEMO"]},
            description=(
                "The FR Core identifier type code of the OID (code system `fr-core-cs-v2-0203`):"
                " `.8` `INS-NIR`, `.9` `INS-NIA`, `.10` `INS-NIR-TEST`, `.11` `INS-NIR-DEMO`; "
                + _UNKNOWN_OID
            ),
            nullable=True,
        ),
        Field(
            "test",
            _BOOLEAN,
            BOOLEAN,
            "Whether the OID designates a fictitious patient: `.10` (test NIR) and `.11`"
            " (demonstration NIR); `null` for an unknown OID.",
            nullable=True,
        ),
        Field(
            "key_valid",
            _BOOLEAN,
            BOOLEAN,
            "Whether the key verifies against the matricule (97-mod, 2A→19, 2B→18); `false` for"
            " a missing key. A key that does not verify is still returned (the teleservice is"
            " the authority) and logged as a warning; the application must not take such an INS"
            " without checking it.",
        ),
        Field(
            "start_date",
            _STRING,
            description=(
                "Start of validity (`DateDeb`), when the teleservice gives it (history entries)."
            ),
            optional=True,
        ),
        Field(
            "end_date",
            _STRING,
            description=(
                "End of validity (`DateFin`), when the teleservice gives it (history entries)."
            ),
            optional=True,
        ),
    ),
)

OFFICIAL_IDENTITY: Final = Shape(
    "OfficialIdentity",
    "Identity",
    description=(
        "The strict identity traits (TIQ) the teleservice returned, from the civil registries."
    ),
    fields=(
        Field("birth_name", _STRING, ALWAYS),
        Field(
            "first_name",
            _STRING,
            description=(
                "The first first name: `Prenom` when the teleservice sends it, else the first of"
                " `ListePrenom` (real answers often carry only the list)."
            ),
            nullable=True,
        ),
        Field(
            "first_names",
            {"type": "array", "items": _STRING},
            TEXTS,
            "Every birth first name, in order (`ListePrenom`).",
        ),
        Field("sex", {"type": "string", "pattern": "^[A-Z]$"}, ALWAYS),
        Field(
            "birth_date",
            {"type": "string", "pattern": DATE},
            ALWAYS,
            "Possibly lunar (`00` day or month).",
        ),
        Field(
            "birth_place",
            _STRING,
            description="INSEE COG code; `null` when the teleservice gives none.",
            nullable=True,
        ),
    ),
)

TRAITS_SENT: Final = Shape(
    "TraitsSent",
    None,
    description="The normalised traits the gateway sent.",
    fields=(
        Field("birth_name", _NAME),
        Field(
            "first_names",
            {
                "type": "array",
                "minItems": 1,
                "maxItems": 10,
                "items": {"type": "string", "pattern": "^[A-Z'-]+$"},
            },
            TEXTS,
        ),
        Field("sex", {"type": "string", "enum": ["F", "M"]}),
        Field("birth_date", {"type": "string", "pattern": DATE}),
        Field(
            "birth_place",
            {"type": "string", "pattern": "^([0-9]{5}|2[AB][0-9]{3})$"},
            nullable=True,
        ),
    ),
)

VITALE_SENT: Final = Shape(
    "VitaleSent",
    None,
    description=(
        "The normalised card data the gateway sent (matricules as 13 characters + key,"
        " without spaces)."
    ),
    fields=(
        Field("beneficiary_matricule", _MATRICULE, nullable=True),
        Field("holder_matricule", _MATRICULE, nullable=True),
        Field("birth_name", _NAME),
        Field("birth_date", {"type": "string", "pattern": DATE}),
        Field("birth_rank", {"type": "string", "pattern": "^[1-9]$"}),
        Field(
            "local_identity",
            ref("TraitsSent"),
            nested("LocalIdentity"),
            "The local identity compared with the official one, normalised (never sent upstream).",
            nullable=True,
        ),
    ),
)

ATTEMPT: Final = Shape(
    "Attempt",
    "Attempt",
    description="One upstream call of a traits search.",
    fields=(
        Field(
            "first_names",
            _STRING,
            ALWAYS,
            "The `Prenom` sent: one first name, or the whole list joined by spaces.",
        ),
        Field("code", {"type": "string", "enum": CODES}, ALWAYS, "The CR it got."),
        Field("message_id", ref("MessageId"), ALWAYS),
    ),
)

EVIDENCE: Final = Shape(
    "EvidenceGiven",
    "Evidence",
    fields=(
        Field("document", _STRING, ALWAYS),
        Field("checked_by", _STRING, nullable=True),
        Field("checked_at", _STRING, nullable=True),
        Field(
            "qualifying",
            _BOOLEAN,
            Xml("boolean", always=True),
            "Whether this document can qualify an identity (RNIV high-trust device).",
        ),
    ),
)

DIFFERENCE: Final = Shape(
    "Difference",
    "Difference",
    description=(
        "A held value that differs from the official one. For `ins`, `given` and `official` are"
        " `{matricule, key}` objects; for `first_names`, lists."
    ),
    fields=(
        Field("field", {"type": "string", "enum": ["ins", "ins.oid", *STRICT_TRAITS]}, ALWAYS),
        # SOAP carries the non-string values as compact JSON text
        Field("given", ref("DifferenceValue")),
        Field("official", ref("DifferenceValue")),
    ),
)
