"""Fuzzing the JSON interface over the real servers: 10,000+ generated requests, none may
be answered 500, and every error must be an RFC 9457 document (``application/problem+json``
with ``type``, ``title``, ``status``, ``detail``), as README and openapi.json promise. The
SOAP endpoints get the same treatment in ``test_fuzz_soap.py``.

Requests come from hypothesis strategies of our own (no network needed): objects with the
real field names and values near and far from valid, extra members, random JSON of any
shape, batches for ``/v1/ins/verify``, bytes that are not UTF-8 or not JSON, other content
types, methods and paths. Most are refused before any upstream call; a few percent are
valid and go through the mock (0 latency). Each hypothesis example is a batch of requests
sent by 4 threads, each with its own keep-alive session.
"""

from __future__ import annotations

import json
import shutil
import string
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gateway.pki.devpki import DevPki
from tests.integration.conftest import (
    GatewayFactory,
    GatewayServer,
    MockServer,
    register_app,
)
from tests.integration.personas import NIA, NIR, PERSONAS, WITH_CARD
from tests.support.fr_core import check_document
from tests.support.upstreams import Launcher, Reaper

pytestmark = pytest.mark.integration

TOTAL_REQUESTS = 10_000
BATCH = 8  # requests per hypothesis example, sent concurrently
THREADS = 4
TIME_LIMIT = 300  # seconds: a hang guard (the run takes about 60-75 s on 2 idle cores)
SHM = Path("/dev/shm")  # noqa: S108 - a tmpfs for a throw-away database
PROBLEM = "urn:insi-gateway:problem:"
SEARCH, VITALE, VERIFY = "/v1/ins/search", "/v1/ins/search/vitale", "/v1/ins/verify"
ENDPOINTS = (SEARCH, VITALE, VERIFY)

# ---------------------------------------------------------------------------- strategies

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
any_json = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
name_like = st.sampled_from(
    [
        "ADRTROIS",
        "DOMINIQUE",
        "de la Fontaine",
        "Œdipe",
        "O'NEIL",
        "JEAN-PIERRE",
        "  Ève  ",
        "Müller--Strauß",
        "X" * 101,
        "",
        " ",
        "A1",
        "NAME_",
        "’",
        "<!ENTITY x 'y'>",
    ]
)
names = (
    name_like | st.text(max_size=40) | st.text(alphabet=string.ascii_letters + " -'", max_size=30)
)
dates = (
    st.sampled_from(
        [
            "1997-02-26",
            "1980-00-00",
            "1980-04-00",
            "1997-02-30",
            "1997-13-01",
            "1799-12-31",
            "2999-01-01",
            "0000-00-00",
            "97-02-26",
            "1997/02/26",
            "",
        ]
    )
    | st.builds(
        "{:04d}-{:02d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99)
    )
    | st.text(max_size=12)
)
sexes = st.sampled_from(["F", "M", "f", "m", "X", "", "FM", "Ｆ"]) | st.text(max_size=3)
places = (
    st.sampled_from(["2A020", "2B020", "63220", "99350", "2a020", "", "00000", "2C020", "6322"])
    | st.none()
    | st.text(alphabet="0123456789AB", min_size=5, max_size=5)
    | st.text(max_size=7)
)
flag_lists = st.none() | st.lists(
    st.sampled_from(["homonyme", "douteuse", "fictive", "HOMONYME", "other", ""]), max_size=3
)
first_names = names | st.lists(names, max_size=12)
matricules = (
    st.sampled_from(
        ["297022A02077878", "1 78 05 63 220 457 60", "297022A02077877", "2970", "29702 2B 02077878"]
    )
    | st.text(alphabet="0123456789 AB", min_size=13, max_size=17)
    | st.text(max_size=20)
)
ranks = st.sampled_from(["1", "9", "0", "10", 1, 9, 0, 10, True, 1.0, "١"]) | scalars
held_ins = st.fixed_dictionaries(
    {},
    optional={
        "matricule": st.sampled_from(["297022A020778", "2970", "297022C020778"]) | scalars,
        "key": st.sampled_from(["78", "77", "7", "xx"]) | scalars,
        "oid": st.sampled_from([NIR, NIA, "1.2", "1..2.3", ""]) | scalars,
        "kind": scalars,
    },
)

FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "birth_name": names,
    "first_names": first_names,
    "sex": sexes,
    "birth_date": dates,
    "birth_place": places,
    "flags": flag_lists,
    "beneficiary_matricule": matricules,
    "holder_matricule": matricules,
    "birth_rank": ranks,
    "ins": held_ins,
}
KNOWN = {
    SEARCH: ("birth_name", "first_names", "sex", "birth_date", "birth_place", "flags"),
    VITALE: (
        "beneficiary_matricule",
        "holder_matricule",
        "birth_name",
        "birth_date",
        "birth_rank",
        "flags",
    ),
    VERIFY: ("ins", "birth_name", "first_names", "sex", "birth_date", "birth_place", "flags"),
}


def _field(name: str) -> st.SearchStrategy[Any]:
    return st.one_of(FIELDS[name], FIELDS[name], FIELDS[name], any_json)  # mostly on-topic


def structured(path: str, *, extras: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the endpoint's real members (random values), some missing, maybe extras."""
    members = st.fixed_dictionaries({}, optional={name: _field(name) for name in KNOWN[path]})
    if not extras:
        return members
    others = st.dictionaries(
        st.sampled_from([n for n in FIELDS if n not in KNOWN[path]]) | st.text(max_size=12),
        any_json,
        min_size=1,
        max_size=3,
    )
    return st.builds(lambda a, b: {**a, **b}, members, others)


def _valid(path: str) -> st.SearchStrategy[dict[str, Any]]:
    if path == SEARCH:
        return st.sampled_from([p.traits() for p in PERSONAS])
    if path == VITALE:
        return st.sampled_from(
            [{**p.card, "birth_name": p.birth_name, "birth_date": p.birth_date} for p in WITH_CARD]
        )
    return st.sampled_from(
        [
            {**p.traits(), "ins": {"matricule": p.matricule, "key": p.key, "oid": p.oid}}
            for p in PERSONAS
            if p.matricule
        ]
    )


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    content_type: str | None
    accept: str | None
    body: bytes

    def describe(self) -> str:
        return f"{self.method} {self.path} ct={self.content_type!r} body={self.body[:300]!r}"


JSON_TYPES = ["application/json", "application/json; charset=utf-8"]
OTHER_TYPES = [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/problem+json",
    "application/fhir+json",
    "application/json; charset=latin-1",
    "application/jsonx",
    "",
]
ACCEPTS = [None, "application/json", "*/*", "application/fhir+json", "text/html", "application/xml"]
header_text = st.text(alphabet=string.ascii_letters + string.digits + "/;=+-. ", max_size=40).map(
    str.strip
)  # a header value may not start with white space


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()


@st.composite
def raw_bodies(draw: st.DrawFn, path: str) -> bytes:
    """Bytes that are not plain UTF-8 JSON objects: binary, other encodings, broken JSON."""
    sample = draw(_valid(path) | structured(path, extras=False))
    text = json.dumps(sample, ensure_ascii=False)
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:  # not UTF-8 at all
        return text.replace('"', '"é', 1).encode("latin-1", errors="replace")
    if kind == 2:  # UTF-16 / UTF-32 (json.loads detects them) or a UTF-8 BOM
        return draw(
            st.sampled_from(
                [text.encode("utf-16"), text.encode("utf-32"), b"\xef\xbb\xbf" + text.encode()]
            )
        )
    if kind == 3:  # truncated
        encoded = text.encode()
        return encoded[: draw(st.integers(0, max(0, len(encoded) - 1)))]
    if kind == 4:  # JSON extensions Python accepts and numbers out of range
        token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "1" * 5000]))
        member = draw(st.sampled_from(KNOWN[path]))
        return f'{{"{member}": {token}}}'.encode()
    if kind == 5:  # nested: shallow, or deeper than Python's recursion limit
        depth = draw(st.integers(1, 3000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        return opener * depth + b"0" * (opener == b'{"a":') + closer * depth
    if kind == 6:  # invalid escapes and lone surrogates
        return draw(st.sampled_from([b'{"birth_name": "\\ud800"}', b'{"a": "\\x41"}', b'{"a":"\\']))
    return draw(st.sampled_from([b"", b" ", b"null", b"0", b'""', b"[]", b"{}", b"\x00"]))


@st.composite
def probes(draw: st.DrawFn) -> Probe:
    path = draw(st.sampled_from(ENDPOINTS))
    # hypothesis favours small numbers: the cheap refusals get the low rolls, the few valid
    # requests (the only ones that reach the teleservice) the highest
    roll = draw(st.integers(0, 99))
    method, content_type = "POST", draw(st.sampled_from(JSON_TYPES))
    if roll < 45:
        body = _encode(draw(structured(path, extras=False)))
    elif roll < 55:
        body = _encode(draw(structured(path, extras=True)))
    elif roll < 63:
        body = _encode(draw(any_json))
    elif roll < 75:
        body = draw(raw_bodies(path))
    elif roll < 87:  # other content types, methods, paths
        body = _encode(draw(structured(path, extras=False)))
        content_type = draw(st.sampled_from([*OTHER_TYPES, None]) | header_text)
        method = draw(st.sampled_from(["POST", "POST", "GET", "PUT", "DELETE", "PATCH"]))
        path = draw(st.sampled_from([path, path, "/v1/ins/searchx", "/v1/ins", "/v1/ins/verify/"]))
    elif roll < 97:  # arrays: the batch form of /v1/ins/verify (refused elsewhere)
        items = st.one_of(structured(VERIFY, extras=False), any_json, _valid(VERIFY))
        body = _encode(draw(st.lists(items, max_size=3)))
    else:  # valid: goes to the teleservice (the mock)
        body = _encode(draw(_valid(path)))
    return Probe(method, path, content_type, draw(st.sampled_from(ACCEPTS)), body)


# ---------------------------------------------------------------------------- checks


def problem_errors(document: Any, status: int | None) -> list[str]:
    """What is wrong with ``document`` as a problem document (empty: nothing)."""
    if not isinstance(document, dict):
        return ["not a JSON object"]
    errors = [f"{m} missing" for m in ("type", "title", "status", "detail") if m not in document]
    if not str(document.get("type", "")).startswith(PROBLEM):
        errors.append(f"type {document.get('type')!r}")
    if status is not None and document.get("status") != status:
        errors.append(f"status {document.get('status')!r} != {status}")
    for member in ("title", "detail"):
        if not isinstance(document.get(member), str):
            errors.append(f"{member} not a string")
    return errors


def check(probe: Probe, response: requests.Response | requests.RequestException) -> list[str]:
    if isinstance(response, requests.RequestException):
        return [f"no answer: {type(response).__name__}: {response}"]
    status, content_type = response.status_code, response.headers.get("Content-Type", "")
    errors: list[str] = []
    if status >= 500:
        errors.append(f"server error {status}")
    try:
        document = response.json()
    except ValueError:
        return [*errors, f"{status} body is not JSON ({content_type})"]
    if status >= 400:
        if content_type != "application/problem+json":
            errors.append(f"{status} with Content-Type {content_type!r}")
        errors += problem_errors(document, status)
    elif content_type not in ("application/json", "application/fhir+json"):
        errors.append(f"{status} with Content-Type {content_type!r}")
    elif content_type == "application/fhir+json":
        try:
            check_document(document)  # R4, and every Patient FR Core (docs/fhir.md)
        except AssertionError as violation:
            errors.append(f"FHIR: {violation}")
    elif isinstance(document, dict) and isinstance(document.get("results"), list):
        for item in document["results"]:  # a batch: each item a verdict or a problem
            if "error" in item:
                errors += [f"batch item: {e}" for e in problem_errors(item["error"], None)]
            elif "verdict" not in item:
                errors.append("batch item with neither verdict nor error")
    return errors


# ---------------------------------------------------------------------------- servers


@dataclass
class Target:
    mock: MockServer
    gateway: GatewayServer
    key: str


@pytest.fixture(scope="module")
def target(gateway_factory: GatewayFactory, dev_pki: DevPki, log_dir: Path) -> Iterator[Target]:
    reaper = Reaper()
    launcher = Launcher(gateway_factory, dev_pki, log_dir, reaper)
    # Every refusal is journaled with synchronous=FULL: on a disk, the fsyncs alone would
    # take minutes for 10,000 requests. Durability is not under test here: tmpfs if any.
    database_dir = Path(tempfile.mkdtemp(dir=SHM if SHM.is_dir() else log_dir))
    try:
        mock, gateway = launcher.mock_and_gateway(
            {}, DATABASE_URL=f"sqlite:///{database_dir / 'fuzz.db'}"
        )
        key = register_app(
            gateway.env,
            "fuzz",
            "--rate",
            "100000",
            "--burst",
            "100000",
            "--max-concurrent",
            "64",
        )
        yield Target(mock, gateway, key)
    finally:
        launcher.close()
        reaper.join()
        shutil.rmtree(database_dir, ignore_errors=True)


class Sender:
    """Sends probes from a few threads, each with its own keep-alive session."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._local = threading.local()
        self.statuses: Counter[int] = Counter()
        self._lock = threading.Lock()

    def send(self, probe: Probe) -> tuple[Probe, requests.Response | requests.RequestException]:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        headers = {"Authorization": f"Bearer {self._target.key}"}
        if probe.content_type is not None:
            headers["Content-Type"] = probe.content_type
        if probe.accept is not None:
            headers["Accept"] = probe.accept
        try:
            response = session.request(
                probe.method,
                self._target.gateway.base_url + probe.path,
                data=probe.body,
                headers=headers,
                verify=str(self._target.gateway.ca_bundle),
                timeout=30,
            )
        except requests.RequestException as error:  # a dropped connection is a finding too
            return probe, error
        with self._lock:
            self.statuses[response.status_code] += 1
        return probe, response


def test_ten_thousand_generated_requests_never_get_a_500(target: Target) -> None:
    sender = Sender(target)
    started = time.monotonic()
    examples = -(-TOTAL_REQUESTS // BATCH)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(probes(), min_size=BATCH, max_size=BATCH))
        def run(batch: list[Probe]) -> None:
            assert time.monotonic() - started < TIME_LIMIT, "fuzzing is far too slow"
            failures = []
            for probe, response in pool.map(sender.send, batch):
                errors = check(probe, response)
                if errors:
                    text = response.text[:300] if isinstance(response, requests.Response) else ""
                    failures.append(f"{probe.describe()}\n  -> {errors}: {text}")
            assert not failures, "\n".join(failures)

        run()

    elapsed = time.monotonic() - started
    sent = sum(sender.statuses.values())
    assert sent >= TOTAL_REQUESTS, sender.statuses
    assert elapsed < TIME_LIMIT, f"{sent} requests in {elapsed:.0f}s"
    assert sender.statuses[200] > 0, sender.statuses  # a fraction went through
    assert len(target.mock.logged_requests()) > 0
    assert all(status < 500 for status in sender.statuses), sender.statuses


def test_deeply_nested_json_is_a_400_not_a_500(target: Target) -> None:
    """Regression: ~1000 levels (2 KB) made json.loads raise RecursionError, a 500 (fixed in
    6485db2); 20,000 levels still fit under GATEWAY_MAX_BODY_BYTES."""
    for depth in (1_000, 20_000):
        nested = b"[" * depth + b"]" * depth
        for path in ENDPOINTS:
            response = target.gateway.post(
                path,
                data=nested,
                headers={"Content-Type": "application/json"},
                key=target.key,
            )
            assert response.status_code == 400, (depth, path, response.text)
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["type"] == PROBLEM + "malformed-request"

