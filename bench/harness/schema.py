"""The one results schema and what a scenario gives the report.

``results.json`` (written by ``bench/bench.py``, read back by ``--render-only``)::

    {"meta": {"started", "machine", "background_busy_cores", "loadavg_start",
              "code_start", "code_end", "args", "wall_seconds", "audit_verify"},
     "scenarios": {"<scenario NAME>": <what its run() returned, JSON>, ...},
     "commands": ["<every command run, in order>", ...]}

A scenario module (``bench/scenarios/<name>.py``, see ``bench/README.md``) has ``NAME``,
``TITLE``, ``add_arguments(parser)``, ``run(h) -> dict`` and ``render(data, page) ->
Section``. The report numbers the sections in registry order and gathers the targets.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


@dataclass
class Target:
    """One promise the bench checks: what, the measured figure, met (None: not measured)."""

    text: str
    measured: str
    ok: bool | None


@dataclass
class Section:
    """What a scenario adds to ``docs/benchmarks.md``: its targets and its markdown body."""

    targets: list[Target] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def target(self, text: str, measured: str, ok: bool | None) -> bool | None:
        self.targets.append(Target(text, measured, ok))
        return ok


@dataclass
class Page:
    """What ``render`` may read: the run's meta and every scenario's results."""

    meta: dict[str, Any]
    scenarios: dict[str, Any]

    @property
    def args(self) -> argparse.Namespace:
        return argparse.Namespace(**self.meta["args"])

    @property
    def nproc(self) -> int:
        return int(self.meta["machine"]["nproc"])


def is_scenario(module: ModuleType) -> bool:
    """The contract of a scenario module (checked when the registry is loaded)."""
    return all(hasattr(module, n) for n in ("NAME", "TITLE", "add_arguments", "run", "render"))


# ---- formatting helpers shared by the scenarios' render() -------------------------------


def f(value: float | None, digits: int = 1) -> str:
    """A number with thousands separators, or n/a."""
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def verdict(ok: bool | None) -> str:
    return {True: "**met**", False: "**missed**", None: "**not measured**"}[ok]


def mib(kib: float) -> str:
    return f"{kib / 1024:,.1f} MiB"


def anchor(title: str) -> str:
    """GitHub's anchor for a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def outcomes(counts: dict[str, int]) -> str:
    """The gateway's request-line outcomes, as ``status outcome`` x count."""
    return ", ".join(f"`{k}` x{v:,}" for k, v in sorted(counts.items())) or "none"


def load_row(run: dict[str, Any], *, cpu_key: str = "gateway_cpu_ms_per_request") -> str:
    """The common columns of a load table: req/s, p50, p90, p99, errors, CPU/req, busy."""
    return (
        f"{f(run['rps'], 1)} | {f(run['p50_ms'], 2)} ms | {f(run['p90_ms'], 2)} ms | "
        f"{f(run['p99_ms'], 2)} ms | {run['errors']:,} | {f(run.get(cpu_key), 2)} ms | "
        f"{f(run.get('machine_busy_cores'), 2)} | {f(run.get('others_busy_cores'), 2)}"
    )


LOAD_HEADER = "req/s | p50 | p90 | p99 | errors | CPU/req | machine busy | others"
LOAD_ALIGN = "---: | ---: | ---: | ---: | ---: | ---: | ---: | ---:"
