"""Real servers for the scenarios: the mock teleservice and the gateway under gunicorn.

Everything listens on 127.0.0.1 only; every server started here is stopped here (its own
process group, by its pid). ``Harness`` is what a scenario receives: the run's directory,
dev PKI, database, API key, options, and the ways to start servers and record commands.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.pki.devpki import DevPki, generate_dev_pki
from harness.cpu import children
from harness.paths import CLI, IDAM, LOOPBACK, ROOT

COMMANDS: list[str] = []  # every command run, in order, for the report


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def shown(argv: list[str], env: dict[str, str] | None = None) -> str:
    """A command line as a reader could type it from the repository root."""
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    text = " ".join(shlex.quote(str(a).replace(str(ROOT) + "/", "")) for a in argv)
    return f"{prefix} {text}".strip()


def record(argv: list[str], env: dict[str, str] | None = None) -> None:
    """Add a command to the report's list of commands."""
    COMMANDS.append(shown(argv, env))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Server:
    """A gunicorn server of ours (``insi-gateway serve|mock``), in its own process group."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int
    shown_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self, https: bool = False) -> None:
        record(self.argv, self.shown_env)
        log(f"start {self.name}: {shown(self.argv, self.shown_env)}")
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            if port_open(self.port) and self.workers() and self._ready(https):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in 60 s:\n{self.log_path.read_text()[-3000:]}")

    def _ready(self, https: bool) -> bool:
        if https:
            return True  # the mock wants a client certificate: an open port is enough
        try:
            url = f"http://{LOOPBACK}:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def workers(self) -> list[int]:
        """The gunicorn workers (children of the master)."""
        assert self.process is not None
        try:
            return children(self.process.pid)
        except FileNotFoundError:
            return []

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()
        log(f"stopped {self.name}")


class Harness:
    """One bench run: its directory, dev PKI, SQLite database, API key and servers."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = (ROOT / args.workdir).resolve()
        self.run_dir = self.work / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.pki: DevPki = generate_dev_pki(self.work / "pki")
        record([CLI, "dev-pki", str(self.work / "pki")])
        self.audit_key = secrets.token_urlsafe(32)
        self.db_url = f"sqlite:///{self.run_dir / 'gateway.db'}"
        self.servers: list[Server] = []
        self._api_keys: dict[tuple[str, str], str] = {}

    def gateway_env(self, mock_port: int, database_url: str | None = None) -> dict[str, str]:
        return {
            "INSI_UPSTREAM_URL": f"https://{LOOPBACK}:{mock_port}/lps",
            "INSI_UPSTREAM_CA": str(self.pki.ca_bundle),
            "INSI_CERT_MANU": str(self.pki.insi_manu.p12),
            "INSI_CERT_MANU_PASSPHRASE": self.pki.passphrase,
            "INSI_CERT_AUTO": str(self.pki.insi_auto.p12),
            "INSI_CERT_AUTO_PASSPHRASE": self.pki.passphrase,
            "INSI_IDAM": IDAM,
            "GATEWAY_AUDIT_KEY": self.audit_key,
            "DATABASE_URL": database_url or self.db_url,
        }

    def cli(self, argv: list[str], *, database_url: str | None = None, **env: str) -> str:
        """Run ``insi-gateway <argv>`` against the bench database; its stdout."""
        full_env = {**self.gateway_env(1, database_url), **env}
        record([CLI, *argv], {"DATABASE_URL": database_url or self.db_url, **env})
        out = subprocess.run(
            [CLI, *argv],
            env={**os.environ, **full_env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=ROOT,
        )
        if out.returncode != 0:
            raise RuntimeError(f"insi-gateway {argv[0]} failed: {out.stderr[-2000:]}")
        return out.stdout

    def api_key(
        self,
        name: str = "bench",
        *,
        rate: str = "100000",
        burst: str = "100000",
        max_concurrent: str = "1000",
        database_url: str | None = None,
    ) -> str:
        """The API key of app ``name`` (registered on first use) in the given database."""
        slot = (name, database_url or self.db_url)
        if slot not in self._api_keys:
            argv = ["apps", "add", name, "--rate", rate, "--burst", burst]
            argv += ["--max-concurrent", max_concurrent]
            self._api_keys[slot] = json.loads(self.cli(argv, database_url=database_url))["api_key"]
        return self._api_keys[slot]

    def start_mock(self, latency_ms: int, workers: int, threads: int) -> Server:
        port = free_port()
        argv = [CLI, "mock", "--bind", f"{LOOPBACK}:{port}", "--pki", str(self.pki.directory)]
        argv += ["--workers", str(workers), "--threads", str(threads)]
        env = {"MOCK_LATENCY_MS": str(latency_ms), "MOCK_ALLOWED_IDAM": IDAM}
        log_path = self.run_dir / f"mock-{latency_ms}ms-{port}.log"
        server = Server(f"mock-{latency_ms}ms", argv, env, log_path, port, shown_env=env)
        server.start(https=True)
        self.servers.append(server)
        return server

    def start_gateway(
        self,
        mock: Server,
        name: str,
        *,
        workers: int | None = None,
        threads: int | None = None,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Server:
        """``insi-gateway serve`` in front of ``mock``, with ``env`` added to its environment."""
        extra = env or {}
        port = free_port()
        argv = [CLI, "serve", "--bind", f"{LOOPBACK}:{port}"]
        if workers is not None:
            argv += ["--workers", str(workers)]
        if threads is not None:
            argv += ["--threads", str(threads)]
        full = {**self.gateway_env(mock.port, database_url), **extra}
        shown_env = {"INSI_UPSTREAM_URL": full["INSI_UPSTREAM_URL"], **extra}
        log_path = self.run_dir / f"{name}-{port}.log"
        server = Server(name, argv, full, log_path, port, shown_env=shown_env)
        server.start()
        self.servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def stop_all(self) -> None:
        for server in list(reversed(self.servers)):
            try:
                self.stop(server)
            except Exception as error:  # keep stopping the others
                log(f"stopping {server.name} failed: {error!r}")

    def verify_journal(self) -> dict[str, Any]:
        """The audit chain must be intact after every run."""
        argv = [CLI, "audit", "verify"]
        record(argv, {"DATABASE_URL": self.db_url, "GATEWAY_AUDIT_KEY": "…"})
        out = subprocess.run(
            argv,
            env={**os.environ, **self.gateway_env(1)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=ROOT,
        )
        log(f"audit verify: exit {out.returncode}")
        return {"exit": out.returncode, "output": (out.stdout + out.stderr).strip()[-600:]}
