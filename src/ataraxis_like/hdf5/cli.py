"""``ataraxis-like recover PATH``: reopen an HDF5 file whose writer was killed.

Exit codes follow the main command line: 0 the file opens (recovered or already clean), 1 the
file was found damaged beyond stale writer flags, 3 an error stopped the job (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cli import EXIT_ERROR, EXIT_OK, EXIT_PROBLEM
from ._errors import RecoveryError
from .recover import recover


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``recover`` subcommand to the main parser."""
    parser = commands.add_parser(
        "recover", help="reopen an HDF5 file whose writer was killed (no h5clear needed)"
    )
    parser.add_argument("path", type=Path, help="the HDF5 file")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for a live writer's lock"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    parser.set_defaults(handler=_recover)


def _recover(arguments: argparse.Namespace) -> int:
    try:
        report = recover(arguments.path, timeout=arguments.timeout)
    except RecoveryError as error:
        print(f"ataraxis-like: error: {error}", file=sys.stderr)
        return EXIT_PROBLEM if getattr(error, "damaged", False) else EXIT_ERROR
    except OSError as error:
        print(f"ataraxis-like: error: {arguments.path}: {error}", file=sys.stderr)
        return EXIT_ERROR
    if arguments.json:
        print(json.dumps({"path": report.path, "recovered": report.recovered,
                          "datasets": {key: list(shape) for key, shape in
                                       report.datasets.items()}}))  # fmt: skip
    else:
        print(report.summary())
    return EXIT_OK
