"""py-spy on one gateway worker under load, summarised by component of the gateway.

Stacks are bucketed by the innermost frame that belongs to a known component (``SPECIFIC``
first, then ``GENERIC``), so the report can say how many ms of CPU per request each part
of the gateway costs (share of samples x the worker's measured CPU per request).
"""

from __future__ import annotations

import collections
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.paths import ROOT, VENV_BIN
from harness.schema import f
from harness.servers import Server, record

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]+?)(?::\d+)?\)$")

# A needle is "path-substring" or "path-substring:function" (last dotted part of the name).
SPECIFIC: list[tuple[str, tuple[str, ...]]] = [
    ("audit journal (storage)", ("gateway/storage/audit.py", "gateway/storage/group_commit.py")),
    ("API key lookup", ("gateway/storage/apps.py",)),
    ("VIHF signing (signxml + RSA)", ("gateway/protocol/signing.py",)),
    ("VIHF assertion build", ("gateway/protocol/vihf.py",)),
    ("SOAP context headers build", ("gateway/protocol/headers.py",)),
    ("zeep envelope (create_message + tostring)", ("gateway/upstream/client.py:envelope",)),
    ("upstream HTTPS call (requests/urllib3/ssl)", ("gateway/transport/transports.py",)),
    (
        "response parsing",
        (
            "gateway/upstream/client.py:parse",
            "gateway/protocol/results.py",
            "gateway/protocol/xml.py",
        ),
    ),
    ("request log line (JSON)", ("gateway/logs.py",)),
    (
        "metrics",
        (
            "prometheus_client/",
            "gateway/metrics.py:observe_request",
            "gateway/metrics.py:observe_upstream",
        ),
    ),
    ("answer JSON", ("gateway/render/answers.py", "gateway/interfaces/fhir.py")),
    ("input validation", ("gateway/ins/queries.py", "gateway/ins/traits.py")),
    ("quotas", ("gateway/admission/quotas.py", "redis/")),
]
GENERIC: list[tuple[str, tuple[str, ...]]] = [
    (
        "gateway glue (json_api, service, resilience, ...)",
        (
            "gateway/interfaces/json_api.py",
            "gateway/service.py",
            "gateway/transport/resilience.py",
            "gateway/admission/gatekeeper.py",
            "gateway/audit/trail.py",
            "gateway/ins/strategy.py",
        ),
    ),
    ("Flask/werkzeug", ("flask/", "werkzeug/")),
    ("gunicorn HTTP parsing and IO", ("gunicorn/",)),
]


def profile(
    gateway: Server, *, seconds: int, out: Path, load: Callable[[float], dict[str, Any]]
) -> dict[str, Any]:
    """Sample the first worker of ``gateway`` while ``load(seconds + 2)`` runs."""
    pyspy = VENV_BIN / "py-spy"
    if not pyspy.exists():
        return {"skipped": "py-spy not installed"}
    argv = [str(pyspy), "record", "-p", str(gateway.workers()[0]), "-d", str(seconds)]
    argv += ["-r", "200", "--gil", "--nonblocking", "-f", "raw", "-o", str(out)]
    record([*argv[:4], "<gateway worker pid>", *argv[5:]])
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    during = load(seconds + 2)
    try:
        spy.wait(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
    if not out.exists():
        return {"skipped": "py-spy produced nothing (ptrace not permitted?)"}
    summary = summarise(out)
    summary["load"] = {k: during[k] for k in ("rps", "p50_ms", "gateway_cpu_ms_per_request")}
    summary["file"] = str(out.relative_to(ROOT))
    return summary


def _match(frame: str, needles: tuple[str, ...]) -> bool:
    m = _FRAME.match(frame)
    func, file = (m.group("func"), m.group("file")) if m else (frame, "")
    for needle in needles:
        path, _, want = needle.partition(":")
        if path in file and (not want or func.rsplit(".", 1)[-1] == want):
            return True
    return False


def _bucket(frames: list[str]) -> str:
    """The bucket of one stack (frames from root to leaf)."""
    for table in (SPECIFIC, GENERIC):
        for frame in reversed(frames):
            for name, needles in table:
                if _match(frame, needles):
                    return name
    return "other (interpreter, threads, GC...)"


def _interesting(key: str) -> bool:
    libs = ("gateway/", "signxml", "zeep", "sqlalchemy", "sqlite", "ssl", "lxml", "redis")
    return any(lib in key for lib in libs) and "gunicorn" not in key


def summarise(path: Path) -> dict[str, Any]:
    """Share of samples per bucket, and per function (inclusive) for gateway/ and key libs."""
    buckets: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames and frames[0].startswith(("process ", "thread")):
            frames = frames[1:]
        total += count
        buckets[_bucket(frames)] += count
        for key in {re.sub(r":\d+\)$", ")", frame) for frame in frames}:
            inclusive[key] += count
    if not total:
        return {"samples": 0}

    def shares(counter: collections.Counter[str], n: int, keep: Any = None) -> list[list[Any]]:
        rows = [[k, round(100 * v / total, 1)] for k, v in counter.most_common()]
        return [r for r in rows if keep is None or keep(r[0])][:n]

    return {
        "samples": total,
        "buckets": shares(buckets, 20),
        "inclusive": shares(inclusive, 30, _interesting),
    }


def render(p: dict[str, Any] | None, title: str) -> list[str]:
    """Markdown for one profile: components with their ms of CPU per request, functions."""
    if not p or not p.get("samples"):
        return [f"Profile ({title}): {p.get('skipped', 'none') if p else 'not run'}.", ""]
    cpu = p["load"]["gateway_cpu_ms_per_request"]
    lines = [
        f"**Profile of the gateway worker, {title}**: py-spy (`record --gil --nonblocking -r",
        "200`, samples of the thread holding the GIL), stacks grouped by the innermost",
        "component (`bench/harness/profile.py`); ms/req = share x the worker's CPU per request",
        f"during the profile. {p['samples']:,} samples; load {f(p['load']['rps'], 1)} req/s, "
        f"{f(cpu, 2)} ms CPU/req; raw stacks `{p['file']}`.",
        "",
        "| component | share | ≈ ms CPU/req |",
        "| --- | ---: | ---: |",
    ]
    lines += [
        f"| {name} | {share:.1f}% | {share / 100 * cpu:.2f} |" for name, share in p["buckets"]
    ]
    lines += ["", "<details><summary>functions (inclusive share)</summary>", ""]
    lines += ["| function | inclusive |", "| --- | ---: |"]
    lines += [f"| `{name}` | {share:.1f}% |" for name, share in p["inclusive"]]
    return [*lines, "", "</details>", ""]
