"""The configuration file: ``NAME=value`` lines under the environment, never into it.

The file is parsed into a mapping that :meth:`ConfigReader.layered` puts
under the environment's values (the environment wins, docs/configuration.md);
``os.environ`` is never written, so what a process was given stays what it
was given and the merge happens in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gateway.exceptions import ConfigurationError

DEFAULT_CONFIG_FILE = Path("var") / "gateway.env"  # what scripts/demo writes


def config_file(path: str) -> dict[str, str]:
    """``NAME=value`` lines of an optional configuration file (``#`` comments, blank lines)."""
    if not path:
        return {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        raise ConfigurationError("GATEWAY_CONFIG_FILE", f"cannot read {path}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, equals, value = text.partition("=")
        if not equals or not name.strip().isidentifier():
            raise ConfigurationError("GATEWAY_CONFIG_FILE", f"line {number} is not NAME=value")
        values[name.strip()] = value.strip().strip('"').strip("'")
    return values


def config_file_path(env: Mapping[str, str], cwd: Path) -> str:
    """The configuration file the CLI reads: ``GATEWAY_CONFIG_FILE`` when set (set and
    empty: none), else ``var/gateway.env`` of the working directory when it exists."""
    if "GATEWAY_CONFIG_FILE" in env:
        return env["GATEWAY_CONFIG_FILE"].strip()
    default = cwd / DEFAULT_CONFIG_FILE
    return str(default) if default.is_file() else ""
