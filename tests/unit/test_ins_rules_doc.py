"""docs/ins-rules.md's table names real code and real tests (issue 8, point 8).

Each row is: rule | official source | module and function | test. A module or
function renamed, or a test deleted, without the table following fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ins-rules.md"
CODE = re.compile(r"`([^`]+)`")


def _rows() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    header = "| rule | official source | module and function | test |"
    assert header in text
    table = text.split(header, 1)[1].split("\n\n", 1)[0]
    lines = [line for line in table.splitlines()[1:] if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def _defines(path: Path, name: str) -> bool:
    source = path.read_text(encoding="utf-8")
    *owner, function = name.split(".")
    found = re.search(rf"^\s*def {re.escape(function)}\(", source, re.MULTILINE) is not None
    return found and all(f"class {cls}" in source for cls in owner)


def test_the_table_has_a_source_and_a_test_for_every_rule() -> None:
    rows = _rows()
    assert len(rows) >= 20
    for row in rows:
        assert len(row) == 4, row[0]
        assert all(row), row[0]


def test_every_module_and_function_named_exists() -> None:
    for rule, _, code, _ in _rows():
        module: Path | None = None
        for item in CODE.findall(code):
            if item.endswith(".py"):
                module = ROOT / item
                assert module.is_file(), f"{rule}: {item} does not exist"
            else:
                assert module is not None, f"{rule}: {item} names no module"
                assert _defines(module, item), f"{rule}: {item} is not defined in {module.name}"


def test_every_test_named_exists() -> None:
    for rule, _, _, tests in _rows():
        for item in CODE.findall(tests):
            path, _, name = item.partition("::")
            assert (ROOT / path).is_file(), f"{rule}: {path} does not exist"
            if name:
                source = (ROOT / path).read_text(encoding="utf-8")
                assert f"def {name}(" in source, f"{rule}: {item} does not exist"
