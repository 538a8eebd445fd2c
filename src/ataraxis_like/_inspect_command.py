"""What ``ataraxis-like inspect PATH`` does: detect the kind of PATH and run its inspector.

The inspectors live beside their packages (logs/cli.py, hdf5/cli.py, config/cli.py,
experiment/cli.py) and return an ``Inspection``; this module picks one and prints the report.
It sits above every package (it knows where an experiment keeps its results), so the command
line imports it only when ``inspect`` runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._exit_codes import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE
from ._inspection import (
    CONFIG,
    EXPERIMENT,
    HDF5,
    LOG_ARCHIVE,
    LOG_DIRECTORY,
    InspectError,
    Inspection,
)

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_YAML_SUFFIXES = (".yaml", ".yml")


def detect_kind(path: Path) -> str:
    """The kind of ``path``, from what it is and its first bytes (InspectError if none fits)."""
    if path.is_dir():
        from .experiment.runner import RESULTS_FILE

        return EXPERIMENT if (path / RESULTS_FILE).is_file() else LOG_DIRECTORY
    if not path.exists():
        raise InspectError(
            f"{path} does not exist; pass a log directory or archive, an HDF5 file, a YAML "
            "config or an experiment directory",
            path=str(path),
        )
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            handle.seek(512)
            second = handle.read(8)
    except OSError as error:
        raise InspectError(f"{path} cannot be read: {error.strerror}", path=str(path)) from None
    if _HDF5_SIGNATURE in (head, second):
        return HDF5
    if path.suffix == ".npz" or head.startswith(_ZIP_SIGNATURE):
        return LOG_ARCHIVE
    if path.suffix.lower() in _YAML_SUFFIXES:
        return CONFIG
    raise InspectError(
        f"{path} is neither a log archive (.npz), an HDF5 file nor a YAML config (.yaml, .yml)",
        path=str(path),
    )


def run_inspect(arguments: argparse.Namespace) -> int:
    """Detect the kind of ``arguments.path``, run that package's inspector, print text or JSON."""
    path: Path = arguments.path
    kind = detect_kind(path)
    if arguments.plot is not None and kind not in (LOG_DIRECTORY, LOG_ARCHIVE):
        print(f"ataraxis-like inspect: error: --plot draws logs only; {path} is {kind}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    inspection = _inspector(kind, path, arguments)
    if arguments.json:
        print(json.dumps(inspection.to_json(), indent=2))
    else:
        print("\n".join(inspection.lines))
    return EXIT_PROBLEM if inspection.problems else EXIT_OK


def _inspector(kind: str, path: Path, arguments: argparse.Namespace) -> Inspection:
    if kind == HDF5:
        from .hdf5.cli import inspect_hdf5

        return inspect_hdf5(path)
    if kind == CONFIG:
        from .config.cli import inspect_config

        return inspect_config(path)
    if kind == EXPERIMENT:
        from .experiment.cli import inspect_experiment

        return inspect_experiment(path)
    from .logs.cli import inspect_logs

    inspection, timelines = inspect_logs(path, arguments.gaps)
    if arguments.plot is not None:
        from .logs.plot import plot_timelines

        plot_timelines(timelines, arguments.plot)
        inspection.data["plot"] = str(arguments.plot)
        inspection.lines.append(f"plot: {arguments.plot}")
    return inspection
