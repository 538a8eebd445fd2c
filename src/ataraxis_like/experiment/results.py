"""Reading an experiment back: one overview row per run, results as columns across runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..hdf5 import open_sink, recover
from ..recorder import Recorder
from ._worker import log_path, run_key
from .runner import RESULTS_FILE, ExperimentError


@dataclass(frozen=True)
class ExperimentResults:
    """Everything stored for an experiment, loaded from its directory."""

    directory: Path
    name: str
    defaults: dict[str, Any]
    runs: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    stored: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Per run, what its last attempt wrote (files from before this was recorded: absent)."""

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
            root = dict(reader.file.attrs)
            groups = reader.file.get("runs")
            runs, stored = [], {}
            for name in sorted(groups.keys()) if groups is not None else ():
                attributes = dict(groups[name].attrs)
                if "status" not in attributes:
                    continue
                if "stored" in attributes:
                    stored[int(name[1:])] = json.loads(str(attributes["stored"]))
                runs.append(
                    {
                        "index": int(name[1:]),
                        **json.loads(str(attributes["parameters"])),
                        "status": str(attributes["status"]),
                        "duration_s": float(attributes["duration_s"]),
                        "error": str(attributes.get("error", "")),
                    }
                )
        sessions = []
        for number in range(sum(1 for key in root if key.endswith("_provenance"))):
            facts = json.loads(str(root[f"session_{number}_provenance"]))
            facts["end_time"] = str(root.get(f"session_{number}_end", ""))
            sessions.append(facts)
        return cls(directory, str(root.get("experiment", "")),
                   json.loads(str(root.get("defaults", "{}"))), runs, sessions,
                   stored)  # fmt: skip

    def overview(self) -> list[dict[str, Any]]:
        """One row per run: index, parameters, status, duration and error."""
        return [dict(row) for row in self.runs]

    def to_pandas(self) -> Any:
        """The overview as a pandas DataFrame indexed by run (pandas is an optional dependency)."""
        import pandas  # type: ignore[import-untyped, import-not-found, unused-ignore]

        return pandas.DataFrame(self.overview()).set_index("index")

    def results(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(run indices, values)`` of result ``name`` over completed runs, stacked when every
        value has the same shape (an object array of them otherwise)."""
        indices, values = [], []
        with open_sink(self.directory / RESULTS_FILE) as reader:
            for row in self.runs:
                key = f"{run_key(row['index'])}/result/{name}"
                if row["status"] != "completed" or not self._wrote(row["index"], "results", name):
                    continue  # a value an earlier, killed attempt left does not count
                if reader.file.get(key) is not None:
                    indices.append(row["index"])
                    values.append(reader.load(key))
        if len({np.shape(value) for value in values}) <= 1 and values:
            return np.asarray(indices), np.stack(values)
        column = np.empty(len(values), dtype=object)
        column[:] = values
        return np.asarray(indices, dtype=np.int64), column

    def _wrote(self, index: int, kind: str, name: str = "") -> bool:
        stored = self.stored.get(index)
        if stored is None:
            return True  # written before attempts recorded what they stored: trust the file
        return bool(stored[kind]) if kind == "recorder" else name in stored[kind]

    def recorder(self, index: int) -> Recorder:
        """The recorder a run filled, with the run's parameters as its fields."""
        if not self._wrote(index, "recorder"):
            raise ExperimentError(
                f"run {index} recorded nothing in its last attempt; "
                "see overview() for its status and error",
                path=str(self.directory),
            )
        return Recorder.load(self.directory / RESULTS_FILE, key=f"{run_key(index)}/recorder")

    def log(self, index: int) -> str:
        """The text of a run's log file."""
        return log_path(self.directory, index).read_text(encoding="utf-8")

    def counts(self) -> dict[str, int]:
        statuses = [row["status"] for row in self.runs]
        return {status: statuses.count(status) for status in sorted(set(statuses))}
