"""podman for the container tests: every call bounded in time, everything created labelled.

The images come from ``scripts/container-bases`` (stand-ins built from Debian's packages,
cached; the gateway's image built from the Dockerfile). Every container, pod, network and
volume a test creates carries the label ``insi-gateway-test=<run>`` (or is made by
podman-compose under a project of that name), so that :func:`remove_everything` can
remove all of it at the end, whatever failed on the way.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbed.waiting import wait_until
from tests.paths import ROOT

LABEL = "insi-gateway-test"
CONTAINERS_CONF = ROOT / "tests" / "containers" / "containers.conf"
PREPARE = ROOT / "scripts" / "container-bases"
# A cold machine installs podman and runs debootstrap (a few minutes); a warm one only
# rebuilds the gateway's image (seconds when nothing changed).
PREPARE_TIMEOUT = 1500.0
PODMAN = shutil.which("podman") or "/usr/bin/podman"  # installed by scripts/container-bases


def podman_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every podman call: the project's containers.conf."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF), **(extra or {})}


def podman(
    *args: str, timeout: float = 120.0, check: bool = True, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``podman ARGS``, killed after ``timeout`` seconds; raises on failure when ``check``."""
    completed = subprocess.run(
        [PODMAN, *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_text,
        check=False,
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {completed.returncode}:\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
    return completed


@dataclass(frozen=True)
class Images:
    """The images of a run and what building the gateway's image took."""

    python: str
    nginx: str
    postgres: str
    redis: str
    gateway: str
    build_seconds: float
    gateway_bytes: int


def run_bounded(
    argv: Sequence[str], timeout: float, *, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a session of its own; at ``timeout``, kill the whole session.

    ``subprocess.run``'s timeout kills the first process only: a podman or apt it started
    would keep the output pipes open, and the wait would not end.
    """
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        stderr += f"\n(killed after {timeout:.0f} s)"
    return subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)


def prepare_images() -> Images:
    """The images ``scripts/container-bases`` prepared: its output when ``./scripts/test``
    ran it already (``CONTAINER_IMAGES_ENV`` names that file), else run it now."""
    prepared = os.environ.get("CONTAINER_IMAGES_ENV", "")
    if prepared and Path(prepared).is_file():
        output = Path(prepared).read_text()
    else:
        completed = run_bounded([str(PREPARE)], PREPARE_TIMEOUT, cwd=ROOT)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        output = completed.stdout
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return Images(
        python=values["PYTHON_IMAGE"],
        nginx=values["NGINX_IMAGE"],
        postgres=values["POSTGRES_IMAGE"],
        redis=values["REDIS_IMAGE"],
        gateway=values["GATEWAY_IMAGE"],
        build_seconds=float(values["GATEWAY_BUILD_SECONDS"]),
        gateway_bytes=int(values["GATEWAY_IMAGE_BYTES"]),
    )


def new_run_id() -> str:
    """A label value (and Compose project name) unique to one test run."""
    return f"insi-gw-test-{uuid.uuid4().hex[:10]}"


def labelled(run_id: str) -> list[str]:
    """The ``--label`` argument every container, pod, network and volume of a run gets."""
    return ["--label", f"{LABEL}={run_id}"]


def _ids(kind: Sequence[str], label: str) -> list[str]:
    listed = podman(*kind, "--filter", f"label={label}", "--quiet", check=False, timeout=60)
    return [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]


def remove_everything(run_id: str) -> list[str]:
    """Remove every container, pod, network and volume of ``run_id``; what was found.

    Matches our own label and podman-compose's project labels (the project is named
    ``run_id``), so a stack whose ``down`` failed half-way is removed as well.
    """
    found: list[str] = []
    labels = (f"{LABEL}={run_id}", f"io.podman.compose.project={run_id}")
    for label in labels:
        containers = _ids(("ps", "--all"), label)
        if containers:
            podman("rm", "--force", "--time", "0", "--volumes", *containers, check=False)
        found += containers
    for label in labels:
        pods = _ids(("pod", "ps"), label)
        if pods:
            podman("pod", "rm", "--force", *pods, check=False)
        found += pods
    pods_by_name = podman("pod", "ps", "--filter", f"name={run_id}", "--quiet", check=False)
    for pod in pods_by_name.stdout.split():
        podman("pod", "rm", "--force", pod, check=False)
        found.append(pod)
    for label in labels:
        for kind in (("network", "ls"), ("volume", "ls")):
            listed = podman(
                *kind, "--filter", f"label={label}", "--format", "{{.Name}}", check=False
            )
            names = listed.stdout.split()
            if names:
                podman(kind[0], "rm", "--force", *names, check=False)
            found += names
    return found


def leftovers(run_id: str) -> list[str]:
    """Whatever of ``run_id`` is still there (the cleanup's own check)."""
    left: list[str] = []
    for label in (f"{LABEL}={run_id}", f"io.podman.compose.project={run_id}"):
        left += _ids(("ps", "--all"), label) + _ids(("pod", "ps"), label)
        for kind in ("network", "volume"):
            listed = podman(kind, "ls", "--filter", f"label={label}", "--format", "{{.Name}}")
            left += listed.stdout.split()
    return left


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` (the one wait)."""
    wait_until(condition, timeout, what, interval=0.2)


def readable_by(path: Path, uid: int, mode: int = 0o600) -> Path:
    """``path`` owned by ``uid`` with ``mode``: what a container user needs of a mounted file."""
    os.chown(path, uid, uid)
    path.chmod(mode)
    return path
