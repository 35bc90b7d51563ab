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
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.pki.devpki import DevPki, generate_dev_pki
from harness.cpu import children
from harness.paths import CLI, IDAM, LOOPBACK, ROOT
from testbed.servers import ServerProcess, answers, free_port, port_open

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


@dataclass
class Server:
    """A gunicorn server of ours (``insi-gateway serve|mock``), in its own process group."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int
    shown_env: dict[str, str] = field(default_factory=dict)
    process: ServerProcess | None = None

    def start(self, https: bool = False, *, timeout: float = 60) -> None:
        """Start it and wait until it serves (its port, its workers, ``/healthz`` unless
        ``https``: the mock wants a client certificate, an open port is enough)."""
        record(self.argv, self.shown_env)
        log(f"start {self.name}: {shown(self.argv, self.shown_env)}")
        health = f"http://{LOOPBACK}:{self.port}/healthz"

        def ready() -> bool:
            up = port_open(self.port) and bool(self.workers())
            return up and (https or answers(health, timeout=2))

        directory = self.log_path.parent
        self.process = ServerProcess(
            self.name, self.argv, self.env, directory, cwd=ROOT, log_path=self.log_path
        )
        self.process.wait_until(ready, timeout=timeout)  # stopped, with its log, if late

    def workers(self) -> list[int]:
        """The gunicorn workers (children of the master)."""
        assert self.process is not None
        return children(self.process.pid)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.stop(grace=40)
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
        operations: str = "",
    ) -> str:
        """The API key of app ``name`` (registered on first use) in the given database;
        ``operations`` as ``apps add --operations`` takes them (default: its own default)."""
        slot = (name, database_url or self.db_url)
        if slot not in self._api_keys:
            argv = ["apps", "add", name, "--rate", rate, "--burst", burst]
            argv += ["--operations", operations] if operations else []
            argv += ["--max-concurrent", max_concurrent]
            self._api_keys[slot] = json.loads(self.cli(argv, database_url=database_url))["api_key"]
        return self._api_keys[slot]

    def start_mock(
        self, latency_ms: int, workers: int, threads: int, env: dict[str, str] | None = None
    ) -> Server:
        """The mock teleservice (``env``: more ``MOCK_*`` settings, a request log say)."""
        port = free_port()
        argv = [CLI, "mock", "--bind", f"{LOOPBACK}:{port}", "--pki", str(self.pki.directory)]
        argv += ["--workers", str(workers), "--threads", str(threads)]
        env = {"MOCK_LATENCY_MS": str(latency_ms), "MOCK_ALLOWED_IDAM": IDAM, **(env or {})}
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
        wrapper: tuple[str, ...] = (),
        start_timeout: float = 60,
    ) -> Server:
        """``insi-gateway serve`` in front of ``mock``, with ``env`` added to its environment
        (``wrapper``: a command it runs under, valgrind say, which needs ``start_timeout``)."""
        extra = env or {}
        port = free_port()
        argv = [*wrapper, CLI, "serve", "--bind", f"{LOOPBACK}:{port}"]
        if workers is not None:
            argv += ["--workers", str(workers)]
        if threads is not None:
            argv += ["--threads", str(threads)]
        full = {**self.gateway_env(mock.port, database_url), **extra}
        shown_env = {"INSI_UPSTREAM_URL": full["INSI_UPSTREAM_URL"], **extra}
        log_path = self.run_dir / f"{name}-{port}.log"
        server = Server(name, argv, full, log_path, port, shown_env=shown_env)
        server.start(timeout=start_timeout)
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
