"""The house rules of issue 17, checked: what the root holds, sizes, and what storage loads.

The import layers themselves are a contract of ``lint-imports`` (setup.cfg,
run by scripts/test); these are the rules it cannot express.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import gateway

PACKAGE = Path(gateway.__file__).parent
# Cross-cutting modules only: everything else lives in a package named after what it is.
ROOT_MODULES = {
    "__init__",
    "service",
    "settings",
    "models",
    "exceptions",
    "ids",
    "ns",
    "logs",
    "metrics",
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def test_the_root_holds_only_cross_cutting_modules() -> None:
    found = {p.stem for p in PACKAGE.glob("*.py")}
    assert found <= ROOT_MODULES, sorted(found - ROOT_MODULES)


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_no_function_is_over_the_line_limit() -> None:
    long: dict[str, int] = {}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE)}:{node.name}"] = length
    assert not long, long


def test_importing_storage_loads_no_soap_signing_or_web_stack() -> None:
    """``python -X importtime -c "import gateway.storage.jobs"``, as issue 17 asks."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import gateway.storage.jobs"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in run.stderr.splitlines()}
    assert "gateway" in loaded  # the measure sees our own modules
    assert not loaded & {"zeep", "signxml", "werkzeug", "flask", "spyne"}
