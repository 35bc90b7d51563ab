"""One reader of configuration: no module of gateway/ reads the process environment itself.

Settings are read through :class:`gateway.config.ConfigReader`, built once where
a process starts and handed down. This scan of the source fails when any other
function touches ``os.environ``/``os.getenv`` (however ``os`` or ``environ`` is
imported), so a setting cannot again be read behind the reader's back (with no
configuration file, no named error, no masking). The few entry points that hand
the environment over, or must write to it, are listed below with why.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import ROOT

GATEWAY = ROOT / "gateway"
ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}

# (module under gateway/, function): why it may touch the process environment.
ALLOWED = {
    ("cli/main.py", "main"): "the console command's entry point: hands os.environ (and the "
    "configuration file under it) to the one reader, once for every subcommand",
    ("cli/main.py", "_serve"): "prometheus-client reads PROMETHEUS_MULTIPROC_DIR from each "
    "worker's own environment, so the master writes the directory there before the fork",
    ("mock/server.py", "main"): "`python -m gateway.mock.server`: a process entry point handing "
    "its environment to the reader",
    ("server/app.py", "create_app"): "the gunicorn app factory when gunicorn is pointed at it "
    "directly (no settings handed in): the worker's environment is its only source",
}


class _EnvironmentUses(ast.NodeVisitor):
    """Each function (or ``<module>``) of one source touching the process environment."""

    def __init__(self) -> None:
        self.os_names = {"os"}  # names bound to the os module (``import os as x``)
        self.env_names: set[str] = set()  # names bound by ``from os import environ``
        self.scope = ["<module>"]
        self.found: set[str] = set()

    def visit_Import(self, node: ast.Import) -> None:
        self.os_names |= {alias.asname or "os" for alias in node.names if alias.name == "os"}

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "os":
            for alias in node.names:
                if alias.name in ENVIRONMENT:
                    self.env_names.add(alias.asname or alias.name)
                    self.found.add(self.scope[-1])

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        base = node.value
        if isinstance(base, ast.Name) and base.id in self.os_names and node.attr in ENVIRONMENT:
            self.found.add(self.scope[-1])
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.env_names:
            self.found.add(self.scope[-1])


def environment_uses(source: str) -> set[str]:
    """The functions of ``source`` that touch the process environment."""
    visitor = _EnvironmentUses()
    visitor.visit(ast.parse(source))
    return visitor.found


def gateway_uses() -> set[tuple[str, str]]:
    """(module, function) of every use of the process environment in gateway/."""
    uses = set()
    for path in sorted(GATEWAY.rglob("*.py")):
        module = str(path.relative_to(GATEWAY))
        uses |= {(module, name) for name in environment_uses(path.read_text(encoding="utf-8"))}
    return uses


def test_only_the_entry_points_touch_the_environment() -> None:
    others = gateway_uses() - set(ALLOWED)
    assert not others, (
        f"{sorted(others)} read the process environment: read settings through the "
        "ConfigReader the entry point hands down (gateway/config/), or list the function in "
        "ALLOWED with why"
    )


def test_every_allowed_entry_is_still_needed() -> None:
    assert set(ALLOWED) <= gateway_uses(), set(ALLOWED) - gateway_uses()


def test_the_scan_sees_every_way_of_reading_the_environment() -> None:
    assert environment_uses("import os\ndef f():\n    return os.environ.get('X')\n") == {"f"}
    assert environment_uses("import os\nX = os.getenv('X')\n") == {"<module>"}
    assert environment_uses("import os as o\ndef g():\n    return o.environ['X']\n") == {"g"}
    assert environment_uses("from os import environ\ndef h():\n    return environ\n") == {
        "<module>",
        "h",
    }
    assert environment_uses("def k(environ):\n    return environ.get('PATH_INFO')\n") == set()


def test_the_one_reader_puts_the_file_under_the_environment(tmp_path: Path) -> None:
    from gateway.config import ConfigReader

    file = tmp_path / "gateway.env"
    file.write_text("INSI_IDAM=FROM-FILE\nINSI_READ_TIMEOUT=9\n")
    reader = ConfigReader.layered({"GATEWAY_CONFIG_FILE": str(file), "INSI_READ_TIMEOUT": "7"})
    assert (reader.text("INSI_IDAM"), reader.text("INSI_READ_TIMEOUT")) == ("FROM-FILE", "7")
    assert reader.source == str(file)
