"""Where things are: the repository, the bench, the virtualenv's commands."""

from __future__ import annotations

import sys
from pathlib import Path

from testbed.servers import LOOPBACK

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "insi-gateway")
PYTHON = sys.executable
IDAM = "INSI-GW-DEV-IDAM"

__all__ = ["BENCH", "CLI", "IDAM", "LOOPBACK", "PYTHON", "ROOT", "VENV_BIN"]
