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
from collections.abc import Callable
from typing import Any

from gateway import logs
from gateway.exceptions import ConfigurationError
from gateway.settings import Settings

log = logging.getLogger("gateway.startup")


class ReloadableSettings:
    """The settings the next workers start with; ``reload`` is gunicorn's ``on_reload``."""

    def __init__(self, read: Callable[[], Settings], first: Settings) -> None:
        self._read = read
        self._settings = first
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
