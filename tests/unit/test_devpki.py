"""The development PKI (gateway.pki.devpki): profiles, negative certificates, idempotence."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.exceptions import InvalidCertificate
from signxml.signer import XMLSigner
from signxml.verifier import VerifyResult, XMLVerifier

from gateway.exceptions import CredentialError
from gateway.pki.credentials import (
    Credential,
    credential_from_bytes,
    load_ca_bundle,
    load_credential,
    verify_chain,
)
from gateway.pki.devpki import (
    DEV_STRUCTURE_ID,
    ESTABLISHMENT_NAME,
    INTERMEDIATE_CA_CN,
    ROOT_CA_CN,
    UNKNOWN_ROOT_CA_CN,
    DevPki,
    generate_dev_pki,
)

EXPECTED_FILES = {
    "passphrase",
    "root-ca.pem",
    "root-ca.key",
    "intermediate-ca.pem",
    "intermediate-ca.key",
    "ca-bundle.pem",
    "unknown-root-ca.pem",
    "unknown-root-ca.key",
    "mock-server.pem",
    "mock-server.key",
    "unknown-ca-server.pem",
    "unknown-ca-server.key",
    *(
        f"{stem}{ext}"
        for stem in (
            "insi-manu",
            "insi-auto",
            "other-cn",
            "expired",
            "unknown-ca",
            "no-digital-signature",
        )
        for ext in (".p12", ".pem", ".key", "-full.pem")
    ),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return generate_dev_pki(tmp_path_factory.mktemp("devpki") / "dev")


@pytest.fixture(scope="module")
def bundle(pki: DevPki) -> tuple[x509.Certificate, ...]:
    return load_ca_bundle(pki.ca_bundle, setting="INSI_UPSTREAM_CA")


def _client(pki: DevPki, p12: Path) -> Credential:
    return load_credential(p12, pki.passphrase, setting="test")


def _pem_pair(pem: Path, key: Path, passphrase: str | None) -> Credential:
    return credential_from_bytes(pem.read_bytes() + key.read_bytes(), passphrase, setting="test")


def _cn(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _key_usage(certificate: x509.Certificate) -> x509.Extension[x509.KeyUsage]:
    return certificate.extensions.get_extension_for_class(x509.KeyUsage)


# --- layout and file modes ---------------------------------------------------


def test_generates_exactly_the_documented_files(pki: DevPki) -> None:
    on_disk = {p.name for p in pki.directory.iterdir()}

    assert {p.name for p in pki.files()} == EXPECTED_FILES
    assert on_disk == EXPECTED_FILES


def test_secrets_are_private_and_certificates_readable(pki: DevPki) -> None:
    assert stat.S_IMODE(pki.directory.stat().st_mode) == 0o700
    for path in pki.files():
        mode = stat.S_IMODE(path.stat().st_mode)
        secret = path.suffix in (".key", ".p12") or path.name == "passphrase"
        secret = secret or path.name.endswith("-full.pem")  # it holds the key
        assert mode == (0o600 if secret else 0o644), path.name


def test_passphrase_is_random_and_kept_out_of_repr(pki: DevPki) -> None:
    assert pki.passphrase == pki.passphrase_file.read_text()
    assert len(pki.passphrase) >= 32
    assert pki.passphrase not in repr(pki)


# --- CA certificates ---------------------------------------------------------


def test_root_is_a_self_signed_ca_of_ten_years(pki: DevPki) -> None:
    root = x509.load_pem_x509_certificate(pki.root_ca.pem.read_bytes())

    assert _cn(root.subject) == ROOT_CA_CN
    assert root.issuer == root.subject
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _key_usage(root).value.key_cert_sign
    assert root.not_valid_after_utc - root.not_valid_before_utc > timedelta(days=3649)


def test_intermediate_is_issued_by_the_root_with_pathlen_zero(pki: DevPki) -> None:
    root = x509.load_pem_x509_certificate(pki.root_ca.pem.read_bytes())
    intermediate = x509.load_pem_x509_certificate(pki.intermediate_ca.pem.read_bytes())

    assert _cn(intermediate.subject) == INTERMEDIATE_CA_CN
    intermediate.verify_directly_issued_by(root)
    constraints = intermediate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert (constraints.value.ca, constraints.value.path_length) == (True, 0)


def test_ca_bundle_is_root_then_intermediate(
    pki: DevPki, bundle: tuple[x509.Certificate, ...]
) -> None:
    assert [_cn(c.subject) for c in bundle] == [ROOT_CA_CN, INTERMEDIATE_CA_CN]


# --- establishment certificates ----------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "cn"), [("insi_manu", "INSI-MANU"), ("insi_auto", "INSI-AUTO")]
)
def test_establishment_certificates_follow_the_igc_sante_profile(
    pki: DevPki, bundle: tuple[x509.Certificate, ...], attribute: str, cn: str
) -> None:
    credential = _client(pki, getattr(pki, attribute).p12)
    certificate = credential.certificate

    assert credential.common_name == cn
    assert credential.organizational_unit == DEV_STRUCTURE_ID
    organization = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert organization[0].value == ESTABLISHMENT_NAME
    assert _cn(certificate.issuer) == INTERMEDIATE_CA_CN
    assert _key_usage(certificate).critical
    assert _key_usage(certificate).value.digital_signature
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert isinstance(credential.private_key, rsa.RSAPrivateKey)
    assert credential.private_key.key_size == 2048
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert timedelta(days=729) < lifetime < timedelta(days=732)
    verify_chain(certificate, credential.chain, bundle)


def test_pkcs12_and_pem_files_hold_the_same_credential(pki: DevPki) -> None:
    from_p12 = _client(pki, pki.insi_manu.p12)
    from_pem = _pem_pair(pki.insi_manu.pem, pki.insi_manu.key, pki.passphrase)

    assert from_pem.certificate == from_p12.certificate
    assert from_pem.chain == from_p12.chain
    assert pki.insi_manu.key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


# --- mock server -------------------------------------------------------------


def test_mock_server_certificate_serves_localhost(
    pki: DevPki, bundle: tuple[x509.Certificate, ...]
) -> None:
    server = _pem_pair(pki.mock_server.pem, pki.mock_server.key, None)
    certificate = server.certificate

    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert IPv4Address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages
    assert [_cn(c.subject) for c in server.chain] == [INTERMEDIATE_CA_CN]
    verify_chain(certificate, server.chain, bundle)


# --- negative certificates ---------------------------------------------------


def test_other_cn_is_valid_but_not_an_insi_name(
    pki: DevPki, bundle: tuple[x509.Certificate, ...]
) -> None:
    other = _client(pki, pki.other_cn.p12)

    assert other.common_name == "INSI-OTHER"
    verify_chain(other.certificate, other.chain, bundle)


def test_expired_certificate_ended_yesterday(pki: DevPki) -> None:
    expired = _client(pki, pki.expired.p12)
    now = datetime.now(UTC)

    assert expired.common_name == "INSI-MANU"
    assert expired.not_valid_after < now
    assert expired.certificate.not_valid_before_utc < now - timedelta(days=364)


def test_unknown_ca_certificates_do_not_chain_to_the_bundle(
    pki: DevPki, bundle: tuple[x509.Certificate, ...]
) -> None:
    unknown = _client(pki, pki.unknown_ca.p12)
    server = _pem_pair(pki.unknown_ca_server.pem, pki.unknown_ca_server.key, None)
    unknown_root = load_ca_bundle(pki.unknown_root_ca.pem, setting="test")

    assert unknown.common_name == "INSI-MANU"
    assert _cn(unknown.certificate.issuer) == UNKNOWN_ROOT_CA_CN
    for certificate in (unknown.certificate, server.certificate):
        with pytest.raises(CredentialError, match="does not chain to a trusted CA"):
            verify_chain(certificate, (), bundle)
        verify_chain(certificate, (), unknown_root)


def test_no_digital_signature_certificate_only_allows_key_encipherment(pki: DevPki) -> None:
    usage = _key_usage(_client(pki, pki.no_digital_signature.p12).certificate).value

    assert not usage.digital_signature
    assert usage.key_encipherment


# --- XML signature -----------------------------------------------------------


def _sign(credential: Credential) -> etree._Element:
    assertion = etree.fromstring(
        b'<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1">'
        b"<saml:Issuer>gateway</saml:Issuer></saml:Assertion>"
    )
    certificates = [
        c.public_bytes(serialization.Encoding.PEM).decode()
        for c in (credential.certificate, *credential.chain)
    ]
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm="rsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
    )
    signed: etree._Element = signer.sign(assertion, key=credential.private_key, cert=certificates)
    return signed


def test_signxml_signs_with_insi_manu_and_verifies_against_the_bundle(pki: DevPki) -> None:
    signed = _sign(_client(pki, pki.insi_manu.p12))

    result = XMLVerifier().verify(signed, ca_pem_file=str(pki.ca_bundle))

    assert isinstance(result, VerifyResult)
    assert result.signed_xml is not None
    assert result.signed_xml.get("ID") == "_a1"


def test_signxml_refuses_a_certificate_without_digital_signature(pki: DevPki) -> None:
    signed = _sign(_client(pki, pki.no_digital_signature.p12))

    with pytest.raises(InvalidCertificate, match="digitalSignature"):
        XMLVerifier().verify(signed, ca_pem_file=str(pki.ca_bundle))


# --- idempotence -------------------------------------------------------------


def _serials(pki: DevPki) -> dict[str, int]:
    return {
        path.name: x509.load_pem_x509_certificate(path.read_bytes()).serial_number
        for path in pki.files()
        if path.suffix == ".pem" and path.name != "ca-bundle.pem"
    }


def test_full_pem_is_usable_as_the_documented_single_pem(pki: DevPki) -> None:
    """docs/configuration.md: a PEM ``INSI_CERT_MANU`` holds certificate, chain and key."""
    full = load_credential(pki.insi_manu.full, pki.passphrase, setting="INSI_CERT_MANU")
    assert full.common_name == "INSI-MANU"
    assert len(full.chain) == 1  # the intermediate
    assert (
        full.certificate
        == load_credential(pki.insi_manu.p12, pki.passphrase, setting="x").certificate
    )
    assert pki.insi_manu.full.stat().st_mode & 0o777 == 0o600


def test_second_run_keeps_every_file(pki: DevPki) -> None:
    before = {path.name: path.read_bytes() for path in pki.files()}
    serials = _serials(pki)

    again = generate_dev_pki(pki.directory)

    assert again == pki
    assert again.passphrase == pki.passphrase
    assert _serials(again) == serials
    assert {path.name: path.read_bytes() for path in again.files()} == before


def test_only_missing_files_are_regenerated(tmp_path: Path) -> None:
    first = generate_dev_pki(tmp_path / "dev")
    serials = _serials(first)
    first.insi_manu.key.unlink()
    first.insi_auto.p12.unlink()
    first.ca_bundle.unlink()

    second = generate_dev_pki(tmp_path / "dev")

    assert second.passphrase == first.passphrase
    assert _serials(second) == serials
    assert (
        _client(second, second.insi_auto.p12).certificate.serial_number
        == (serials["insi-auto.pem"])
    )
    manu = _pem_pair(second.insi_manu.pem, second.insi_manu.key, second.passphrase)
    assert manu.certificate.serial_number == serials["insi-manu.pem"]
    assert stat.S_IMODE(second.insi_manu.key.stat().st_mode) == 0o600


def test_a_new_intermediate_reissues_what_it_signed(tmp_path: Path) -> None:
    first = generate_dev_pki(tmp_path / "dev")
    serials = _serials(first)
    first.intermediate_ca.key.unlink()

    second = generate_dev_pki(tmp_path / "dev")
    renewed = _serials(second)

    assert renewed["root-ca.pem"] == serials["root-ca.pem"]
    assert renewed["unknown-ca.pem"] == serials["unknown-ca.pem"]  # other root, untouched
    for name in ("intermediate-ca.pem", "insi-manu.pem", "mock-server.pem"):
        assert renewed[name] != serials[name]
    bundle = load_ca_bundle(second.ca_bundle, setting="test")
    manu = _client(second, second.insi_manu.p12)
    verify_chain(manu.certificate, manu.chain, bundle)
