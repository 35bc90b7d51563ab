"""Signing the VIHF with the establishment key, and wrapping it in ``wsse:Security``.

The teleservice checks an enveloped XML-DSig over the assertion: RSA-SHA256,
SHA-256 digest, exclusive C14N (so the assertion's signature survives being
moved into another document: our envelope, zeep's deep copy), and the
signing certificate in ``KeyInfo/X509Data`` (it must be the same INSI-MANU /
INSI-AUTO certificate as the TLS client certificate).

Thread-safety and cost: :class:`VihfSigner` is built once per credential and
shared; it holds only immutable things (the already-loaded key object and
the certificate list). signxml's ``XMLSigner`` mutates itself during
``sign()`` (``id_attributes``, parser...), so a fresh one is made per call and
never shared. Reloading the key per call would cost ~60 times more.
"""

from __future__ import annotations

import copy

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import SignXMLException
from signxml.signer import XMLSigner

from gateway import ns
from gateway.exceptions import SigningError
from gateway.pki.credentials import Credential, PrivateKey

EXCLUSIVE_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


class VihfSigner:
    """Signs VIHF assertions with one establishment credential; safe to share across threads."""

    def __init__(self, credential: Credential, *, include_chain: bool = True) -> None:
        """Keep the loaded key and the ``KeyInfo`` certificates, computed once.

        ``include_chain`` also puts the credential's CA certificates in
        ``X509Data`` (after the signing certificate), so a verifier that only
        trusts the root can build the path; self-signed roots are left out,
        a verifier must already have them.
        """
        self._key: PrivateKey = credential.private_key
        self._algorithm = _signature_method(credential.private_key)
        chain = [c for c in credential.chain if not _self_signed(c)] if include_chain else []
        self._certificates: tuple[x509.Certificate, ...] = (credential.certificate, *chain)
        self.issuer: str = issuer_name(credential.certificate)
        """The VIHF ``Issuer``: the signing certificate's subject DN (see :func:`issuer_name`)."""

    def sign(self, assertion: etree._Element) -> etree._Element:
        """A signed copy of ``assertion`` (the input is left untouched).

        The signature replaces the ``<ds:Signature Id="placeholder"/>`` that
        :func:`gateway.protocol.vihf.build_assertion` put right after
        ``Issuer``; its single reference is ``#`` + the assertion's ``ID``.
        """
        assertion_id = assertion.get("ID")
        if not assertion_id:
            raise SigningError("VIHF assertion has no ID attribute to reference")
        signer = XMLSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=self._algorithm,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod(EXCLUSIVE_C14N),
        )
        try:
            signed: etree._Element = signer.sign(
                assertion,
                key=self._key,
                cert=list(self._certificates),
                reference_uri="#" + assertion_id,
                id_attribute="ID",
            )
        except (SignXMLException, ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # The class name is enough to diagnose; messages could quote data.
            raise SigningError(f"VIHF signing failed ({type(exc).__name__})") from None
        return signed

    def security_header(self, signed_assertion: etree._Element) -> etree._Element:
        """The ``wsse:Security`` header for a signed assertion; see :func:`security_header`."""
        return security_header(signed_assertion)


def security_header(signed_assertion: etree._Element) -> etree._Element:
    """``<wsse:Security>`` holding ``signed_assertion`` (a copy: the signed tree stays intact).

    The INSi Security schema allows only SAML assertions in it: no
    ``wsu:Timestamp``, no ``BinarySecurityToken``. ``mustUnderstand`` is not
    set: the official contract does not ask for it.
    """
    header = etree.Element(ns.qname(ns.WSSE, "Security"), nsmap={"wsse": ns.WSSE})
    header.append(copy.deepcopy(signed_assertion))
    return header


def issuer_name(certificate: x509.Certificate) -> str:
    """The certificate's subject DN as an RFC 4514 string, most specific attribute first.

    That is the order and syntax of the one recorded INSi assertion
    (``CN=...,T=...,C=FR``) and what ``X509SubjectName`` names (the
    ``ds:X509SubjectName`` string form, RFC 2253 / 4514); xmlsec1 and
    signxml read it the same way.
    """
    return certificate.subject.rfc4514_string()


def _signature_method(key: PrivateKey) -> SignatureMethod:
    """RSA-SHA256 for the RSA keys the IGC-Santé issues; ECDSA-SHA256 should an EC key appear."""
    if isinstance(key, rsa.RSAPrivateKey):
        return SignatureMethod.RSA_SHA256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return SignatureMethod.ECDSA_SHA256
    raise SigningError("unsupported signing key type")


def _self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject
