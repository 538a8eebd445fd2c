"""Reading a results file of layout 2 (the run table, result columns, per-run datasets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from ..hdf5 import SinkReader
from ..hdf5.reader import load_dataset
from ._layout import (
    EXPLORATION,
    RAGGED,
    RECORDERS,
    RESULTS,
    STATUS_NAMES,
    TABLE,
    TABLE_DTYPE,
    TEXT,
    TEXT_FIELD,
    VALUE_FIELD,
    attempt_key,
    last_attempts,
)


def read_texts(file: h5py.File, rows: np.ndarray) -> dict[int, str]:
    """Rows of the text dataset, by row number (read in one selection)."""
    wanted = np.unique(rows[rows >= 0])
    if not len(wanted):
        return {}
    values = file[TEXT].asstr()[wanted]
    return {int(row): str(value) for row, value in zip(wanted, values, strict=True)}


def read_points(file: h5py.File, root: dict[str, Any]) -> list[dict[str, Any]]:
    """The explored points (layout 2 keeps them as one JSON text dataset)."""
    if EXPLORATION in file:
        return list(json.loads(file[EXPLORATION].asstr()[()]))
    return list(json.loads(str(root.get("exploration", "[]"))))


class Layout2Reader:
    """What a layout 2 file holds, read once at load; results are read when asked for."""

    version = 2

    def __init__(self, path: Path, reader: SinkReader) -> None:
        self.path = path
        file = reader.file
        self.attributes = dict(file.attrs)
        self.defaults: dict[str, Any] = json.loads(str(self.attributes.get("defaults", "{}")))
        self.points = read_points(file, self.attributes)
        table = file[TABLE][()] if TABLE in file else np.zeros(0, dtype=TABLE_DTYPE)
        self.table = table
        self.last = last_attempts(table)
        counted, counts = np.unique(table["index"][table["status"] > 0], return_counts=True)
        self._attempt_counts = dict(zip(counted.tolist(), counts.tolist(), strict=True))
        self._errors = read_texts(file, self.last["error"])
        self.result_names = sorted(_column_names(file) | _ragged_names(file))

    def runs(self) -> list[dict[str, Any]]:
        """One row per run with a status: index, parameters, status, timing, error, attempts."""
        rows = []
        for row in self.last.tolist():
            index, _, status, _, started, duration, error, _ = row
            rows.append({"index": index, **self.defaults, **self.points[index],
                         "status": STATUS_NAMES[status], "duration_s": duration,
                         "error": self._errors.get(error, ""), "started": started,
                         "attempts": self._attempt_counts[index]})  # fmt: skip
        return rows

    def _current(self) -> tuple[np.ndarray, np.ndarray]:
        """(attempts, run indices) of the last attempt of every completed run, by attempt."""
        done = self.last[self.last["status"] == 1]
        order = np.argsort(done["attempt"])
        return done["attempt"][order], done["index"][order]

    def result(self, reader: SinkReader, name: str) -> tuple[list[int], list[Any]]:
        """Run indices and values of result ``name`` over the last attempts of completed runs."""
        attempts, indices = self._current()
        found: dict[int, Any] = {}
        file = reader.file
        column = file.get(f"{RESULTS}/{name}")
        if isinstance(column, h5py.Dataset) and len(attempts):
            rows = column[()]
            where = np.searchsorted(attempts, rows["attempt"]).clip(0, len(attempts) - 1)
            keep = attempts[where] == rows["attempt"]
            runs = indices[where[keep]]
            if TEXT_FIELD in rows.dtype.names:
                texts = read_texts(file, rows[TEXT_FIELD][keep])
                values: Any = [texts[int(row)] for row in rows[TEXT_FIELD][keep]]
            else:
                values = rows[VALUE_FIELD][keep]
            found.update(zip(runs.tolist(), values, strict=True))
        ragged = file.get(RAGGED)
        if ragged is not None:
            by_attempt = dict(zip(attempts.tolist(), indices.tolist(), strict=True))
            for key in ragged:
                index = by_attempt.get(int(key[1:]))
                if index is not None and name in ragged[key]:
                    found[index] = load_dataset(ragged[key][name])
        ordered = sorted(found)
        return ordered, [found[index] for index in ordered]

    def recorder_key(self, index: int) -> str | None:
        """Where the last attempt of run ``index`` saved its recorder (None: it saved none)."""
        rows = self.last[self.last["index"] == index]
        if not len(rows) or not rows[0]["recorder"]:
            return None
        return f"{RECORDERS}/{attempt_key(int(rows[0]['attempt']))}"


def _column_names(file: h5py.File) -> set[str]:
    names: set[str] = set()
    group = file.get(RESULTS)
    if group is not None:
        group.visititems(
            lambda name, item: names.add(name) if isinstance(item, h5py.Dataset) else None
        )
    return names


def _ragged_names(file: h5py.File) -> set[str]:
    names: set[str] = set()
    group = file.get(RAGGED)
    for key in group if group is not None else ():
        group[key].visititems(
            lambda name, item: names.add(name) if isinstance(item, h5py.Dataset) else None
        )
    return names
