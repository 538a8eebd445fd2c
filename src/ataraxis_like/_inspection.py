"""What ``ataraxis-like inspect`` finds at a path: the kind of thing, and a report of it.

Each package inspects its own kind (logs/cli.py, hdf5/cli.py, config/cli.py, experiment/cli.py)
and returns an ``Inspection``; the command line (cli.py) detects the kind and prints text or JSON.
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
