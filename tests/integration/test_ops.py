"""What ops teams run the gateway from: health, readiness, metrics, traces, check-cert,
startup refusals and certificate renewal by SIGHUP, against the real servers."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from gateway.pki.devpki import DevPki, generate_dev_pki
from testbed.waiting import wait_until
from tests.integration.conftest import GatewayFactory, GatewayServer, MockServer, gateway_env
from tests.integration.personas import PERSONAS
from tests.integration.servers import CLI, LOOPBACK, free_port

pytestmark = pytest.mark.integration
DOMINIQUE = PERSONAS[0].traits()


def _get(server: GatewayServer, path: str) -> tuple[int, str]:
    response = server.session.get(server.base_url + path, verify=str(server.ca_bundle), timeout=30)
    return response.status_code, response.text


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in /metrics")


def test_health_and_readiness(gateway: GatewayServer) -> None:
    assert _get(gateway, "/healthz")[0] == 200
    status, body = _get(gateway, "/readyz")
    ready = json.loads(body)
    assert status == 200
    assert ready["status"] == "ready"
    assert {name for name, check in ready["checks"].items() if check["ok"]} == {
        "certificate INSI-MANU",
        "certificate INSI-AUTO",
        "database",
        "circuit",
        "shutdown",
    }


def test_not_ready_while_the_circuit_is_open(gateway_factory: GatewayFactory) -> None:
    down = gateway_factory(
        f"https://{LOOPBACK}:{free_port()}/lps",
        INSI_BREAKER_MIN_CALLS="1",
        INSI_MAX_RETRIES="0",
        INSI_BREAKER_COOLDOWN="600",
    )
    down.post("/v1/ins/search", DOMINIQUE)

    status, body = _get(down, "/readyz")

    assert status == 503
    assert json.loads(body)["checks"]["circuit"] == {"ok": False, "detail": "open"}


def test_metrics_count_requests_and_upstream_calls(gateway: GatewayServer) -> None:
    try:
        before = _metric(
            _get(gateway, "/metrics")[1],
            "gateway_requests_total",
            app="integration",
            operation="search",
            outcome="00",
        )
    except AssertionError:
        before = 0.0

    gateway.post("/v1/ins/search", DOMINIQUE)
    text = _get(gateway, "/metrics")[1]

    assert (
        _metric(text, "gateway_requests_total", app="integration", operation="search", outcome="00")
        == before + 1
    )
    assert (
        _metric(
            text,
            "gateway_upstream_latency_seconds_count",
            operation="rechercherInsAvecTraitsIdentite",
        )
        >= 1
    )
    assert _metric(text, "gateway_upstream_results_total", result="00") >= 1
    assert _metric(text, "gateway_circuit_state") == 0
    assert 300 < _metric(text, "gateway_certificate_expiry_days", mode="INSI-MANU") < 800
    assert "DOMINIQUE" not in text
    assert "297022A020778" not in text


def test_traceparent_is_logged_and_propagated(
    gateway: GatewayServer, mock_server: MockServer
) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    gateway.post(
        "/v1/ins/search",
        DOMINIQUE,
        headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01", "X-Request-ID": "traced"},
    )

    line = next(
        json.loads(x)
        for x in gateway.process.output().splitlines()
        if '"traced"' in x and '"request"' in x
    )
    assert line["trace_id"] == trace
    sent = [r["traceparent"] for r in mock_server.logged_requests() if r.get("traceparent")]
    assert any(t.startswith(f"00-{trace}-") and "00f067aa0ba902b7" not in t for t in sent)


@pytest.mark.parametrize(
    ("name", "failing"),
    [
        ("insi_manu", None),
        ("insi_auto", None),
        ("other_cn", "subject CN"),
        ("expired", "validity"),
        ("unknown_ca", "chain"),
        ("no_digital_signature", "key usage"),
    ],
)
def test_check_cert(dev_pki: DevPki, name: str, failing: str | None) -> None:
    files = getattr(dev_pki, name)
    completed = subprocess.run(
        [
            *CLI,
            "check-cert",
            str(files.p12),
            "--passphrase-env",
            "PASS",
            "--ca",
            str(dev_pki.ca_bundle),
        ],
        env={**os.environ, "PASS": dev_pki.passphrase},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == (0 if failing is None else 1), completed.stdout
    if failing:
        assert f"[FAIL] {failing}" in completed.stdout
    assert dev_pki.passphrase not in completed.stdout + completed.stderr


def _check_cert(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "check-cert", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("form", ["pem+key", "full-pem"])
def test_check_cert_takes_a_pem_with_its_key_apart_or_together(dev_pki: DevPki, form: str) -> None:
    files = dev_pki.insi_manu
    paths = [str(files.pem), "--key", str(files.key)] if form == "pem+key" else [str(files.full)]
    completed = _check_cert(
        *paths,
        "--passphrase-env",
        "INSI_CERT_MANU_PASSPHRASE",
        "--ca",
        str(dev_pki.ca_bundle),
        env={"INSI_CERT_MANU_PASSPHRASE": dev_pki.passphrase},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "[FAIL]" not in completed.stdout


@pytest.mark.parametrize("form", ["p12", "pem+key"])
def test_check_cert_says_no_passphrase_given(dev_pki: DevPki, form: str) -> None:
    files = dev_pki.insi_manu
    paths = [str(files.p12)] if form == "p12" else [str(files.pem), "--key", str(files.key)]
    completed = _check_cert(*paths, "--ca", str(dev_pki.ca_bundle))
    assert completed.returncode == 2
    assert "no passphrase given" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_check_cert_names_an_unset_passphrase_variable(dev_pki: DevPki) -> None:
    completed = _check_cert(
        str(dev_pki.insi_manu.p12),
        "--passphrase-env",
        "NOT_SET_ANYWHERE",
        "--ca",
        str(dev_pki.ca_bundle),
    )
    assert completed.returncode == 2
    assert "--passphrase-env: NOT_SET_ANYWHERE is not set" in completed.stderr


def test_check_cert_without_ca_says_how_to_give_it(dev_pki: DevPki) -> None:
    env = {"INSI_CERT_CA": "", "INSI_UPSTREAM_CA": "", "PASS": dev_pki.passphrase}
    completed = _check_cert(str(dev_pki.insi_manu.p12), "--passphrase-env", "PASS", env=env)
    assert completed.returncode == 2
    assert "--ca" in completed.stderr


def test_startup_refuses_an_expired_certificate(
    dev_pki: DevPki, mock_server: MockServer, log_dir: Path
) -> None:
    env = gateway_env(
        dev_pki,
        mock_server.url,
        INSI_CERT_MANU=str(dev_pki.expired.p12),
        DATABASE_URL=f"sqlite:///{log_dir / 'refused.db'}",
    )
    completed = subprocess.run(
        [*CLI, "serve", "--bind", f"{LOOPBACK}:{free_port()}"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2
    assert "[FAIL] validity: expired" in completed.stderr


def test_startup_refuses_timeouts_the_worker_would_cut(
    dev_pki: DevPki, mock_server: MockServer, log_dir: Path
) -> None:
    env = gateway_env(dev_pki, mock_server.url, DATABASE_URL=f"sqlite:///{log_dir / 'cut.db'}")
    completed = subprocess.run(
        [*CLI, "serve", "--bind", f"{LOOPBACK}:{free_port()}", "--timeout", "10"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2
    assert "--timeout" in completed.stderr


def test_sighup_renews_the_certificate_without_dropping_requests(
    gateway_factory: GatewayFactory, mock_server: MockServer, dev_pki: DevPki, tmp_path: Path
) -> None:
    pki = tmp_path / "renewable"
    shutil.copytree(dev_pki.directory, pki)
    server = gateway_factory(mock_server.url, INSI_CERT_MANU=str(pki / "insi-manu.p12"))
    serial = json.loads(_get(server, "/readyz")[1])["checks"]["certificate INSI-MANU"]["serial"]
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + 240  # a bound for this thread, past the test's waits
        while not stop.is_set() and time.monotonic() < deadline:
            statuses.append(server.post("/v1/ins/search", DOMINIQUE).status_code)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        wait_until(lambda: len(statuses) >= 6, 60, "the load answered before")
        for old in pki.glob("insi-manu.*"):
            old.unlink()
        generate_dev_pki(pki)  # a new INSI-MANU key and certificate, same CA
        os.kill(server.process.process.pid, signal.SIGHUP)
        renewed = wait_until(lambda: _new_serial(server, serial), 30, "the new INSI-MANU serial")
        answered = len(statuses)
        wait_until(lambda: len(statuses) >= answered + 6, 60, "the load answered after")
    finally:
        stop.set()
        worker.join(60)

    assert renewed
    assert len(statuses) > 10
    assert set(statuses) == {200}


def _new_serial(server: GatewayServer, serial: str) -> bool:
    body = json.loads(_get(server, "/readyz")[1])
    return bool(body["checks"]["certificate INSI-MANU"]["serial"] != serial)


def test_no_body_in_logs_at_debug(gateway_factory: GatewayFactory, mock_server: MockServer) -> None:
    debug = gateway_factory(mock_server.url, GATEWAY_LOG_LEVEL="DEBUG")
    debug.post("/v1/ins/search", {**DOMINIQUE, "birth_name": "ADR\r\nTROIS"})
    debug.post("/v1/ins/search", DOMINIQUE, headers={"X-Request-ID": 'a"b'})

    output = debug.process.output()
    for line in output.splitlines():
        if line.startswith("{"):
            json.loads(line)  # one valid JSON object per line, whatever the input held
    assert not re.search(r"Envelope|RECSANSVITALE|ADRTROIS|DOMINIQUE", output)


def test_config_check(dev_pki: DevPki, mock_server: MockServer, log_dir: Path) -> None:
    env = gateway_env(dev_pki, mock_server.url, DATABASE_URL=f"sqlite:///{log_dir / 'cfg.db'}")
    run = {
        "env": {**os.environ, **env},
        "capture_output": True,
        "text": True,
        "timeout": 60,
        "check": False,
    }

    good = subprocess.run([*CLI, "config", "check"], **run)  # type: ignore[call-overload]
    run["env"] = {**run["env"], "INSI_CERT_MANU": str(dev_pki.expired.p12)}  # type: ignore[dict-item]
    bad = subprocess.run([*CLI, "config", "check"], **run)  # type: ignore[call-overload]

    assert good.returncode == 0, good.stderr
    effective = json.loads(good.stdout)
    assert effective["upstream_url"] == mock_server.url
    assert effective["cert_manu"]["passphrase"] == "********"
    assert dev_pki.passphrase not in good.stdout
    assert bad.returncode == 2
    assert "expired" in bad.stderr
