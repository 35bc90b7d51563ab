"""The facts printed above every figure: the machine, its load, the code under test."""

from __future__ import annotations

import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.paths import ROOT


def _cmd(*argv: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "?"
    return out.stdout.rstrip()


def code_state() -> dict[str, Any]:
    """Commit, uncommitted gateway files, newest gateway mtime (the tree may be shared)."""
    git = shutil.which("git") or "/usr/bin/git"
    status = _cmd(git, "-C", str(ROOT), "status", "--porcelain", "--", "gateway")
    newest = max((p.stat().st_mtime for p in (ROOT / "gateway").rglob("*.py")), default=0.0)
    return {
        "head": _cmd(git, "-C", str(ROOT), "log", "-1", "--format=%h %ci %s"),
        "dirty_gateway_files": [line[3:] for line in status.splitlines()],
        "newest_gateway_mtime": datetime.fromtimestamp(newest, UTC).isoformat(timespec="seconds"),
    }


def machine() -> dict[str, str]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    wrk_version = _cmd("wrk", "-v").splitlines()[0] if shutil.which("wrk") else "absent"
    return {
        "nproc": _cmd("nproc"),
        "free -h": _cmd("free", "-h"),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": wrk_version,
    }


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]
