"""SIGHUP reads the configuration file again: a renewed certificate comes with its new passphrase.

docs/production.md, step 12: the new PKCS#12 is installed, its passphrase written
to the configuration file, and ``systemctl reload`` (SIGHUP) starts new workers.
Those workers must open the new file with the new passphrase; before this, they
got the settings read at start, failed to open it and the arbiter stopped.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from gateway.pki.devpki import DevPki
from testbed.waiting import wait_until
from tests.integration.conftest import (
    APP,
    GatewayServer,
    MockServer,
    gateway_env,
    launch_gateway,
    register_app,
)
from tests.integration.personas import PERSONAS

DOMINIQUE = PERSONAS[0].traits()
FILE_SETTINGS = ("INSI_CERT_MANU", "INSI_CERT_MANU_PASSPHRASE")


def _write_config(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    path.chmod(0o600)


def _reencrypt(p12: Path, old: str, new: str) -> None:
    """The same key and certificate, in a PKCS#12 under another passphrase (a renewal's file)."""
    key, cert, chain = pkcs12.load_key_and_certificates(p12.read_bytes(), old.encode())
    data = pkcs12.serialize_key_and_certificates(
        b"INSI-MANU",
        key,
        cert,
        chain,
        BestAvailableEncryption(new.encode()),
    )
    p12.write_bytes(data)


def _booted(server: GatewayServer) -> int:
    return server.process.output().count("Booting worker with pid")


def _serving(
    dev_pki: DevPki, mock: MockServer, log_dir: Path, tmp_path: Path
) -> tuple[GatewayServer, Path, Path]:
    manu = tmp_path / "insi-manu.p12"
    manu.write_bytes(dev_pki.insi_manu.p12.read_bytes())
    config = tmp_path / "gateway.env"
    _write_config(
        config, {"INSI_CERT_MANU": str(manu), "INSI_CERT_MANU_PASSPHRASE": dev_pki.passphrase}
    )
    env = gateway_env(dev_pki, mock.url, DATABASE_URL=f"sqlite:///{tmp_path / 'gateway.db'}")
    env = {k: v for k, v in env.items() if k not in FILE_SETTINGS} | {
        "GATEWAY_CONFIG_FILE": str(config)
    }
    key = register_app(env, APP, "--rate", "1000", "--burst", "1000")
    pid_file = tmp_path / "gateway.pid"
    server = launch_gateway(
        dev_pki, log_dir, env, key, workers=2, extra=["--pid-file", str(pid_file)]
    )
    return server, config, manu


def _reload(server: GatewayServer, pid_file: Path, booted_before: int) -> None:
    os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)
    wait_until(lambda: _booted(server) >= booted_before + 2, 60, "two new workers booted")


def test_sighup_takes_the_new_passphrase_from_the_configuration_file(
    dev_pki: DevPki, mock_server: MockServer, log_dir: Path, tmp_path: Path
) -> None:
    server, config, manu = _serving(dev_pki, mock_server, log_dir, tmp_path)
    try:
        assert server.post("/v1/ins/search", DOMINIQUE).status_code == 200
        _reencrypt(manu, dev_pki.passphrase, "renewed-passphrase")
        _write_config(
            config, {"INSI_CERT_MANU": str(manu), "INSI_CERT_MANU_PASSPHRASE": "renewed-passphrase"}
        )
        _reload(server, tmp_path / "gateway.pid", _booted(server))

        assert "configuration reloaded for the new workers" in server.process.output()
        statuses = {server.post("/v1/ins/search", DOMINIQUE).status_code for _ in range(6)}
        assert statuses == {200}
        assert server.process.process.poll() is None  # the arbiter is still up
        assert "renewed-passphrase" not in server.process.output()
    finally:
        server.process.stop()


def test_a_reload_with_an_unusable_configuration_keeps_the_previous_settings(
    dev_pki: DevPki, mock_server: MockServer, log_dir: Path, tmp_path: Path
) -> None:
    server, config, manu = _serving(dev_pki, mock_server, log_dir, tmp_path)
    try:
        _write_config(
            config, {"INSI_CERT_MANU": str(manu), "INSI_CERT_MANU_PASSPHRASE": "wrong-one"}
        )
        _reload(server, tmp_path / "gateway.pid", _booted(server))

        output = server.process.output()
        assert "configuration not reloaded: the previous settings stay" in output
        assert "wrong-one" not in output  # the setting is named, never its value
        statuses = {server.post("/v1/ins/search", DOMINIQUE).status_code for _ in range(6)}
        assert statuses == {200}
    finally:
        server.process.stop()
