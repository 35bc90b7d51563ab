"""The JSON interface's OpenAPI document (``gateway/interfaces/openapi.json``), without a server.

The document must be valid OpenAPI 3.1, its examples must validate against
their own schemas, and what it says must agree with the INS rules and the
mock's persona table: keys follow the 97-mod rule, OIDs name their kind,
attempts follow the progressive first-name strategy, found identities are
personas. Expected values come from those rules, written here again, never
from the gateway's own functions.

The helpers (:data:`DOCUMENT`, :func:`request_validator`,
:func:`answer_validator`) are shared with ``tests/integration/test_openapi.py``,
which validates real requests and answers against the same schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway import interfaces
from gateway.exceptions import InvalidInput
from gateway.ins.queries import SEARCH_FIELDS, VERIFY_FIELDS, VITALE_FIELDS, vitale_query
from gateway.ins.traits import validate_birth_date, validate_birth_place
from gateway.mock.personas import PERSONAS, Persona
from gateway.render.problems import PROBLEMS
from tests.support.fr_core import check_document

OPENAPI = Path(interfaces.__file__).with_name("openapi.json")  # served as is (server/app.py)
DOCUMENT_URI = "urn:insi-gateway:openapi"
DOCUMENT: dict[str, Any] = json.loads(OPENAPI.read_text(encoding="utf-8"))
REGISTRY: Registry[Any] = Registry().with_resource(
    DOCUMENT_URI, Resource(contents=DOCUMENT, specification=DRAFT202012)
)

# Every route the gateway serves, written here again (tests/integration/test_docs_match_app.py
# checks them against the app factory's real url_map and SOAP mounts).
ROUTES = {
    ("/v1/ins/search", "post"),
    ("/v1/ins/search/vitale", "post"),
    ("/v1/ins/verify", "post"),
    ("/v1/jobs", "post"),
    ("/v1/jobs/{job_id}", "get"),
    ("/v1/jobs/{job_id}", "delete"),
    ("/v1/jobs/{job_id}/results", "get"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
    ("/openapi.json", "get"),
    ("/soap", "get"),
    ("/soap", "post"),
    ("/soap12", "get"),
    ("/soap12", "post"),
    # the identity-vigilance worklist (docs/vigilance.md): its API, then its page
    ("/v1/vigilance/events", "get"),
    ("/v1/vigilance/events/{event_id}/acknowledge", "post"),
    ("/v1/vigilance/events/{event_id}/resolve", "post"),
    ("/vigilance/", "get"),
    ("/vigilance/login", "get"),
    ("/vigilance/login", "post"),
    ("/vigilance/logout", "post"),
    ("/vigilance/events/{event_id}", "get"),
    ("/vigilance/events/{event_id}/acknowledge", "post"),
    ("/vigilance/events/{event_id}/resolve", "post"),
    ("/vigilance/indicators", "get"),
}
# Open without a key: the probes, the metrics, this document, the WSDLs, the login form.
OPEN_ROUTES = {(path, "get") for path in ("/healthz", "/readyz", "/metrics", "/openapi.json")} | {
    ("/soap", "get"),
    ("/soap12", "get"),
    ("/vigilance/login", "get"),
    ("/vigilance/login", "post"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# INS OIDs (ANS, "Référentiel INS"): kind and whether it designates a test identifier.
# (kind, test, oid_kind): FR Core FRCorePatientINSProfile.fsh identifier slices
INS_OIDS = {
    "1.2.250.1.213.1.4.8": ("NIR", False, "INS-NIR"),
    "1.2.250.1.213.1.4.9": ("NIA", False, "INS-NIA"),
    "1.2.250.1.213.1.4.10": ("NIR", True, "INS-NIR-TEST"),
    "1.2.250.1.213.1.4.11": ("NIR", True, "INS-NIR-DEMO"),
}


# --- helpers shared with the integration test ----------------------------------------------


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(*tokens: str) -> str:
    return "".join("/" + _escape(token) for token in tokens)


def _at(pointer: str) -> Any:
    node: Any = DOCUMENT
    for token in pointer.split("/")[1:]:
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _followed(pointer: str) -> str:
    """``pointer``, or where its object's ``$ref`` leads (responses, request bodies, examples)."""
    node = _at(pointer)
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are expected, got {ref}"
        pointer = ref[1:]
        node = _at(pointer)
    return pointer


def validator_at(pointer: str) -> Draft202012Validator:
    """A Draft 2020-12 validator of the schema at ``pointer``, ``$ref`` resolved in the document."""
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=REGISTRY)


def request_validator(path: str, method: str = "post") -> Draft202012Validator:
    body = _followed(_pointer("paths", path, method, "requestBody"))
    return validator_at(body + _pointer("content", "application/json", "schema"))


def answer_validator(
    path: str, status: int, media_type: str, method: str = "post"
) -> Draft202012Validator:
    response = _followed(_pointer("paths", path, method, "responses", str(status)))
    return validator_at(response + _pointer("content", media_type, "schema"))


def errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    """Every validation error, readable (empty when ``instance`` is valid).

    For ``oneOf``/``anyOf`` failures, the error of the branch that matched furthest is shown.
    """
    explained = []
    for error in validator.iter_errors(instance):
        while error.context:  # the branch that went deepest into the instance
            depth = max(len(e.absolute_path) for e in error.context)
            error = best_match(e for e in error.context if len(e.absolute_path) == depth)
        explained.append(f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}")
    return explained


# --- what the document holds ---------------------------------------------------------------


def _media_types() -> Iterator[str]:
    """Pointers to every media type object of the document (operations and shared responses)."""
    containers = [
        _pointer("paths", path, method, *where)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        for where in [("requestBody",)] * ("requestBody" in operation)
        + [("responses", status) for status in operation["responses"]]
    ]
    containers += [
        _pointer("components", "responses", name) for name in DOCUMENT["components"]["responses"]
    ]
    for container in containers:
        node = _at(container)
        if "$ref" in node:
            continue  # a shared response: listed on its own
        for media_type in node.get("content", {}):
            yield container + _pointer("content", media_type)


def _media_examples() -> Iterator[tuple[str, str, Any]]:
    """(schema pointer, example name, value) of every example given with a media type."""
    for media in _media_types():
        node = _at(media)
        schema = media + "/schema"
        if "example" in node:
            yield schema, media, node["example"]
        for name in node.get("examples", {}):
            example = _at(_followed(media + _pointer("examples", name)))
            yield schema, f"{media} {name}", example["value"]


def _schema_examples() -> Iterator[tuple[str, Any]]:
    """(schema pointer, value) of every ``examples`` list inside the components' schemas."""

    def walk(pointer: str, node: Any) -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            if isinstance(node.get("examples"), list):
                for value in node["examples"]:
                    yield pointer, value
            for key, child in node.items():
                yield from walk(pointer + _pointer(key), child)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                yield from walk(f"{pointer}/{index}", child)

    yield from walk("/components/schemas", DOCUMENT["components"]["schemas"])
    for name, parameter in DOCUMENT["components"]["parameters"].items():
        if "example" in parameter:
            yield _pointer("components", "parameters", name, "schema"), parameter["example"]


def _answer_examples() -> list[Any]:
    return [value for _, _, value in _media_examples()]


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _dicts(child)
    elif isinstance(value, list):
        for child in value:
            yield from _dicts(child)


# --- the INS rules, written independently of gateway/ --------------------------------------


def ins_key(matricule: str) -> str:
    """``97 - (number mod 97)`` over the 13 characters, Corsica's 2A counting 19 and 2B 18."""
    department = {"2A": "19", "2B": "18"}.get(matricule[5:7], matricule[5:7])
    return f"{97 - int(matricule[:5] + department + matricule[7:]) % 97:02d}"


def progressive_attempts(first_names: list[str]) -> list[str]:
    """The INS guide's order: the first first name, each following one alone, then the list."""
    return list(dict.fromkeys([*first_names, " ".join(first_names)]))


def persona_for(identity: dict[str, Any]) -> Persona:
    """The one persona of the mock's table with these official traits."""
    found = [
        p
        for p in PERSONAS
        if (p.birth_name, list(p.first_names), p.sex, p.birth_date, p.birth_place)
        == (
            identity["birth_name"],
            identity["first_names"],
            identity["sex"],
            identity["birth_date"],
            identity["birth_place"],
        )
    ]
    assert len(found) == 1, f"no single persona for {identity['birth_name']}"
    return found[0]


# --- tests ---------------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate(DOCUMENT)


def test_document_is_pretty_printed_by_hand() -> None:
    text = OPENAPI.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert '\n  "paths": {\n' in text


@pytest.mark.parametrize(
    ("schema", "name", "value"),
    [pytest.param(*example, id=example[1]) for example in _media_examples()],
)
def test_every_example_validates_against_its_schema(schema: str, name: str, value: Any) -> None:
    assert not errors(validator_at(schema), value), name


@pytest.mark.parametrize(
    ("schema", "value"),
    [pytest.param(*example, id=f"{example[0]}={example[1]}") for example in _schema_examples()],
)
def test_every_schema_example_validates(schema: str, value: Any) -> None:
    assert not errors(validator_at(schema), value)


def test_every_operation_has_examples_for_its_request_and_answer() -> None:
    for path, method in ROUTES:
        operation = DOCUMENT["paths"][path][method]
        if path.startswith("/v1/ins/"):
            assert operation["requestBody"]["content"]["application/json"]["examples"]
            assert operation["responses"]["200"]["content"]["application/json"]["examples"]
    for media in DOCUMENT["paths"]["/v1/jobs"]["post"]["requestBody"]["content"].values():
        assert media["examples"]


def test_documented_routes_are_the_registered_ones() -> None:
    documented = {
        (path, method)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert documented == ROUTES


def test_only_probes_are_open_without_the_api_key() -> None:
    assert DOCUMENT["security"] == [{"bearerAuth": []}]
    assert DOCUMENT["components"]["securitySchemes"]["bearerAuth"] == {
        **DOCUMENT["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    for path, method in ROUTES:
        operation = DOCUMENT["paths"][path][method]
        if (path, method) in OPEN_ROUTES:
            assert operation["security"] == [], f"{method} {path}"
        elif path.startswith("/v1/vigilance/"):  # the cell's tools, or a reviewer's session
            assert operation["security"] == [{"bearerAuth": []}, {"reviewerSession": []}]
            assert "401" in operation["responses"]
        elif path.startswith("/vigilance/"):  # the page: a reviewer's session only
            assert operation["security"] == [{"reviewerSession": []}], f"{method} {path}"
        elif path.startswith("/v1/"):
            assert "security" not in operation, f"{method} {path}: the document's bearerAuth"
            assert "401" in operation["responses"]
        else:  # SOAP: Bearer or X-API-Key, a Client.unauthorized fault otherwise
            assert operation["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]


def test_problem_types_are_those_of_the_problem_table() -> None:
    documented = DOCUMENT["components"]["schemas"]["Problem"]["properties"]["type"]["anyOf"][0]
    assert set(documented["enum"]) == {kind.type_uri for kind in PROBLEMS.values()}


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/v1/ins/search", SEARCH_FIELDS),
        ("/v1/ins/search/vitale", VITALE_FIELDS),
        ("/v1/ins/verify", VERIFY_FIELDS),
    ],
)
def test_each_operation_documents_its_error_statuses(path: str, fields: frozenset[str]) -> None:
    responses = DOCUMENT["paths"][path]["post"]["responses"]
    expected = {"200", "400", "401", "413", "500", "502", "503", "504"}
    if "flags" in fields:  # a flagged identity is refused before any call
        expected.add("422")
    assert set(responses) == expected
    for status in expected - {"200"}:
        media = _at(_followed(_pointer("paths", path, "post", "responses", status)))["content"]
        assert list(media) == ["application/problem+json"]
        schema = media["application/problem+json"]["schema"]
        assert schema["properties"]["status"] == {"const": int(status)}


@pytest.mark.parametrize(
    ("schema", "fields"),
    [
        ("SearchRequest", SEARCH_FIELDS),
        ("VitaleRequest", VITALE_FIELDS),
        ("VerifyRequest", VERIFY_FIELDS),
    ],
)
def test_request_members_are_the_fields_the_gateway_knows(
    schema: str, fields: frozenset[str]
) -> None:
    documented = DOCUMENT["components"]["schemas"][schema]
    assert set(documented["properties"]) == fields
    assert documented["additionalProperties"] is False  # unknown members are refused


def test_the_four_mandatory_traits_are_required() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    mandatory = {"birth_name", "first_names", "sex", "birth_date"}  # birth place is optional
    assert set(schemas["SearchRequest"]["required"]) == mandatory
    assert set(schemas["VerifyRequest"]["required"]) == mandatory | {"ins"}
    assert set(schemas["VitaleRequest"]["required"]) == {"birth_name", "birth_date", "birth_rank"}


def _accepted_by_code(field: str, value: Any) -> bool:
    card = {"birth_name": "ADRTROIS", "birth_date": "1997-02-26", "birth_rank": "1"}
    checks = {
        "birth_place": lambda: validate_birth_place(field, value),
        "birth_date": lambda: validate_birth_date(field, value),
        "beneficiary_matricule": lambda: vitale_query({**card, field: value}),
        "birth_rank": lambda: vitale_query(
            {**card, "beneficiary_matricule": "297022A02077878", field: value}
        ),
    }
    try:
        checks[field]()
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize(
    ("schema", "field", "value", "valid"),
    [
        ("SearchRequest", "birth_place", "2A020", True),  # Corse-du-Sud
        ("SearchRequest", "birth_place", "2B020", True),  # Haute-Corse
        ("SearchRequest", "birth_place", "63220", True),
        ("SearchRequest", "birth_place", "99350", True),  # born abroad: 99 + country (Morocco)
        ("SearchRequest", "birth_place", "2C020", False),
        ("SearchRequest", "birth_place", "123", False),
        ("SearchRequest", "birth_place", "A2020", False),
        ("SearchRequest", "birth_date", "1997-02-26", True),
        ("SearchRequest", "birth_date", "1980-00-00", True),  # lunar: day and month unknown
        ("SearchRequest", "birth_date", "1980-04-00", True),  # lunar: day unknown
        ("SearchRequest", "birth_date", "26/02/1997", False),
        ("SearchRequest", "birth_date", "1997-2-26", False),
        ("SearchRequest", "birth_date", "19970226", False),
        ("VitaleRequest", "beneficiary_matricule", "297022A02077878", True),
        ("VitaleRequest", "beneficiary_matricule", "2 97 02 2A 020 778 78", True),
        ("VitaleRequest", "beneficiary_matricule", "297022C02077878", False),
        ("VitaleRequest", "beneficiary_matricule", "297022A020778", False),  # no key
        ("VitaleRequest", "birth_rank", "1", True),
        ("VitaleRequest", "birth_rank", 9, True),
        ("VitaleRequest", "birth_rank", "0", False),
        ("VitaleRequest", "birth_rank", "10", False),
        ("VitaleRequest", "birth_rank", 0, False),
    ],
)
def test_formats_agree_with_the_ins_rules_and_the_gateway(
    schema: str, field: str, value: Any, valid: bool
) -> None:
    validator = validator_at(_pointer("components", "schemas", schema, "properties", field))
    assert validator.is_valid(value) is valid
    assert _accepted_by_code(field, value) is valid


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("sex", "F", True),
        ("sex", "M", True),
        ("sex", "X", False),
        ("flags", ["homonyme"], True),
        ("flags", ["douteuse", "fictive"], True),
        ("flags", ["inconnue"], False),
        ("first_names", [], False),
        ("first_names", ["A"] * 11, False),
        ("birth_name", "", False),
    ],
)
def test_trait_schemas(field: str, value: Any, valid: bool) -> None:
    validator = validator_at(
        _pointer("components", "schemas", "SearchRequest", "properties", field)
    )
    assert validator.is_valid(value) is valid


def test_held_ins_oid_pattern() -> None:
    validator = validator_at("/components/schemas/HeldIns/properties/oid")
    assert all(validator.is_valid(oid) for oid in INS_OIDS)
    assert not validator.is_valid("1.2")
    assert not validator.is_valid("urn:oid:1.2.250.1.213.1.4.8")


def test_birth_date_is_never_a_date_format() -> None:
    """Lunar dates are valid INS birth dates: no ``format: date`` anywhere in the document."""
    formats = [d.get("format") for d in _dicts(DOCUMENT["components"]["schemas"])]
    assert "date" not in formats


def test_example_ins_keys_follow_the_97_rule() -> None:
    checked = 0
    for node in _dicts(_answer_examples()):
        if {"matricule", "key", "key_valid"} <= set(node):
            assert node["key"] == ins_key(node["matricule"])
            assert node["key_valid"] is True
            assert (node["kind"], node["test"], node["oid_kind"]) == INS_OIDS[node["oid"]]
            checked += 1
    assert checked >= 10


def test_corsican_example_key_counts_2a_as_19() -> None:
    # 2970219020778 mod 97 = 19, so the key of 297022A020778 is 97 - 19 = 78
    assert ins_key("297022A020778") == "78"
    found = _at(_followed("/components/examples/SearchFoundAdrtrois"))["value"]
    assert (found["ins"]["matricule"], found["ins"]["key"]) == ("297022A020778", "78")


def test_example_identities_are_personas_with_their_ins() -> None:
    checked = 0
    for node in _dicts(_answer_examples()):
        if isinstance(node.get("identity"), dict) and isinstance(node.get("ins"), dict):
            persona = persona_for(node["identity"])
            assert persona.active is not None
            assert (node["ins"]["matricule"], node["ins"]["key"], node["ins"]["oid"]) == (
                persona.active.matricule,
                persona.active.key,
                persona.active.oid,
            )
            assert node["identity"]["first_name"] == persona.first_names[0]
            assert [(h["matricule"], h["key"]) for h in node["history"]] == [
                (h.matricule, h.key) for h in persona.history
            ]
            # RECUP (récupérée) only when all five traits held were compared and agree with
            # the official ones; QUAL when moreover a qualifying document was attested
            sent = node.get("sent") or {}
            held = sent.get("local_identity") or sent
            names = held.get("first_names") or node["identity"]["first_names"]
            agree = names == node["identity"]["first_names"] or names == [
                node["identity"]["first_names"][0]
            ]
            complete = agree and not node["differences"] and not node["unchecked_traits"]
            evidence = node["identity_evidence"] or {}
            qualified = evidence.get("document") in {"PA", "CN", "eCN", "CS"}
            expected = ("QUAL" if qualified else "RECUP") if complete else "CHECK_REQUIRED"
            assert node["identity_status"] == expected
            assert (expected != "CHECK_REQUIRED") == (
                node["differences"] == [] and node["unchecked_traits"] == []
            )
            checked += 1
    assert checked >= 8


def test_example_attempts_follow_the_progressive_strategy() -> None:
    checked = 0
    for node in _dicts(_answer_examples()):
        if "attempts" in node and "sent" in node:
            sent = progressive_attempts(node["sent"]["first_names"])
            tried = [attempt["first_names"] for attempt in node["attempts"]]
            codes = [attempt["code"] for attempt in node["attempts"]]
            assert tried == sent[: len(tried)]
            assert set(codes[:-1]) <= {"01"}  # the search goes on only after "not found"
            assert codes[-1] == node["code"]
            assert node["message_id"] == node["attempts"][-1]["message_id"]
            if node["code"] == "01":
                assert tried == sent  # every attempt was made
            checked += 1
    assert checked >= 5


def test_tchitchi_example_is_found_at_the_second_attempt() -> None:
    example = _at("/components/examples/SearchFoundTchitchi")["value"]
    assert [a["first_names"] for a in example["attempts"]] == ["OLA", "CATARINA"]
    assert [a["code"] for a in example["attempts"]] == ["01", "00"]


def test_fhir_qual_example_is_the_json_example_as_a_patient_carrying_its_ins() -> None:
    found = _at("/components/examples/SearchFoundAdrtrois")["value"]
    patient = _at("/components/examples/FhirPatientAdrtrois")["value"]
    (identifier,) = patient["identifier"]
    assert identifier["system"] == f"urn:oid:{found['ins']['oid']}"
    assert identifier["value"] == found["ins"]["matricule"] + found["ins"]["key"]
    assert identifier["type"]["coding"][0]["code"] == "INS-NIR"
    assert patient["name"][0]["family"] == found["identity"]["birth_name"]
    assert patient["birthDate"] == found["identity"]["birth_date"]
    (reliability,) = patient["extension"][:1]
    parts = {part["url"]: part for part in reliability["extension"]}
    assert parts["identityStatus"]["valueCoding"]["code"] == "QUAL"
    assert parts["validationMode"]["valueCoding"]["code"] == "PA"
    check_document(patient)  # R4 structure and FR Core (docs/fhir.md)


def test_fhir_recup_example_is_the_json_example_without_its_ins() -> None:
    found = _at("/components/examples/SearchFoundAdrtrois")["value"]
    bundle = _at("/components/examples/FhirRecupAdrtrois")["value"]
    patient, outcome = (entry["resource"] for entry in bundle["entry"])
    assert found["identity_status"] == "RECUP"
    assert "identifier" not in patient
    assert patient["name"][0]["family"] == found["identity"]["birth_name"]
    assert outcome["issue"][0]["details"]["text"] == "RECUP"
    check_document(bundle)


def test_fhir_check_required_example_gives_the_json_example_differences() -> None:
    found = _at("/components/examples/SearchFoundTchitchi")["value"]
    bundle = _at("/components/examples/FhirCheckRequiredTchitchi")["value"]
    (entry,) = bundle["entry"]
    issues = entry["resource"]["issue"]
    assert found["identity_status"] == issues[0]["details"]["text"] == "CHECK_REQUIRED"
    assert [i["details"]["text"] for i in issues[1:]] == [
        f"difference: {d['field']}" for d in found["differences"]
    ]
    check_document(bundle)
