"""Fixtures shared by the whole suite.

Sockets are blocked by pytest-socket (see ``setup.cfg``) except toward
loopback: nothing in the suite may leave 127.0.0.1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.pki.devpki import DevPki, generate_dev_pki
from tests.paths import REFERENCE_DIR

# Every CLI and server the suite starts gets exactly the environment its test gives: never
# the var/gateway.env a developer's ./scripts/demo left in the checkout (set and empty:
# no configuration file; tests of the file set it themselves).
os.environ["GATEWAY_CONFIG_FILE"] = ""


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """One generated dev PKI (CA chain, INSI-MANU/AUTO, mock server, negative certs) per run."""
    return generate_dev_pki(tmp_path_factory.mktemp("pki") / "dev")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The official INSi contract (``../shared/reference/insi``); tests fail if it is absent."""
    assert REFERENCE_DIR.is_dir(), f"official INSi contract not found at {REFERENCE_DIR}"
    return REFERENCE_DIR
