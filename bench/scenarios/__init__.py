"""The registry of bench scenarios, in the order they run and appear in the report.

Adding a scenario: write ``bench/scenarios/<name>.py`` (see ``bench/README.md``) and add
its module name here. Nothing else in the bench needs to change.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.schema import is_scenario

ORDER = [
    "signing",
    "zero_latency",
    "instructions",
    "slow_upstream",
    "replicas",
    "journal",
    "memory",
    "submission",
    "jobs",
]


def scenarios() -> list[ModuleType]:
    """The scenario modules, checked against the contract of ``harness.schema``."""
    modules = [importlib.import_module(f"scenarios.{name}") for name in ORDER]
    for module in modules:
        if not is_scenario(module):
            raise TypeError(f"{module.__name__} lacks NAME, TITLE, add_arguments, run or render")
    return modules
