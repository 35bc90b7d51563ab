"""deploy/: the Kubernetes base and the Compose file, validated offline.

The manifests are checked against the Kubernetes API schemas shipped in the
``kubernetes-validate`` package (strict: an unknown field fails), the Compose
file against the Compose specification's schema shipped in ``check-jsonschema``;
then what the schemas cannot know: the probes, the shutdown timing of
docs/deployment.md, secrets referenced and never inlined, the network policy.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.server.gunicorn_config import options
from tests.paths import ROOT

BASE = ROOT / "deploy" / "kubernetes" / "base"
COMPOSE = ROOT / "deploy" / "compose.yaml"
KUBERNETES_VERSION = "1.30.0"
SECRET_WORDS = ("PASSPHRASE", "AUDIT_KEY", "APP_KEY", "PASSWORD", "DATABASE_URL")


def _documents() -> list[dict[str, Any]]:
    """Every manifest the kustomization lists, in order."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [
        document
        for name in kustomization["resources"]
        for document in yaml.safe_load_all((BASE / name).read_text())
    ]


def _resources() -> dict[str, dict[str, Any]]:
    """The gateway's own manifests by kind (Redis's, named ``insi-gateway-redis``, apart)."""
    return {d["kind"]: d for d in _documents() if not d["metadata"]["name"].endswith("-redis")}


def _redis() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in _documents() if d["metadata"]["name"].endswith("-redis")}


def _container(resource: dict[str, Any]) -> dict[str, Any]:
    (container,) = resource["spec"]["template"]["spec"]["containers"]
    return container


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"])
    on_disk = {path.name for path in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize(
    "index",
    range(len(_documents())),
    ids=[f"{d['kind']}/{d['metadata']['name']}" for d in _documents()],
)
def test_manifest_is_valid_kubernetes(index: int) -> None:
    kubernetes_validate.validate(_documents()[index], KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    broken = _resources()["Deployment"]
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_probes_and_shutdown_timing() -> None:
    resources = _resources()
    container = _container(resources["Deployment"])
    drain = float(resources["ConfigMap"]["data"]["GATEWAY_DRAIN_SECONDS"])
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    grace = resources["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    in_flight = options(bind="x", drain_seconds=drain)["graceful_timeout"] - drain

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["failureThreshold"] >= 2  # a SIGHUP drain is brief
    assert grace >= pre_stop + drain + in_flight
    assert resources["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert resources["Deployment"]["spec"]["replicas"] >= 2


def test_secrets_are_referenced_never_inlined() -> None:
    resources = _resources()
    assert "Secret" not in resources
    for name in resources["ConfigMap"]["data"]:
        assert not any(word in name for word in SECRET_WORDS), name
    for kind in ("Deployment", "Job"):
        env_from = _container(resources[kind])["envFrom"]
        assert {"secretRef": {"name": "insi-gateway-env"}} in env_from
        assert "env" not in _container(resources[kind])


def test_network_policy_allows_egress_to_the_teleservice_and_database_only() -> None:
    egress = _resources()["NetworkPolicy"]["spec"]["egress"]
    ports = sorted({port["port"] for rule in egress for port in rule["ports"]})
    assert ports == [53, 443, 5432, 6379]  # DNS to find the others
    dns = next(rule for rule in egress if rule["ports"][0]["port"] == 53)
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    assert "Egress" in _resources()["NetworkPolicy"]["spec"]["policyTypes"]


def test_redis_is_in_the_base_and_reachable_from_the_gateway_only() -> None:
    redis, config = _redis(), _resources()["ConfigMap"]["data"]
    service = redis["Service"]
    assert config["REDIS_URL"] == f"redis://{service['metadata']['name']}:6379/0"
    pod_labels = redis["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # Not selected by the gateway's own policy (which would forbid ingress to 6379).
    gateway_selector = _resources()["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"]
    assert not gateway_selector.items() <= pod_labels.items()
    policy = redis["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    (ingress,) = policy["ingress"]
    assert ingress["from"] == [{"podSelector": {"matchLabels": gateway_selector}}]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 6379}]
    assert policy["egress"] == []
    container = _container(redis["Deployment"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert redis["Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]


def test_migration_job_runs_config_check() -> None:
    container = _container(_resources()["Job"])
    assert container["command"] + container["args"] == ["insi-gateway", "config", "check"]


def test_resource_requests_are_sized() -> None:
    resources = _container(_resources()["Deployment"])["resources"]
    assert resources["requests"] == {"cpu": "500m", "memory": "256Mi"}
    assert "cpu" not in resources["limits"]


# --- Compose ------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_file_follows_the_compose_specification() -> None:
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_compose_topology() -> None:
    services = _compose()["services"]
    assert set(services) == {
        "proxy",
        "gateway-1",
        "gateway-2",
        "migrate",
        "postgres",
        "redis",
        "mock",
    }
    for replica in ("gateway-1", "gateway-2"):
        gateway = services[replica]
        assert gateway["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert gateway["command"][:3] == ["serve", "--bind", "0.0.0.0:8080"]
        assert gateway["read_only"] is True
        assert int(gateway["stop_grace_period"].rstrip("s")) >= 5 + 30
    assert services["migrate"]["command"] == ["config", "check"]
    assert services["mock"]["profiles"] == ["trial"]
    assert (
        "./nginx/insi-gateway.conf:/etc/nginx/conf.d/insi-gateway.conf:ro"
        in (services["proxy"]["volumes"])
    )


def test_compose_images_can_each_be_replaced_through_a_variable() -> None:
    services = _compose()["services"]
    variables = {"GATEWAY_IMAGE", "NGINX_IMAGE", "POSTGRES_IMAGE", "REDIS_IMAGE"}
    for name, service in services.items():
        match = re.fullmatch(r"\$\{([A-Z_]+):-([^}]+)\}", service["image"])
        assert match, f"{name}: {service['image']} is not ${{VARIABLE:-default}}"
        assert match.group(1) in variables, name
    build = services["gateway-1"]["build"]
    assert build["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim-bookworm}"


def test_compose_replicas_share_their_quotas_through_redis() -> None:
    services = _compose()["services"]
    config_env = (ROOT / "deploy" / "gateway.config.env").read_text()
    assert "REDIS_URL=redis://redis:6379/0" in config_env.splitlines()
    for name in ("gateway-1", "gateway-2", "migrate"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    assert services["redis"]["networks"] == ["backend"]
    assert _compose()["networks"]["backend"]["internal"] is True


def test_compose_upstreams_are_the_nginx_upstreams() -> None:
    conf = (ROOT / "deploy" / "nginx" / "insi-gateway.conf").read_text()
    for replica in ("gateway-1", "gateway-2"):
        assert f"server {replica}:8080 " in conf


def test_compose_keeps_secrets_out_of_its_files() -> None:
    config_env = (ROOT / "deploy" / "gateway.config.env").read_text()
    names = [line.split("=", 1)[0] for line in config_env.splitlines() if "=" in line]
    assert names
    assert not [n for n in names if any(word in n for word in SECRET_WORDS)]
    assert set(_compose()["secrets"]) == {"gateway.env", "postgres-password"}
    ignored = (ROOT / ".gitignore").read_text()
    assert "deploy/secrets/" in ignored
