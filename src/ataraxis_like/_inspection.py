"""What ``ataraxis-like inspect`` finds at a path: the kind of thing, and a report of it.

Each package inspects its own kind (logs/cli.py, hdf5/cli.py, config/cli.py, experiment/cli.py)
and returns an ``Inspection``; the command line detects the kind and prints text or JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AtaraxisError

LOG_DIRECTORY, LOG_ARCHIVE, HDF5, CONFIG, EXPERIMENT = (
    "log-directory", "log-archive", "hdf5", "config", "experiment",
)  # fmt: skip
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_YAML_SUFFIXES = (".yaml", ".yml")


class InspectError(AtaraxisError, ValueError):
    """A path ``inspect`` cannot read: missing, of no known kind, or not readable as its kind."""


@dataclass
class Inspection:
    """A report: ``data`` is printed as JSON, ``lines`` as text; ``problems`` make exit code 1."""

    kind: str
    path: Path
    data: dict[str, Any]
    lines: list[str]
    problems: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path), **self.data,
                "problems": self.problems}  # fmt: skip


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


def plain(value: Any, limit: int = 32) -> Any:
    """``value`` as JSON-ready data: numpy values as Python ones, large arrays summarised."""
    if isinstance(value, np.ndarray):
        if value.size > limit:
            return f"<array shape={value.shape} dtype={value.dtype}>"
        return [plain(item, limit) for item in value.tolist()] if value.ndim else plain(value[()])
    if isinstance(value, np.generic):
        return plain(value.item(), limit)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(key): plain(item, limit) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item, limit) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def short(value: Any, width: int = 60) -> str:
    """A one-line rendering of a JSON-ready value, cut to ``width`` characters."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."
