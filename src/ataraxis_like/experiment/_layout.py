"""The results file's layout (version 2): names, dtypes, and reading its run table.

One table row per attempt that ended, appended in batches; results as columns keyed by the
attempt that produced them. docs/experiment.md describes the layout for readers with h5py.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

LAYOUT_VERSION = 2
TABLE = "runs"
TEXT = "text"
RESULTS = "results"
RAGGED = "ragged"
RECORDERS = "recorders"
EXPLORATION = "exploration"

STATUS_CODES = {"completed": 1, "failed": 2}
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}
TABLE_DTYPE = np.dtype(
    [
        ("index", "<i8"),
        ("attempt", "<i8"),
        ("status", "u1"),  # 0: a row a killed writer left unwritten; see STATUS_CODES
        ("recorder", "u1"),  # 1 when this attempt saved a recorder
        ("started", "<f8"),  # Unix time (s)
        ("duration_s", "<f8"),
        ("error", "<i8"),  # row of TEXT holding the error, -1 for none
        ("pid", "<i4"),  # the process that ran it
    ]
)
TEXT_FIELD, VALUE_FIELD = "text", "value"


def attempt_id(session: int, serial: int) -> int:
    """Unique over the file's life: the session number (never reused) and a counter."""
    return (session << 32) | serial


def attempt_key(attempt: int) -> str:
    return f"a{attempt}"


def column_dtype(value: np.ndarray) -> np.dtype[Any]:
    """The rows of a result column: the attempt, then the value (text: its row of TEXT)."""
    if value.dtype.kind == "U" and value.ndim == 0:
        return np.dtype([("attempt", "<i8"), (TEXT_FIELD, "<i8")])
    return np.dtype([("attempt", "<i8"), (VALUE_FIELD, value.dtype, value.shape)])


def space_hash(fingerprint: str) -> str:
    """What the file keeps of a parameter space: a hash (the full text grows with the runs)."""
    return "sha256:" + hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()


def same_space(recorded: Any, fingerprint: str) -> bool:
    """Whether a stored ``space`` attribute (a hash, or layout 1's full text) is ``fingerprint``."""
    text = str(recorded)
    return text == (space_hash(fingerprint) if text.startswith("sha256:") else fingerprint)


def last_attempts(table: np.ndarray) -> np.ndarray:
    """The last written row of every run index, in index order (rows never written skipped)."""
    valid = table[table["status"] > 0]
    if not len(valid):
        return valid
    backwards = valid[::-1]
    _, first = np.unique(backwards["index"], return_index=True)
    return backwards[first]


def statuses_of(table: np.ndarray) -> dict[int, str]:
    last = last_attempts(table)
    return {
        int(index): STATUS_NAMES[int(code)]
        for index, code in zip(last["index"], last["status"], strict=True)
    }


def is_layout1(attributes: dict[str, Any], keys: list[str]) -> bool:
    """A file of the first layout: per-run groups ``runs/rNNNNN``, no layout attribute."""
    if "layout" in attributes:
        return False
    return any(key.startswith("runs/r") for key in keys)
