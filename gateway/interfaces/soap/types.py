"""The SOAP shapes: the JSON interface's field names and nesting, as spyne models.

Requests: every field is an optional ``xs:string`` (or a repeated one). The
rules (required fields, formats, lunar dates such as ``1980-00-00``) live once
in :mod:`gateway.ins.queries`; a schema ``xs:date`` would refuse valid lunar dates,
and a ``minOccurs="1"`` would answer a spyne schema fault instead of the
stable ``invalid-input`` problem that names the field.

Lists are repeated elements (``Array(..., wrapped=False)``): ``<first_names>``
once per name, as JSON's list and INSi's own ``Prenom``; clients such as zeep
then take and give plain lists.

Answers: built from the one description of the answer shapes
(:mod:`gateway.render.shapes`, :mod:`gateway.render.answer_shapes`): the JSON
answers' member names, in the order ``openapi.json`` lists them; members every
answer carries have ``minOccurs="1"``, so the WSDL documents them. Only one
namespace, :data:`NS`.

Faults: :class:`Problem` declares the ``problem`` element every fault's
detail holds (the JSON problem document's members), so the WSDL has a
``wsdl:fault`` on every operation and typed clients bind the detail.
"""

from __future__ import annotations

from typing import Any, Final

from spyne import Array, Boolean, ComplexModel, Integer, Unicode
from spyne.model.complex import ComplexModelMeta
from spyne.model.fault import Fault

from gateway.render.answer_shapes import SHAPES
from gateway.render.shapes import Xml

NS: Final = "urn:insi-gateway:soap:v1"

TEXT: Any = Unicode
ALWAYS: Any = Unicode(min_occurs=1)
TEXTS: Any = Array(Unicode, wrapped=False)


def many(item: Any) -> Any:
    """A repeated element of ``item``."""
    return Array(item, wrapped=False)


# --- requests ----------------------------------------------------------------------------


class IdentityEvidence(ComplexModel):  # type: ignore[misc]
    """``identity_evidence``: the identity document a user checked (a FR Core
    ``fr-core-cs-mode-validation-identity`` code), who checked it and when."""

    __namespace__ = NS
    document = TEXT
    checked_by = TEXT
    checked_at = TEXT


class LocalIdentity(ComplexModel):  # type: ignore[misc]
    """``local_identity`` of a Vitale search: the five traits the application holds."""

    __namespace__ = NS
    birth_name = TEXT
    first_names = TEXTS
    sex = TEXT
    birth_date = TEXT
    birth_place = TEXT


class TraitsSearchRequest(ComplexModel):  # type: ignore[misc]
    """``searchByTraits``: the fields of ``POST /v1/ins/search``."""

    __namespace__ = NS
    birth_name = TEXT
    first_names = TEXTS
    sex = TEXT
    birth_date = TEXT
    birth_place = TEXT
    flags = TEXTS
    identity_evidence = IdentityEvidence


class CardAssertion(ComplexModel):  # type: ignore[misc]
    """SOAP header of CPx mode: the professional's card-signed SAML assertion, base64-encoded
    (the value of JSON's ``X-INSi-Assertion``), relayed to the teleservice byte for byte."""

    __namespace__ = NS
    assertion = TEXT


class VitaleSearchRequest(ComplexModel):  # type: ignore[misc]
    """``searchByVitale``: the fields of ``POST /v1/ins/search/vitale``."""

    __namespace__ = NS
    beneficiary_matricule = TEXT
    holder_matricule = TEXT
    birth_name = TEXT
    birth_date = TEXT
    birth_rank = TEXT
    local_identity = LocalIdentity
    identity_evidence = IdentityEvidence


class HeldIns(ComplexModel):  # type: ignore[misc]
    """The INS the application holds (``ins`` of ``POST /v1/ins/verify``)."""

    __namespace__ = NS
    matricule = TEXT
    key = TEXT
    oid = TEXT


class VerifyRequest(ComplexModel):  # type: ignore[misc]
    """``verifyIns``: the fields of ``POST /v1/ins/verify`` (one identity, not the batch form)."""

    __namespace__ = NS
    ins = HeldIns
    birth_name = TEXT
    first_names = TEXTS
    sex = TEXT
    birth_date = TEXT
    birth_place = TEXT
    flags = TEXTS
    identity_evidence = IdentityEvidence


# --- answers -----------------------------------------------------------------------------
# Built from the one description of the answer shapes (gateway.render.shapes):
# the JSON answers' members, in the order openapi.json lists them.


class SentQuery(ComplexModel):  # type: ignore[misc]
    """What was sent, normalised: the traits, or the Vitale card data (and the local
    identity it was compared with, never sent upstream). One SOAP type for both searches,
    whose JSON answers use two shapes (``TraitsSent``, ``VitaleSent``)."""

    __namespace__ = NS
    beneficiary_matricule = TEXT
    holder_matricule = TEXT
    birth_name = TEXT
    first_names = TEXTS
    sex = TEXT
    birth_date = TEXT
    birth_place = TEXT
    birth_rank = TEXT
    local_identity = LocalIdentity


_ELEMENTS: Final[dict[str, Any]] = {
    "text": Unicode,
    "boolean": Boolean,
    "texts": Unicode,
}


def _element(xml: Xml, models: dict[str, Any]) -> Any:
    """The spyne type of one member: ``minOccurs="1"`` where every answer carries it."""
    item = models[xml.of] if xml.kind in ("shape", "shapes") else _ELEMENTS[xml.kind]
    if xml.kind in ("texts", "shapes"):
        return many(item)
    return item(min_occurs=1) if xml.always else item


def _answer_models() -> dict[str, Any]:
    """The spyne answer types, parts first so an answer can name them."""
    models: dict[str, Any] = {"SentQuery": SentQuery, "LocalIdentity": LocalIdentity}
    for shape in SHAPES:
        if shape.soap_name is None:
            continue
        members = [(f.name, _element(f.xml, models)) for f in shape.fields]
        models[shape.soap_name] = ComplexModelMeta(
            shape.soap_name,
            (ComplexModel,),
            {
                "__namespace__": NS,
                "__module__": __name__,
                "__doc__": shape.description or shape.name,
                "_type_info": members,
            },
        )
    return models


_ANSWERS: Final = _answer_models()
Ins: Any = _ANSWERS["Ins"]
Identity: Any = _ANSWERS["Identity"]
Evidence: Any = _ANSWERS["Evidence"]
Attempt: Any = _ANSWERS["Attempt"]
Difference: Any = _ANSWERS["Difference"]
SearchAnswer: Any = _ANSWERS["SearchAnswer"]
VerifyAnswer: Any = _ANSWERS["VerifyAnswer"]


# --- faults ------------------------------------------------------------------------------


class UpstreamProblem(ComplexModel):  # type: ignore[misc]
    """``upstream`` of a problem: the teleservice's fault codes, or its HTTP status."""

    __namespace__ = NS
    code = TEXT
    subcode = TEXT
    error_code = TEXT
    severity = TEXT
    message_id = TEXT
    http_status = Integer


class Problem(Fault):  # type: ignore[misc]
    """The fault detail (:func:`gateway.render.problems.problem_document`), for the WSDL.

    Declared only: faults are raised as ``service.ProblemFault`` with this
    element built from the problem document, in this order.
    """

    __type_name__ = "problem"
    __namespace__ = NS
    type = ALWAYS
    title = ALWAYS
    status = Integer(min_occurs=1)
    detail = ALWAYS
    request_id = ALWAYS
    field = TEXT
    reason = TEXT
    check = TEXT
    retry_after = Integer
    flags = TEXTS
    upstream = UpstreamProblem
