"""Settings read again on SIGHUP: a renewed certificate comes with its new passphrase.

``serve`` reads the settings once in the master, before the first fork, and
the workers start with them. On SIGHUP gunicorn starts new workers; its
``on_reload`` hook runs in the master first, and :class:`ReloadableSettings`
reads the configuration file again there (the environment still wins over it),
so the new workers load the renewed certificate with the passphrase the file
now holds. A reload whose settings are unusable keeps the previous ones and
logs which setting is wrong (never its value): the running gateway stays up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gateway import logs
from gateway.config import ConfigReader
from gateway.exceptions import ConfigurationError
from gateway.server.app import load_credentials
from gateway.settings import Settings

log = logging.getLogger("gateway.startup")


def read_settings(environment: Mapping[str, str], source: str, metrics_dir: Path) -> Settings:
    """The environment over the configuration file as it is now; a certificate its
    passphrase cannot open is refused here, in the master, not by a worker at boot."""
    config = ConfigReader.layered(environment, source)
    settings = Settings.from_config(config.overriding("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir)))
    load_credentials(settings)
    return settings


class ReloadableSettings:
    """The settings the next workers start with; ``reload`` is gunicorn's ``on_reload``."""

    def __init__(self, read: Callable[[], Settings]) -> None:
        self._read = read
        self._settings = read()  # at start a bad value stops the master
        self._lock = threading.Lock()

    def current(self) -> Settings:
        with self._lock:
            return self._settings

    def reload(self, server: Any = None) -> None:
        """Read the configuration again (in the master, before new workers are forked)."""
        try:
            fresh = self._read()
        except ConfigurationError as error:
            logs.event(
                log,
                "configuration not reloaded: the previous settings stay",
                level=logging.ERROR,
                setting=error.setting,
            )
            return
        with self._lock:
            self._settings = fresh
        logs.event(log, "configuration reloaded for the new workers")
