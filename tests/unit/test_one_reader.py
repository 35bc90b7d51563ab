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
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.config import ConfigReader
from gateway.exceptions import ConfigurationError
from gateway.settings import SigningMode
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
    file = tmp_path / "gateway.env"
    file.write_text("INSI_IDAM=FROM-FILE\nINSI_READ_TIMEOUT=9\n")
    reader = ConfigReader.layered({"GATEWAY_CONFIG_FILE": str(file), "INSI_READ_TIMEOUT": "7"})
    assert (reader.text("INSI_IDAM"), reader.text("INSI_READ_TIMEOUT")) == ("FROM-FILE", "7")
    assert reader.source == str(file)


SECRET_LOOKING = "s3cr3t-value-0123"


@pytest.mark.parametrize(
    "read",
    [
        lambda r: r.whole("X_SETTING", 1, minimum=1),
        lambda r: r.positive_float("X_SETTING", 1.0),
        lambda r: r.seconds_or_zero("X_SETTING", 1.0),
        lambda r: r.number("X_SETTING", 1, int),
        lambda r: r.number("X_SETTING", 1.0, float),
        lambda r: r.optional_int("X_SETTING"),
        lambda r: r.rate("X_SETTING"),
        lambda r: r.flag("X_SETTING"),
        lambda r: r.https_url("X_SETTING"),
        lambda r: r.choice("X_SETTING", SigningMode, SigningMode.VIHF),
    ],
)
def test_a_bad_value_is_named_by_its_variable_never_echoed(
    read: Callable[[ConfigReader], object],
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        read(ConfigReader({"X_SETTING": SECRET_LOOKING}))
    assert caught.value.setting == "X_SETTING"
    assert SECRET_LOOKING not in str(caught.value)
    assert SECRET_LOOKING not in caught.value.message


def test_secrets_come_back_masked() -> None:
    secret = ConfigReader({"X_PASSPHRASE": SECRET_LOOKING}).secret("X_PASSPHRASE")
    assert secret is not None
    assert SECRET_LOOKING not in f"{secret} {secret!r}"
    assert secret.reveal() == SECRET_LOOKING


def test_the_cli_reads_the_file_under_the_environment_and_never_writes_it_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``var/gateway.env`` of the working directory, found without GATEWAY_CONFIG_FILE."""
    from gateway.cli.main import main

    (tmp_path / "var").mkdir()
    config = tmp_path / "var" / "gateway.env"
    from_file, from_env = tmp_path / "from-file.db", tmp_path / "from-env.db"
    config.write_text(
        f"GATEWAY_AUDIT_KEY=audit-key-from-the-file\nDATABASE_URL=sqlite:///{from_file}\n"
    )
    config.chmod(0o600)
    monkeypatch.chdir(tmp_path)
    for name in ("GATEWAY_CONFIG_FILE", "GATEWAY_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{from_env}")

    assert main(["audit", "head"]) == 0, capsys.readouterr().err

    assert json.loads(capsys.readouterr().out) == {"seq": 0, "hash": "0" * 64}  # a new journal
    assert (from_env.is_file(), from_file.exists()) == (True, False)  # the environment wins
    assert "GATEWAY_AUDIT_KEY" not in os.environ  # the file's values stay out of it
    assert "GATEWAY_CONFIG_FILE" not in os.environ
