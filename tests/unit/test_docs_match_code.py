"""The docs name exactly the environment variables the code reads, and one name for the app key.

The code's variables are found by reading the source, not by asking the
settings: every string constant of ``gateway/`` shaped like an environment
variable (``UPPER_CASE_WITH_UNDERSCORES``) counts, unless it is listed in
:data:`NOT_ENVIRONMENT` with the reason it is something else; so are the
``${NAME:-default}`` reads of ``scripts/``. A variable added to the code
without its row in ``docs/configuration.md`` fails here with its name and
the file reading it; so does a documented variable nothing reads.
(Routes and metrics are checked against the built app in
``tests/integration/test_docs_match_app.py``.)
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from tests.paths import ROOT

GATEWAY = ROOT / "gateway"
CONFIGURATION = ROOT / "docs" / "configuration.md"
NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
DOC_NAME = re.compile(r"`\$?\{?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\}?[`=]")
TABLE_NAME = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)  # first column of a table
SCRIPT_READ = re.compile(r"\$\{([A-Z][A-Z0-9_]*):[-=]")
# Prefixes that make a name in any document a claim about the configuration.
CONFIG_PREFIXES = ("INSI_", "GATEWAY_", "MOCK_", "DATABASE_", "REDIS_")

# Upper-case string constants of gateway/ that are not environment variables.
NOT_ENVIRONMENT = {
    # WSGI environ keys (request headers and CGI variables), not the process environment
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "QUERY_STRING",
    "PATH_INFO",
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "HTTP_AUTHORIZATION",
    "HTTP_TRACEPARENT",
    "HTTP_COOKIE",
    "SERVER_PORT",
    "HTTP_X_API_KEY",
    "HTTP_X_REQUEST_ID",
    "HTTP_X_USER_ID",
    "HTTP_X_INSI_ASSERTION",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_FORWARDED",
    "REMOTE_ADDR",
    "MAX_CONTENT_LENGTH",  # a Flask config key
    # fault codes of the teleservice (the mock answers them)
    "DESIR_400",
    "DESIR_480",
    "DESIR_500",
    "DESIR_550",
    "DESIR_560",
    "GENESIS_HASH",  # the audit chain's first link
    "LPS_ID_HOMOLOGATION_DMP",  # a VIHF attribute name
    "TRE_R338",
    "TRE_R13",
    "RETRIEVED_STATUS",
    "CHECK_REQUIRED",  # an identity_status value (gateway/ins/verdicts.py)
    "DEV_STRUCTURE_ID",  # named in docs, not settings
}


def _module_names(tree: ast.Module) -> set[str]:
    """Names a module defines: a string equal to one (``__all__``) is not a variable."""
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names |= {target.id for target in targets if isinstance(target, ast.Name)}
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def code_variables() -> dict[str, set[str]]:
    """Each environment variable read by gateway/ or scripts/, with the files reading it."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(GATEWAY.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = _module_names(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            name = node.value
            if NAME.match(name) and name not in NOT_ENVIRONMENT and name not in defined:
                found[name].add(str(path.relative_to(ROOT)))
    for path in sorted((ROOT / "scripts").iterdir()):
        for name in SCRIPT_READ.findall(path.read_text(encoding="utf-8")):
            found[name].add(str(path.relative_to(ROOT)))
    return found


def documented(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return (set(DOC_NAME.findall(text)) | set(TABLE_NAME.findall(text))) - NOT_ENVIRONMENT


def all_docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "certs/README.md"]


def test_every_variable_the_code_reads_is_in_configuration_md() -> None:
    in_docs = documented(CONFIGURATION)
    missing = {name: files for name, files in code_variables().items() if name not in in_docs}
    assert not missing, "\n".join(
        f"{name} (read in {', '.join(sorted(files))}) is missing from docs/configuration.md;"
        " add its row (or list it in NOT_ENVIRONMENT of this test if it is not a variable)"
        for name, files in sorted(missing.items())
    )


def test_every_variable_of_configuration_md_is_read_by_the_code() -> None:
    unread = documented(CONFIGURATION) - set(code_variables())
    assert not unread, "\n".join(
        f"{name} is in docs/configuration.md but nothing in gateway/ or scripts/ reads it"
        for name in sorted(unread)
    )


def test_variables_named_in_any_doc_exist() -> None:
    # deploy/compose.yaml reads its own variables (the images: `${REDIS_IMAGE:-redis:7}`).
    compose = SCRIPT_READ.findall((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    known = set(code_variables()) | set(compose)
    wrong = [
        f"{name} is named in {path.relative_to(ROOT)} but nothing reads it"
        for path in all_docs()
        for name in sorted(set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", path.read_text())))
        if name.startswith(CONFIG_PREFIXES) and name not in known
    ]
    assert not wrong, "\n".join(wrong)


def test_the_application_key_has_one_name() -> None:
    """``GATEWAY_APP_KEY`` everywhere: never ``API_KEY``, ``GATEWAY_API_KEY``, ``BENCH_API_KEY``."""
    places = [*all_docs(), GATEWAY / "interfaces" / "openapi.json", *(ROOT / "scripts").iterdir()]
    places += [ROOT / "bench" / "search.lua", ROOT / "bench" / "harness" / "load.py"]
    other_names = re.compile(r"(?<![A-Z_])(?:[A-Z]+_)*API_KEY\b")
    wrong = [
        f"{path.relative_to(ROOT)}: {match.group(0)} (say GATEWAY_APP_KEY)"
        for path in places
        for match in other_names.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not wrong, "\n".join(wrong)
    assert "GATEWAY_APP_KEY" in code_variables()
