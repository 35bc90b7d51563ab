"""docs/production.md, run: every command block and every file of the page, in order.

The page's ``sh`` blocks and its ``ini PATH`` files (the configuration file,
the systemd unit) become one bash script, run against a real gateway (started
from the unit file's own ``ExecStart``) and the mock teleservice, all on
127.0.0.1. What stands in for a hospital's production, and only that, is
replaced in the page's text before it runs:

- the paths (``/etc/insi-gateway``, ``/run/insi-gateway``,
  ``/var/backups/insi-gateway``, ``/opt/insi-gateway/bin``) by temporary
  directories and this virtualenv;
- the ports 8080 and 9100 by free ones;
- the values written ``LIKE-THIS`` (passphrases, IDAM, Redis password) by the
  dev PKI's passphrase, the mock's IDAM and the local Redis;
- ``insi_gateway@db.internal:5432/insi_gateway`` by a fresh database of the
  local PostgreSQL (dropped after);
- the IGC-Santé files the hospital receives by the dev PKI's, copied into the
  working directory under the page's names;
- ``systemctl`` by a stand-in (:data:`SYSTEMCTL`) that reads the unit file:
  ``Environment=``, ``ExecStart=`` (run as the current user), ``PIDFile=``,
  and ``reload`` sends SIGHUP to that pid as ``ExecReload`` says.

The one setting the page does not give is ``INSI_UPSTREAM_URL`` (the mock,
since the qualification endpoint is not reachable from here): it comes from the
environment, which wins over the file, as the page's ``INSI_ENV`` would not.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from gateway.pki.devpki import DevPki
from testbed.waiting import WaitTimeout, wait_until
from tests.integration.conftest import IDAM, MockServer
from tests.integration.servers import free_port
from tests.paths import ROOT
from tests.support.postgres import POSTGRES_URL

pytestmark = pytest.mark.integration

PAGE = ROOT / "docs" / "production.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
REDIS_URL = "redis://127.0.0.1:6379/0"
SYSTEMCTL = r"""#!/bin/bash
# Stand-in for systemd (tests/integration/test_production_page.py): runs the unit file.
set -euo pipefail
unit="$UNIT_DIR/insi-gateway.service"
value() { sed -n "s/^$1=//p" "$unit"; }
case "$*" in
  daemon-reload) test -f "$unit" ;;
  "enable --now insi-gateway")
    mkdir -p "$(dirname "$(value PIDFile)")"
    while IFS= read -r assignment; do export "${assignment?}"; done < <(value Environment)
    read -r -a argv <<<"$(value ExecStart)"
    nohup "${argv[@]}" >"$SERVICE_LOG" 2>&1 </dev/null &
    ;;
  "reload insi-gateway")
    test "$(value ExecReload)" = '/bin/kill -HUP $MAINPID'
    kill -HUP "$(cat "$(value PIDFile)")"
    ;;
  *) echo "systemctl stand-in: not supported: $*" >&2; exit 2 ;;
esac
"""


def page_script(page: str, substitutions: dict[str, str]) -> str:
    """The page as one bash script: ``sh`` blocks as they are, ``ini PATH`` files written."""
    for old, new in substitutions.items():
        page = page.replace(old, new)
    parts = ["set -euo pipefail"]
    for info, body in FENCE.findall(page):
        language, _, path = info.partition(" ")
        if language == "sh":
            parts.append(body)
        else:
            assert language == "ini", f"a block the test does not run: {info!r}"
            assert path, f"an ini block names the file it is: {info!r}"
            written = f"cat > {path} <<'PAGE-FILE'\n{body}PAGE-FILE"
            parts.append(f"mkdir -p {Path(path).parent}\n{written}")
    return "\n".join(parts) + "\n"


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own on the local PostgreSQL (the page dumps a whole database)."""
    name = f"production_page_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"test-production-page-{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


def _received_files(dev_pki: DevPki, work: Path) -> None:
    """What the hospital receives (step 1), under the page's names: the dev PKI's files."""
    work.mkdir()
    for name, source in {
        "insi-manu.p12": dev_pki.insi_manu.p12,
        "insi-auto.p12": dev_pki.insi_auto.p12,
        "insi-manu-new.p12": dev_pki.insi_manu.p12,
        "igc-sante-ca.pem": dev_pki.ca_bundle,
        "insi-server-ca.pem": dev_pki.ca_bundle,
    }.items():
        shutil.copyfile(source, work / name)


def _stop(pid_file: Path) -> None:
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 60, "the gateway exited",
                   interval=0.2)  # fmt: skip
    except WaitTimeout:
        os.kill(pid, signal.SIGKILL)  # not left behind, and the test says it hung
        raise


def test_every_command_of_production_md_runs(
    dev_pki: DevPki, mock_server: MockServer, database: str, redis_prefix: str, tmp_path: Path
) -> None:
    api, ops = free_port(), free_port()
    etc, run, backups = tmp_path / "etc", tmp_path / "run", tmp_path / "backups"
    units, shims, work = tmp_path / "systemd", tmp_path / "bin", tmp_path / "work"
    _received_files(dev_pki, work)
    shims.mkdir()
    (shims / "systemctl").write_text(SYSTEMCTL)
    (shims / "systemctl").chmod(0o755)
    page = PAGE.read_text()
    script = page_script(
        page,
        {
            "/etc/insi-gateway": str(etc),
            "/etc/systemd/system": str(units),
            "/run/insi-gateway": str(run),
            "/var/backups/insi-gateway": str(backups),
            "/opt/insi-gateway/bin/insi-gateway": str(Path(sys.executable).parent / "insi-gateway"),
            "127.0.0.1:8080": f"127.0.0.1:{api}",
            "127.0.0.1:9100": f"127.0.0.1:{ops}",
            "MANU-PASSPHRASE": dev_pki.passphrase,
            "AUTO-PASSPHRASE": dev_pki.passphrase,
            "IDAM-GIVEN-BY-THE-CNAM": IDAM,
            "insi_gateway@db.internal:5432/insi_gateway": f"postgres@127.0.0.1:5432/{database}",
            "redis://:REDIS-PASSWORD@redis.internal:6379/0": REDIS_URL,
            "insi-gateway-site-1:": redis_prefix,
        },
    )
    env = {
        "PATH": f"{shims}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "UNIT_DIR": str(units),
        "SERVICE_LOG": str(tmp_path / "service.log"),
        "INSI_UPSTREAM_URL": mock_server.url,
        "GATEWAY_DRAIN_SECONDS": "0",
    }
    try:
        ran = subprocess.run(
            ["/bin/bash", "-c", script],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        _stop(run / "serve.pid")
    log = (tmp_path / "service.log").read_text() if (tmp_path / "service.log").exists() else ""

    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}\n--- service log\n{log[-4000:]}"
    assert script.count("\n") > 60  # the whole page, not an empty parse
    config = etc / "gateway.env"
    assert config.stat().st_mode & 0o777 == 0o600
    assert re.search(r"^GATEWAY_AUDIT_KEY=[A-Za-z0-9_-]{43}$", config.read_text(), re.MULTILINE)
    assert ran.stdout.count("INSI-MANU") >= 1  # check-cert's report
    assert "400\n" in ran.stdout  # the first application's key was accepted
    assert '"name": "admissions"' in ran.stdout  # apps list (apps add wrote to its file)
    assert '"ok": true' in ran.stdout  # audit verify --expect the anchor
    assert (backups / "gateway.dump").stat().st_size > 0
    assert "Handling signal: hup" in log  # systemctl reload reached the arbiter
    assert "configuration OK" in ran.stderr

