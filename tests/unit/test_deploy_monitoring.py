"""The shipped alerting rules and dashboard: valid, unit-tested, and about metrics that exist.

``promtool`` comes from the Debian package ``prometheus`` (scripts/test installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from gateway.metrics import Metrics
from gateway.render.problems import PROBLEMS
from tests.paths import ROOT

RULES = ROOT / "deploy" / "prometheus" / "insi-gateway-rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "insi-gateway-rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "insi-gateway-dashboard.json"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
METRIC = re.compile(r"\bgateway_[a-z_]+\b")
SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
}


def _promtool(*args: str) -> str:
    completed = subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_queries() -> Iterator[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        if isinstance(variable.get("query"), dict):
            yield variable["query"]["query"]


def exposed_samples() -> set[str]:
    """Every sample name the gateway's registry can expose (names as PromQL sees them)."""
    names = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type])
    return names


def test_promtool_checks_the_rules() -> None:
    assert "SUCCESS: 7 rules found" in _promtool("check", "rules", str(RULES))


def test_every_rule_is_unit_tested_and_passes() -> None:
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert tested == {rule["alert"] for rule in _rules()}
    assert "SUCCESS" in _promtool("test", "rules", str(RULE_TESTS))


@pytest.mark.parametrize(
    "source", ["rules", "dashboard"], ids=["alerting rules", "grafana dashboard"]
)
def test_every_metric_queried_exists(source: str) -> None:
    queries = [r["expr"] for r in _rules()] if source == "rules" else list(_dashboard_queries())
    queried = {name for query in queries for name in METRIC.findall(query)}
    assert queried, "no gateway metric found in the queries"
    missing = queried - exposed_samples()
    assert not missing, f"not exposed by the gateway: {missing}"


def _outcomes_of(alert: str) -> set[str]:
    rule = next(r for r in _rules() if r["alert"] == alert)
    match = re.search(r'outcome=~"([^"]+)"', rule["expr"])
    assert match, f"{alert} selects no outcome"
    return set(match.group(1).split("|"))


def test_the_5xx_and_429_rules_cover_exactly_the_problem_table() -> None:
    server_errors = {kind.slug for kind in PROBLEMS.values() if kind.status >= 500}
    too_many = {kind.slug for kind in PROBLEMS.values() if kind.status == 429}

    # http-5..: a 5xx the app answered outside the problem table (outcome "http-<status>")
    assert _outcomes_of("InsiGatewayServerErrors") == server_errors | {"http-5.."}
    assert _outcomes_of("InsiGatewayRateLimited") == too_many


def test_the_dashboard_shows_what_the_alerts_watch() -> None:
    dashboard = "\n".join(_dashboard_queries())
    for rule in _rules():
        for name in METRIC.findall(rule["expr"]):
            assert name in dashboard, f"{rule['alert']} watches {name}, absent from the dashboard"
