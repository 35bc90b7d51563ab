"""``insi-gateway jobs submit FILE``: send a file as a job, follow it, save its results.

For the overnight run from a scheduler or by hand: the file goes to
``POST /v1/jobs`` as is (CSV or JSON lines, by its extension), a progress bar
on stderr follows the job, and the results are written to the output file
(through a temporary file renamed at the end: a half-written results file
never exists). Only counts are printed: the results file is the one place with
identity data. Interrupting the client does not cancel the job.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import requests

CONTENT_TYPES = {".csv": "text/csv", ".jsonl": "application/x-ndjson"}
CONTENT_TYPES[".ndjson"] = CONTENT_TYPES[".jsonl"]
BAR_WIDTH = 30


class _Failed(Exception):
    """The gateway refused something or could not be reached: the message says what."""


class _Session(requests.Session):
    """Our key on every request, and our CA bundle (``REQUESTS_CA_BUNDLE`` must not win)."""

    def __init__(self, api_key: str, ca_bundle: Path | None) -> None:
        super().__init__()
        self.headers["Authorization"] = f"Bearer {api_key}"
        self._ca = str(ca_bundle) if ca_bundle else True

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", self._ca)
        return super().request(*args, **kwargs)


def submit(
    path: Path,
    *,
    base_url: str,
    api_key: str,
    ca_bundle: Path | None,
    output: Path,
    poll_seconds: float = 2.0,
    stream: TextIO | None = None,
) -> int:
    """Submit ``path`` as a job, wait for its end, write its results to ``output``.

    Returns the exit status: 0 when the job is done, 1 when it was cancelled
    or something failed, 2 for a file the gateway cannot take, 130 when
    interrupted (the job goes on). Results are CSV when ``output`` ends in
    ``.csv``, JSON lines otherwise.
    """
    err = stream or sys.stderr
    content_type = CONTENT_TYPES.get(path.suffix.lower())
    if content_type is None:
        print(f"insi-gateway: {path.name}: expected a .csv or .jsonl file", file=err)
        return 2
    session = _Session(api_key, ca_bundle)
    base = base_url.rstrip("/")
    status_url = ""
    try:
        headers = {"Content-Type": content_type}
        body = path.read_bytes()
        job = _ok(session.post(f"{base}/v1/jobs", data=body, headers=headers, timeout=300), 202)
        status_url = base + job.headers["Location"]
        print(f"job {job.json()['job_id']}: {job.json()['total']} rows", file=err)
        status = _follow(session, status_url, poll_seconds, err)
        _save(session, f"{status_url}/results", output)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the job goes on, see {status_url or base}", file=err)
        return 130
    except (_Failed, requests.RequestException, OSError) as error:
        print(f"\ninsi-gateway: {error}", file=err)
        return 1
    counts = ", ".join(f"{verdict} {count}" for verdict, count in sorted(status["counts"].items()))
    print(f"job {status['state']}: {counts}; results in {output}", file=err)
    return 0 if status["state"] == "done" else 1


def _ok(response: requests.Response, expected: int = 200) -> requests.Response:
    if response.status_code == expected:
        return response
    try:
        detail = response.json().get("detail", "")
    except ValueError:
        detail = ""
    raise _Failed(f"gateway answered {response.status_code} {detail}".rstrip())


def _follow(session: requests.Session, url: str, poll: float, err: TextIO) -> dict[str, Any]:
    """Poll the job until it ends, drawing its progress (a bar on a terminal, lines otherwise)."""
    shown = -1
    while True:
        status: dict[str, Any] = _ok(session.get(url, timeout=30)).json()
        percent = int(status["progress"] * 100)
        if err.isatty():
            filled = BAR_WIDTH * status["done"] // max(status["total"], 1)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            print(f"\r[{bar}] {percent:3d}%  {status['done']}/{status['total']}", end="", file=err)
        elif percent // 10 != shown // 10:
            print(f"{percent}% ({status['done']}/{status['total']} rows)", file=err)
        shown = percent
        if status["state"] in ("done", "cancelled"):
            if err.isatty():
                print(file=err)
            return status
        time.sleep(poll)


def _save(session: requests.Session, url: str, output: Path) -> None:
    """Stream the results into ``output`` through a temporary file renamed at the end.

    The results are identity data: the file is created 0600 (whatever the umask),
    before a single byte is written, and a leftover partial file is replaced.
    """
    accept = "text/csv" if output.suffix.lower() == ".csv" else "application/x-ndjson"
    partial = output.with_name(f".{output.name}.partial")
    partial.unlink(missing_ok=True)  # O_CREAT would keep an older file's mode
    response = _ok(session.get(url, headers={"Accept": accept}, stream=True, timeout=300))
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with response, os.fdopen(descriptor, "wb") as file:
        for chunk in response.iter_content(chunk_size=64 * 1024):
            file.write(chunk)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(output)
