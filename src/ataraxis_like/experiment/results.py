"""Reading an experiment back: overview tables as numpy record arrays, results across runs.

Files of both layouts load (layout 1: one group per run, written before the run table; layout
2: docs/experiment.md). pandas is used only by ``to_pandas`` and only when installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..hdf5 import SinkReader, open_sink, recover
from ..recorder import Recorder
from ._layout import TABLE, is_layout1
from ._layout1 import Layout1Reader
from ._read import Layout2Reader
from ._run import log_path
from .runner import RESULTS_FILE, ExperimentError

_RUN_FIELDS = ("status", "attempts", "started", "duration_s", "error")


def _column(values: list[Any]) -> np.ndarray:
    """One record-array column: numbers and bools as such, NaN for a missing number (ints then
    become floats), text as str, anything else as objects."""
    present = [value for value in values if value is not None]
    kinds = {type(value) for value in present}
    if present and kinds <= {bool, np.bool_} and len(present) == len(values):
        return np.asarray(values, dtype=bool)
    if present and kinds <= {int, float, bool, np.int64, np.float64, np.bool_, np.int32}:
        if len(present) == len(values) and not (kinds & {float, np.float64}):
            return np.asarray(values, dtype=np.int64)
        return np.asarray([np.nan if value is None else value for value in values], dtype=float)
    if present and kinds <= {str, np.str_} and len(present) == len(values):
        return np.asarray(values, dtype=str)
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def _record_array(arrays: list[np.ndarray], names: list[str]) -> np.recarray:
    table = np.empty(
        len(arrays[0]) if arrays else 0,
        dtype=[(name, array.dtype) for name, array in zip(names, arrays, strict=True)],
    )
    for name, array in zip(names, arrays, strict=True):
        table[name] = array
    return table.view(np.recarray)


def _records(columns: dict[str, list[Any]]) -> np.recarray:
    return _record_array([_column(values) for values in columns.values()], list(columns))


@dataclass(frozen=True)
class ExperimentResults:
    """Everything stored for an experiment, loaded from its directory."""

    directory: Path
    name: str
    defaults: dict[str, Any]
    runs: list[dict[str, Any]]
    """One dict per run with a status: index, parameters, status, attempts, started (Unix
    time), duration_s, error."""
    sessions: list[dict[str, Any]]
    comment: str
    layout: int
    _source: Layout1Reader | Layout2Reader

    @classmethod
    def load(cls, directory: Path | str) -> ExperimentResults:
        directory = Path(directory)
        path = directory / RESULTS_FILE
        if not path.exists():
            raise ExperimentError(
                f"{directory} holds no {RESULTS_FILE}; pass the directory an Experiment ran in",
                path=str(directory),
            )
        recover(path)  # a file whose writer was killed is made readable first
        with open_sink(path) as reader:
            source = _source(path, reader)
        root = source.attributes
        sessions = []
        for number in range(sum(1 for key in root if key.endswith("_provenance"))):
            facts = json.loads(str(root[f"session_{number}_provenance"]))
            facts["end_time"] = str(root.get(f"session_{number}_end", ""))
            sessions.append(facts)
        return cls(directory, str(root.get("experiment", "")), dict(source.defaults),
                   source.runs(), sessions, str(root.get("comment", "")), source.version,
                   source)  # fmt: skip

    @property
    def exploration(self) -> list[dict[str, Any]]:
        """The explored points, in run order (run i's parameters: defaults, then point i)."""
        return [dict(point) for point in self._source.points]

    # ---------------------------------------------------------------- tables
    def overview(self) -> np.recarray:
        """One record per run with a status: index, parameters, status, attempts, started
        (datetime64, UTC), duration_s and error (the traceback of a failed run, else "")."""
        names = ["index", *self.defaults, *_RUN_FIELDS]
        columns: dict[str, list[Any]] = {name: [row.get(name) for row in self.runs] for name in
                                         names}  # fmt: skip
        table = _records(columns)
        if len(table):
            started = np.asarray(columns["started"], dtype=float) * 1e6
            table = _replace(table, "started", started.astype("datetime64[us]"))
        return table

    def explored_parameters(self) -> np.recarray:
        """Every run of the exploration (run or not): index and the values of the explored
        parameters (pypet's "explored_parameters" overview)."""
        points = self._source.points
        explored = list(dict.fromkeys(name for point in points for name in point))
        columns: dict[str, list[Any]] = {"index": list(range(len(points)))}
        for name in explored:
            columns[name] = [point.get(name, self.defaults.get(name)) for point in points]
        return _records(columns)

    def results_per_run(self) -> np.recarray:
        """Scalar results of completed runs, one record per run (NaN where a run lacks one;
        pypet's "results_runs" overview). Array results are read with ``results(name)``."""
        done = [row["index"] for row in self.runs if row["status"] == "completed"]
        columns: dict[str, list[Any]] = {"index": done}
        with open_sink(self.directory / RESULTS_FILE) as reader:
            for name in self.result_names():
                indices, values = self._source.result(reader, name)
                if any(np.ndim(value) for value in values):
                    continue
                found = dict(zip(indices, (np.asarray(v).item() for v in values), strict=True))
                columns[name] = [found.get(index) for index in done]
        return _records(columns)

    def summary(self) -> np.recarray:
        """One record per result name: how many runs have it, the first of them, its value's
        dtype and shape, and that value in short (pypet's "results_runs_summary")."""
        columns: dict[str, list[Any]] = {name: [] for name in
                                         ("name", "runs", "first_index", "value_dtype",
                                          "value_shape", "first_value")}  # fmt: skip
        with open_sink(self.directory / RESULTS_FILE) as reader:
            for name in self.result_names():
                indices, values = self._source.result(reader, name)
                first = np.asarray(values[0]) if values else np.asarray(np.nan)
                text = np.array2string(first, threshold=6) if first.ndim else repr(first.item())
                for key, value in (("name", name), ("runs", len(indices)),
                                   ("first_index", indices[0] if indices else -1),
                                   ("value_dtype", str(first.dtype)),
                                   ("value_shape", str(first.shape)),
                                   ("first_value", text[:80])):  # fmt: skip
                    columns[key].append(value)
        return _records(columns)

    def to_pandas(self, table: str = "overview") -> Any:
        """A table (``overview``, ``explored_parameters``, ``results_per_run``, ``summary``) as a
        pandas DataFrame (pandas is an optional dependency)."""
        tables = {"overview": self.overview, "explored_parameters": self.explored_parameters,
                  "results_per_run": self.results_per_run, "summary": self.summary}  # fmt: skip
        if table not in tables:
            raise ValueError(f"table must be one of {', '.join(tables)} (got {table!r})")
        import pandas  # type: ignore[import-untyped, import-not-found, unused-ignore]

        frame = pandas.DataFrame.from_records(tables[table]())
        return frame.set_index("index") if "index" in frame else frame

    # ---------------------------------------------------------------- results
    def result_names(self) -> list[str]:
        """Names of the results stored by any run (nested dict results as "a/b")."""
        return list(self._source.result_names)

    def results(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(run indices, values)`` of result ``name`` over completed runs, stacked when every
        value has the same shape (an object array of them otherwise)."""
        with open_sink(self.directory / RESULTS_FILE) as reader:
            indices, values = self._source.result(reader, name)
        if values and len({np.shape(value) for value in values}) == 1:
            if isinstance(values, np.ndarray):
                return np.asarray(indices, dtype=np.int64), values
            return np.asarray(indices, dtype=np.int64), np.stack([np.asarray(v) for v in values])
        column = np.empty(len(values), dtype=object)
        column[:] = list(values)
        return np.asarray(indices, dtype=np.int64), column

    def recorder(self, index: int) -> Recorder:
        """The recorder a run filled, with the run's parameters as its fields."""
        key = self._source.recorder_key(index)
        if key is None:
            raise ExperimentError(
                f"run {index} recorded nothing in its last attempt; "
                "see overview() for its status and error",
                path=str(self.directory),
            )
        return Recorder.load(self.directory / RESULTS_FILE, key=key)

    def log(self, index: int) -> str:
        """The text of a run's log ("" for a run that logged nothing)."""
        path = log_path(self.directory, index)
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def counts(self) -> dict[str, int]:
        statuses = [row["status"] for row in self.runs]
        return {status: statuses.count(status) for status in sorted(set(statuses))}


def _replace(table: np.recarray, name: str, values: np.ndarray) -> np.recarray:
    names = list(table.dtype.names or ())
    return _record_array([values if field == name else table[field] for field in names], names)


def _source(path: Path, reader: SinkReader) -> Layout1Reader | Layout2Reader:
    file = reader.file
    attributes = dict(file.attrs)
    runs = file.get(TABLE)
    keys = (
        [f"runs/{name}/" for name in runs]
        if runs is not None and not hasattr(runs, "dtype")
        else []
    )
    if is_layout1(attributes, keys):
        return Layout1Reader(path, reader)
    layout = int(attributes.get("layout", 2))
    if layout != 2:
        raise ExperimentError(
            f"{path} has results layout {layout}, newer than this ataraxis-like reads (2); "
            "upgrade ataraxis-like",
            path=str(path),
        )
    return Layout2Reader(path, reader)
