"""What a newcomer tripped on (issue 18, section 4), each pinned by a check.

The docs must agree with each other and with the code on the points where
they once did not: the replicas' quotas, the IDAM the mock accepts, the
packages ``scripts/test`` installs as root, the README's own links, the
audit key's making, and what an installed command's error names.
"""

from __future__ import annotations

import email.message
import re
from importlib import metadata
from pathlib import Path

import pytest

from gateway import cli, docs_reference
from gateway.mock.settings import DEFAULT_ALLOWED_IDAM
from tests.paths import ROOT

README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def _row(page: Path, name: str) -> str:
    (row,) = [line for line in page.read_text().splitlines() if line.startswith(f"| `{name}` |")]
    return row


def test_the_idam_row_says_which_value_the_mock_accepts() -> None:
    assert f"`{DEFAULT_ALLOWED_IDAM}`" in _row(DOCS / "configuration.md", "INSI_IDAM")


def test_the_audit_key_row_says_how_to_make_one() -> None:
    assert "insi-gateway audit new-key" in _row(DOCS / "configuration.md", "GATEWAY_AUDIT_KEY")


def test_deployment_agrees_that_replicas_share_quotas_through_redis() -> None:
    deployment = (DOCS / "deployment.md").read_text()
    (row,) = [line for line in deployment.splitlines() if line.startswith("| quotas, circuit |")]
    assert "REDIS_URL" in row
    for page in ("deployment.md", "operations.md", "configuration.md"):
        text = " ".join((DOCS / page).read_text().split())
        assert "divide the per-application quotas" not in text, page
        assert "each applies an application's full quota, each" not in text, page


def test_the_readme_links_each_page_once() -> None:
    section = README[README.index("## Documentation") :]
    links = re.findall(r"^- \[[^]]+\]\((docs/[^)#]+)\)", section, re.MULTILINE)
    assert len(links) == len(set(links)), links
    assert {f"docs/{p.name}" for p in DOCS.glob("*.md")} <= set(links)
    first_link = re.search(r"\]\((docs/[^)]+)\)", README)
    assert first_link is not None
    assert first_link.group(1) == "docs/production.md"


def test_the_readme_lists_what_scripts_test_installs_as_root() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    lists = re.findall(r"missing\+=\(([^)]+)\)", script)
    installed = {name.strip("\"'") for names in lists for name in names.split()}
    assert {"nginx", "prometheus", "xmlsec1"} <= installed
    bases = (ROOT / "scripts" / "container-bases").read_text()
    (container_tools,) = re.findall(r"^packages=\(([^)]+)\)", bases, re.MULTILINE)
    installed |= set(container_tools.split())
    assert {"podman", "iptables"} <= installed
    paragraph = next(p for p in README.split("\n\n") if "./scripts/test` **runs as root" in p)
    for package in installed:
        assert f"`{package}`" in paragraph, package
    assert "pg_ctlcluster" in paragraph


def test_the_docs_address_is_the_packages_documentation_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A build for a hospital declares where its docs are published; messages use it."""
    published = email.message.Message()
    published["Project-URL"] = "Source, https://example.org/src"
    published["Project-URL"] = "Documentation, https://example.org/insi-gateway/docs/"
    monkeypatch.setattr(metadata, "metadata", lambda name: published)
    assert docs_reference("configuration.md") == (
        "https://example.org/insi-gateway/docs/configuration.md"
    )
    monkeypatch.setattr(metadata, "metadata", lambda name: email.message.Message())
    assert docs_reference("configuration.md") == "docs/configuration.md of the insi-gateway sources"


def test_an_error_names_the_setting_never_a_file_of_the_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no var/gateway.env here
    for name in ("GATEWAY_CONFIG_FILE", "GATEWAY_AUDIT_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)

    assert cli.main(["apps", "list"]) == 2

    error = capsys.readouterr().err
    assert "GATEWAY_AUDIT_KEY" in error
    assert "GATEWAY_CONFIG_FILE" in error
    assert "scripts/demo" not in error
    assert "see docs/configuration.md" not in error  # a path a wheel's user does not have
    assert "configuration.md" in error  # the published page (or the sources' one, named so)
