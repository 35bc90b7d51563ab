"""A throw-away PKI that imitates the IGC-Santé, for development and tests.

Real INSI-MANU / INSI-AUTO certificates are issued to an establishment by the
IGC-Santé and must never sit in a developer's tree; yet the mock teleservice,
mutual TLS and VIHF signing all need a believable chain. :func:`generate_dev_pki`
writes one: a root, an intermediate named like the IGC-Santé organisations CA,
the two establishment certificates, a server certificate for the mock, and
deliberately broken certificates for the negative tests.

Generation is idempotent: a file that still holds a valid artefact is kept, so
re-running never rotates the certificates a running mock already trusts; only
missing or unusable pieces (and what depends on them) are regenerated. Keys,
PKCS#12 files and the passphrase are written 0600 in a 0700 directory.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.exceptions import CredentialError
from gateway.pki.credentials import Credential, PrivateKey, credential_from_bytes
from gateway.pki.files import write_atomically

DEV_STRUCTURE_ID = "499700000000001"
"""Made-up FINESS-like structure identifier put in the OU of the dev establishment certificates."""
ESTABLISHMENT_NAME = "CH DEMO INSI-GATEWAY"
ROOT_CA_CN = "TEST AC RACINE IGC-SANTE"
INTERMEDIATE_CA_CN = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
UNKNOWN_ROOT_CA_CN = "UNKNOWN TEST ROOT"

_PKI_ORGANIZATION = "INSI-GATEWAY DEV"
_RENEWAL_MARGIN = timedelta(days=30)
_BACKDATE = timedelta(hours=1)  # tolerate small clock skew between processes
_SECRET_MODE = 0o600
_PUBLIC_MODE = 0o644


@dataclass(frozen=True, slots=True)
class ClientFiles:
    """One establishment credential: PKCS#12 (with chain), PEM cert+chain and encrypted key,
    and ``full``: the one PEM holding certificate, chain and key (what ``INSI_CERT_MANU``
    accepts as PEM)."""

    p12: Path
    pem: Path
    key: Path
    full: Path


@dataclass(frozen=True, slots=True)
class PemFiles:
    """A PEM certificate (+ chain) and its clear PEM key: CAs and TLS servers (gunicorn cannot
    prompt for a passphrase)."""

    pem: Path
    key: Path


@dataclass(frozen=True, slots=True)
class DevPki:
    """Where :func:`generate_dev_pki` put everything, and the passphrase of the client files."""

    directory: Path
    passphrase_file: Path
    root_ca: PemFiles
    intermediate_ca: PemFiles
    ca_bundle: Path
    unknown_root_ca: PemFiles
    insi_manu: ClientFiles
    insi_auto: ClientFiles
    other_cn: ClientFiles
    expired: ClientFiles
    unknown_ca: ClientFiles
    no_digital_signature: ClientFiles
    mock_server: PemFiles
    unknown_ca_server: PemFiles
    passphrase: str = field(repr=False)

    def files(self) -> tuple[Path, ...]:
        """Every file of the PKI, for the CLI to list."""
        paths: list[Path] = []
        for value in (getattr(self, f.name) for f in fields(self)):
            if isinstance(value, ClientFiles | PemFiles):
                paths.extend(getattr(value, f.name) for f in fields(value))
            elif isinstance(value, Path) and value != self.directory:
                paths.append(value)
        return tuple(paths)


class _Kind(enum.Enum):
    ROOT = "root"
    INTERMEDIATE = "intermediate"
    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class _Spec:
    """What one certificate must be; a certificate on disk that does not fit is regenerated."""

    common_name: str
    kind: _Kind
    digital_signature: bool = True
    expired: bool = False


def generate_dev_pki(directory: Path) -> DevPki:
    """Create (or complete) the dev PKI in ``directory`` and return its layout."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    pki = _layout(directory, _ensure_passphrase(directory / "passphrase"))
    root = _ensure(_Spec(ROOT_CA_CN, _Kind.ROOT), pki.root_ca, None, None)
    inter = _ensure(_Spec(INTERMEDIATE_CA_CN, _Kind.INTERMEDIATE), pki.intermediate_ca, root, None)
    unknown = _ensure(_Spec(UNKNOWN_ROOT_CA_CN, _Kind.ROOT), pki.unknown_root_ca, None, None)
    bundle = root.certificate_pem + inter.certificate_pem
    if _read_or_none(pki.ca_bundle) != bundle:
        write_atomically(pki.ca_bundle, bundle, _PUBLIC_MODE)
    client, server = _Kind.CLIENT, _Kind.SERVER
    leaves: list[tuple[_Spec, ClientFiles | PemFiles, Credential]] = [
        (_Spec("INSI-MANU", client), pki.insi_manu, inter),
        (_Spec("INSI-AUTO", client), pki.insi_auto, inter),
        (_Spec("INSI-OTHER", client), pki.other_cn, inter),
        (_Spec("INSI-MANU", client, expired=True), pki.expired, inter),
        (_Spec("INSI-MANU", client), pki.unknown_ca, unknown),
        (_Spec("INSI-MANU", client, digital_signature=False), pki.no_digital_signature, inter),
        (_Spec("localhost", server), pki.mock_server, inter),
        (_Spec("localhost", server), pki.unknown_ca_server, unknown),
    ]
    for spec, files, issuer in leaves:
        _ensure(spec, files, issuer, pki.passphrase if isinstance(files, ClientFiles) else None)
    return pki


def _layout(directory: Path, passphrase: str) -> DevPki:
    def client(stem: str) -> ClientFiles:
        suffixes = (".p12", ".pem", ".key", "-full.pem")
        return ClientFiles(*(directory / f"{stem}{suffix}" for suffix in suffixes))

    def pem(stem: str) -> PemFiles:
        return PemFiles(directory / f"{stem}.pem", directory / f"{stem}.key")

    return DevPki(
        directory=directory,
        passphrase_file=directory / "passphrase",
        root_ca=pem("root-ca"),
        intermediate_ca=pem("intermediate-ca"),
        ca_bundle=directory / "ca-bundle.pem",
        unknown_root_ca=pem("unknown-root-ca"),
        insi_manu=client("insi-manu"),
        insi_auto=client("insi-auto"),
        other_cn=client("other-cn"),
        expired=client("expired"),
        unknown_ca=client("unknown-ca"),
        no_digital_signature=client("no-digital-signature"),
        mock_server=pem("mock-server"),
        unknown_ca_server=pem("unknown-ca-server"),
        passphrase=passphrase,
    )


def _ensure_passphrase(path: Path) -> str:
    """Reuse the passphrase of a previous run: the existing PKCS#12 files depend on it."""
    passphrase = (_read_or_none(path) or b"").decode("utf-8", "replace").strip()
    if not passphrase:
        passphrase = secrets.token_urlsafe(24)
        write_atomically(path, passphrase.encode(), _SECRET_MODE)
    path.chmod(_SECRET_MODE)
    return passphrase


def _ensure(
    spec: _Spec,
    files: ClientFiles | PemFiles,
    issuer: Credential | None,
    passphrase: str | None,
) -> Credential:
    """Keep the certificate on disk if it still fits ``spec`` (else issue a new one), then
    rewrite whichever of its files does not hold it; keys are encrypted iff ``passphrase``."""
    now = datetime.now(UTC)
    from_pem = _load((files.pem, files.key), passphrase)
    from_p12 = _load((files.p12,), passphrase) if isinstance(files, ClientFiles) else None
    kept = [c for c in (from_pem, from_p12) if c and _fits(c.certificate, spec, issuer, now)]
    certificate, key = (kept[0].certificate, kept[0].private_key) if kept else _new(spec, issuer)
    chain = () if issuer is None or _self_signed(issuer.certificate) else (issuer.certificate,)
    credential = Credential(certificate, key, chain)
    if _read_or_none(files.pem) != credential.chain_pem:
        write_atomically(files.pem, credential.chain_pem, _PUBLIC_MODE)
    password = passphrase.encode() if passphrase else None
    if from_pem is None or from_pem.certificate != certificate:
        key_pem = credential.private_key_pem(password) if password else _clear_pem(key)
        write_atomically(files.key, key_pem, _SECRET_MODE)
    files.key.chmod(_SECRET_MODE)
    if isinstance(files, ClientFiles) and password:
        if from_p12 is None or (from_p12.certificate, from_p12.chain) != (certificate, chain):
            write_atomically(files.p12, _pkcs12(files.p12.stem, credential, password), _SECRET_MODE)
        files.p12.chmod(_SECRET_MODE)
    if isinstance(files, ClientFiles):
        full = credential.chain_pem + files.key.read_bytes()
        if _read_or_none(files.full) != full:
            write_atomically(files.full, full, _SECRET_MODE)
        files.full.chmod(_SECRET_MODE)
    return credential


def _fits(
    certificate: x509.Certificate, spec: _Spec, issuer: Credential | None, now: datetime
) -> bool:
    """Whether a certificate found on disk can be kept: right CN, issuer and validity."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [n.value for n in names] != [spec.common_name]:
        return False
    try:
        certificate.verify_directly_issued_by(issuer.certificate if issuer else certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if spec.expired:
        return certificate.not_valid_after_utc < now
    return certificate.not_valid_after_utc > now + _RENEWAL_MARGIN


def _new(spec: _Spec, issuer: Credential | None) -> tuple[x509.Certificate, PrivateKey]:
    """A fresh RSA 2048 key and its SHA-256 certificate (self-signed when ``issuer`` is None)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    days = {_Kind.ROOT: 3650, _Kind.INTERMEDIATE: 1826}.get(spec.kind, 730)
    start, end = now - _BACKDATE, now + timedelta(days=days)
    if spec.expired:
        start, end = now - timedelta(days=365), now - timedelta(days=1)
    if spec.kind is _Kind.CLIENT:
        subject = _name(spec.common_name, ESTABLISHMENT_NAME, DEV_STRUCTURE_ID)
    else:
        subject = _name(spec.common_name, _PKI_ORGANIZATION)
    signer = issuer.private_key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        )
    )
    for extension, critical in _extensions(spec):
        builder = builder.add_extension(extension, critical)
    return builder.sign(signer, hashes.SHA256()), key


def _extensions(spec: _Spec) -> list[tuple[x509.ExtensionType, bool]]:
    """(extension, critical) pairs of the CA, establishment (client) and TLS server profiles.

    signxml refuses to verify with a certificate whose keyUsage lacks
    digitalSignature, which is exactly what ``no-digital-signature`` exercises.
    """
    if spec.kind in (_Kind.ROOT, _Kind.INTERMEDIATE):
        path_length = 0 if spec.kind is _Kind.INTERMEDIATE else None
        return [
            (x509.BasicConstraints(ca=True, path_length=path_length), True),
            (_key_usage("key_cert_sign", "crl_sign"), True),
        ]
    signing = ("digital_signature",) if spec.digital_signature else ()
    common: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(*signing, "key_encipherment"), True),
    ]
    if spec.kind is _Kind.CLIENT:
        return [*common, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)]
    # "mock": the mock's name on the Compose network of a trial run (deploy/compose.yaml).
    san = [
        x509.DNSName("localhost"),
        x509.DNSName("mock"),
        x509.IPAddress(IPv4Address("127.0.0.1")),
    ]
    return [
        *common,
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName(san), False),
    ]


_KEY_USAGE_BITS = (
    *("digital_signature", "content_commitment", "key_encipherment", "data_encipherment"),
    *("key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
)


def _key_usage(*enabled: str) -> x509.KeyUsage:
    """A keyUsage with only the ``enabled`` bits set (the constructor wants all nine)."""
    return x509.KeyUsage(**{bit: bit in enabled for bit in _KEY_USAGE_BITS})


def _name(cn: str, organization: str, unit: str | None = None) -> x509.Name:
    """C, O, [OU,] CN: the attribute order of IGC-Santé certificates."""
    attributes = [(NameOID.COUNTRY_NAME, "FR"), (NameOID.ORGANIZATION_NAME, organization)]
    if unit is not None:
        attributes.append((NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append((NameOID.COMMON_NAME, cn))
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def _self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _load(paths: tuple[Path, ...], passphrase: str | None) -> Credential | None:
    """The credential held by a PKCS#12 file or a cert+key pair; None if missing or unusable."""
    parts = [_read_or_none(p) for p in paths]
    if any(part is None for part in parts):
        return None
    try:
        return credential_from_bytes(b"".join(p or b"" for p in parts), passphrase, setting="dev")
    except CredentialError:
        return None


def _clear_pem(key: PrivateKey) -> bytes:
    encoding, fmt = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(encoding, fmt, serialization.NoEncryption())


def _pkcs12(name: str, credential: Credential, password: bytes) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        name.encode(),
        credential.private_key,
        credential.certificate,
        list(credential.chain),
        serialization.BestAvailableEncryption(password),
    )


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
