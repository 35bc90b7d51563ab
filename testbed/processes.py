"""Probes of a running server process from /proc (Linux): its workers and their memory."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (gunicorn's workers, for an arbiter)."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` (``VmRSS`` of /proc/<pid>/status)."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (the unit of /proc)."""
    return rss_bytes(pid) // 1024


def only_worker(arbiter_pid: int) -> int:
    """The one worker of a single-worker gunicorn arbiter."""
    workers = children(arbiter_pid)
    assert len(workers) == 1, f"expected one worker under {arbiter_pid}, found {workers}"
    return workers[0]


def connected_to(port: int) -> int:
    """How many established IPv4 TCP connections of this machine go to ``port`` (clients').

    A gateway's call in progress toward a mock on ``port`` shows here before the mock, which
    logs a request only once answered, can tell anything.
    """
    established = "01"
    count = 0
    for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        count += remote_port == port and fields[3] == established
    return count
