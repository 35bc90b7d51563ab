"""Prototype (bench only, not used by the gateway): a VIHF signer without signxml's per-call work.

Proposed fix for scenario 1. ``VihfSigner.sign`` spends about twice the RSA
operation in signxml around it: a new ``XMLSigner`` per call, the document
serialised and re-parsed (``_unpack``), the certificates re-encoded to PEM
then base64 per call (``_add_key_info``), ``ds:`` tags rebuilt through enum
lookups. This signer produces the same enveloped XML-DSig (exclusive C14N,
RSA-SHA256, SHA-256 digest, one reference ``#ID``, ``X509Data`` with the
certificate and its chain) with plain lxml:

- at construction: the base64 DER of each certificate, computed once;
- per call: deep copy, drop the placeholder, one exclusive C14N + SHA-256 of the
  assertion, the ``Signature`` element built directly, one exclusive C14N of
  ``SignedInfo``, one RSA signature.

``bench/signing.py`` checks its output with the mock's own verifier
(``gateway.mock.vihf_check.verify_vihf``, signxml's ``XMLVerifier``) before timing it.
"""

from __future__ import annotations

import base64
import copy
import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from gateway import ns
from gateway.exceptions import SigningError
from gateway.pki.credentials import Credential

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def _ds(local: str) -> str:
    return ns.qname(ns.DS, local)


class TemplateVihfSigner:
    """Same contract as :class:`gateway.protocol.signing.VihfSigner` (RSA keys only here)."""

    def __init__(self, credential: Credential, *, include_chain: bool = True) -> None:
        if not isinstance(credential.private_key, rsa.RSAPrivateKey):
            raise SigningError("prototype handles RSA keys only")
        self._key = credential.private_key
        chain = [c for c in credential.chain if c.issuer != c.subject] if include_chain else []
        self._x509 = tuple(
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            for c in (credential.certificate, *chain)
        )

    def sign(self, assertion: etree._Element) -> etree._Element:
        assertion_id = assertion.get("ID")
        if not assertion_id:
            raise SigningError("VIHF assertion has no ID attribute to reference")
        signed = copy.deepcopy(assertion)
        placeholder = signed.find(_ds("Signature"))
        if placeholder is None:
            raise SigningError("VIHF assertion has no ds:Signature placeholder")
        position = signed.index(placeholder)
        signed.remove(placeholder)  # the enveloped-signature transform, applied up front
        digest = hashlib.sha256(etree.tostring(signed, method="c14n", exclusive=True)).digest()

        signature = etree.Element(_ds("Signature"), nsmap={"ds": ns.DS})
        signed_info = etree.SubElement(signature, _ds("SignedInfo"))
        etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
        etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=RSA_SHA256)
        reference = etree.SubElement(signed_info, _ds("Reference"), URI="#" + assertion_id)
        transforms = etree.SubElement(reference, _ds("Transforms"))
        etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
        etree.SubElement(transforms, _ds("Transform"), Algorithm=EXC_C14N)
        etree.SubElement(reference, _ds("DigestMethod"), Algorithm=SHA256)
        etree.SubElement(reference, _ds("DigestValue")).text = base64.b64encode(digest).decode()
        signed.insert(position, signature)

        to_sign = etree.tostring(signed_info, method="c14n", exclusive=True)
        value = self._key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
        etree.SubElement(signature, _ds("SignatureValue")).text = base64.b64encode(value).decode()
        x509_data = etree.SubElement(etree.SubElement(signature, _ds("KeyInfo")), _ds("X509Data"))
        for der in self._x509:
            etree.SubElement(x509_data, _ds("X509Certificate")).text = der
        return signed

    def security_header(self, signed_assertion: etree._Element) -> etree._Element:
        from gateway.protocol.signing import security_header

        return security_header(signed_assertion)
