"""Loading establishment credentials and checking certificate chains (gateway.pki.credentials)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from gateway.exceptions import ConfigurationError, CredentialError
from gateway.pki.credentials import (
    Credential,
    load_ca_bundle,
    load_credential,
    verify_chain,
)
from gateway.pki.devpki import DEV_STRUCTURE_ID, INTERMEDIATE_CA_CN, DevPki, generate_dev_pki

SETTING = "INSI_CERT_MANU"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return generate_dev_pki(tmp_path_factory.mktemp("credentials") / "dev")


@pytest.fixture(scope="module")
def manu(pki: DevPki) -> Credential:
    return load_credential(pki.insi_manu.p12, pki.passphrase, setting=SETTING)


@pytest.fixture(scope="module")
def bundle(pki: DevPki) -> tuple[x509.Certificate, ...]:
    return load_ca_bundle(pki.ca_bundle, setting="INSI_UPSTREAM_CA")


def _concat(target: Path, *sources: Path) -> Path:
    target.write_bytes(b"".join(source.read_bytes() for source in sources))
    return target


def _reason(excinfo: pytest.ExceptionInfo[CredentialError]) -> str:
    assert excinfo.value.setting == SETTING
    return excinfo.value.reason


# --- loading -----------------------------------------------------------------


def test_pkcs12_loads_certificate_key_and_chain(manu: Credential) -> None:
    assert manu.common_name == "INSI-MANU"
    assert manu.organizational_unit == DEV_STRUCTURE_ID
    assert [c.subject for c in manu.chain] == [
        x509.Name.from_rfc4514_string(f"CN={INTERMEDIATE_CA_CN},O=INSI-GATEWAY DEV,C=FR")
    ]


def test_pem_with_encrypted_key_loads_the_same_certificate_as_pkcs12(
    pki: DevPki, manu: Credential, tmp_path: Path
) -> None:
    combined = _concat(tmp_path / "manu.pem", pki.insi_manu.pem, pki.insi_manu.key)

    from_pem = load_credential(combined, pki.passphrase, setting=SETTING)

    assert from_pem.certificate == manu.certificate
    assert from_pem.chain == manu.chain
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert from_pem.private_key.public_key().public_bytes(*spki) == (
        manu.private_key.public_key().public_bytes(*spki)
    )


def test_key_before_certificates_in_pem_still_finds_the_leaf(
    pki: DevPki, manu: Credential, tmp_path: Path
) -> None:
    combined = _concat(tmp_path / "manu.pem", pki.insi_manu.key, pki.intermediate_ca.pem)
    combined.write_bytes(combined.read_bytes() + manu.certificate_pem)

    loaded = load_credential(combined, pki.passphrase, setting=SETTING)

    assert loaded.certificate == manu.certificate
    assert [c.subject for c in loaded.chain] == [manu.chain[0].subject]


def test_clear_pem_key_needs_no_passphrase(pki: DevPki, tmp_path: Path) -> None:
    combined = _concat(tmp_path / "server.pem", pki.mock_server.pem, pki.mock_server.key)

    assert load_credential(combined, None, setting=SETTING).common_name == "localhost"


def test_wrong_passphrase_on_pkcs12_is_reported_without_the_passphrase(pki: DevPki) -> None:
    wrong = "not-the-passphrase-" + pki.passphrase[:6]

    with pytest.raises(CredentialError) as excinfo:
        load_credential(pki.insi_manu.p12, wrong, setting=SETTING)

    assert _reason(excinfo) == "wrong passphrase or corrupt PKCS#12"
    assert wrong not in str(excinfo.value)
    assert pki.passphrase not in str(excinfo.value)
    assert isinstance(excinfo.value, ConfigurationError)


def test_wrong_passphrase_on_encrypted_pem_key(pki: DevPki, tmp_path: Path) -> None:
    combined = _concat(tmp_path / "manu.pem", pki.insi_manu.pem, pki.insi_manu.key)

    with pytest.raises(CredentialError) as excinfo:
        load_credential(combined, "wrong-secret-value", setting=SETTING)

    assert "wrong passphrase" in _reason(excinfo)
    assert "wrong-secret-value" not in str(excinfo.value)


def test_encrypted_pem_key_without_passphrase(pki: DevPki, tmp_path: Path) -> None:
    combined = _concat(tmp_path / "manu.pem", pki.insi_manu.pem, pki.insi_manu.key)

    with pytest.raises(CredentialError) as excinfo:
        load_credential(combined, None, setting=SETTING)

    assert "no passphrase" in _reason(excinfo)


def test_key_of_another_certificate_is_a_mismatch(pki: DevPki, tmp_path: Path) -> None:
    mixed = _concat(tmp_path / "mixed.pem", pki.insi_manu.pem, pki.insi_auto.key)

    with pytest.raises(CredentialError) as excinfo:
        load_credential(mixed, pki.passphrase, setting=SETTING)

    assert _reason(excinfo) == "private key does not match certificate"


def test_pkcs12_whose_key_does_not_match_its_certificate(
    pki: DevPki, manu: Credential, tmp_path: Path
) -> None:
    auto = load_credential(pki.insi_auto.p12, pki.passphrase, setting=SETTING)
    password = pki.passphrase.encode()
    encryption = serialization.BestAvailableEncryption(password)
    # cryptography refuses to pair them as key + certificate; a CA slot still mixes them up
    data = pkcs12.serialize_key_and_certificates(
        b"mixed", auto.private_key, None, [manu.certificate], encryption
    )
    (tmp_path / "mixed.p12").write_bytes(data)

    with pytest.raises(CredentialError) as excinfo:
        load_credential(tmp_path / "mixed.p12", pki.passphrase, setting=SETTING)

    assert _reason(excinfo) == "private key does not match certificate"


def test_pem_without_private_key(pki: DevPki) -> None:
    with pytest.raises(CredentialError) as excinfo:
        load_credential(pki.insi_manu.pem, pki.passphrase, setting=SETTING)

    assert _reason(excinfo) == "no private key in file"


def test_pkcs12_without_private_key(pki: DevPki, manu: Credential, tmp_path: Path) -> None:
    encryption = serialization.BestAvailableEncryption(pki.passphrase.encode())
    data = pkcs12.serialize_key_and_certificates(b"c", None, manu.certificate, None, encryption)
    (tmp_path / "cert-only.p12").write_bytes(data)

    with pytest.raises(CredentialError) as excinfo:
        load_credential(tmp_path / "cert-only.p12", pki.passphrase, setting=SETTING)

    assert _reason(excinfo) == "no private key in file"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as excinfo:
        load_credential(tmp_path / "absent.p12", "x", setting=SETTING)

    assert _reason(excinfo).startswith("file not found")


def test_encrypted_pkcs12_without_passphrase_says_so(pki: DevPki) -> None:
    with pytest.raises(CredentialError) as excinfo:
        load_credential(pki.insi_manu.p12, None, setting=SETTING)

    assert _reason(excinfo) == "no passphrase given (the PKCS#12 is encrypted, or corrupt)"


def test_garbage_is_reported_as_corrupt_pkcs12(tmp_path: Path) -> None:
    (tmp_path / "garbage.p12").write_bytes(b"\x00not a certificate at all")

    with pytest.raises(CredentialError) as excinfo:
        load_credential(tmp_path / "garbage.p12", "x", setting=SETTING)

    assert _reason(excinfo) == "wrong passphrase or corrupt PKCS#12"


# --- the Credential object ---------------------------------------------------


def test_repr_shows_identity_but_no_key_material(manu: Credential) -> None:
    text = repr(manu)

    assert "INSI-MANU" in text
    assert DEV_STRUCTURE_ID in text
    assert "PRIVATE" not in text
    assert isinstance(manu.private_key, rsa.RSAPrivateKey)
    assert str(manu.private_key.private_numbers().d) not in text


def test_private_key_pem_is_encrypted_and_reloads(manu: Credential) -> None:
    pem = manu.private_key_pem(b"transient-password")

    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, None)
    reloaded = serialization.load_pem_private_key(pem, b"transient-password")
    assert reloaded.public_key() == manu.private_key.public_key()


def test_chain_pem_is_certificate_then_chain(manu: Credential) -> None:
    assert x509.load_pem_x509_certificates(manu.chain_pem) == [manu.certificate, *manu.chain]
    assert manu.chain_pem.startswith(manu.certificate_pem)


def test_not_valid_after_is_utc_aware(manu: Credential) -> None:
    assert manu.not_valid_after.tzinfo is not None
    assert manu.not_valid_after.utcoffset() == timedelta(0)
    assert manu.not_valid_after > datetime.now(UTC) + timedelta(days=700)


# --- CA bundle and chain verification ----------------------------------------


def test_ca_bundle_holds_root_and_intermediate(bundle: tuple[x509.Certificate, ...]) -> None:
    assert len(bundle) == 2
    assert bundle[1].subject.rfc4514_string().startswith(f"CN={INTERMEDIATE_CA_CN}")


def test_empty_ca_bundle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.pem").write_bytes(b"")

    with pytest.raises(CredentialError, match="INSI_UPSTREAM_CA: no readable PEM certificate"):
        load_ca_bundle(tmp_path / "empty.pem", setting="INSI_UPSTREAM_CA")


def test_missing_ca_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="file not found"):
        load_ca_bundle(tmp_path / "absent.pem", setting="INSI_UPSTREAM_CA")


def test_establishment_certificate_chains_to_the_bundle(
    manu: Credential, bundle: tuple[x509.Certificate, ...]
) -> None:
    verify_chain(manu.certificate, manu.chain, bundle)
    verify_chain(manu.certificate, (), bundle)  # the bundle holds the intermediate too


def test_intermediate_is_needed_when_only_the_root_is_trusted(
    pki: DevPki, manu: Credential
) -> None:
    root = load_ca_bundle(pki.root_ca.pem, setting="root")

    verify_chain(manu.certificate, manu.chain, root)
    with pytest.raises(CredentialError, match="does not chain to a trusted CA"):
        verify_chain(manu.certificate, (), root)


def test_certificate_from_an_unknown_ca_is_refused(
    pki: DevPki, bundle: tuple[x509.Certificate, ...]
) -> None:
    unknown = load_credential(pki.unknown_ca.p12, pki.passphrase, setting=SETTING)

    with pytest.raises(CredentialError) as excinfo:
        verify_chain(unknown.certificate, unknown.chain, bundle)

    assert excinfo.value.setting == "certificate"
    assert "INSI-MANU" in excinfo.value.reason


def test_expired_certificate_is_refused(pki: DevPki, bundle: tuple[x509.Certificate, ...]) -> None:
    expired = load_credential(pki.expired.p12, pki.passphrase, setting=SETTING)

    with pytest.raises(CredentialError, match="not valid"):
        verify_chain(expired.certificate, expired.chain, bundle)


def test_validity_is_checked_at_the_given_time(
    manu: Credential, bundle: tuple[x509.Certificate, ...]
) -> None:
    after_expiry = manu.not_valid_after + timedelta(days=1)

    with pytest.raises(CredentialError, match="not valid"):
        verify_chain(manu.certificate, manu.chain, bundle, at=after_expiry)


def test_no_trusted_certificate_is_an_error(manu: Credential) -> None:
    with pytest.raises(CredentialError, match="no trusted CA"):
        verify_chain(manu.certificate, manu.chain, ())
