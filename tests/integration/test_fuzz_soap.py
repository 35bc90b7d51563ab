"""Fuzzing the SOAP endpoints over the real servers, like the JSON interface (``test_fuzz.py``).

1,500 generated requests to ``/soap`` and ``/soap12``: envelopes near and far from valid
(the JSON fuzz's field values as elements, unknown and repeated elements, several or no
operations), header blocks with and without ``mustUnderstand``, declared charsets true and
false, the other SOAP version, DTDs, garbage, other methods. Every answer must be a SOAP
envelope of the endpoint's version; a fault is never an internal error and its HTTP status
follows the binding (SOAP 1.1: 500; SOAP 1.2: 400 for ``Sender``, else 500; 405 for a
method other than POST).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from xml.sax.saxutils import escape

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gateway.exceptions import XmlRejected
from gateway.protocol.xml import parse_xml
from tests.integration.test_fuzz import (
    BATCH,
    SEARCH,
    THREADS,
    TIME_LIMIT,
    VERIFY,
    VITALE,
    Probe,
    Sender,
    Target,
    _valid,
    raw_bodies,
    structured,
    target,
)

pytestmark = pytest.mark.integration
__all__ = ["target"]  # the fuzz's module fixture: a gateway and a mock of their own

SOAP_REQUESTS = 1_500
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP_NS = "urn:insi-gateway:soap:v1"
SOAP_PATHS = {"/soap": SOAP11_ENV, "/soap12": SOAP12_ENV}
SOAP_OPERATIONS = {"searchByTraits": SEARCH, "searchByVitale": VITALE, "verifyIns": VERIFY}
SOAP_ROLES = ["Client", "Sender", "Server", "Receiver", "VersionMismatch", "MustUnderstand"]


def _elements(name: str, value: Any) -> str:
    """``value`` as the elements a SOAP client would send for member ``name`` (any value)."""
    if isinstance(value, list):
        return "".join(_elements(name, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(_elements(str(key), item) for key, item in value.items())
        return f"<g:{name}>{inner}</g:{name}>" if _is_name(name) else inner
    text = "" if value is None else escape(str(value))
    return f"<g:{name}>{text}</g:{name}>" if _is_name(name) else text


def _is_name(name: str) -> bool:
    return bool(name) and name[0].isalpha() and all(c.isalnum() or c in "_-." for c in name)


@st.composite
def soap_headers(draw: st.DrawFn, envelope_ns: str) -> str:
    blocks = []
    for _ in range(draw(st.integers(0, 2))):
        must = draw(st.sampled_from(["", "0", "1", "true", "false", "yes"]))
        role = draw(st.sampled_from(["", "next", "none", "ultimateReceiver", "urn:other"]))
        attributes = f' s:mustUnderstand="{must}"' if must else ""
        if role:
            name = "actor" if envelope_ns == SOAP11_ENV else "role"
            uri = role if role.startswith("urn") else f"{envelope_ns.rstrip('/')}/role/{role}"
            attributes += f' s:{name}="{uri}"'
        blocks.append(f'<h:Trace xmlns:h="urn:example:h"{attributes}>x</h:Trace>')
    return f"<s:Header>{''.join(blocks)}</s:Header>" if blocks else ""


@st.composite
def soap_probes(draw: st.DrawFn) -> Probe:
    path = draw(st.sampled_from(sorted(SOAP_PATHS)))
    operation = draw(st.sampled_from(sorted(SOAP_OPERATIONS)))
    json_path = SOAP_OPERATIONS[operation]
    roll = draw(st.integers(0, 99))
    if roll >= 90:
        fields = draw(_valid(json_path))  # valid: goes to the teleservice (the mock)
    else:
        fields = draw(structured(json_path, extras=roll < 20))
    members = "".join(_elements(name, value) for name, value in fields.items())
    payload = f"<g:{operation}>{members}</g:{operation}>"
    if 80 <= roll < 84:  # several operations, or none
        payload = payload * draw(st.integers(0, 3))
    envelope_ns = SOAP_PATHS[path]
    if 84 <= roll < 87:  # the other version, or no envelope at all
        envelope_ns = draw(st.sampled_from([SOAP11_ENV, SOAP12_ENV, "urn:not-soap"]))
    header = draw(soap_headers(envelope_ns)) if roll < 60 or roll >= 87 else ""
    document = (
        f'<s:Envelope xmlns:s="{envelope_ns}" xmlns:g="{SOAP_NS}">{header}'
        f"<s:Body>{payload}</s:Body></s:Envelope>"
    )
    charset, body = "utf-8", document.encode("utf-8", errors="surrogatepass")
    if 60 <= roll < 70:  # charsets: declared and true, declared and false, unknown
        charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "utf-16", "x-unknown", "hex"]))
        actual = draw(st.sampled_from(["utf-8", "iso-8859-1", "utf-16", charset]))
        body = document.encode(actual if actual not in ("x-unknown", "hex") else "utf-8", "replace")
    elif 70 <= roll < 75:
        body = draw(raw_bodies(json_path))  # binary, truncated, not XML at all
    elif 75 <= roll < 77:
        body = b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x "y">]>' + body
    method = "POST" if roll != 77 else draw(st.sampled_from(["GET", "PUT", "DELETE"]))
    media = "text/xml" if path == "/soap" else "application/soap+xml"
    content_type = f'{media}; charset={charset}; action="{operation}"'
    return Probe(method, path, content_type, None, body)


def soap_check(probe: Probe, response: requests.Response | requests.RequestException) -> list[str]:
    """A SOAP answer of the endpoint's version: an answer element, or a fault that is not ours."""
    if isinstance(response, requests.RequestException):
        return [f"no answer: {type(response).__name__}: {response}"]
    envelope_ns = SOAP_PATHS[probe.path]
    try:
        root = parse_xml(response.content)
    except XmlRejected:
        return [f"{response.status_code} answer is not XML"]
    if root.tag != f"{{{envelope_ns}}}Envelope":
        return [f"answer root {root.tag}"]
    body = root.find(f"{{{envelope_ns}}}Body")
    answer = body[0] if body is not None and len(body) else None
    if answer is None:
        return ["empty Body"]
    if response.status_code == 200:
        return [] if str(answer.tag).endswith("Response") else [f"200 with {answer.tag}"]
    if answer.tag != f"{{{envelope_ns}}}Fault":
        return [f"{response.status_code} without a Fault"]
    codes = _fault_codes(answer, envelope_ns)
    errors = [] if codes[0] in SOAP_ROLES else [f"fault code {codes}"]
    if "internal-error" in codes:
        errors.append("internal-error fault")
    expected = 405 if probe.method != "POST" else 400 if codes[0] == "Sender" else 500
    if response.status_code != expected:
        errors.append(f"status {response.status_code} for {codes}")
    return errors


def _fault_codes(fault: Any, envelope_ns: str) -> list[str]:
    if envelope_ns == SOAP11_ENV:
        return (fault.findtext("faultcode") or "").split(":", 1)[-1].split(".")
    values = fault.iterfind(f".//{{{SOAP12_ENV}}}Value")
    return [(value.text or "").split(":", 1)[-1] for value in values]


def test_soap_endpoints_answer_every_generated_request_with_soap(target: Target) -> None:
    """The same fuzzing on /soap and /soap12: envelopes near and far from valid, headers,
    charsets, versions, garbage. Every answer is an envelope of the endpoint's version;
    a fault is never an internal error, and its HTTP status follows the SOAP binding."""
    sender = Sender(target)
    started = time.monotonic()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:

        @settings(
            max_examples=-(-SOAP_REQUESTS // BATCH),
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(soap_probes(), min_size=BATCH, max_size=BATCH))
        def run(batch: list[Probe]) -> None:
            assert time.monotonic() - started < TIME_LIMIT, "fuzzing is far too slow"
            failures = []
            for probe, response in pool.map(sender.send, batch):
                errors = soap_check(probe, response)
                if errors:
                    text = response.text[:400] if isinstance(response, requests.Response) else ""
                    failures.append(f"{probe.describe()}\n  -> {errors}: {text}")
            assert not failures, "\n".join(failures)

        run()

    assert sum(sender.statuses.values()) >= SOAP_REQUESTS, sender.statuses
    assert sender.statuses[200] > 0, sender.statuses  # some went through to the teleservice
    assert {400, 500, 405} <= set(sender.statuses), sender.statuses
