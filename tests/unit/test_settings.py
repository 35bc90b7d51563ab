"""Settings: read once from a mapping, each problem named, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Secret, config_file_path
from gateway.exceptions import ConfigurationError
from gateway.settings import Settings, SigningMode, StorageSettings, effective


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
    breaker = settings.resilience.breaker
    assert (breaker.window, breaker.min_calls, breaker.failure_rate) == (10.0, 20, 0.5)
    assert (breaker.cooldown, breaker.probes) == (30.0, 3)


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
        ("INSI_BREAKER_FAILURE_RATE", "150", "percentage"),
        ("INSI_BREAKER_MIN_CALLS", "0", "at least 1"),
        ("INSI_BREAKER_THRESHOLD", "5", "INSI_BREAKER_FAILURE_RATE"),
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


def test_optional_config_file_under_the_environment(env: dict[str, str], tmp_path: Path) -> None:
    file = tmp_path / "gateway.env"
    file.write_text("# ops settings\nINSI_READ_TIMEOUT=9\nINSI_IDAM='FROM-FILE'\n\n")
    env.pop("INSI_IDAM")

    settings = Settings.from_env(
        {**env, "GATEWAY_CONFIG_FILE": str(file), "INSI_READ_TIMEOUT": "7"}
    )

    assert settings.idam == "FROM-FILE"
    assert settings.read_timeout == 7.0  # the environment wins


def test_a_bad_config_file_line_is_named(env: dict[str, str], tmp_path: Path) -> None:
    file = tmp_path / "gateway.env"
    file.write_text("INSI_IDAM=X\nthis is not a setting\n")
    with pytest.raises(ConfigurationError, match="line 2"):
        Settings.from_env({**env, "GATEWAY_CONFIG_FILE": str(file)})


def test_trusted_proxies_default_to_nobody_and_are_shown(env: dict[str, str]) -> None:
    assert Settings.from_env(env).trusted_proxies == ()
    settings = Settings.from_env({**env, "GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
    shown = effective(settings)
    assert isinstance(shown, dict)
    assert shown["trusted_proxies"] == ["10.0.0.0/8", "127.0.0.1/32"]


def test_cli_config_file_defaults_to_var_gateway_env_when_present(tmp_path: Path) -> None:
    assert config_file_path({}, tmp_path) == ""  # none there: environment only
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "gateway.env").write_text("INSI_IDAM=X\n")
    assert config_file_path({}, tmp_path) == str(tmp_path / "var" / "gateway.env")
    assert config_file_path({"GATEWAY_CONFIG_FILE": "/etc/insi/gateway.env"}, tmp_path) == (
        "/etc/insi/gateway.env"
    )
    assert config_file_path({"GATEWAY_CONFIG_FILE": ""}, tmp_path) == ""  # set and empty: none


def test_storage_settings_read_the_config_file(tmp_path: Path) -> None:
    file = tmp_path / "gateway.env"
    file.write_text("GATEWAY_AUDIT_KEY=from-the-file-0123456789\nDATABASE_URL=sqlite:///x.db\n")
    storage = StorageSettings.from_env({"GATEWAY_CONFIG_FILE": str(file)})
    assert storage.audit_key.reveal() == "from-the-file-0123456789"
    assert storage.database_url == "sqlite:///x.db"


@pytest.mark.parametrize(("raw", "seconds"), [("", 5.0), ("0", 0.0), ("2.5", 2.5)])
def test_drain_seconds(env: dict[str, str], raw: str, seconds: float) -> None:
    assert Settings.from_env({**env, "GATEWAY_DRAIN_SECONDS": raw}).drain_seconds == seconds


@pytest.mark.parametrize("raw", ["-1", "soon", "inf"])
def test_bad_drain_seconds_is_named(env: dict[str, str], raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**env, "GATEWAY_DRAIN_SECONDS": raw})
    assert caught.value.setting == "GATEWAY_DRAIN_SECONDS"
