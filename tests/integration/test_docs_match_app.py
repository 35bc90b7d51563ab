"""The built gateway against its docs: routes in ``/openapi.json``, metrics in operations.md.

The real app factory builds the gateway (dev PKI, its own SQLite file, no
job runner); its Flask URL map and the WSGI apps mounted beside it (the SOAP
endpoints) are walked and compared with the document's paths, methods and,
for SOAP, request media types. A route added to the code without its entry in
``gateway/interfaces/openapi.json`` fails here, naming the route.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from gateway.pki.devpki import DevPki
from gateway.server.app import create_app
from tests.integration.conftest import gateway_env
from tests.paths import ROOT
from tests.unit.test_openapi_document import DOCUMENT, HTTP_METHODS

IMPLICIT_METHODS = {"HEAD", "OPTIONS"}  # added by Flask/werkzeug to every rule
SOAP_METHODS = {"get", "post"}  # spyne: GET ?wsdl, POST an envelope


@pytest.fixture(scope="module")
def app(dev_pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    database = tmp_path_factory.mktemp("routes") / "gateway.db"
    env = gateway_env(
        dev_pki,
        "https://127.0.0.1:9/lps",  # never called: the app is only built
        DATABASE_URL=f"sqlite:///{database}",
        GATEWAY_JOB_WORKERS="0",
    )
    app = create_app(env)
    yield app
    app.extensions["insi_runtime"].close()  # now, not at exit (pytest's output is closed then)


def _openapi_path(rule: str) -> str:
    """``/v1/jobs/<job_id>`` (werkzeug, converters included) as ``/v1/jobs/{job_id}``."""
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule)


def _mounts(wsgi_app: Any) -> dict[str, Any]:
    """The WSGI apps mounted beside Flask, whatever middleware wraps the dispatcher."""
    layer = wsgi_app
    for _ in range(10):
        if isinstance(layer, DispatcherMiddleware):
            return dict(layer.mounts)
        layer = getattr(layer, "app", None) or getattr(layer, "_app", None)
        if layer is None:
            break
    raise AssertionError("no DispatcherMiddleware found under app.wsgi_app")


def served_routes(app: Flask) -> set[tuple[str, str]]:
    routes = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - IMPLICIT_METHODS
    }
    routes |= {(path, method) for path in _mounts(app.wsgi_app) for method in SOAP_METHODS}
    return routes


def documented_routes() -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_every_served_route_is_in_openapi(app: Flask) -> None:
    missing = sorted(served_routes(app) - documented_routes())
    assert not missing, "served but missing from gateway/interfaces/openapi.json: " + ", ".join(
        f"{method.upper()} {path}" for path, method in missing
    )


def test_every_documented_route_is_served(app: Flask) -> None:
    extra = sorted(documented_routes() - served_routes(app))
    assert not extra, "in gateway/interfaces/openapi.json but not served: " + ", ".join(
        f"{method.upper()} {path}" for path, method in extra
    )


def test_soap_endpoints_document_their_media_types(app: Flask) -> None:
    mounts = _mounts(app.wsgi_app)
    assert mounts, "the SOAP endpoints are not mounted"
    for path, server in mounts.items():
        media_type = server.app.in_protocol.mime_type.split(";")[0]
        content = DOCUMENT["paths"][path]["post"]["requestBody"]["content"]
        assert list(content) == [media_type], f"POST {path} takes {media_type}"
        answers = DOCUMENT["paths"][path]["post"]["responses"]["200"]["content"]
        assert list(answers) == [media_type], f"POST {path} answers {media_type}"


# --- metrics: docs/operations.md and the registry of a built gateway ---------------------------

OPERATIONS = ROOT / "docs" / "operations.md"
METRIC_ROW = re.compile(r"^\| `([a-z_:][a-z0-9_:]*)` \|([^|]*)\|", re.MULTILINE)
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count"),
}


def exposed_metrics(app: Flask) -> dict[str, set[str]]:
    """Each metric the gateway exposes (as a query names it), with its label names."""
    registry = app.extensions["insi_runtime"].metrics.registry
    found: dict[str, set[str]] = {}
    for family in registry.collect():
        labels = {key for sample in family.samples for key in sample.labels} - {"le", "quantile"}
        names = [family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))]
        for name in names:
            found[name] = labels
        if family.type == "histogram":
            found[family.name] = labels  # the docs name a histogram by its family
    return found


def documented_metrics() -> dict[str, set[str]]:
    rows = METRIC_ROW.findall(OPERATIONS.read_text(encoding="utf-8"))
    return {
        name: {label.strip() for label in labels.split(",") if label.strip()}
        for name, labels in rows
    }


def test_every_metric_of_operations_md_exists(app: Flask) -> None:
    exposed = exposed_metrics(app)
    missing = sorted(set(documented_metrics()) - set(exposed))
    assert not missing, "in docs/operations.md but not exposed by /metrics: " + ", ".join(missing)


def test_every_exposed_metric_is_in_operations_md(app: Flask) -> None:
    """Counters by their ``_total`` name, the others by their family name."""
    registry = app.extensions["insi_runtime"].metrics.registry
    expected = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in registry.collect()
    }
    missing = sorted(expected - set(documented_metrics()))
    assert not missing, "exposed by /metrics but missing from the table of docs/operations.md: " + (
        ", ".join(missing)
    )


def test_documented_labels_are_the_exposed_ones(app: Flask) -> None:
    exposed = exposed_metrics(app)
    for name, labels in documented_metrics().items():
        if exposed.get(name):  # labels are visible once the metric has a sample
            assert exposed[name] == labels, f"{name}: docs/operations.md says {labels}"


def test_metric_names_in_any_doc_exist(app: Flask) -> None:
    exposed = exposed_metrics(app)
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    wrong = [
        f"{name} is named in {path.relative_to(ROOT)} but not exposed by /metrics"
        for path in docs
        for name in sorted(
            set(re.findall(r"\bgateway_[a-z0-9_]+", path.read_text(encoding="utf-8")))
        )
        if name not in exposed
    ]
    assert not wrong, "\n".join(wrong)
