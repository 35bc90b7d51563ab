"""The gateway's performance bench: every scenario of ``bench/scenarios``, one report.

Called by ``bench/run`` (which prepares the virtualenv, wrk and py-spy). Everything
listens on 127.0.0.1 only; every load run is bounded in time; every server started here
is stopped here. The scenarios run in registry order (``scenarios/__init__.py``); each
returns its results, stored under its name in one ``results.json`` (schema:
``harness/schema.py``) from which ``report.py`` writes ``docs/benchmarks.md``.
``--render-only RESULTS_JSON`` rewrites the report from an earlier run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import machine
from harness.cpu import CpuWindow
from harness.paths import ROOT
from harness.servers import COMMANDS, Harness, log, shown
from report import write_report
from scenarios import scenarios


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = ",".join(m.NAME for m in scenarios())
    p.add_argument("--only", default=names, help=f"scenarios to run (default: {names})")
    p.add_argument("--workdir", default="var/bench", help="PKI, logs, profiles (git-ignored)")
    p.add_argument("--out", default="docs/benchmarks.md")
    p.add_argument("--json", default=None, help="raw results path (default: the run dir)")
    p.add_argument("--seconds", type=int, default=20, help="each measured load run")
    p.add_argument("--concurrency", type=int, default=16, help="wrk connections at 0 ms")
    p.add_argument("--profile-seconds", type=int, default=15)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--render-only", metavar="RESULTS_JSON", help="rewrite --out, run nothing")
    p.add_argument("--keep", metavar="RESULTS_JSON", help="scenarios not run: from this run")
    p.add_argument("--note", help="a paragraph added under Machine")
    for module in scenarios():
        module.add_arguments(p.add_argument_group(f"scenario {module.NAME}"))
    return p


def run(args: argparse.Namespace, chosen: list[str]) -> dict[str, Any]:
    """Run the chosen scenarios; a failing scenario is recorded and the others still run."""
    h = Harness(args)
    idle = CpuWindow({})
    time.sleep(3)  # the measurement: the machine's background load over 3 idle seconds
    meta: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine.machine(),
        "background_busy_cores": round(idle.close()["machine_busy_cores"], 2),
        "loadavg_start": machine.loadavg(),
        "code_start": machine.code_state(),
        "args": vars(args),
        "run_dir": str(h.run_dir),
    }
    results: dict[str, Any] = {"meta": meta, "scenarios": {}, "failed": {}}
    began = time.monotonic()
    try:
        for module in scenarios():
            if module.NAME not in chosen:
                continue
            try:
                results["scenarios"][module.NAME] = module.run(h)
            except Exception:
                log(f"scenario {module.NAME} failed:\n{traceback.format_exc()}")
                results["failed"][module.NAME] = traceback.format_exc()[-3000:]
            finally:
                h.stop_all()
        meta["audit_verify"] = h.verify_journal()
    finally:
        h.stop_all()
        meta["wall_seconds"] = round(time.monotonic() - began, 1)
        meta["code_end"] = machine.code_state()
        results["commands"] = COMMANDS
    return results


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.render_only:
        path = Path(args.render_only)
        results = json.loads(path.read_text())
        if args.note:
            results["meta"]["note"] = args.note
        write_report(results, scenarios(), ROOT / args.out, raw_path=path)
        log(f"report: {args.out} (from {path})")
        return 0
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - {m.NAME for m in scenarios()}
    if unknown:
        raise SystemExit(f"bench: unknown scenario(s) {sorted(unknown)}; see --help")
    results = run(args, chosen)
    if args.note:
        results["meta"]["note"] = args.note
    if args.keep:  # scenarios not rerun keep their figures from an earlier run, said so
        earlier = json.loads(Path(args.keep).read_text())
        for name, data in earlier["scenarios"].items():
            if name not in results["scenarios"]:
                results["scenarios"][name] = {**data, "from_run": earlier["meta"]["started"]}
    raw = Path(args.json) if args.json else Path(results["meta"]["run_dir"]) / "results.json"
    raw.write_text(json.dumps(results, indent=2, default=str))
    log(f"raw results: {raw}")
    shown_raw = raw.relative_to(ROOT) if raw.is_relative_to(ROOT) else raw
    write_report(results, scenarios(), ROOT / args.out, raw_path=shown_raw)
    log(f"report: {args.out} ({results['meta']['wall_seconds']} s); run: {shown(sys.argv)}")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
