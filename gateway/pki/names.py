"""Distinguished names as SAML ``Issuer`` text (``X509SubjectName``) and certificates have them.

Card middlewares and Windows-derived stacks spell some attribute types their
own way (``T=`` title, ``SN=`` surname, ``G=`` given name), and the attributes
of a multi-valued RDN may come in any order: two spellings of one DN must
compare equal, and a different DN must not.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

WRITE_NAMES = {NameOID.TITLE: "T", NameOID.SURNAME: "SN", NameOID.GIVEN_NAME: "G"}
"""How card middlewares write the attribute types of a professional's DN."""

READ_NAMES = {
    "T": NameOID.TITLE,
    "TITLE": NameOID.TITLE,
    "SN": NameOID.SURNAME,
    "G": NameOID.GIVEN_NAME,
    "GN": NameOID.GIVEN_NAME,
    "GIVENNAME": NameOID.GIVEN_NAME,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "E": NameOID.EMAIL_ADDRESS,
}


def dn_text(name: x509.Name) -> str:
    """``name`` as RFC 4514 text, with the card middlewares' attribute names."""
    return name.rfc4514_string(WRITE_NAMES)


def same_dn(text: str, name: x509.Name) -> bool:
    """Whether the RFC 4514 ``text`` names ``name`` (RDN by RDN, any order within an RDN)."""
    try:
        parsed = x509.Name.from_rfc4514_string(text, READ_NAMES)
    except ValueError:
        return False
    return _key(parsed) == _key(name)


def _key(name: x509.Name) -> list[list[tuple[str, str]]]:
    return [
        sorted((attribute.oid.dotted_string, str(attribute.value)) for attribute in rdn)
        for rdn in name.rdns
    ]
