"""Servers of the tests and the bench: free loopback ports, the one readiness probe, the one
launcher (a process in its own group, its output in a log file, stopped by its pid).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import requests

from testbed.waiting import WaitTimeout, wait_until

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


def answers(
    url: str,
    *,
    verify: str | bool = True,
    session: requests.Session | None = None,
    timeout: float = 1.0,
) -> bool:
    """The readiness probe: ``GET url`` answers 2xx (False on any connection error)."""
    try:
        get = session.get if session is not None else requests.get
        return get(url, verify=verify, timeout=timeout).ok
    except requests.RequestException:
        return False


class ServerProcess:
    """A subprocess whose output goes to a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_dir: Path,
        *,
        cwd: Path | None = None,
        inherit_env: bool = True,
        log_path: Path | None = None,
    ):
        self.name = name
        self.log_path = log_path or log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            list(argv),
            env={**os.environ, **env} if inherit_env else dict(env),
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_until(self, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        """Until ``ready()`` (stopped, with its output in the error, if it exits or is late)."""

        def up() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.output()}")
            return ready()

        try:
            wait_until(up, timeout, f"{self.name} ready", interval=0.1)
        except WaitTimeout:
            self.stop()
            late = f"{self.name} not ready after {timeout}s:\n{self.output()}"
            raise RuntimeError(late) from None

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to its process group, SIGKILL after ``grace`` seconds."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._log.close()


def launch(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    log_dir: Path,
    *,
    ready: Callable[[], bool],
    timeout: float = 60.0,
    cwd: Path | None = None,
    inherit_env: bool = True,
    log_path: Path | None = None,
) -> ServerProcess:
    """The one server launcher: start ``argv`` and wait (with a deadline) until ``ready()``."""
    process = ServerProcess(
        name, argv, env, log_dir, cwd=cwd, inherit_env=inherit_env, log_path=log_path
    )
    process.wait_until(ready, timeout)
    return process
