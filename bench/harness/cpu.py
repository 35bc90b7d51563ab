"""CPU accounting from ``/proc``: our processes' CPU seconds and the machine's, per window.

The machine is shared, so every load figure carries how busy the rest of the machine was
(``others_busy_cores``); CPU seconds per request barely depend on it, which is why the
report compares those rather than req/s.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path

from harness.paths import ROOT
from testbed.processes import children, rss_kib

__all__ = ["CpuWindow", "children", "cpu_seconds", "rss_kib", "run_bounded", "system_busy"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def run_bounded(
    argv: list[str], *, timeout: float, env: dict[str, str] | None = None
) -> tuple[str, float]:
    """Run ``argv`` to completion (killed after ``timeout``): its stdout and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return stdout.decode(), cpu


class CpuWindow:
    """CPU seconds used, over one measured run, by the machine and by groups of our pids."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.busy0, self.total0 = system_busy()
        self.ours0 = {name: sum(cpu_seconds(p) for p in group) for name, group in pids.items()}
        self.wall0 = time.perf_counter()

    def close(self, **extra_cpu: float) -> dict[str, float]:
        """``<group>_cpu_s`` per group (and per ``extra_cpu``), machine and others' cores."""
        busy, _ = system_busy()
        wall = time.perf_counter() - self.wall0
        out = {
            f"{name}_cpu_s": sum(cpu_seconds(p) for p in group) - self.ours0[name]
            for name, group in self.pids.items()
        }
        out.update({f"{name}_cpu_s": value for name, value in extra_cpu.items()})
        ours = sum(out.values())
        out["machine_busy_cores"] = (busy - self.busy0) / wall
        out["others_busy_cores"] = max(0.0, (busy - self.busy0 - ours) / wall)
        out["wall_s"] = wall
        return out
