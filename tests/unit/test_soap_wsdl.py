"""The WSDL the SOAP interface publishes: document/literal, three operations, our namespace.

Also checks that the fault detail declares every problem member. The answer
types are built from the one description of the answer shapes and checked
against it in ``test_answer_shapes.py``.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from lxml import etree
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from gateway import exceptions
from gateway.admission.gatekeeper import Gatekeeper
from gateway.interfaces.soap import soap_wsgi_apps
from gateway.interfaces.soap import types as soap_types
from gateway.metrics import Metrics
from gateway.protocol.xml import parse_xml
from gateway.render.problems import PROBLEMS, problem_document
from gateway.service import InsService

NS = "urn:insi-gateway:soap:v1"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
SOAP_BINDINGS = {
    "/soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "/soap12": "http://schemas.xmlsoap.org/wsdl/soap12/",
}
OPERATIONS = {"searchByTraits", "searchByVitale", "verifyIns"}


@pytest.fixture(scope="module")
def client() -> Client:
    # The WSDL never touches the service core: an empty stand-in is enough.
    apps = soap_wsgi_apps(
        cast(InsService, object()), cast(Gatekeeper, object()), Metrics(), max_body_bytes=65536
    )
    return Client(DispatcherMiddleware(_not_found, apps))


def _not_found(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("404 Not Found", [])
    return []


def wsdl(client: Client, path: str, host: str = "localhost") -> etree._Element:
    response = client.get(f"{path}?wsdl", headers={"Host": host})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    return parse_xml(response.get_data())


def _resolve(element: etree._Element, prefixed: str) -> str:
    prefix, _, local = prefixed.rpartition(":")
    return f"{{{element.nsmap[prefix or None]}}}{local}"


@pytest.mark.parametrize("path", sorted(SOAP_BINDINGS))
def test_wsdl_is_document_literal_with_the_three_operations(client: Client, path: str) -> None:
    root = wsdl(client, path)
    soap = SOAP_BINDINGS[path]

    assert root.get("targetNamespace") == NS
    binding = root.find(f"{{{WSDL_NS}}}binding")
    assert binding is not None
    assert binding.find(f"{{{soap}}}binding").get("style") == "document"  # type: ignore[union-attr]
    operations = binding.findall(f"{{{WSDL_NS}}}operation")
    assert {op.get("name") for op in operations} == OPERATIONS
    bodies = [body.get("use") for body in binding.iter(f"{{{soap}}}body")]
    assert bodies == ["literal"] * 6
    port_type = root.find(f"{{{WSDL_NS}}}portType")
    assert port_type is not None
    assert {op.get("name") for op in port_type} == OPERATIONS


@pytest.mark.parametrize("path", sorted(SOAP_BINDINGS))
def test_everything_lives_in_our_one_namespace(client: Client, path: str) -> None:
    root = wsdl(client, path)

    schemas = root.findall(f"{{{WSDL_NS}}}types/{{{XSD_NS}}}schema")
    assert [schema.get("targetNamespace") for schema in schemas] == [NS]
    assert schemas[0].get("elementFormDefault") == "qualified"
    for part in root.iter(f"{{{WSDL_NS}}}part"):
        assert _resolve(part, part.get("element", "")).startswith(f"{{{NS}}}")


@pytest.mark.parametrize(
    "request_type", ["TraitsSearchRequest", "VitaleSearchRequest", "VerifyRequest"]
)
def test_birth_date_is_a_plain_string(client: Client, request_type: str) -> None:
    """Never xs:date: lunar dates such as 1980-00-00 are valid birth dates."""
    root = wsdl(client, "/soap")

    elements = root.xpath(
        "//xs:complexType[@name=$name]/xs:sequence/xs:element[@name='birth_date']",
        namespaces={"xs": XSD_NS},
        name=request_type,
    )
    assert isinstance(elements, list)
    assert len(elements) == 1
    element = elements[0]
    assert isinstance(element, etree._Element)
    assert _resolve(element, element.get("type", "")) == f"{{{XSD_NS}}}string"
    assert element.get("minOccurs") == "0"  # required-ness is checked by gateway.ins.queries


def test_operation_elements_use_the_request_and_answer_types(client: Client) -> None:
    root = wsdl(client, "/soap12")
    types = {
        element.get("name"): _resolve(element, element.get("type", ""))
        for element in root.iterfind(f".//{{{XSD_NS}}}schema/{{{XSD_NS}}}element")
    }

    assert types["searchByTraits"] == f"{{{NS}}}TraitsSearchRequest"
    assert types["searchByVitale"] == f"{{{NS}}}VitaleSearchRequest"
    assert types["verifyIns"] == f"{{{NS}}}VerifyRequest"
    assert types["searchByTraitsResponse"] == f"{{{NS}}}SearchAnswer"
    assert types["searchByVitaleResponse"] == f"{{{NS}}}SearchAnswer"
    assert types["verifyInsResponse"] == f"{{{NS}}}VerifyAnswer"


def test_address_follows_each_request_not_the_first_one(client: Client) -> None:
    """spyne caches the first WSDL: a forged Host must not redirect later clients."""
    forged = wsdl(client, "/soap", host="attacker.example")
    honest = wsdl(client, "/soap", host="gateway.hospital.example")

    def address(root: etree._Element) -> str:
        return next(root.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")).get("location", "")

    assert address(forged) == "http://attacker.example/soap"
    assert address(honest) == "http://gateway.hospital.example/soap"


def _declared(model: Any) -> set[str]:
    return set(model.get_flat_type_info(model))


# --- faults: declared on every operation, and the detail's shape covers every problem -------


@pytest.mark.parametrize("path", sorted(SOAP_BINDINGS))
def test_every_operation_declares_the_problem_fault(client: Client, path: str) -> None:
    root = wsdl(client, path)
    soap = SOAP_BINDINGS[path]

    port_type = root.find(f"{{{WSDL_NS}}}portType")
    binding = root.find(f"{{{WSDL_NS}}}binding")
    assert port_type is not None
    assert binding is not None
    for operations in (port_type, binding):
        faults = {
            op.get("name"): [fault.get("name") for fault in op.iterfind(f"{{{WSDL_NS}}}fault")]
            for op in operations.iterfind(f"{{{WSDL_NS}}}operation")
        }
        assert faults == {name: ["problem"] for name in OPERATIONS}
    for fault in binding.iter(f"{{{soap}}}fault"):
        assert (fault.get("name"), fault.get("use")) == ("problem", "literal")
    [message] = [m for m in root.iterfind(f"{{{WSDL_NS}}}message") if m.get("name") == "problem"]
    [part] = message
    assert _resolve(part, part.get("element", "")) == f"{{{NS}}}problem"
    global_elements = root.iterfind(f".//{{{XSD_NS}}}schema/{{{XSD_NS}}}element")
    assert "problem" in {element.get("name") for element in global_elements}


def _sample_errors() -> list[exceptions.GatewayError]:
    """One instance of every error class (with the data its problem document carries)."""
    samples: list[exceptions.GatewayError] = [
        exceptions.InvalidInput("sex", "must be 'F' or 'M'"),
        exceptions.RateLimited("app", retry_after=3),
        exceptions.IdentityNotEligible(("douteuse",)),
        exceptions.UpstreamFault("f", code="soap:Sender", subcode="s", error_code="DESIR_560"),
        exceptions.UpstreamBadResponse("html", http_status=500),
        exceptions.SoapHeaderNotUnderstood(("{urn:x}Trace",)),
    ]
    covered = {type(sample) for sample in samples}
    for cls in set(PROBLEMS) - covered:  # the others, whatever their constructor
        error = cls.__new__(cls)
        exceptions.GatewayError.__init__(error, "message")
        vars(error).update(field="f", reason="r", retry_after=1, flags=("x",), http_status=502)
        vars(error).update(code="c", subcode=None, error_code="e", severity=None)
        vars(error).update(error_message_id=None, app="a", operation="o")
        samples.append(error)
    return sorted(samples, key=lambda sample: type(sample).__name__)


@pytest.mark.parametrize("error", _sample_errors(), ids=lambda e: type(e).__name__)
def test_the_problem_element_declares_every_problem_member(error: Exception) -> None:
    document = problem_document(error, request_id="r-1")

    assert set(document) <= _declared(soap_types.Problem)
    assert set(document.get("upstream", {})) <= _declared(soap_types.UpstreamProblem)
    declared_order = list(soap_types.Problem.get_flat_type_info(soap_types.Problem))
    positions = [declared_order.index(key) for key in document]
    assert positions == sorted(positions)  # an xs:sequence: members in the declared order
