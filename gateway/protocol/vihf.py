"""The VIHF: the SAML 2.0 assertion an INSi caller signs to say who is calling.

VIHF (*Vecteur d'Identification et d'Habilitation Formelles*) is the CI-SIS
profile of a SAML assertion carried in ``wsse:Security``. The gateway calls in
*indirect* mode: the establishment authenticates with its INSI-MANU /
INSI-AUTO certificate (mutual TLS + this signature) and vouches for its users.

The shape is the one INSi is known to accept: the one public recorded INSi
assertion (padoa/tlsi-ins, a CNDA-approved client,
``src/ins/fixtures/assertionPsSecurity.fixture.ts``) has ``Issuer`` = the
signing certificate's subject DN with ``Format`` X509SubjectName, the
enveloped signature right after it, ``Subject/NameID`` with a
``NameQualifier``, and the attributes ``secteurActivite`` (and
``identifiantFacturation``, a health professional's billing number, which an
establishment's assertion has no use for). ``Conditions`` (a validity
window) comes from the CI-SIS VIHF profile, where it is optional. Every
field and its source: docs/vihf.md. Nothing about the patient is ever put
in the assertion.

Only :func:`build_assertion` lives here; :mod:`gateway.protocol.signing`
signs it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from lxml import etree

from gateway import ids, ns
from gateway.models import CallContext
from gateway.protocol.headers import xsd_datetime

X509_SUBJECT_NAME: Final = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
"""``Issuer/@Format``: the issuer is named by its certificate's subject DN."""

NAME_QUALIFIER_USER: Final = "UTILISATEUR"
"""``NameID`` is the end user's id, as the calling application gave it (``X-User-Id``)."""
NAME_QUALIFIER_STRUCTURE: Final = "STRUCTURE"
"""``NameID`` is the structure id: no end user (unattended INSI-AUTO calls, or none given)."""
NAME_QUALIFIERS: Final = frozenset({NAME_QUALIFIER_USER, NAME_QUALIFIER_STRUCTURE})

ATTR_ACTIVITY_SECTOR: Final = "secteurActivite"
ATTR_BILLING_ID: Final = "identifiantFacturation"
DEFAULT_ACTIVITY_SECTOR: Final = "SA01"
"""TRE_R02 SecteurActivite ``SA01``, *Etablissement public de santé*: a public hospital."""

SIGNATURE_PLACEHOLDER_ID: Final = "placeholder"
"""signxml replaces ``<ds:Signature Id="placeholder"/>`` in place when signing enveloped."""


def build_assertion(
    *,
    issuer: str,
    structure_id: str,
    context: CallContext,
    now: datetime,
    lifetime: timedelta = timedelta(minutes=5),
) -> etree._Element:
    """An unsigned VIHF ``saml:Assertion`` for one call, valid from ``now`` for ``lifetime``.

    ``issuer`` is the subject DN of the certificate that will sign it
    (:attr:`gateway.protocol.signing.VihfSigner.issuer`). Children, in the
    SAML schema's order: ``Issuer``, the ``ds:Signature`` placeholder (the
    schema only allows the signature right after ``Issuer``, and signxml
    would otherwise append it at the end), ``Subject``, ``Conditions``,
    ``AttributeStatement``.
    """
    assertion = etree.Element(
        ns.qname(ns.SAML2, "Assertion"),
        attrib={
            "ID": "_" + ids.random_uuid().hex,
            "IssueInstant": xsd_datetime(now),
            "Version": "2.0",
        },
        nsmap={"saml": ns.SAML2, "ds": ns.DS},
    )
    _saml(assertion, "Issuer", Format=X509_SUBJECT_NAME).text = issuer
    etree.SubElement(assertion, ns.qname(ns.DS, "Signature"), Id=SIGNATURE_PLACEHOLDER_ID)
    name_id, qualifier = subject_of(context, structure_id)
    _saml(_saml(assertion, "Subject"), "NameID", NameQualifier=qualifier).text = name_id
    _saml(
        assertion,
        "Conditions",
        NotBefore=xsd_datetime(now),
        NotOnOrAfter=xsd_datetime(now + lifetime),
    )
    _add_attributes(assertion, [(ATTR_ACTIVITY_SECTOR, activity_sector_of(context))])
    return assertion


def subject_of(context: CallContext, structure_id: str) -> tuple[str, str]:
    """``(NameID, NameQualifier)``: the end user when the application named one, else the structure.

    CI-SIS VIHF: for a person, their identifier; for an automated process,
    the identifier of who answers for it, here the structure itself.
    """
    if context.user_id:
        return context.user_id, NAME_QUALIFIER_USER
    return structure_id, NAME_QUALIFIER_STRUCTURE


def activity_sector_of(context: CallContext) -> str:
    """The calling application's registered sector, else :data:`DEFAULT_ACTIVITY_SECTOR`."""
    return context.activity_sector or DEFAULT_ACTIVITY_SECTOR


def _saml(parent: etree._Element, local: str, **attributes: str) -> etree._Element:
    """A child of ``parent`` in the SAML namespace, with unqualified attributes."""
    return etree.SubElement(parent, ns.qname(ns.SAML2, local), attrib=attributes)


def _add_attributes(assertion: etree._Element, attributes: list[tuple[str, str]]) -> None:
    statement = _saml(assertion, "AttributeStatement")
    for name, value in attributes:
        attribute = _saml(statement, "Attribute", Name=name)
        _saml(attribute, "AttributeValue").text = value
