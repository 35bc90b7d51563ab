"""``scripts/demo``, then a fresh shell: the CLI works with no export.

The real script runs in a copy of the repository (so the checkout's
``var/`` and ``certs/dev`` are left alone) on free ports, with its own
virtualenv (``VENV``; the dependencies are taken from the project's
virtualenv through a ``.pth`` file, the project itself is installed
editable from the copy by the script). Then, as in a new shell (an
environment of ``PATH``, ``HOME`` and ``LANG`` only, from the copy's
directory), ``apps list``, ``audit verify``, ``config check`` and ``jobs
submit`` must work: they read ``var/gateway.env``, which the demo wrote with
mode 0600. A second run says the kept demo is still running and leaves its
logs whole, a busy port is named, and ``--stop`` stops the servers.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.mock.personas import PERSONAS
from testbed.waiting import wait_until
from tests.integration.servers import LOOPBACK, free_port, port_open
from tests.paths import ROOT

# scripts/demo builds its own virtualenv (pip, up to 600 s on a loaded machine)
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

COPIED = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "gateway", "wsdl", "scripts")
ADRTROIS = next(p for p in PERSONAS if p.birth_name == "ADRTROIS" and "DOMINIQUE" in p.first_names)


@dataclass(frozen=True)
class Demo:
    repo: Path
    venv: Path
    home: Path
    mock_port: int
    gateway_port: int

    def script_env(self) -> dict[str, str]:
        return {
            **self.fresh_shell(),
            "VENV": str(self.venv),
            "PYTHON": sys._base_executable,  # the interpreter behind this venv
            "MOCK_PORT": str(self.mock_port),
            "GATEWAY_PORT": str(self.gateway_port),
            "PIP_NO_BUILD_ISOLATION": "0",  # (sic) build with the setuptools already there
        }

    def fresh_shell(self) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8"}

    def demo(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/bash", str(self.repo / "scripts" / "demo"), *args],
            env=dict(env or self.script_env()),
            cwd=self.repo,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``insi-gateway ARGS`` in a new shell: nothing exported."""
        return subprocess.run(
            [str(self.venv / "bin" / "insi-gateway"), *args],
            env=self.fresh_shell(),
            cwd=cwd or self.repo,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def kept_pids(self) -> list[int]:
        pids = self.repo / "var" / "demo.pids"
        return [int(pid) for pid in pids.read_text().split()] if pids.exists() else []


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "Z"
    return stat[stat.rindex(")") + 2 :].split()[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    base = tmp_path_factory.mktemp("demo")
    repo = base / "repo"
    repo.mkdir()
    for name in COPIED:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, repo / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, repo / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    (deps,) = venv.glob("lib/python3.*/site-packages")
    # The project's dependencies, not the project (a .pth in a .pth-added dir is not run).
    (deps / "zz-project-dependencies.pth").write_text(site.getsitepackages()[0] + "\n")
    home = base / "home"
    home.mkdir()
    demo = Demo(repo, venv, home, free_port(), free_port())
    try:
        yield demo
    finally:
        demo.demo("--stop")
        for pid in demo.kept_pids():
            if _alive(pid):
                os.kill(pid, 9)


@pytest.fixture(scope="module")
def kept(demo: Demo) -> Demo:
    started = demo.demo("--keep")
    assert started.returncode == 0, started.stdout + started.stderr
    answer = json.loads(started.stdout)
    assert "set -a; . var/gateway.env; set +a" in started.stderr  # the line to paste
    assert ADRTROIS.active is not None
    assert answer["ins"]["matricule"] == ADRTROIS.active.matricule
    return demo


def test_the_demo_runs_the_copy_not_the_checkout(kept: Demo) -> None:
    located = subprocess.run(
        [str(kept.venv / "bin" / "python"), "-c", "import gateway; print(gateway.__file__)"],
        env=kept.fresh_shell(),
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(located.stdout.strip()).is_relative_to(kept.repo)


def test_config_file_is_private_and_holds_the_app_key(kept: Demo) -> None:
    config = kept.repo / "var" / "gateway.env"
    assert config.stat().st_mode & 0o777 == 0o600
    names = {line.split("=", 1)[0] for line in config.read_text().splitlines() if "=" in line}
    assert {"GATEWAY_AUDIT_KEY", "GATEWAY_APP_KEY", "INSI_CERT_MANU", "DATABASE_URL"} <= names
    assert not any(name.endswith("API_KEY") for name in names)


def test_a_fresh_shell_needs_no_export(kept: Demo, tmp_path: Path) -> None:
    apps = kept.cli("apps", "list")
    assert apps.returncode == 0, apps.stderr
    assert "demo" in [app["name"] for app in json.loads(apps.stdout)]

    audit = kept.cli("audit", "verify")
    assert audit.returncode == 0, audit.stderr
    verified = json.loads(audit.stdout)
    assert verified["ok"] is True
    assert verified["checked"] >= 1  # the demo's own search was journaled

    check = kept.cli("config", "check")
    assert check.returncode == 0, check.stderr
    assert f"configuration file: {kept.repo / 'var' / 'gateway.env'}" in check.stderr
    assert json.loads(check.stdout[: check.stdout.rindex("}") + 1])["idam"] == "INSI-GW-DEV-IDAM"

    assert ADRTROIS.active is not None
    held = ADRTROIS.active
    rows = tmp_path / "patients.csv"  # batch jobs verify INS held locally
    rows.write_text(
        "local_id,matricule,key,oid,birth_name,first_names,sex,birth_date,birth_place\n"
        f"P1,{held.matricule},{held.key},{held.oid},{ADRTROIS.birth_name},DOMINIQUE,"
        f"{ADRTROIS.sex},{ADRTROIS.birth_date},{ADRTROIS.birth_place}\n"
    )
    results = tmp_path / "results.jsonl"
    url = f"http://{LOOPBACK}:{kept.gateway_port}"
    submitted = kept.cli("jobs", "submit", str(rows), "--output", str(results), "--url", url)
    assert submitted.returncode == 0, submitted.stderr
    (row,) = [json.loads(line) for line in results.read_text().splitlines()]
    assert row["verdict"] == "verified", row


def test_the_readme_curl_works_in_a_new_shell(kept: Demo) -> None:
    """The README's own JSON example, pasted into a shell that has nothing exported."""
    readme = (kept.repo / "README.md").read_text()
    section = readme[readme.index("## Local JSON interface") :]
    block = section[section.index("```sh\n") + 6 :]
    block = block[: block.index("```")]
    assert block.startswith("set -a; . var/gateway.env; set +a\n")
    script = block.replace("127.0.0.1:8080", f"{LOOPBACK}:{kept.gateway_port}")
    pasted = subprocess.run(
        ["/bin/bash", "-c", script],
        env=kept.fresh_shell(),
        cwd=kept.repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert pasted.returncode == 0, pasted.stderr
    answer = json.loads(pasted.stdout)
    assert ADRTROIS.active is not None
    assert answer["ins"]["matricule"] == ADRTROIS.active.matricule


def test_elsewhere_without_a_file_the_error_says_what_to_set(kept: Demo, tmp_path: Path) -> None:
    apps = kept.cli("apps", "list", cwd=tmp_path)
    assert apps.returncode == 2
    assert "GATEWAY_AUDIT_KEY" in apps.stderr
    assert "GATEWAY_CONFIG_FILE" in apps.stderr
    assert "var/gateway.env" in apps.stderr
    assert "scripts/demo" not in apps.stderr  # an installed command names settings, not scripts


def test_a_second_run_finds_the_kept_demo_and_keeps_its_logs(kept: Demo) -> None:
    log = kept.repo / "var" / "gateway.log"
    before = log.read_bytes()
    again = kept.demo()
    assert again.returncode == 1
    assert "still running" in again.stderr
    assert "scripts/demo --stop" in again.stderr
    after = log.read_bytes()
    assert after.startswith(before)
    assert b"\0" not in after
    assert all(_alive(pid) for pid in kept.kept_pids())


def test_stop_then_a_busy_port_is_named(kept: Demo) -> None:
    pids = kept.kept_pids()
    assert len(pids) == 2
    stopped = kept.demo("--stop")
    assert stopped.returncode == 0, stopped.stderr
    wait_until(lambda: not any(_alive(pid) for pid in pids), 60, f"demo processes {pids} gone")
    assert not any(_alive(pid) for pid in pids)
    assert not port_open(kept.gateway_port)

    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the mock's TIME_WAITs
        busy.bind((LOOPBACK, kept.mock_port))
        busy.listen()
        refused = kept.demo()
    assert refused.returncode == 1
    assert f"port {kept.mock_port}" in refused.stderr
    assert "already in use" in refused.stderr

