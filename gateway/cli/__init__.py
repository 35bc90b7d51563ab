"""The ``insi-gateway`` console command: serving, administration and development tools.

:mod:`.main` parses the command line and runs a subcommand; :mod:`.admin`
holds the application and audit commands; :mod:`.cards` the development CPS
card tooling.
"""

from gateway.cli.main import main

__all__ = ["main"]
