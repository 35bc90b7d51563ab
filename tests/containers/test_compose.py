"""The Compose stack comes up and serves: the runbook of docs/deployment.md, run as written.

The blocks marked ``<!-- compose-runbook: NAME -->`` in docs/deployment.md are extracted
and run in order with bash, from a copy of ``deploy/`` (the secrets it writes never land
in the checkout). The only changes: the project name (``insigw``) becomes this run's,
and the environment names the stand-in images and a free port of 127.0.0.1 for the proxy
(the Compose file's own variables). Between the blocks the test searches through nginx
over HTTPS, kills a replica under load and checks that the other served the rest, and runs
the migration a second time. Every container, network and volume is removed at the end,
whatever failed (the ``run_id`` fixture checks it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.integration.personas import PERSONAS
from tests.integration.servers import free_port
from tests.paths import ROOT
from tests.support.podman import (
    PODMAN,
    Images,
    leftovers,
    podman,
    podman_env,
    remove_everything,
    run_bounded,
    wait_for,
)

DOC = ROOT / "docs" / "deployment.md"
PROJECT = "insigw"  # the runbook's project name
BLOCK = re.compile(r"<!-- compose-runbook: (\S+) -->\n```sh\n(.*?)\n```", re.DOTALL)
BLOCK_TIMEOUT = 300.0
BASH = shutil.which("bash") or "/bin/bash"
ADRTROIS = next(p for p in PERSONAS if p.birth_name == "ADRTROIS" and "DOMINIQUE" in p.first_names)
SEARCH = json.dumps(
    {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F", "birth_date": "1997-02-26"}
).encode()


def runbook() -> dict[str, str]:
    """The runbook's blocks by name, in the order of the document."""
    return dict(BLOCK.findall(DOC.read_text()))


@dataclass
class Stack:
    """The stack of one run: where its copy of deploy/ is, its project and its port."""

    base: Path
    project: str
    port: int
    images: Images
    last_failure: str = ""

    def run_block(self, name: str) -> str:
        """Run the runbook's block ``name`` with bash (errexit), bounded in time."""
        script = runbook()[name]
        assert f"-p {PROJECT} " in script or f"{PROJECT}_" in script or name == "secrets"
        script = script.replace(f"-p {PROJECT} ", f"-p {self.project} ")
        script = script.replace(f"{PROJECT}_", f"{self.project}_")
        env = podman_env(
            {
                "GATEWAY_IMAGE": self.images.gateway,
                "NGINX_IMAGE": self.images.nginx,
                "POSTGRES_IMAGE": self.images.postgres,
                "REDIS_IMAGE": self.images.redis,
                "PROXY_PUBLISH": f"127.0.0.1:{self.port}",
            }
        )
        completed = run_bounded(
            [BASH, "-euo", "pipefail", "-c", script], BLOCK_TIMEOUT, cwd=self.base, env=env
        )
        assert completed.returncode == 0, (
            f"runbook block {name!r} exited {completed.returncode}:\n"
            f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}\n{self.logs()}"
        )
        return completed.stdout

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def logs(self) -> str:
        label = f"label=io.podman.compose.project={self.project}"
        listed = podman("ps", "--all", "--filter", label, "--format", "{{.Names}} {{.Status}}")
        tails = [listed.stdout]
        for name in listed.stdout.split("\n"):
            if name.strip():
                logged = podman("logs", "--tail", "20", name.split()[0], check=False)
                tails.append(f"--- {name}\n{logged.stdout[-2000:]}{logged.stderr[-2000:]}")
        return "\n".join(tails)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def ca_bundle(self) -> str:
        return str(self.base / "deploy" / "secrets" / "certificates" / "ca-bundle.pem")

    def api_key(self) -> str:
        return (self.base / "deploy" / "secrets" / "ward.key").read_text().strip()

    def search(self, session: requests.Session | None = None) -> requests.Response:
        return (session or requests).post(
            self.url + "/v1/ins/search",
            data=SEARCH,
            headers={
                "Authorization": f"Bearer {self.api_key()}",
                "Content-Type": "application/json",
            },
            verify=self.ca_bundle,
            timeout=60,
        )


@pytest.fixture(scope="module")
def stack(images: Images, run_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("compose")
    shutil.copytree(ROOT / "deploy", base / "deploy", ignore=shutil.ignore_patterns("secrets"))
    stack = Stack(base, run_id, free_port(), images)
    try:
        yield stack
    finally:
        remove_everything(run_id)  # before the run_id fixture's own check: down may have failed


def test_the_runbook_brings_the_stack_up_and_it_serves(stack: Stack) -> None:
    for block in ("secrets", "migrate", "up", "register"):
        stack.run_block(block)
    _wait_for_answers(stack, "a search through nginx")
    answer = stack.search()
    assert answer.status_code == 200, answer.text
    assert answer.json()["ins"]["matricule"] == str(ADRTROIS.matricule)
    hidden = requests.get(stack.url + "/metrics", verify=stack.ca_bundle, timeout=10)
    assert hidden.status_code == 404
    # The replicas count the application's quota in Redis, not each its own. The rate key
    # lives one interval plus a second after a call: watched while a search runs, not
    # scanned afterwards (a loaded machine's podman exec outlasts it).
    with RedisMonitor(stack.container("redis")) as monitor:
        assert stack.search().status_code == 200
        wait_for(lambda: monitor.saw('"insi-gateway:quota:ward:rate"'), 30,
                 "the search's quota counted in Redis")  # fmt: skip


def test_a_killed_replica_leaves_the_other_serving(stack: Stack) -> None:
    with Load(stack) as load:
        wait_for(lambda: len(load.answered) >= 20, 60, "20 searches answered through nginx")
        before = {replica: _served(stack, replica) for replica in ("gateway-1", "gateway-2")}
        podman("kill", stack.container("gateway-1"))
        killed_at = time.monotonic()
        wait_for(lambda: len([t for t in load.answered if t > killed_at + 1]) >= 30, 60,
                 "30 searches answered after the kill")  # fmt: skip
    after_kill = len([t for t in load.answered if t > killed_at])
    late = [failure for at, failure in load.failed if at > killed_at + 1]
    assert late == [], late[:5]
    # Only the requests the killed replica held at that instant may fail (nginx never
    # replays a POST it already sent): at most one per client.
    assert len(load.failed) <= load.clients, load.failed[:5]
    # The rest went to gateway-2 (gateway-1, restarted by its policy, may have taken a few
    # at the end; its log keeps the lines of before the kill).
    by_survivor = _served(stack, "gateway-2") - before["gateway-2"]
    by_restarted = _served(stack, "gateway-1") - before["gateway-1"]
    assert by_survivor + by_restarted >= after_kill - load.clients
    assert by_survivor > by_restarted, (by_survivor, by_restarted)


class RedisMonitor:
    """``redis-cli monitor`` in the Redis container: every command it serves, as it comes."""

    def __init__(self, container: str) -> None:
        self._process = subprocess.Popen(
            [PODMAN, "exec", container, "redis-cli", "monitor"],
            env=podman_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line)

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def __enter__(self) -> RedisMonitor:
        self._reader.start()
        try:
            wait_for(lambda: self.saw("OK"), 60, "redis-cli monitor started")
        except AssertionError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._process.kill()
        self._process.wait(timeout=30)
        self._reader.join(timeout=30)


def _served(stack: Stack, replica: str) -> int:
    """The searches ``replica`` logged (one JSON line per request; no identity in it)."""
    logged = podman("logs", stack.container(replica))
    return (logged.stdout + logged.stderr).count('"path": "/v1/ins/search"')


def test_the_migration_runs_again_and_changes_nothing(stack: Stack) -> None:
    stack.run_block("migrate")
    _wait_for_answers(stack, "a search through nginx after the second migration")
    logged = (
        podman("logs", stack.container("migrate")).stdout
        + podman("logs", stack.container("migrate")).stderr
    )
    assert logged.count("configuration OK") >= 2, logged[-2000:]


def test_the_runbook_tears_everything_down(stack: Stack) -> None:
    volumes = _volumes_of(stack.project)
    assert volumes, "the stack uses its PostgreSQL volume at least"
    stack.run_block("down")
    assert leftovers(stack.project) == []
    remaining = set(podman("volume", "ls", "--format", "{{.Name}}").stdout.split())
    assert remaining.isdisjoint(volumes), remaining & volumes


def _volumes_of(project: str) -> set[str]:
    """Every volume mounted by the project's containers (anonymous ones included)."""
    label = f"label=io.podman.compose.project={project}"
    names = podman("ps", "--all", "--filter", label, "--format", "{{.Names}}").stdout.split()
    mounts = podman("inspect", "--format", "{{range .Mounts}}{{.Name}} {{end}}", *names)
    return set(mounts.stdout.split())


def _answers(stack: Stack) -> bool:
    try:
        answer = stack.search()
    except requests.RequestException as error:
        stack.last_failure = repr(error)
        return False
    stack.last_failure = f"{answer.status_code} {answer.text[:500]}"
    return answer.status_code == 200


def _wait_for_answers(stack: Stack, what: str) -> None:
    try:
        wait_for(lambda: _answers(stack), 60, what)
    except AssertionError as error:
        raise AssertionError(f"{error}; last: {stack.last_failure}\n{stack.logs()}") from None


class Load:
    """Clients searching through nginx on kept-alive connections, each outcome timed."""

    def __init__(self, stack: Stack, clients: int = 6) -> None:
        self.stack, self.clients = stack, clients
        self.answered: list[float] = []
        self.failed: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def _client(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            try:
                answer = self.stack.search(session)
                failure = "" if answer.status_code == 200 else f"{answer.status_code} {answer.text}"
            except requests.RequestException as error:
                failure = repr(error)
            if failure:
                self.failed.append((time.monotonic(), failure))
            else:
                self.answered.append(time.monotonic())
