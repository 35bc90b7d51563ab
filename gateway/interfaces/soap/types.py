"""The SOAP shapes: the JSON interface's field names and nesting, as spyne models.

Requests: every field is an optional ``xs:string`` (or a repeated one). The
rules (required fields, formats, lunar dates such as ``1980-00-00``) live once
in :mod:`gateway.ins.queries`; a schema ``xs:date`` would refuse valid lunar dates,
and a ``minOccurs="1"`` would answer a spyne schema fault instead of the
stable ``invalid-input`` problem that names the field.

Lists are repeated elements (``Array(..., wrapped=False)``): ``<first_names>``
once per name, as JSON's list and INSi's own ``Prenom``; clients such as zeep
then take and give plain lists.

Answers: fields always present in the JSON answer have ``minOccurs="1"``, so
the WSDL documents them. Only one namespace, :data:`NS`.

Faults: :class:`Problem` declares the ``problem`` element every fault's
detail holds (the JSON problem document's members), so the WSDL has a
``wsdl:fault`` on every operation and typed clients bind the detail.
"""

from __future__ import annotations

from typing import Any, Final

from spyne import Array, Boolean, ComplexModel, Integer, Unicode
from spyne.model.fault import Fault

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


class Ins(ComplexModel):  # type: ignore[misc]
    """An INS as answered (:func:`gateway.render.answers.ins_json`)."""

    __namespace__ = NS
    matricule = ALWAYS
    key = TEXT  # a former INS may come without its key
    oid = ALWAYS
    kind = TEXT
    oid_kind = TEXT
    test = Boolean
    key_valid = Boolean
    start_date = TEXT
    end_date = TEXT


class Identity(ComplexModel):  # type: ignore[misc]
    """The official identity (:func:`gateway.render.answers.identity_json`)."""

    __namespace__ = NS
    birth_name = ALWAYS
    first_name = TEXT
    first_names = TEXTS
    sex = ALWAYS
    birth_date = ALWAYS
    birth_place = TEXT


class SentQuery(ComplexModel):  # type: ignore[misc]
    """What was sent, normalised: the traits, or the Vitale card data (and the local
    identity it was compared with, never sent upstream)."""

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


class Evidence(ComplexModel):  # type: ignore[misc]
    """The attested document as received, and whether it can qualify an identity."""

    __namespace__ = NS
    document = ALWAYS
    checked_by = TEXT
    checked_at = TEXT
    qualifying = Boolean(min_occurs=1)


class Attempt(ComplexModel):  # type: ignore[misc]
    """One upstream call of a search: the first names sent, the code, its message id."""

    __namespace__ = NS
    first_names = ALWAYS
    code = ALWAYS
    message_id = ALWAYS


class Difference(ComplexModel):  # type: ignore[misc]
    """A held value that differs from the official one; non-strings as compact JSON text."""

    __namespace__ = NS
    field = ALWAYS
    given = TEXT
    official = TEXT


class SearchAnswer(ComplexModel):  # type: ignore[misc]
    """The answer of both searches (:func:`gateway.render.answers.search_answer_json`)."""

    __namespace__ = NS
    status = ALWAYS
    code = ALWAYS
    label = ALWAYS
    ins = Ins
    identity = Identity
    identity_status = TEXT
    differences = many(Difference)
    unchecked_traits = TEXTS
    identity_evidence = Evidence
    history = many(Ins)
    attempts = many(Attempt)
    hint = TEXT
    sent = SentQuery
    message_id = ALWAYS
    request_id = ALWAYS
    queried_at = TEXT


class VerifyAnswer(ComplexModel):  # type: ignore[misc]
    """The verdict (:func:`gateway.render.answers.verify_answer_json`)."""

    __namespace__ = NS
    verdict = ALWAYS
    differences = many(Difference)
    ins = Ins
    identity = Identity
    identity_status = TEXT
    unchecked_traits = TEXTS
    identity_evidence = Evidence
    history = many(Ins)
    attempts = many(Attempt)
    hint = TEXT
    message_id = ALWAYS
    request_id = ALWAYS
    queried_at = TEXT


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
