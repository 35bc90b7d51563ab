"""The shipped nginx configuration (deploy/nginx/insi-gateway.conf), run for real on loopback.

nginx runs in the foreground (``daemon off``) with its own prefix, pid file and
temporary folders under the test's directory, so parallel runs never share
anything. The shipped file is used as is, except the deployment lines its header
names (upstream servers, listen port, certificate paths, log destinations): each
must be found exactly once, so a change of the shipped file that the test would
no longer exercise fails loudly instead of silently testing something else.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.integration.servers import LOOPBACK, ServerProcess, free_port, launch, port_open
from tests.paths import ROOT

SHIPPED = ROOT / "deploy" / "nginx" / "insi-gateway.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
UPSTREAM_LINES = (
    "    server gateway-1:8080 max_fails=1 fail_timeout=5s;\n",
    "    server gateway-2:8080 max_fails=1 fail_timeout=5s;\n",
)


def render(*, upstreams: Sequence[int], port: int, cert: Path, key: Path, access_log: Path) -> str:
    """The shipped file with this test's ports, certificate and log file."""
    text = SHIPPED.read_text()
    servers = "".join(
        f"    server {LOOPBACK}:{upstream} max_fails=1 fail_timeout=5s;\n" for upstream in upstreams
    )
    replacements = {
        "".join(UPSTREAM_LINES): servers,
        "    listen 8443 ssl;\n": f"    listen {LOOPBACK}:{port} ssl;\n",
        "/etc/nginx/tls/server.pem;": f"{cert};",
        "/etc/nginx/tls/server.key;": f"{key};",
        "access_log /dev/stdout insi_gateway_json;": f"access_log {access_log} insi_gateway_json;",
    }
    for old, new in replacements.items():
        count = text.count(old)
        assert count == 1, f"{SHIPPED.name}: expected {old!r} once, found it {count} times"
        text = text.replace(old, new)
    return text


def main_config(prefix: Path, http_include: Path) -> str:
    """A minimal nginx.conf around the shipped http-context file."""
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    user = "user root root;\n" if os.geteuid() == 0 else ""  # temp folders are ours
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log stderr warn;\n"
        "events { worker_connections 2048; }\n"
        "http {\n"
        f"  client_body_temp_path {temp['body']};\n  proxy_temp_path {temp['proxy']};\n"
        f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
        f"  scgi_temp_path {temp['scgi']};\n"
        "  default_type application/octet-stream;\n"
        f"  include {http_include};\n"
        "}\n"
    )


@dataclass
class Nginx:
    port: int
    access_log: Path
    process: ServerProcess

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.port}"

    def access_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


def start_nginx(
    directory: Path, *, upstreams: Sequence[int], cert: Path, key: Path, name: str = "nginx"
) -> Nginx:
    """nginx in front of ``upstreams`` (loopback ports), TLS with ``cert``/``key``."""
    prefix = directory / name
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    access_log = prefix / "access.log"
    site = prefix / "insi-gateway.conf"
    site.write_text(
        render(upstreams=upstreams, port=port, cert=cert, key=key, access_log=access_log)
    )
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(prefix, site))
    argv = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", "stderr"]
    process = launch(name, argv, {}, directory, ready=lambda: port_open(port), timeout=30)
    return Nginx(port, access_log, process)
