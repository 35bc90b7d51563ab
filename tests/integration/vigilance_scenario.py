"""Calls that make the gateway record vigilance events, and clients of the cell's API and page.

Identities are the tests' own persona table (tests/integration/personas.py) plus the
mock's two extra cases (DE VINCI: several matches; CLEFAUSSE: a key failing the 97 rule).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from typing import Any

import requests

from testbed.waiting import wait_until
from tests.integration.conftest import GatewayServer, cli
from tests.integration.personas import PERSONAS, Expected
from tests.integration.servers import CLI
from tests.integration.soap_messages import NS, V11, envelope, post_soap

BY_NAME = {p.birth_name: p for p in PERSONAS}
TCHITCHI, ECETINSI, ZOE = BY_NAME["TCHITCHI"], BY_NAME["ECETINSI"], BY_NAME["ADRUN"]
DE_VINCI = Expected("DE VINCI", ("LEONARDO",), "M", "2014-02-01", None, None)
CLEFAUSSE = Expected("CLEFAUSSE", ("JEANNE",), "F", "1985-05-05", "63220", "2850563220999", "00")
EXTRA_NAMES = ["OLA", *TCHITCHI.first_names]  # found at the second attempt: a check required
# Every identity trait the scenario sends or gets back: none may be stored by the events.
TRAITS_IN_CLEAR = [
    value
    for p in (TCHITCHI, ECETINSI, ZOE, DE_VINCI, CLEFAUSSE)
    for value in (
        p.birth_name,
        *p.first_names,
        p.birth_date,
        p.matricule,
        *(m for m, _ in p.history),
    )
    if value
] + ["OLA"]


def held(p: Expected, ins: tuple[str, str | None] | None = None, **change: Any) -> dict[str, Any]:
    matricule, key = ins or (p.matricule, p.key)
    return {"ins": {"matricule": matricule, "key": key, "oid": p.oid}, **p.traits(), **change}


def json_calls(gateway: GatewayServer, prefix: str = "J") -> dict[str, str]:
    """One JSON call per kind of event; the patient reference each was sent with, by kind."""
    calls = {
        "check_required": ("/v1/ins/search", {**TCHITCHI.traits(), "first_names": EXTRA_NAMES}),
        "mismatch": ("/v1/ins/verify", held(TCHITCHI, first_names=EXTRA_NAMES)),
        "superseded": ("/v1/ins/verify", held(ECETINSI, ECETINSI.history[0])),
        "multiple": ("/v1/ins/search", DE_VINCI.traits()),
        "key_invalid": ("/v1/ins/search", CLEFAUSSE.traits()),
    }
    refs = {}
    for kind, (path, body) in calls.items():
        ref = f"{prefix}-{kind}"
        headers = {"X-Patient-Ref": ref, "X-User-Id": "dr.martin"}
        response = gateway.post(path, body, headers=headers)
        assert response.status_code == 200, response.text
        refs[kind] = ref
    return refs


def _xml(fields: dict[str, Any]) -> str:
    parts = []
    for name, value in fields.items():
        if isinstance(value, dict):
            parts.append(f"<g:{name}>{_xml(value)}</g:{name}>")
        elif isinstance(value, list):
            parts.extend(f"<g:{name}>{item}</g:{name}>" for item in value)
        elif value is not None:
            parts.append(f"<g:{name}>{value}</g:{name}>")
    return "".join(parts)


def soap_calls(gateway: GatewayServer, prefix: str = "S") -> dict[str, str]:
    """One SOAP 1.1 call per kind of event; the patient reference of each, by kind."""
    calls = {
        "check_required": ("searchByTraits", {**TCHITCHI.traits(), "first_names": EXTRA_NAMES}),
        "mismatch": ("verifyIns", held(TCHITCHI, first_names=EXTRA_NAMES)),
        "superseded": ("verifyIns", held(ECETINSI, ECETINSI.history[0])),
        "multiple": ("searchByTraits", DE_VINCI.traits()),
        "key_invalid": ("searchByTraits", CLEFAUSSE.traits()),
    }
    refs = {}
    for kind, (operation, fields) in calls.items():
        ref = f"{prefix}-{kind}"
        body = envelope(V11.envelope_ns, _xml(fields), operation=operation)
        response = post_soap(
            gateway,
            V11,
            body,
            **{"SOAPAction": f'"{operation}"', "X-Patient-Ref": ref, "X-User-Id": "dr.soap"},
        )
        assert response.status_code == 200, response.text
        assert NS in response.text
        refs[kind] = ref
    return refs


CSV_HEADER = "local_id,matricule,key,oid,birth_name,first_names,sex,birth_date,birth_place,flags"


def batch_job(gateway: GatewayServer, prefix: str = "B") -> dict[str, str]:
    """A job whose rows answer mismatch, superseded and multiple; the local_id of each, by kind."""
    rows = {
        "mismatch": held(TCHITCHI, first_names=EXTRA_NAMES),
        "superseded": held(ECETINSI, ECETINSI.history[0]),
        "multiple": {
            "ins": {"matricule": "1930163220999", "key": "77", "oid": ZOE.oid},
            **DE_VINCI.traits(),
        },
    }
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER.split(","))
    for kind, row in rows.items():
        ins = row["ins"]
        writer.writerow(
            [
                f"{prefix}-{kind}",
                ins["matricule"],
                ins["key"],
                ins["oid"],
                row["birth_name"],
                " ".join(row["first_names"]),
                row["sex"],
                row["birth_date"],
                row.get("birth_place") or "",
                "",
            ]
        )
    headers = {"Authorization": f"Bearer {gateway.api_key}", "Content-Type": "text/csv"}
    url = gateway.base_url + "/v1/jobs"
    verify = str(gateway.ca_bundle)
    submitted = gateway.session.post(url, data=out.getvalue(), headers=headers, verify=verify)
    assert submitted.status_code == 202, submitted.text
    status_url = f"{url}/{submitted.json()['job_id']}"
    def done() -> bool:
        status = gateway.session.get(status_url, headers=headers, verify=verify)
        return bool(status.json()["state"] == "done")

    wait_until(done, 120, "the job finished", interval=0.1)
    return {kind: f"{prefix}-{kind}" for kind in rows}


def add_reviewer(gateway: GatewayServer, name: str) -> str:
    """Register a reviewer through the CLI; the password it printed once."""
    return str(json.loads(cli(gateway.env, "reviewers", "add", name))["password"])


def add_reviewer_with_password(gateway: GatewayServer, name: str, password: str) -> str:
    completed = subprocess.run(
        [*CLI, "reviewers", "add", name, "--password-stdin"],
        env={**os.environ, **gateway.env},
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


class Cell:
    """A client of the page (a reviewer's session) or of the API (an application's key)."""

    def __init__(self, gateway: GatewayServer, *, key: str | None = None) -> None:
        self.gateway = gateway
        self.key = key
        self.http = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return self.http.get(
            self.gateway.base_url + path,
            headers=headers,
            allow_redirects=False,
            verify=str(self.gateway.ca_bundle),
            timeout=60,
            **kwargs,
        )

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        headers.update(kwargs.pop("headers", {}))
        return self.http.post(
            self.gateway.base_url + path,
            headers=headers,
            allow_redirects=False,
            verify=str(self.gateway.ca_bundle),
            timeout=60,
            **kwargs,
        )

    def form_token(self, path: str) -> str:
        page = self.get(path)
        assert page.status_code == 200, page.status_code
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)

    def login(self, name: str, password: str) -> requests.Response:
        token = self.form_token("/vigilance/login")
        return self.post(
            "/vigilance/login", data={"name": name, "password": password, "csrf_token": token}
        )

    def events(self, **filters: str) -> list[dict[str, Any]]:
        response = self.get("/v1/vigilance/events", params={"per_page": "500", **filters})
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events
