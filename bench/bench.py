"""The gateway's performance bench: four scenarios, one report (``docs/benchmarks.md``).

Called by ``bench/run`` (which prepares the virtualenv, wrk and py-spy). Everything
listens on 127.0.0.1 only; every load run is bounded in time (wrk ``-d``; the direct
client and the memory steps also in requests); every server started here is stopped
here (its own process group, by its pid).

1. signing: ``VihfSigner.sign`` vs one raw RSA-2048 signature (``bench/signing.py``).
2. mock at 0 ms: the gateway (wrk, ``POST /v1/ins/search``) vs the direct client
   (``bench/direct.py``), same mock, same concurrency (1, then ``--concurrency``).
3. mock at 200 ms: throughput, p99 and errors through one gateway.
4. memory: the gateway worker's VmRSS every 10,000 requests up to 100,000 (time-bounded).

Unless ``--no-profile``, py-spy samples the gateway worker under load in 2 and 3. The
what-if runs (``--whatif-s2``, ``--whatif-s3``) repeat 2 and 3 with proposed fixes patched
in by ``bench/whatif.py``; they are reported apart from the targets.
``--render-only RESULTS_JSON`` rewrites the report from an earlier run.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "insi-gateway")
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"
IDAM = "INSI-GW-DEV-IDAM"
CLK_TCK = os.sysconf("SC_CLK_TCK")

sys.path.insert(0, str(ROOT))
from gateway.pki.devpki import DevPki, generate_dev_pki  # noqa: E402

COMMANDS: list[str] = []  # every command run, in order, for the report


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def shown(argv: list[str], env: dict[str, str] | None = None) -> str:
    """A command line as a reader could type it from the repository root."""
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    text = " ".join(shlex.quote(str(a).replace(str(ROOT) + "/", "")) for a in argv)
    return f"{prefix} {text}".strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def system_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def run_bounded(
    argv: list[str], *, timeout: float, env: dict[str, str] | None = None
) -> tuple[str, float]:
    """Run ``argv`` to completion (killed after ``timeout``): its stdout and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return stdout.decode(), cpu


class CpuWindow:
    """CPU seconds used, over one measured run, by the machine and by our processes."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.busy0, self.total0 = system_busy()
        self.ours0 = {name: sum(cpu_seconds(p) for p in group) for name, group in pids.items()}
        self.wall0 = time.perf_counter()

    def close(self, **extra_cpu: float) -> dict[str, float]:
        busy, _ = system_busy()
        wall = time.perf_counter() - self.wall0
        out = {
            f"{name}_cpu_s": sum(cpu_seconds(p) for p in group) - self.ours0[name]
            for name, group in self.pids.items()
        }
        out.update({f"{name}_cpu_s": value for name, value in extra_cpu.items()})
        ours = sum(out.values())
        out["machine_busy_cores"] = (busy - self.busy0) / wall
        out["others_busy_cores"] = max(0.0, (busy - self.busy0 - ours) / wall)
        out["wall_s"] = wall
        return out


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Server:
    """A gunicorn server of ours (``insi-gateway serve|mock``), in its own process group."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int
    shown_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str = "/healthz", https: bool = False) -> None:
        COMMANDS.append(shown(self.argv, self.shown_env))
        log(f"start {self.name}: {shown(self.argv, self.shown_env)}")
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            if port_open(self.port) and self.workers() and self._ready(ready_path, https):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in 60 s:\n{self.log_path.read_text()[-3000:]}")

    def _ready(self, path: str, https: bool) -> bool:
        if https:
            return True  # the mock wants a client certificate: an open port is enough
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{self.port}{path}", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def workers(self) -> list[int]:
        assert self.process is not None
        try:
            return children(self.process.pid)
        except FileNotFoundError:
            return []

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()
        log(f"stopped {self.name}")


def gateway_log_mark(server: Server) -> int:
    """Where the gateway's log ends now (bytes), to read only a run's request lines later."""
    return server.log_path.stat().st_size


def gateway_log_breakdown(server: Server, mark: int) -> dict[str, Any]:
    """From the gateway's own request lines: time in the gateway vs waiting for the upstream."""
    with server.log_path.open("rb") as handle:
        handle.seek(mark)
        text = handle.read().decode(errors="replace")
    total, upstream, inside = [], [], []
    outcomes: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        if not line.startswith("{") or '"event": "request"' not in line:
            continue
        fields = json.loads(line)
        if fields.get("path") != "/v1/ins/search":
            continue
        outcomes[f"{fields.get('status')} {fields.get('outcome')}"] += 1
        t, u = float(fields.get("total_ms", 0)), float(fields.get("upstream_ms", 0))
        total.append(t)
        upstream.append(u)
        inside.append(t - u)

    def pcts(values: list[float]) -> dict[str, float]:
        values = sorted(values)
        if not values:
            return {}
        return {
            f"p{q}": round(values[min(len(values) - 1, int(len(values) * q / 100))], 2)
            for q in (50, 90, 99)
        }

    return {
        "lines": len(total),
        "outcomes": dict(outcomes),
        "total_ms": pcts(total),
        "upstream_ms": pcts(upstream),
        "in_gateway_ms": pcts(inside),
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = (ROOT / args.workdir).resolve()
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_dir = self.work / f"run-{stamp}"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.pki: DevPki = generate_dev_pki(self.work / "pki")
        COMMANDS.append(shown([CLI, "dev-pki", str(self.work / "pki")]))
        self.audit_key = secrets.token_urlsafe(32)
        self.db_url = f"sqlite:///{self.run_dir / 'gateway.db'}"
        self.servers: list[Server] = []
        self.results: dict[str, Any] = {"started": datetime.now(UTC).isoformat()}
        self.api_key = ""

    # ---- servers -------------------------------------------------------------------------

    def gateway_env(self, mock_port: int, **extra: str) -> dict[str, str]:
        return {
            "INSI_UPSTREAM_URL": f"https://{LOOPBACK}:{mock_port}/lps",
            "INSI_UPSTREAM_CA": str(self.pki.ca_bundle),
            "INSI_CERT_MANU": str(self.pki.insi_manu.p12),
            "INSI_CERT_MANU_PASSPHRASE": self.pki.passphrase,
            "INSI_CERT_AUTO": str(self.pki.insi_auto.p12),
            "INSI_CERT_AUTO_PASSPHRASE": self.pki.passphrase,
            "INSI_IDAM": IDAM,
            "GATEWAY_AUDIT_KEY": self.audit_key,
            "DATABASE_URL": self.db_url,
            **extra,
        }

    def register_app(self) -> None:
        env = self.gateway_env(1)
        argv = [
            CLI,
            "apps",
            "add",
            "bench",
            "--rate",
            "100000",
            "--burst",
            "100000",
            "--max-concurrent",
            "1000",
        ]
        COMMANDS.append(shown(argv, {"DATABASE_URL": self.db_url, "GATEWAY_AUDIT_KEY": "…"}))
        out = subprocess.run(
            argv,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=ROOT,
        )
        self.api_key = json.loads(out.stdout)["api_key"]

    def start_mock(self, latency_ms: int, workers: int, threads: int) -> Server:
        port = free_port()
        argv = [
            CLI,
            "mock",
            "--bind",
            f"{LOOPBACK}:{port}",
            "--pki",
            str(self.pki.directory),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ]
        env = {"MOCK_LATENCY_MS": str(latency_ms), "MOCK_ALLOWED_IDAM": IDAM}
        server = Server(
            f"mock-{latency_ms}ms",
            argv,
            env,
            self.run_dir / f"mock-{latency_ms}ms-{port}.log",
            port,
            shown_env=env,
        )
        server.start(https=True)
        self.servers.append(server)
        return server

    def start_gateway(
        self, mock: Server, name: str, threads: int | None = None, patches: str = "", **extra: str
    ) -> Server:
        port = free_port()
        argv = [CLI, "serve", "--bind", f"{LOOPBACK}:{port}"]
        tokens = [t for t in patches.split(",") if t]
        workers = [t.split("=", 1)[1] for t in tokens if t.startswith("workers=")]
        code_patches = ",".join(t for t in tokens if not t.startswith("workers="))
        if code_patches:  # bench/whatif.py: the same server with proposed fixes patched in
            argv = [PYTHON, str(BENCH / "whatif.py"), "--patch", code_patches, "--", *argv[1:]]
        if workers:  # a configuration change, not a patch
            argv += ["--workers", workers[0]]
        if threads is not None:
            argv += ["--threads", str(threads)]
        env = self.gateway_env(mock.port, **extra)
        shown_env = {"INSI_UPSTREAM_URL": env["INSI_UPSTREAM_URL"], **extra}
        server = Server(
            name, argv, env, self.run_dir / f"{name}-{port}.log", port, shown_env=shown_env
        )
        server.start()
        self.servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def stop_all(self) -> None:
        for server in list(reversed(self.servers)):
            try:
                self.stop(server)
            except Exception as error:  # keep stopping the others
                log(f"stopping {server.name} failed: {error!r}")

    # ---- load generators -----------------------------------------------------------------

    def wrk(
        self,
        gateway: Server,
        *,
        connections: int,
        seconds: float,
        threads: int = 1,
        per_thread_cap: int = 0,
        record: bool = True,
        mock: Server | None = None,
    ) -> dict[str, Any]:
        """wrk against the gateway; bounded by ``seconds`` (and ``per_thread_cap`` requests)."""
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "search.lua"),
            f"http://{LOOPBACK}:{gateway.port}",
        ]
        if per_thread_cap:
            argv += ["--", str(per_thread_cap)]
        if record:
            COMMANDS.append(shown(argv, {"BENCH_API_KEY": "<key of app bench>"}))
        pids = {"gateway": gateway.workers()}
        if mock is not None:
            pids["mock"] = mock.workers()
        window = CpuWindow(pids)
        stdout, wrk_cpu = run_bounded(
            argv, timeout=seconds + 60, env={"BENCH_API_KEY": self.api_key}
        )
        cpu = window.close(wrk=wrk_cpu)
        line = next(x for x in stdout.splitlines() if x.startswith("BENCH_JSON "))
        raw = json.loads(line.removeprefix("BENCH_JSON "))
        duration = raw["duration_us"] / 1e6
        n = max(raw["requests"], 1)
        errors = (
            raw["non200"]
            + raw["errors_connect"]
            + raw["errors_read"]
            + raw["errors_write"]
            + raw["errors_timeout"]
        )
        result = {
            "tool": "wrk",
            "concurrency": connections,
            "requests": raw["requests"],
            "errors": errors,
            "raw": raw,
            "seconds": duration,
            "rps": raw["requests"] / duration if duration else 0.0,
            "p50_ms": raw["p50_us"] / 1000,
            "p90_ms": raw["p90_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000,
            **cpu,
            "gateway_cpu_ms_per_request": 1000 * cpu["gateway_cpu_s"] / n,
            "gateway_worker_cpu_share": cpu["gateway_cpu_s"] / cpu["wall_s"],
        }
        if mock is not None:
            result["mock_cpu_ms_per_request"] = 1000 * cpu["mock_cpu_s"] / n
        return result

    def direct(
        self, mock: Server, *, concurrency: int, seconds: float, requests: int = 1_000_000
    ) -> dict[str, Any]:
        argv = [
            PYTHON,
            str(BENCH / "direct.py"),
            "--pki",
            str(self.pki.directory),
            "--url",
            f"https://{LOOPBACK}:{mock.port}/lps",
            "-c",
            str(concurrency),
            "--seconds",
            str(seconds),
            "--requests",
            str(requests),
        ]
        COMMANDS.append(shown(argv))
        window = CpuWindow({"mock": mock.workers()})
        stdout, client_cpu = run_bounded(argv, timeout=seconds + 120)
        cpu = window.close(client=client_cpu)
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        n = max(result["requests"], 1)
        result.update(cpu)
        result["tool"] = "bench/direct.py"
        result["mock_cpu_ms_per_request"] = 1000 * cpu["mock_cpu_s"] / n
        # includes its start-up (imports, WSDL, key) and warm-up calls: an upper bound
        result["client_cpu_ms_per_request_upper"] = 1000 * client_cpu / n
        return result

    def verify_journal(self) -> None:
        """The audit chain must be intact after every run, what-if patches included."""
        argv = [CLI, "audit", "verify"]
        COMMANDS.append(shown(argv, {"DATABASE_URL": self.db_url, "GATEWAY_AUDIT_KEY": "…"}))
        out = subprocess.run(
            argv,
            env={**os.environ, **self.gateway_env(1)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=ROOT,
        )
        self.results["audit_verify"] = {
            "exit": out.returncode,
            "output": (out.stdout + out.stderr).strip()[-600:],
        }
        log(f"audit verify: exit {out.returncode}")

    # ---- scenarios -----------------------------------------------------------------------

    def signing(self) -> None:
        log("scenario 1: signing")
        out = self.run_dir / "signing.json"
        argv = [
            PYTHON,
            str(BENCH / "signing.py"),
            "--pki",
            str(self.pki.directory),
            "--seconds",
            str(self.args.signing_seconds),
            "--json",
            str(out),
        ]
        COMMANDS.append(shown(argv))
        window = CpuWindow({})
        _, cpu = run_bounded(argv, timeout=300)
        self.results["signing"] = json.loads(out.read_text())
        self.results["signing"]["machine"] = window.close(signing=cpu)

    def zero_latency(self) -> None:
        log("scenario 2: mock at 0 ms, gateway vs direct")
        a = self.args
        mock = self.start_mock(0, a.mock0_workers, a.mock0_threads)
        gateway = self.start_gateway(mock, "gateway-s2")
        self.results["s2_setup"] = {
            "mock": {"latency_ms": 0, "workers": a.mock0_workers, "threads": a.mock0_threads},
            "gateway": {"workers": 1, "threads": 64},
        }
        self.wrk(gateway, connections=a.concurrency, seconds=5, record=False)  # warm-up
        runs: dict[str, Any] = {}
        for conc in (1, a.concurrency):
            mark = gateway_log_mark(gateway)
            g = self.wrk(gateway, connections=conc, seconds=a.seconds, mock=mock)
            g["log"] = gateway_log_breakdown(gateway, mark)
            d = self.direct(mock, concurrency=conc, seconds=a.seconds)
            runs[str(conc)] = {"gateway": g, "direct": d}
            log(
                f"c={conc}: gateway {g['rps']:.0f} req/s p50 {g['p50_ms']:.2f} ms; "
                f"direct {d['rps']:.0f} req/s p50 {d['p50_ms']:.2f} ms"
            )
        self.results["s2"] = runs
        if not a.no_profile:
            self.results["profile_0ms"] = self.profile(
                gateway, connections=a.concurrency, seconds=a.profile_seconds, tag="0ms"
            )
        self.stop(gateway)
        for patches in filter(None, a.whatif_s2.split(";")):
            gateway = self.start_gateway(mock, "gateway-s2-whatif", patches=patches)
            self.wrk(gateway, connections=a.concurrency, seconds=5, record=False)
            runs_w: dict[str, Any] = {}
            for conc in (1, a.concurrency):
                runs_w[str(conc)] = self.wrk(
                    gateway, connections=conc, seconds=a.whatif_seconds, mock=mock
                )
                log(
                    f"what-if {patches} c={conc}: {runs_w[str(conc)]['rps']:.0f} req/s "
                    f"p50 {runs_w[str(conc)]['p50_ms']:.2f} ms"
                )
            self.results.setdefault("s2_whatif", {})[patches] = runs_w
            self.stop(gateway)
        self.mock0 = mock

    def memory(self) -> None:
        log("scenario 4: memory")
        a = self.args
        mock = self.mock0
        gateway = self.start_gateway(mock, "gateway-s4")
        worker = gateway.workers()[0]
        samples: list[dict[str, Any]] = [
            {"requests": 0, "rss_kib": rss_kib(worker), "elapsed_s": 0.0}
        ]
        done, started = 0, time.monotonic()
        truncated = False
        rate = 1000.0  # optimistic: the first step (~10 s) is time-bounded and measures it
        errors = 0
        milestone = a.mem_chunk
        # wrk only stops at -d (a thread that reaches its cap idles until then): a step gets
        # 97% of the time its cap needs at the measured rate, and a short top-up step
        # (capped) completes it before the sample is taken.
        while done < a.mem_requests:
            left = a.mem_timeout - (time.monotonic() - started)
            if left < 3:
                truncated = True
                break
            want = milestone - done
            seconds = min(left, max(2.0, want / rate * 0.97))
            run = self.wrk(
                gateway,
                connections=a.concurrency,
                seconds=seconds,
                threads=1,
                per_thread_cap=want,
                record=done == 0,
            )
            done += run["requests"]
            errors += run["errors"]
            if run["requests"] < want:  # time-bounded: a true rate
                rate = max(run["requests"] / max(run["seconds"], 0.1), 1.0)
            if done >= milestone:
                samples.append(
                    {
                        "requests": done,
                        "rss_kib": rss_kib(worker),
                        "elapsed_s": round(time.monotonic() - started, 1),
                        "rps": round(rate, 1),
                        "errors": errors,
                    }
                )
                log(f"memory: {done} requests, VmRSS {samples[-1]['rss_kib']} KiB")
                milestone = min(a.mem_requests, done + a.mem_chunk)
                if done >= a.mem_requests:
                    break
        if done < a.mem_requests:
            truncated = True
            samples.append(
                {
                    "requests": done,
                    "rss_kib": rss_kib(worker),
                    "elapsed_s": round(time.monotonic() - started, 1),
                    "rps": round(rate, 1),
                    "errors": errors,
                }
            )
        self.results["s4"] = {
            "samples": samples,
            "truncated": truncated,
            "target_requests": a.mem_requests,
            "chunk": a.mem_chunk,
            "concurrency": a.concurrency,
            "time_bound_s": a.mem_timeout,
            "worker_pid": worker,
            "log": gateway_log_breakdown(gateway, 0),
        }
        self.stop(gateway)
        self.stop(mock)

    def slow_upstream(self) -> None:
        log(f"scenario 3: mock at {self.args.latency_ms} ms")
        a = self.args
        mock = self.start_mock(a.latency_ms, a.mock_workers, a.mock_threads)
        extra = {"INSI_MAX_CONCURRENT": str(a.max_concurrent)}
        self.results["s3_setup"] = {
            "mock": {
                "latency_ms": a.latency_ms,
                "workers": a.mock_workers,
                "threads": a.mock_threads,
            },
            "gateway": {"workers": 1, "threads": a.gateway_threads, **extra},
            "connections": a.slow_connections,
        }
        for patches in ["", *filter(None, a.whatif_s3.split(";"))]:
            name = "gateway-s3" + ("-whatif" if patches else "")
            gateway = self.start_gateway(
                mock, name, threads=a.gateway_threads, patches=patches, **extra
            )
            self.wrk(
                gateway, connections=a.slow_connections, seconds=5, threads=2, record=False
            )  # warm-up: the upstream TLS pool fills
            mark = gateway_log_mark(gateway)
            seconds = a.seconds if not patches else a.whatif_seconds
            run = self.wrk(
                gateway,
                connections=a.slow_connections,
                seconds=seconds,
                threads=2,
                mock=mock,
                record=not patches,
            )
            run["log"] = gateway_log_breakdown(gateway, mark)
            log(
                f"{a.latency_ms} ms {patches or 'as is'}: {run['rps']:.0f} req/s "
                f"p99 {run['p99_ms']:.1f} ms errors {run['errors']}"
            )
            if not patches:
                self.results["s3"] = run
                if not a.no_profile:
                    self.results["profile_slow"] = self.profile(
                        gateway,
                        connections=a.slow_connections,
                        seconds=a.profile_seconds,
                        tag="slow",
                        wrk_threads=2,
                    )
            else:
                self.results.setdefault("s3_whatif", {})[patches] = run
            self.stop(gateway)
        self.stop(mock)

    # ---- profiling -----------------------------------------------------------------------

    def profile(
        self, gateway: Server, *, connections: int, seconds: int, tag: str, wrk_threads: int = 1
    ) -> dict[str, Any]:
        pyspy = VENV_BIN / "py-spy"
        if not pyspy.exists():
            return {"skipped": "py-spy not installed"}
        worker = gateway.workers()[0]
        raw = self.run_dir / f"profile-{tag}.txt"
        argv = [
            str(pyspy),
            "record",
            "-p",
            str(worker),
            "-d",
            str(seconds),
            "-r",
            "200",
            "--gil",
            "--nonblocking",
            "-f",
            "raw",
            "-o",
            str(raw),
        ]
        COMMANDS.append(shown([*argv[:4], "<gateway worker pid>", *argv[5:]]))
        spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load = self.wrk(
            gateway, connections=connections, seconds=seconds + 2, threads=wrk_threads, record=False
        )
        try:
            spy.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()
        if not raw.exists():
            return {"skipped": "py-spy produced nothing (ptrace not permitted?)"}
        summary = summarise_profile(raw)
        summary["load"] = {k: load[k] for k in ("rps", "p50_ms", "gateway_cpu_ms_per_request")}
        summary["file"] = str(raw.relative_to(ROOT))
        return summary


# ---- profile summary ---------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]+?)(?::\d+)?\)$")

# Buckets of a stack's time. Pass 1: the innermost frame (from the leaf up) that matches
# one of SPECIFIC; else pass 2: the innermost frame matching one of GENERIC.
# A needle is "path-substring" or "path-substring:function" (last dotted part of the name).
SPECIFIC: list[tuple[str, tuple[str, ...]]] = [
    ("audit journal append (SQLite write + fsync)", ("gateway/storage/audit.py",)),
    ("API key lookup (SQLite read)", ("gateway/storage/apps.py",)),
    ("VIHF signing (signxml + RSA)", ("gateway/protocol/signing.py",)),
    ("VIHF assertion build", ("gateway/protocol/vihf.py",)),
    ("SOAP context headers build", ("gateway/protocol/headers.py",)),
    ("zeep envelope (create_message + tostring)", ("gateway/transport/client.py:envelope",)),
    ("upstream HTTPS call (requests/urllib3/ssl)", ("gateway/transport/transports.py",)),
    (
        "response parsing",
        (
            "gateway/transport/client.py:parse",
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
    ("answer JSON", ("gateway/interfaces/answers.py", "gateway/interfaces/fhir.py")),
    ("input validation", ("gateway/ins/queries.py", "gateway/ins/traits.py")),
    ("quotas", ("gateway/quotas.py",)),
]
GENERIC: list[tuple[str, tuple[str, ...]]] = [
    (
        "gateway glue (json_api, service, resilience, ...)",
        (
            "gateway/interfaces/json_api.py",
            "gateway/service.py",
            "gateway/transport/resilience.py",
            "gateway/access.py",
            "gateway/trail.py",
            "gateway/ins/strategy.py",
        ),
    ),
    ("Flask/werkzeug", ("flask/", "werkzeug/")),
    ("gunicorn HTTP parsing and IO", ("gunicorn/",)),
]


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


def summarise_profile(path: Path) -> dict[str, Any]:
    """Share of samples per bucket, and per function (inclusive) for gateway/ and key libs."""
    buckets: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
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
        seen = set()
        for frame in frames:
            key = re.sub(r":\d+\)$", ")", frame)
            if key not in seen:
                seen.add(key)
                inclusive[key] += count
        if frames:
            leaves[re.sub(r":\d+\)$", ")", frames[-1])] += count
    if not total:
        return {"samples": 0}

    def pct(counter: collections.Counter[str], n: int, keep: Any = None) -> list[list[Any]]:
        rows = []
        for key, value in counter.most_common():
            if keep is None or keep(key):
                rows.append([key, round(100 * value / total, 1)])
            if len(rows) >= n:
                break
        return rows

    def interesting(key: str) -> bool:
        return (
            "gateway/" in key
            or "signxml" in key
            or "zeep" in key
            or "sqlalchemy" in key
            or "sqlite" in key
            or "ssl" in key
            or "lxml" in key
        ) and "gunicorn" not in key

    return {
        "samples": total,
        "buckets": pct(buckets, 20),
        "inclusive": pct(inclusive, 30, interesting),
        "leaves": pct(leaves, 15),
    }


# ---- machine and report ------------------------------------------------------------------


def code_state() -> dict[str, Any]:
    """Commit, uncommitted gateway files, newest gateway mtime (the working tree is shared)."""

    def git(*argv: str) -> str:
        out = subprocess.run(
            [shutil.which("git") or "/usr/bin/git", *argv],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=ROOT,
        )
        return out.stdout.strip()

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "gateway").splitlines()]
    newest = max((p.stat().st_mtime for p in (ROOT / "gateway").rglob("*.py")), default=0.0)
    return {
        "head": git("log", "-1", "--format=%h %ci %s"),
        "dirty_gateway_files": dirty,
        "newest_gateway_mtime": datetime.fromtimestamp(newest, UTC).isoformat(timespec="seconds"),
    }


def machine() -> dict[str, str]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break

    def cmd(*argv: str) -> str:
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=10, check=False
            ).stdout.rstrip()
        except OSError:
            return "?"

    wrk_version = cmd("wrk", "-v").splitlines()[0] if shutil.which("wrk") else "absent"
    return {
        "nproc": cmd("nproc"),
        "free -h": cmd("free", "-h"),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": wrk_version,
    }


def render_only(args: argparse.Namespace) -> int:
    from report import write_report  # bench/report.py

    path = Path(args.render_only)
    results = json.loads(path.read_text())
    if args.memory_from:
        other = json.loads(Path(args.memory_from).read_text())
        if "s4" in results:
            results["s4_main"] = results["s4"]
        results["s4"] = other["s4"]
        results["s4"]["from_run"] = str(Path(args.memory_from))
        results["s4"]["from_commands"] = [c for c in other["commands"] if "wrk" in c][:1]
        results["s4"]["from_started"] = other["started"]
        results["s4"]["from_others_note"] = other.get("background_busy_cores")
    if args.note:
        results["note"] = args.note
    results["rendered_by"] = [
        "bench/run",
        *(
            [
                f"bench/run --only 4 --mem-timeout {results['s4']['time_bound_s']} "
                "--out var/bench/memory-long.md"
            ]
            if args.memory_from
            else []
        ),
        shown(
            [
                ".venv/bin/python",
                "bench/bench.py",
                "--render-only",
                str(path),
                *(["--memory-from", args.memory_from] if args.memory_from else []),
                *(["--note", "<the paragraph under Machine>"] if args.note else []),
            ]
        ),
    ]
    write_report(results, ROOT / args.out, raw_path=path)
    log(f"report: {args.out} (from {path})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", default="var/bench", help="PKI, logs, profiles (git-ignored)")
    parser.add_argument("--out", default="docs/benchmarks.md")
    parser.add_argument("--json", default=None, help="also write raw results (default: run dir)")
    parser.add_argument("--seconds", type=int, default=20, help="each measured load run")
    parser.add_argument("--signing-seconds", type=float, default=4)
    parser.add_argument("--concurrency", type=int, default=16, help="scenario 2 and 4")
    parser.add_argument("--mock0-workers", type=int, default=2)
    parser.add_argument("--mock0-threads", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--mock-workers", type=int, default=2)
    parser.add_argument("--mock-threads", type=int, default=128)
    parser.add_argument("--gateway-threads", type=int, default=128)
    parser.add_argument("--max-concurrent", type=int, default=128, help="INSI_MAX_CONCURRENT (s3)")
    parser.add_argument("--slow-connections", type=int, default=100)
    parser.add_argument("--mem-requests", type=int, default=100_000)
    parser.add_argument("--mem-chunk", type=int, default=10_000)
    parser.add_argument("--mem-timeout", type=int, default=420, help="seconds, scenario 4 bound")
    parser.add_argument("--profile-seconds", type=int, default=15)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--whatif-seconds", type=int, default=15)
    parser.add_argument(
        "--whatif-s2",
        default="audit-batch,app-cache,template-signer",
        help="patch sets (bench/whatif.py) run in scenario 2, ';'-separated",
    )
    parser.add_argument(
        "--whatif-s3",
        default="workers=2;audit-batch,app-cache,template-signer;"
        "audit-batch,app-cache,template-signer,workers=2",
        help="patch sets run in scenario 3, ';'-separated ('' for none)",
    )
    parser.add_argument("--only", default="1,2,3,4", help="scenarios to run, e.g. 1,3")
    parser.add_argument(
        "--render-only",
        metavar="RESULTS_JSON",
        help="run nothing: rewrite --out from the results.json of an earlier run",
    )
    parser.add_argument(
        "--memory-from",
        metavar="RESULTS_JSON",
        help="with --render-only: take scenario 4 from this other run (e.g. a longer one)",
    )
    parser.add_argument("--note", help="with --render-only: a paragraph added under Machine")
    args = parser.parse_args(argv)
    if args.render_only:
        return render_only(args)
    only = {s.strip() for s in args.only.split(",")}

    bench = Bench(args)
    bench.results["machine"] = machine()
    idle = CpuWindow({})
    time.sleep(3)
    bench.results["background_busy_cores"] = round(idle.close()["machine_busy_cores"], 2)
    bench.results["loadavg_start"] = Path("/proc/loadavg").read_text().split()[:3]
    bench.results["code_start"] = code_state()
    bench.results["args"] = vars(args)
    began = time.monotonic()
    try:
        if "1" in only:
            bench.signing()
        if only & {"2", "3", "4"}:
            bench.register_app()
        if "2" in only or "4" in only:
            if "2" in only:
                bench.zero_latency()
            else:
                bench.mock0 = bench.start_mock(0, args.mock0_workers, args.mock0_threads)
            if "4" in only:
                bench.memory()
            else:
                bench.stop(bench.mock0)
        if "3" in only:
            bench.slow_upstream()
        if only & {"2", "3", "4"}:
            bench.verify_journal()
    finally:
        bench.stop_all()
        bench.results["wall_seconds"] = round(time.monotonic() - began, 1)
        bench.results["code_end"] = code_state()
        bench.results["commands"] = COMMANDS
        raw = Path(args.json) if args.json else bench.run_dir / "results.json"
        raw.write_text(json.dumps(bench.results, indent=2, default=str))
        log(f"raw results: {raw}")
    from report import write_report  # bench/report.py

    write_report(
        bench.results,
        ROOT / args.out,
        raw_path=raw.relative_to(ROOT) if raw.is_relative_to(ROOT) else raw,
    )
    log(f"report: {args.out} ({bench.results['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
