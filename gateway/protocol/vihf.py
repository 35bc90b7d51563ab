"""The VIHF: the SAML 2.0 assertion an INSi caller signs to say who is calling.

VIHF (*Vecteur d'Identification et d'Habilitation Formelles*) is the CI-SIS
profile of a SAML assertion carried in ``wsse:Security``. The gateway calls in
*indirect* authentication mode: the establishment authenticates with its
INSI-MANU / INSI-AUTO certificate (mutual TLS + this signature) and vouches
for its users, so the assertion describes the structure and the software,
and the user only by the identifier the hospital application passed along.

Only :func:`build_assertion` lives here; :mod:`gateway.protocol.signing`
signs it. Nothing about the patient is ever put in the assertion.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from lxml import etree

from gateway import ns
from gateway.models import CallContext, SoftwareIdentity
from gateway.protocol.headers import xsd_datetime

VIHF_VERSION = "3.0"
AUTHENTICATION_MODE = "INDIRECTE"
AUTHN_CONTEXT_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient"
"""The establishment authenticates with a client certificate over TLS."""

ATTR_SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"

SIGNATURE_PLACEHOLDER_ID = "placeholder"
"""signxml replaces ``<ds:Signature Id="placeholder"/>`` in place when signing enveloped."""


def build_assertion(
    *,
    structure_id: str,
    software: SoftwareIdentity,
    context: CallContext,
    now: datetime,
    lifetime: timedelta = timedelta(minutes=5),
) -> etree._Element:
    """An unsigned VIHF ``saml:Assertion`` for one call, valid from ``now`` for ``lifetime``.

    Layout follows the SAML schema's sequence: ``Issuer``, then the
    ``ds:Signature`` placeholder (the schema only allows the signature right
    after ``Issuer``, and signxml would otherwise append it at the end),
    ``Subject``, ``Conditions``, ``AuthnStatement``, ``AttributeStatement``.

    Attributes sent, and why only these:

    - ``VIHF_Version``, ``Authentification_mode`` = ``INDIRECTE``: the
      profile and mode the teleservice checks first;
    - ``Identifiant_Structure``: the structure id (certificate OU, e.g.
      FINESS), the entity that is accountable;
    - ``urn:oasis:names:tc:xspa:1.0:subject:subject-id``: the user id from
      the call context when the application gave one, else the structure id
      (unattended INSI-AUTO calls have no user);
    - ``LPS_Nom``, ``LPS_Version``, ``LPS_ID_HOMOLOGATION_DMP``: the software
      and its authorisation number (the IDAM also sent in ContexteLPS).

    ``Secteur_Activite`` and the XACML ``role`` are left out on purpose: they
    describe a health professional's sector and profession, which the gateway
    does not know in indirect mode; inventing codes would be worse than
    omitting them, and INSi authorises on the certificate and IDAM.
    """
    assertion_id = "_" + uuid.uuid4().hex
    subject = context.user_id or structure_id
    assertion = etree.Element(
        ns.qname(ns.SAML2, "Assertion"),
        attrib={"ID": assertion_id, "IssueInstant": xsd_datetime(now), "Version": "2.0"},
        nsmap={"saml": ns.SAML2, "ds": ns.DS},
    )
    _saml(assertion, "Issuer").text = structure_id
    etree.SubElement(assertion, ns.qname(ns.DS, "Signature"), Id=SIGNATURE_PLACEHOLDER_ID)
    _add_subject(assertion, subject)
    _saml(
        assertion,
        "Conditions",
        NotBefore=xsd_datetime(now),
        NotOnOrAfter=xsd_datetime(now + lifetime),
    )
    _add_authn_statement(assertion, now)
    _add_attributes(assertion, _attributes(structure_id, subject, software))
    return assertion


def _saml(parent: etree._Element, local: str, **attributes: str) -> etree._Element:
    """A child of ``parent`` in the SAML namespace, with unqualified attributes."""
    return etree.SubElement(parent, ns.qname(ns.SAML2, local), attrib=attributes)


def _add_subject(assertion: etree._Element, subject: str) -> None:
    subject_el = _saml(assertion, "Subject")
    _saml(subject_el, "NameID").text = subject


def _add_authn_statement(assertion: etree._Element, now: datetime) -> None:
    statement = _saml(assertion, "AuthnStatement", AuthnInstant=xsd_datetime(now))
    authn_context = _saml(statement, "AuthnContext")
    _saml(authn_context, "AuthnContextClassRef").text = AUTHN_CONTEXT_CLASS


def _attributes(
    structure_id: str, subject: str, software: SoftwareIdentity
) -> list[tuple[str, str]]:
    """The VIHF attributes as (Name, value); see :func:`build_assertion` for the choice."""
    return [
        ("VIHF_Version", VIHF_VERSION),
        ("Identifiant_Structure", structure_id),
        (ATTR_SUBJECT_ID, subject),
        ("Authentification_mode", AUTHENTICATION_MODE),
        ("LPS_Nom", software.name),
        ("LPS_Version", software.version),
        ("LPS_ID_HOMOLOGATION_DMP", software.idam),
    ]


def _add_attributes(assertion: etree._Element, attributes: list[tuple[str, str]]) -> None:
    statement = _saml(assertion, "AttributeStatement")
    for name, value in attributes:
        attribute = _saml(statement, "Attribute", Name=name)
        _saml(attribute, "AttributeValue").text = value
