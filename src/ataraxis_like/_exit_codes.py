"""Conventions every ``ataraxis-like`` sub-command shares: exit codes, and where progress goes.

They live below the packages' command modules (logs/cli.py, hdf5/cli.py) and the top-level
command line (cli.py) so that all of them import downward.
"""

from __future__ import annotations

import sys
from typing import TextIO

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3

EXIT_CODES = """exit codes:
  0  success
  1  the job ran but found a problem (lost data, a failed check, a file needing recovery)
  2  bad usage (unknown command or option, invalid value)
  3  an error stopped the job (one line on stderr: "ataraxis-like: error: ...")"""


def progress_stream(machine_output: bool = False) -> TextIO | None:
    """Where progress lines go: stderr when it is a terminal, else nowhere (a log file, a pipe
    or ``--json`` output gets results only)."""
    if machine_output or not sys.stderr.isatty():
        return None
    return sys.stderr
