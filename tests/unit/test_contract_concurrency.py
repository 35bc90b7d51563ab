"""The mock's contract check under 64 threads: each refusal names its own element.

lxml keeps a schema's errors on the (shared, cached) schema object; without
serialising validate-then-read, a thread reported another thread's error.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from lxml import etree

from gateway import ns
from gateway.mock.contract import ContractViolation, validate_element
from tests.paths import REFERENCE_DIR

THREADS = 64
CALLS = 4000
OWN_NAME = re.compile(r"u[0-9]{5}x")


def _refusal(index: int) -> list[str]:
    name = f"u{index:05d}x"
    element = etree.Element(ns.qname(ns.INSI_RECSANS, "RECSANSVITALE"))
    etree.SubElement(element, ns.qname(ns.INSI_RECSANS, name)).text = "1"
    with pytest.raises(ContractViolation) as refused:
        validate_element(element, REFERENCE_DIR)
    return OWN_NAME.findall(str(refused.value).split("\n", 1)[1])


def test_4000_concurrent_refusals_each_name_their_own_element() -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        named = list(pool.map(_refusal, range(CALLS)))

    crossed = [(i, names) for i, names in enumerate(named) if set(names) != {f"u{i:05d}x"}]
    assert crossed == [], f"{len(crossed)} of {CALLS} refusals name another call's element"
