"""Where things are: the repository, the bench, the virtualenv's commands."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "insi-gateway")
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"
IDAM = "INSI-GW-DEV-IDAM"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the gateway's own code (dev PKI, direct client)
