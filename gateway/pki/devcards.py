"""Test health-professional cards, for developing and testing CPx mode.

A real CPS card holds its key in the chip and signs the SAML assertion through
the card middleware on the professional's workstation; the gateway only ever
sees the signed assertion. For tests we need the same shapes without a card:
a card CA named like the IGC-Santé "FORT PERSONNES" authority (a root and an
intermediate), a card certificate whose subject looks like a professional's
(``C``, title, then one multi-valued RDN given name + card id + surname), and
a second, unrelated "rogue" card CA with its own card for the wrong-CA case.

Files live in ``<pki>/cards/`` (0700; keys 0600) and are generated once:
re-running keeps whatever is still valid, so a running mock keeps trusting
them. :mod:`gateway.pki.cardsigner` signs test assertions with these cards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.pki.credentials import PrivateKey
from gateway.pki.files import write_atomically

CARD_ROOT_CN = "TEST AC RACINE IGC-SANTE FORT"
CARD_CA_CN = "TEST AC IGC-SANTE FORT PERSONNES"
ROGUE_CA_CN = "TEST AC HORS IGC-SANTE"
CARD_ID = "899700000001"
"""Made-up card identifier (the CN of a CPS signing certificate, the assertion's ``NameID``)."""
CARD_TITLE = "Medecin"
CARD_GIVEN_NAME = "CAMILLE"
CARD_SURNAME = "MEDECIN TEST"

_ORGANIZATION = "INSI-GATEWAY DEV CARDS"
_RENEWAL_MARGIN = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class CardFiles:
    """A card (or CA): its PEM certificate and its clear PEM key."""

    certificate: Path
    key: Path

    def load(self) -> tuple[x509.Certificate, PrivateKey]:
        certificate = x509.load_pem_x509_certificate(self.certificate.read_bytes())
        key = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{self.key}: not an RSA key")
        return certificate, key


@dataclass(frozen=True, slots=True)
class DevCards:
    """Where :func:`generate_dev_cards` put the card PKI."""

    directory: Path
    root_ca: CardFiles
    card_ca: CardFiles
    ca_bundle: Path
    """What ``INSI_CPX_CA`` / ``MOCK_CPX_CA`` point to in development: card root + intermediate."""
    card: CardFiles
    rogue_ca: CardFiles
    rogue_card: CardFiles


def dev_cards_layout(pki_directory: Path) -> DevCards:
    """The file names under ``<pki>/cards`` (nothing is created)."""
    directory = pki_directory / "cards"

    def files(stem: str) -> CardFiles:
        return CardFiles(directory / f"{stem}.pem", directory / f"{stem}.key")

    return DevCards(
        directory=directory,
        root_ca=files("card-root-ca"),
        card_ca=files("card-ca"),
        ca_bundle=directory / "card-ca-bundle.pem",
        card=files("card"),
        rogue_ca=files("rogue-card-ca"),
        rogue_card=files("rogue-card"),
    )


def generate_dev_cards(pki_directory: Path) -> DevCards:
    """Create (or keep) the test card PKI under ``<pki>/cards``; idempotent."""
    cards = dev_cards_layout(pki_directory)
    cards.directory.mkdir(parents=True, exist_ok=True)
    cards.directory.chmod(0o700)
    root = _ensure(cards.root_ca, _ca_name(CARD_ROOT_CN), issuer=None, ca=True)
    card_ca = _ensure(cards.card_ca, _ca_name(CARD_CA_CN), issuer=root, ca=True)
    _ensure(cards.card, professional_name(), issuer=card_ca, ca=False)
    rogue = _ensure(cards.rogue_ca, _ca_name(ROGUE_CA_CN), issuer=None, ca=True)
    _ensure(cards.rogue_card, professional_name(), issuer=rogue, ca=False)
    bundle = cards.root_ca.certificate.read_bytes() + cards.card_ca.certificate.read_bytes()
    write_atomically(cards.ca_bundle, bundle, 0o644)
    return cards


def professional_name(card_id: str = CARD_ID) -> x509.Name:
    """``C=FR, T=<title>, GN+CN+SN``: the RDN layout of an IGC-Santé "personnes" certificate."""
    return x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.TITLE, CARD_TITLE)]),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.GIVEN_NAME, CARD_GIVEN_NAME),
                    x509.NameAttribute(NameOID.COMMON_NAME, card_id),
                    x509.NameAttribute(NameOID.SURNAME, CARD_SURNAME),
                ]
            ),
        ]
    )


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ensure(
    files: CardFiles,
    subject: x509.Name,
    *,
    issuer: tuple[x509.Certificate, PrivateKey] | None,
    ca: bool,
) -> tuple[x509.Certificate, PrivateKey]:
    """Keep the pair on disk if still valid and issued by ``issuer``, else issue a new one."""
    try:
        certificate, key = files.load()
        signer_cert = issuer[0] if issuer else certificate
        certificate.verify_directly_issued_by(signer_cert)
        fresh = certificate.not_valid_after_utc > datetime.now(UTC) + _RENEWAL_MARGIN
        if fresh and certificate.subject == subject:
            return certificate, key
    except (OSError, ValueError, TypeError, InvalidSignature):  # missing, corrupt, re-issued
        pass
    certificate, key = _issue(subject, issuer=issuer, ca=ca)
    clear = serialization.NoEncryption()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, clear
    )
    write_atomically(files.key, key_pem, 0o600)
    write_atomically(files.certificate, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return certificate, key


def _issue(
    subject: x509.Name, *, issuer: tuple[x509.Certificate, PrivateKey] | None, ca: bool
) -> tuple[x509.Certificate, PrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer_key = issuer[1] if issuer else key
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=3650 if ca else 1095))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False
        )
    )
    for extension, critical in _extensions(ca):
        builder = builder.add_extension(extension, critical)
    return builder.sign(signer_key, hashes.SHA256()), key


def _extensions(ca: bool) -> list[tuple[x509.ExtensionType, bool]]:
    """CA profile, or a card signing certificate: digitalSignature + nonRepudiation."""
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    if ca:
        usage.update(key_cert_sign=True, crl_sign=True)
        return [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (x509.KeyUsage(**usage), True),
        ]
    usage.update(digital_signature=True, content_commitment=True)
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.KeyUsage(**usage), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
    ]
