"""Reading results files of the first layout (one group ``runs/rNNNNN`` per run, its outcome in
the group's attributes), written by ataraxis-like before layout 2. Read only: ``run`` on such a
directory refuses and names ``upgrade`` (see upgrade.py)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..hdf5 import SinkReader


def run_key(index: int) -> str:
    return f"runs/r{index:05d}"


def _unix(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return float("nan")


class Layout1Reader:
    """What a layout 1 file holds, in the form ``ExperimentResults`` reads."""

    version = 1

    def __init__(self, path: Path, reader: SinkReader) -> None:
        self.path = path
        file = reader.file
        self.attributes = dict(file.attrs)
        self.defaults: dict[str, Any] = json.loads(str(self.attributes.get("defaults", "{}")))
        self.points = list(json.loads(str(self.attributes.get("exploration", "[]"))))
        self._rows: list[dict[str, Any]] = []
        self._stored: dict[int, dict[str, Any]] = {}
        groups = file.get("runs")
        names: set[str] = set()
        for name in sorted(groups.keys()) if groups is not None else ():
            attributes = dict(groups[name].attrs)
            if "status" not in attributes:
                continue  # a run whose storing was cut short: pending
            index = int(name[1:])
            if "stored" in attributes:
                self._stored[index] = json.loads(str(attributes["stored"]))
            self._rows.append(
                {"index": index, **json.loads(str(attributes["parameters"])),
                 "status": str(attributes["status"]),
                 "duration_s": float(attributes["duration_s"]),
                 "error": str(attributes.get("error", "")),
                 "started": _unix(str(attributes.get("started", ""))), "attempts": 1}
            )  # fmt: skip
            result = groups[name].get("result")
            if result is not None:
                result.visititems(
                    lambda key, item: names.add(key) if hasattr(item, "dtype") else None
                )
        self.result_names = sorted(names)

    def runs(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._rows]

    def _wrote(self, index: int, kind: str, name: str = "") -> bool:
        stored = self._stored.get(index)
        if stored is None:
            return True  # written before attempts recorded what they stored: trust the file
        return bool(stored[kind]) if kind == "recorder" else name in stored[kind]

    def result(self, reader: SinkReader, name: str) -> tuple[list[int], list[Any]]:
        indices, values = [], []
        for row in self._rows:
            key = f"{run_key(row['index'])}/result/{name}"
            if row["status"] != "completed" or not self._wrote(row["index"], "results", name):
                continue  # a value an earlier, killed attempt left does not count
            if reader.file.get(key) is not None:
                indices.append(row["index"])
                values.append(np.asarray(reader.load(key)))
        return indices, values

    def recorder_key(self, index: int) -> str | None:
        if not self._wrote(index, "recorder"):
            return None
        key = f"{run_key(index)}/recorder"
        return key if any(row["index"] == index for row in self._rows) else None
