"""The gateway's image, built from the Dockerfile, run as production runs it.

One pod (its own network namespace; the gateway's port published on 127.0.0.1 only)
holds the mock teleservice and the gateway, both from the image, each non-root on a
read-only root filesystem with a tmpfs on ``/tmp``, the certificates and the
configuration file mounted read-only, the configuration named by ``GATEWAY_CONFIG_FILE``.
An application is registered with the image's own CLI; a JSON search, a SOAP search and
a batch job go through; the engine's HEALTHCHECK runs; then ``podman stop`` (the image's
STOPSIGNAL, SIGTERM) under load: no request fails, the gateway exits 0 within the grace.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from gateway.pki.devpki import DevPki
from tests.integration.personas import FOUND, PERSONAS
from tests.integration.servers import free_port
from tests.support.podman import Images, labelled, podman, wait_for

IDAM = "INSI-GW-DEV-IDAM"
GRACE_SECONDS = 40  # Compose's stop_grace_period: drain + the 30 s of in-flight requests
DRAIN_SECONDS = 3
GATEWAY_UID = 10001
ADRTROIS = next(p for p in PERSONAS if p.birth_name == "ADRTROIS" and "DOMINIQUE" in p.first_names)
SEARCH = {
    "birth_name": ADRTROIS.birth_name,
    "first_names": ["DOMINIQUE"],
    "sex": ADRTROIS.sex,
    "birth_date": ADRTROIS.birth_date,
}
SOAP12 = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:g="urn:insi-gateway:soap:v1"><s:Body><g:searchByTraits>'
    "<g:birth_name>ADRTROIS</g:birth_name><g:first_names>DOMINIQUE</g:first_names>"
    "<g:sex>F</g:sex><g:birth_date>1997-02-26</g:birth_date>"
    "</g:searchByTraits></s:Body></s:Envelope>"
)


@dataclass(frozen=True)
class Served:
    """The running pod: its name, the gateway container, its URL and the app's key."""

    pod: str
    gateway: str
    base_url: str
    api_key: str
    mounts: tuple[str, ...]

    def post(
        self, path: str, body: bytes, content_type: str, session: requests.Session | None = None
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": content_type}
        return (session or requests).post(
            self.base_url + path, data=body, headers=headers, timeout=60
        )

    def get(self, path: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return requests.get(self.base_url + path, headers=headers, timeout=30)


def _configuration(dev_pki: DevPki, directory: Path) -> list[str]:
    """Certificates and ``gateway.env`` in ``directory``, owned by the image's user, 0600."""
    certs = directory / "insi"
    shutil.copytree(dev_pki.directory, certs)
    inside = Path("/etc/insi")
    (certs / "gateway.env").write_text(
        "\n".join(
            [
                "INSI_UPSTREAM_URL=https://127.0.0.1:8443/lps",
                f"INSI_UPSTREAM_CA={inside / dev_pki.ca_bundle.relative_to(dev_pki.directory)}",
                f"INSI_CERT_MANU={inside / dev_pki.insi_manu.p12.relative_to(dev_pki.directory)}",
                f"INSI_CERT_AUTO={inside / dev_pki.insi_auto.p12.relative_to(dev_pki.directory)}",
                f"INSI_CERT_MANU_PASSPHRASE={dev_pki.passphrase}",
                f"INSI_CERT_AUTO_PASSPHRASE={dev_pki.passphrase}",
                f"INSI_IDAM={IDAM}",
                "GATEWAY_AUDIT_KEY=container-test-audit-key-0123456789",
                f"GATEWAY_DRAIN_SECONDS={DRAIN_SECONDS}",
                "",
            ]
        )
    )
    data = directory / "data"
    data.mkdir()
    for path in [certs, data, *certs.rglob("*")]:
        shutil.chown(path, GATEWAY_UID, GATEWAY_UID)
        path.chmod(0o700 if path.is_dir() else 0o600)
    return [
        "--read-only",
        "--tmpfs",
        "/tmp",  # noqa: S108 (the container's /tmp: a tmpfs of its own)
        "--volume",
        f"{certs}:/etc/insi:ro",
        "--volume",
        f"{data}:/var/lib/insi-gateway",
        "--env",
        "GATEWAY_CONFIG_FILE=/etc/insi/gateway.env",
    ]


@pytest.fixture(scope="module")
def served(
    images: Images, dev_pki: DevPki, run_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    mounts = _configuration(dev_pki, tmp_path_factory.mktemp("image"))
    port = free_port()
    pod = f"{run_id}-pod"
    podman("pod", "create", "--name", pod, *labelled(run_id), "--publish", f"127.0.0.1:{port}:8080")
    in_pod = ["--pod", pod, *labelled(run_id), *mounts]
    added = podman(
        "run", "--rm", *in_pod, images.gateway, "apps", "add", "ward",
        "--operations", "search,jobs", "--rate", "1000", "--burst", "1000",
        "--max-concurrent", "64",
    )  # fmt: skip
    api_key = json.loads(added.stdout)["api_key"]
    podman(
        "run", "--detach", "--name", f"{run_id}-mock", *in_pod, "--env",
        f"MOCK_ALLOWED_IDAM={IDAM}", images.gateway, "mock", "--bind", "127.0.0.1:8443",
        "--pki", "/etc/insi", "--threads", "16",
    )  # fmt: skip
    gateway = f"{run_id}-gateway"
    podman("run", "--detach", "--name", gateway, *in_pod, images.gateway)  # the image's CMD
    base_url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _ready(base_url), 90, "the gateway's /readyz in the container")
    yield Served(pod, gateway, base_url, api_key, tuple(mounts))
    logs = podman("logs", gateway, check=False).stdout + podman("logs", gateway, check=False).stderr
    assert "Traceback" not in logs, logs


def _ready(base_url: str) -> bool:
    try:
        return requests.get(base_url + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_image_runs_non_root_on_a_read_only_root(served: Served, images: Images) -> None:
    assert podman("exec", served.gateway, "id", "-u").stdout.strip() == str(GATEWAY_UID)
    wrote = podman(
        "exec", served.gateway, "python", "-c", "open('/opt/insi-gateway/x', 'w')", check=False
    )
    assert wrote.returncode != 0
    assert "Read-only file system" in wrote.stderr, wrote.stderr
    wrote = podman("exec", served.gateway, "python", "-c", "open('/tmp/x', 'w')", check=False)
    assert wrote.returncode == 0, wrote.stderr
    mounted = podman(
        "exec", served.gateway, "python", "-c", "open('/etc/insi/y', 'w')", check=False
    )
    assert mounted.returncode != 0, "the certificates' mount must be read-only"
    user = podman("image", "inspect", images.gateway, "--format", "{{.Config.User}}").stdout
    assert user.strip() == f"{GATEWAY_UID}:{GATEWAY_UID}"


def test_the_healthcheck_is_kept_in_the_image_and_passes(served: Served, images: Images) -> None:
    kept = podman("image", "inspect", images.gateway, "--format", "{{json .HealthCheck}}")
    check = json.loads(kept.stdout)
    assert check["Test"][0] == "CMD", check
    assert "/healthz" in check["Test"][-1], check
    ran = podman("healthcheck", "run", served.gateway, check=False, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    status = podman("inspect", served.gateway, "--format", "{{.State.Health.Status}}")
    assert status.stdout.strip() == "healthy"


def test_json_and_soap_searches_go_through_the_image(served: Served) -> None:
    answer = served.post("/v1/ins/search", json.dumps(SEARCH).encode(), "application/json")
    assert answer.status_code == 200, answer.text
    assert answer.json()["ins"]["matricule"] == str(ADRTROIS.matricule)
    soap = requests.post(
        served.base_url + "/soap12",
        data=SOAP12.encode(),
        headers={
            "Content-Type": 'application/soap+xml; charset=utf-8; action="searchByTraits"',
            "X-API-Key": served.api_key,
        },
        timeout=60,
    )
    assert soap.status_code == 200, soap.text
    assert str(ADRTROIS.matricule) in soap.text


def test_a_batch_job_runs_in_the_image(served: Served) -> None:
    rows = ["local_id,matricule,key,oid,birth_name,first_names,sex,birth_date,birth_place,flags"]
    for n, person in enumerate(FOUND[:3]):
        rows.append(
            f"V{n},{person.matricule},{person.key},{person.oid},{person.birth_name},"
            f"{' '.join(person.first_names)},{person.sex},{person.birth_date},{person.place or ''},"
        )
    submitted = served.post("/v1/jobs", ("\n".join(rows) + "\n").encode(), "text/csv")
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()["job_id"]
    wait_for(lambda: served.get(f"/v1/jobs/{job}").json()["state"] == "done", 120, "the job")
    answered = served.get(f"/v1/jobs/{job}/results").text.splitlines()
    verdicts = {row["local_id"]: row["verdict"] for row in map(json.loads, answered)}
    assert verdicts == {"V0": "verified", "V1": "verified", "V2": "verified"}


class Load:
    """Clients posting searches on kept-alive connections until the gateway reports draining.

    A load balancer stops sending to a replica whose ``/readyz`` answers 503; so do these
    clients. Every request they sent must be answered 200: none may be refused or reset.
    """

    def __init__(self, served: Served, clients: int = 8) -> None:
        self.served = served
        self.stop_sending = threading.Event()
        self.answered: list[float] = []
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client) for _ in range(clients)]
        self._threads.append(threading.Thread(target=self._watch_readiness))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_sending.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def _client(self) -> None:
        session, body = requests.Session(), json.dumps(SEARCH).encode()
        while not self.stop_sending.is_set():
            try:
                answer = self.served.post("/v1/ins/search", body, "application/json", session)
                outcome = "" if answer.status_code == 200 else f"{answer.status_code} {answer.text}"
            except requests.RequestException as error:
                outcome = repr(error)
            with self._lock:
                if outcome:
                    self.failed.append(outcome)
                else:
                    self.answered.append(time.monotonic())

    def _watch_readiness(self) -> None:
        while not self.stop_sending.wait(0.1):  # the watch's pace; ends as soon as load stops
            try:
                if requests.get(self.served.base_url + "/readyz", timeout=2).status_code == 503:
                    self.stop_sending.set()
            except requests.RequestException:
                self.stop_sending.set()  # gone without draining: the failures will show it


def test_sigterm_under_load_fails_no_request_and_exits_within_the_grace(served: Served) -> None:
    with Load(served) as load:
        wait_for(lambda: len(load.answered) >= 30, 60, "30 searches answered under load")
        sent_at = time.monotonic()
        stopped = podman(
            "stop", "--time", str(GRACE_SECONDS), served.gateway, timeout=GRACE_SECONDS + 30
        )
        stopped_after = time.monotonic() - sent_at
    assert served.gateway in stopped.stdout
    assert load.failed == [], load.failed[:5]
    assert [t for t in load.answered if t > sent_at], "nothing was answered after SIGTERM"
    code = podman("inspect", served.gateway, "--format", "{{.State.ExitCode}}").stdout.strip()
    assert code == "0", f"exit code {code} (137: killed at the end of the grace period)"
    assert DRAIN_SECONDS <= stopped_after < GRACE_SECONDS, stopped_after
