"""Interoperability: two SOAP stacks built from the published WSDLs call every operation.

zeep (Python) and node ``soap`` (JavaScript, from the npm registry; SOAP 1.2
with ``forceSoap12Headers``) each call ``searchByTraits``, ``searchByVitale``
and ``verifyIns`` on ``/soap`` and ``/soap12`` of a real gateway, and bind a
fault's detail. node ``soap`` is installed by this module into
``tests/node/node_modules`` (git-ignored), at the version pinned by
``tests/node/package-lock.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import zeep
from zeep.exceptions import Fault

from tests.integration.conftest import GatewayServer
from tests.integration.test_soap import soap_client
from tests.paths import ROOT

# node soap is installed once (npm ci, up to 600 s) by the first test that needs it
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

NODE_DIR = ROOT / "tests" / "node"
PINNED = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["soap"]
NIR_OID = "1.2.250.1.213.1.4.8"
TRAITS: dict[str, Any] = {
    "birth_name": "ADRTROIS",
    "first_names": ["DOMINIQUE"],
    "sex": "F",
    "birth_date": "1997-02-26",
    "birth_place": "2A020",
}
CALLS: dict[str, dict[str, Any]] = {
    "searchByTraits": TRAITS,
    "searchByVitale": {
        "beneficiary_matricule": "297022A02077878",
        "birth_name": "ADRTROIS",
        "birth_date": "1997-02-26",
        "birth_rank": "1",
    },
    "verifyIns": {"ins": {"matricule": "297022A020778", "key": "78", "oid": NIR_OID}, **TRAITS},
}
ENDPOINTS = ("/soap", "/soap12")

def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is needed for the SOAP interoperability tests (Node.js 18+)"
    return path


Caller = Callable[[GatewayServer, str, str, dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="session")
def node_soap() -> None:
    """node ``soap`` at its pinned version, installed once (``npm ci``) if not already."""
    installed = NODE_DIR / "node_modules" / "soap" / "package.json"
    if installed.exists() and json.loads(installed.read_text())["version"] == PINNED:
        return
    subprocess.run(
        [_tool("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        check=True,
        timeout=600,
    )


def call_node(gateway: GatewayServer, path: str, operation: str, args: dict[str, Any]) -> Any:
    request = {
        "wsdl": f"{gateway.base_url}{path}?wsdl",
        "key": gateway.api_key,
        "soap12": path == "/soap12",
        "operation": operation,
        "args": args,
    }
    completed = subprocess.run(
        [_tool("node"), str(NODE_DIR / "soap_call.js")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(gateway.ca_bundle)},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def call_zeep(gateway: GatewayServer, path: str, operation: str, args: dict[str, Any]) -> Any:
    client = soap_client(gateway, path)
    try:
        answer = getattr(client.service, operation)(**args)
    except Fault as fault:
        problem = fault.detail.find("{urn:insi-gateway:soap:v1}problem")
        fields = {child.tag.split("}")[1]: child.text for child in problem}
        return {"fault": {"code": fault.code, "problem": fields}}
    finally:
        client.transport.session.close()
    return {"result": zeep.helpers.serialize_object(answer, dict)}


CLIENTS: dict[str, Caller] = {"zeep": call_zeep, "node-soap": call_node}


@pytest.mark.parametrize("operation", sorted(CALLS))
@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_every_operation_on_both_endpoints(
    node_soap: None, gateway: GatewayServer, client: str, path: str, operation: str
) -> None:
    answer = CLIENTS[client](gateway, path, operation, CALLS[operation])

    assert "result" in answer, answer
    result = answer["result"]
    if operation == "verifyIns":
        assert result["verdict"] == "verified"
    else:
        assert (result["status"], result["code"]) == ("found", "00")
    assert (result["ins"]["matricule"], result["ins"]["key"]) == ("297022A020778", "78")
    assert str(result["message_id"]).startswith("uuid:")


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_fault_detail_is_bound_by_both_clients(
    node_soap: None, gateway: GatewayServer, client: str, path: str
) -> None:
    answer = CLIENTS[client](gateway, path, "searchByTraits", {**TRAITS, "sex": "X"})

    assert "fault" in answer, answer
    problem = answer["fault"]["problem"]
    assert problem["type"] == "urn:insi-gateway:problem:invalid-input"
    assert (problem["field"], str(problem["status"])) == ("sex", "400")


def test_node_soap_speaks_soap_12_on_soap12(node_soap: None, gateway: GatewayServer) -> None:
    answer = call_node(gateway, "/soap12", "searchByTraits", TRAITS)

    assert "http://www.w3.org/2003/05/soap-envelope" in answer["request"]
    assert answer["result"]["status"] == "found"
