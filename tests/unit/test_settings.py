"""Settings: read once from a mapping, each problem named, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.exceptions import ConfigurationError
from gateway.settings import Secret, Settings, SigningMode, effective


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    for name in ("ca.pem", "manu.p12"):
        (tmp_path / name).write_bytes(b"x")
    return {
        "INSI_UPSTREAM_URL": "https://127.0.0.1:8443/lps",
        "INSI_UPSTREAM_CA": str(tmp_path / "ca.pem"),
        "INSI_CERT_MANU": str(tmp_path / "manu.p12"),
        "INSI_CERT_MANU_PASSPHRASE": "pass-phrase-value",
        "INSI_IDAM": "IDAM-1",
        "GATEWAY_AUDIT_KEY": "audit-key-value-0123456789",
    }


def test_defaults(env: dict[str, str]) -> None:
    settings = Settings.from_env(env)
    assert settings.signing is SigningMode.VIHF
    assert settings.cert_auto is None
    assert (settings.connect_timeout, settings.read_timeout) == (3.05, 15.0)
    assert settings.storage.database_url == "sqlite:///var/gateway.db"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("INSI_UPSTREAM_URL", "", "is required"),
        ("INSI_UPSTREAM_URL", "http://127.0.0.1/lps", "https://"),
        ("INSI_UPSTREAM_CA", "/nonexistent/ca.pem", "file not found"),
        ("INSI_IDAM", " ", "is required"),
        ("INSI_SIGNING", "sha1", "must be one of"),
        ("INSI_READ_TIMEOUT", "0", "greater than zero"),
        ("INSI_CONNECT_TIMEOUT", "soon", "must be a number"),
        ("GATEWAY_AUDIT_KEY", "short", "at least 16"),
    ],
)
def test_each_problem_names_its_variable(
    env: dict[str, str], name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**env, name: value})
    assert caught.value.setting == name
    assert expected in caught.value.reason


def test_secrets_never_show(env: dict[str, str]) -> None:
    settings = Settings.from_env(env)
    shown = repr(settings) + str(settings)
    assert "pass-phrase-value" not in shown
    assert "audit-key-value" not in shown
    assert isinstance(settings.cert_manu.passphrase, Secret)
    assert settings.cert_manu.passphrase.reveal() == "pass-phrase-value"


@pytest.mark.parametrize(
    ("preset", "host"),
    [
        ("mock", "127.0.0.1:8443"),
        ("qualification", "qualiflps-services-ps-tlsm.ameli.fr"),
        ("production", "services-ps-tlsm.ameli.fr"),
    ],
)
def test_insi_env_presets(env: dict[str, str], preset: str, host: str) -> None:
    del env["INSI_UPSTREAM_URL"]

    url = Settings.from_env({**env, "INSI_ENV": preset}).upstream_url

    assert url.startswith("https://")
    assert host in url


def test_an_explicit_url_wins_over_the_preset(env: dict[str, str]) -> None:
    settings = Settings.from_env({**env, "INSI_ENV": "production"})
    assert settings.upstream_url == env["INSI_UPSTREAM_URL"]


def test_unknown_preset_is_named(env: dict[str, str]) -> None:
    del env["INSI_UPSTREAM_URL"]
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**env, "INSI_ENV": "staging"})
    assert caught.value.setting == "INSI_ENV"


def test_effective_configuration_masks_secrets(env: dict[str, str]) -> None:
    shown = str(effective(Settings.from_env(env)))
    assert "pass-phrase-value" not in shown
    assert "audit-key-value" not in shown
    assert "********" in shown
