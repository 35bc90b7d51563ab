"""Typed getters over one mapping of settings, shared by the gateway, the mock and the jobs.

Each getter's error names the variable and the rule it breaks, never the
value (a misplaced passphrase must not reach a log); secrets come back as
:class:`Secret`, masked wherever they are printed.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from gateway.config.files import config_file
from gateway.exceptions import ConfigurationError

_Choice = TypeVar("_Choice", bound=enum.Enum)
_N = TypeVar("_N", int, float)


class Secret:
    """A configuration value that must never be printed (passphrases, API keys).

    ``repr``/``str`` show a mask so a secret cannot leak through a log line or
    an error message by accident; :meth:`reveal` is the one explicit way out.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


class ConfigReader:
    """The settings of one process: a frozen copy of its environment (over its file)."""

    __slots__ = ("_source", "_values")

    def __init__(self, values: Mapping[str, str], *, source: str = "") -> None:
        self._values = dict(values)  # a copy: later changes to the environment are not read
        self._source = source

    @classmethod
    def layered(cls, env: Mapping[str, str], path: str | None = None) -> ConfigReader:
        """``env`` over the file at ``path`` (default: the one ``GATEWAY_CONFIG_FILE`` names).

        The environment wins over the file, so an orchestrator can override one value.
        """
        source = env.get("GATEWAY_CONFIG_FILE", "").strip() if path is None else path
        return cls({**config_file(source), **env}, source=source)

    def overriding(self, name: str, value: str) -> ConfigReader:
        """A copy with ``name`` set to what the process decided (``serve``'s metrics directory)."""
        return ConfigReader({**self._values, name: value}, source=self._source)

    @property
    def source(self) -> str:
        """The configuration file read (``""``: the environment only)."""
        return self._source

    def get(self, name: str) -> str | None:
        """The value as given, unstripped (a passphrase may hold spaces); None when unset."""
        return self._values.get(name)

    def text(self, name: str) -> str:
        """The value stripped, ``""`` when unset."""
        return self._values.get(name, "").strip()

    def required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise ConfigurationError(name, "is required and not set")
        return value

    def optional(self, name: str, default: str) -> str:
        return self.text(name) or default

    def secret(self, name: str) -> Secret | None:
        value = self._values.get(name)
        return Secret(value) if value else None

    def path(self, name: str) -> Path:
        """A file that must exist (certificates, CA bundles)."""
        path = Path(self.required(name))
        if not path.is_file():
            raise ConfigurationError(name, f"file not found: {path}")
        return path

    def optional_path(self, name: str) -> Path | None:
        """A path that may not exist yet (a log to append to, a directory to write in)."""
        raw = self.text(name)
        return Path(raw) if raw else None

    def https_url(self, name: str) -> str:
        value = self.required(name)
        if not value.lower().startswith("https://"):
            raise ConfigurationError(name, "must be an https:// URL (the teleservice needs TLS)")
        return value

    def whole(self, name: str, default: int, *, minimum: int) -> int:
        raw = self.text(name)
        if not raw:
            return default
        if not raw.isdigit() or int(raw) < minimum:
            raise ConfigurationError(name, f"must be a whole number of at least {minimum}")
        return int(raw)

    def positive_float(self, name: str, default: float) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(name, "must be a number") from None
        if not math.isfinite(value) or value <= 0:
            raise ConfigurationError(name, "must be a finite number greater than zero")
        return value

    def seconds_or_zero(self, name: str, default: float) -> float:
        """Like :meth:`positive_float`, zero allowed (``0``: no such delay)."""
        if self.text(name) in {"0", "0.0"}:
            return 0.0
        return self.positive_float(name, default)

    def number(self, name: str, default: _N, kind: type[_N], *, minimum: _N | None = None) -> _N:
        """An int or float above zero, or at least ``minimum`` when given (``GATEWAY_JOB_*``)."""
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise ConfigurationError(name, f"must be {expected}") from None
        if minimum is None:
            if value <= 0:
                raise ConfigurationError(name, "must be greater than zero")
        elif value < minimum:
            raise ConfigurationError(name, f"must be {minimum} or more")
        return value

    def optional_int(self, name: str) -> int | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(name, "must be an integer") from None

    def non_negative_int(self, name: str, default: int) -> int:
        value = self.optional_int(name)
        if value is None:
            return default
        if value < 0:
            raise ConfigurationError(name, "must be zero or more")
        return value

    def rate(self, name: str) -> float:
        """A probability, 0 to 1 (default 0)."""
        raw = self.text(name)
        if not raw:
            return 0.0
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(name, "must be a number between 0 and 1") from None
        if not 0.0 <= value <= 1.0:
            raise ConfigurationError(name, "must be between 0 and 1")
        return value

    def flag(self, name: str) -> bool:
        raw = self.text(name)
        if raw not in ("", "0", "1"):
            raise ConfigurationError(name, "must be 0 or 1")
        return raw == "1"

    def csv(self, name: str, default: str) -> frozenset[str]:
        values = frozenset(part.strip() for part in (self.text(name) or default).split(","))
        return values - {""}

    def choice(self, name: str, kind: type[_Choice], default: _Choice) -> _Choice:
        raw = self.text(name).lower()
        if not raw:
            return default
        try:
            return kind(raw)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in kind)
            raise ConfigurationError(name, f"must be one of: {allowed}") from None
