"""Establishment credentials: the INSI-MANU / INSI-AUTO certificate and its key.

The gateway authenticates to the INSi teleservice with a software certificate
of the IGC-Santé (mutual TLS) and signs the VIHF assertion with the same key.
The credential is loaded once, at startup, from the file the establishment
received (PKCS#12) or from a PEM file; every problem becomes a
:class:`~gateway.exceptions.CredentialError` naming the setting at fault so a
misconfigured gateway refuses to start instead of failing on the first request.

Messages never contain the passphrase nor any key material, and
:class:`Credential` keeps the key out of its ``repr``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from gateway.exceptions import CredentialError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
"""The key types the IGC-Santé issues and that TLS and XML signature both accept."""

_PEM_KEY = re.compile(
    rb"-----BEGIN ((?:ENCRYPTED |RSA |EC )?PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL
)
_PEM_MARKER = b"-----BEGIN "


@dataclass(frozen=True, slots=True, repr=False)
class Credential:
    """A certificate, its private key and the CA certificates that came with it."""

    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def common_name(self) -> str:
        """Subject CN (``INSI-MANU`` or ``INSI-AUTO`` for INSi); empty if the subject has none."""
        return _name_attribute(self.certificate.subject, NameOID.COMMON_NAME) or ""

    @property
    def organizational_unit(self) -> str | None:
        """Subject OU: the IGC-Santé puts the structure identifier (FINESS, SIRET...) there."""
        return _name_attribute(self.certificate.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)

    @property
    def not_valid_after(self) -> datetime:
        """End of validity, timezone-aware UTC, for startup warnings before expiry."""
        return self.certificate.not_valid_after_utc

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        """Certificate then chain, the order a TLS client must present them in."""
        certs = (self.certificate, *self.chain)
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    def private_key_pem(self, password: bytes) -> bytes:
        """The key as PKCS#8 PEM encrypted with ``password`` (non-empty).

        The TLS layer needs a key *file*; encrypting it means the key is never
        written to disk in clear, even in a temporary file.
        """
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )

    def __repr__(self) -> str:
        return (
            f"Credential(common_name={self.common_name!r}, "
            f"organizational_unit={self.organizational_unit!r}, "
            f"serial={self.certificate.serial_number:#x}, "
            f"not_valid_after={self.not_valid_after.isoformat()!r}, chain={len(self.chain)})"
        )


def load_credential(path: Path, passphrase: str | None, *, setting: str) -> Credential:
    """Load a credential from a PKCS#12 (``.p12``/``.pfx``) or PEM file.

    The format is detected from the content, not the extension: PEM markers
    first, PKCS#12 otherwise. ``setting`` (e.g. ``INSI_CERT_MANU``) is what
    the error names, so the operator knows which variable to fix.
    """
    data = _read(path, setting)
    return credential_from_bytes(data, passphrase, setting=setting)


def credential_from_bytes(data: bytes, passphrase: str | None, *, setting: str) -> Credential:
    """Same as :func:`load_credential` for content already in memory."""
    password = passphrase.encode("utf-8") if passphrase is not None else None
    if _PEM_MARKER in data:
        return _from_pem(data, password, setting)
    return _from_pkcs12(data, password, setting)


def load_ca_bundle(path: Path, *, setting: str) -> tuple[x509.Certificate, ...]:
    """Read a PEM bundle of CA certificates (e.g. ``INSI_UPSTREAM_CA``); never empty."""
    data = _read(path, setting)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CredentialError(setting, "no readable PEM certificate in file") from None
    return tuple(certificates)


def verify_chain(
    certificate: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    *,
    at: datetime | None = None,
) -> None:
    """Check that ``certificate`` chains to one of ``trusted`` at ``at`` (default: now).

    cryptography's path builder checks the signatures, the validity periods
    of every certificate and the CA-ness of every issuer (basicConstraints cA,
    plus keyCertSign when keyUsage is present). Its web-PKI extension profiles
    are deliberately not imposed: IGC-Santé end-entity certificates have no
    subjectAltName, which the web profile requires, and an issuer only has to
    meet what RFC 5280 demands of one. Whether the end-entity certificate fits
    the INSi profile (CN, keyUsage) is the caller's concern.
    """
    if not trusted:
        raise CredentialError("certificate", "no trusted CA certificate to verify against")
    when = at or datetime.now(UTC)
    verifier = (
        PolicyBuilder()
        .store(Store(list(trusted)))
        .time(when if when.tzinfo else when.replace(tzinfo=UTC))
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=ExtensionPolicy.permit_all())
        .build_client_verifier()
    )
    try:
        verifier.verify(certificate, list(intermediates))
    except VerificationError as exc:
        subject = certificate.subject.rfc4514_string()
        raise CredentialError(
            "certificate", f"{subject} does not chain to a trusted CA: {exc}"
        ) from None


def _require_key_cert_sign(
    _policy: Policy, _certificate: x509.Certificate, key_usage: x509.KeyUsage | None
) -> None:
    """RFC 5280 §4.2.1.3: an issuer that restricts its key usage must allow keyCertSign."""
    if key_usage is not None and not key_usage.key_cert_sign:
        raise ValueError("issuer keyUsage does not allow keyCertSign")


_CA_POLICY = (
    ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
    .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _require_key_cert_sign)
)


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CredentialError(setting, f"file not found: {path}") from None
    except IsADirectoryError:
        raise CredentialError(setting, f"is a directory, not a file: {path}") from None
    except OSError as exc:
        raise CredentialError(setting, f"cannot read {path}: {exc.strerror}") from None


def _from_pkcs12(data: bytes, password: bytes | None, setting: str) -> Credential:
    try:
        key, certificate, additional = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        if password is None:  # the usual cause: an encrypted file and no passphrase
            raise CredentialError(
                setting, "no passphrase given (the PKCS#12 is encrypted, or corrupt)"
            ) from None
        raise CredentialError(setting, "wrong passphrase or corrupt PKCS#12") from None
    except UnsupportedAlgorithm:
        raise CredentialError(setting, "PKCS#12 uses an unsupported encryption") from None
    if key is None:
        raise CredentialError(setting, "no private key in file")
    certificates = [certificate, *additional] if certificate is not None else additional
    return _with_leaf(_supported(key, setting), certificates, setting)


def _from_pem(data: bytes, password: bytes | None, setting: str) -> Credential:
    private_key = _pem_private_key(data, password, setting)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CredentialError(setting, "no readable PEM certificate in file") from None
    return _with_leaf(private_key, certificates, setting)


def _with_leaf(
    key: PrivateKey, certificates: Sequence[x509.Certificate], setting: str
) -> Credential:
    """The certificate of ``key`` is the leaf, whatever its position; the others are the chain.

    Matching by public key (rather than trusting file order or PKCS#12
    local key ids, which some exporters omit) also rejects a key/cert mix-up.
    """
    if not certificates:
        raise CredentialError(setting, "no certificate in file")
    leaf = next((c for c in certificates if _matches(c, key)), None)
    if leaf is None:
        raise CredentialError(setting, "private key does not match certificate")
    return Credential(leaf, key, tuple(c for c in certificates if c is not leaf))


def _pem_private_key(data: bytes, password: bytes | None, setting: str) -> PrivateKey:
    """The one private key of a PEM file; the passphrase is used only if the key is encrypted."""
    blocks = [m.group(0) for m in _PEM_KEY.finditer(data)]
    if not blocks:
        raise CredentialError(setting, "no private key in file")
    if len(blocks) > 1:
        raise CredentialError(setting, "more than one private key in file")
    block = blocks[0]
    encrypted = block.startswith(b"-----BEGIN ENCRYPTED") or b"Proc-Type: 4,ENCRYPTED" in block
    if encrypted and password is None:
        raise CredentialError(setting, "no passphrase given (the private key is encrypted)")
    try:
        key = serialization.load_pem_private_key(block, password if encrypted else None)
    except ValueError:
        raise CredentialError(setting, "wrong passphrase or corrupt private key") from None
    except UnsupportedAlgorithm:
        raise CredentialError(setting, "private key uses an unsupported algorithm") from None
    return _supported(key, setting)


def _supported(key: object, setting: str) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key
    raise CredentialError(setting, "unsupported private key type (RSA or EC expected)")


def _matches(certificate: x509.Certificate, key: PrivateKey) -> bool:
    """Whether ``key`` is the private half of the certificate's public key."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _name_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attributes = name.get_attributes_for_oid(oid)
    if not attributes:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
