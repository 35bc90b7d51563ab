"""The one reader of configuration: the environment over an optional ``NAME=value`` file.

Every settings object (the gateway's :mod:`gateway.settings`, the mock's
:mod:`gateway.mock.settings`, the batch jobs') is built from a
:class:`ConfigReader`; the process entry points (the CLI, ``python -m
gateway.mock.server``, the gunicorn app factory) hand ``os.environ`` to it
once. No other module reads the environment for settings, and
``tests/unit/test_one_reader.py`` fails if one starts to.
"""

from gateway.config.files import config_file, config_file_path
from gateway.config.reader import ConfigReader, Secret

__all__ = ["ConfigReader", "Secret", "config_file", "config_file_path"]
