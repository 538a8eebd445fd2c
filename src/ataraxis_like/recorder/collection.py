"""Experiment collections: numbered runs, each saved into one HDF5 file when it ends.

``ExperimentCollection("study.h5")`` keeps every run under ``runs/r<n>`` in that file (``n``
counts claimed keys: a save killed midway leaves its ``n`` unused) and the numbering state in
``collection/_state``. ``with collection.new_experiment(lr=0.1) as rec``
hands out a recorder whose parent carries the six bookkeeping fields; on exit (also when the
body raises, which is then re-raised) only that run is written, so ending a run costs the same
however many runs the file holds. Runs from earlier sessions are read on the first access to
``records``. Runs ending in several processes are serialised by the sink's writer lock.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from ..hdf5 import Hdf5Sink, SinkKeyError, open_sink
from ._errors import RecorderError
from .node import Record
from .persist import _tag, _untag, load_from, save_into
from .query import Records
from .tree import Recorder

_STATE_KEY = "collection/_state"
_FIRST = {"experiment_number": 0, "error_number": 0, "had_error": False}


def _parse_state(text: str | None) -> dict[str, Any]:
    """The numbering state: last run's numbers, run count, claimed keys, collection fields."""
    if text is None:
        return {"last": dict(_FIRST), "runs": 0, "claimed": 0, "keys": {}, "fields": {}}
    raw = json.loads(text)
    runs = int(raw["runs"])
    return {
        "last": raw["last"],
        "runs": runs,
        "claimed": int(raw.get("claimed", runs)),
        "keys": dict(raw.get("keys", {})),
        "fields": {name: _untag(value) for name, value in raw["fields"]},
    }


def _next_number(last: dict[str, Any]) -> int:
    """The experiment number after ``last``: a failed run's number is used again."""
    return int(last["experiment_number"]) + (0 if last["had_error"] else 1)


class Experiment:
    """The context manager ``new_experiment`` returns; ``__enter__`` gives the run's recorder."""

    def __init__(self, collection: ExperimentCollection, fields: dict[str, Any]) -> None:
        self._collection = collection
        self._fields = fields
        self.info: Recorder | None = None
        self.recorder: Recorder | None = None

    def __enter__(self) -> Recorder:
        collection = self._collection
        if collection._running is not None:
            raise RecorderError(
                "an experiment of this collection is already running: expected one at a time; "
                "finish the running `with` block first"
            )
        last = collection._read_state()["last"]
        self.info = Recorder(
            experiment_number=_next_number(last),
            error_number=int(last["error_number"]) + 1,
            had_error=True,
            experiment_start_time=time.time(),
        ).set_parent(collection.root)
        self.recorder = collection.node_type(self._fields).set_parent(self.info)
        collection._running = self
        return self.recorder

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        collection = self._collection
        info = self.info
        assert info is not None
        try:
            end = time.time()
            info.set(
                experiment_end_time=end,
                experiment_duration=end - float(info.fields["experiment_start_time"]),
            )
            if error is None:
                info.set(had_error=False, error_number=0)
            collection._save_run(info)
        finally:
            collection._running = None


class ExperimentCollection:
    """Numbered experiments in one HDF5 file, and ``records`` across all of them.

    Each run's records inherit ``experiment_number``, ``error_number`` (how many failed runs in
    a row this one follows, 0 after a success), ``had_error``, ``experiment_start_time``,
    ``experiment_end_time`` and ``experiment_duration`` (``time.time()`` seconds). A failed run
    keeps its number for the next run, until one succeeds. ``root.fields`` are collection-wide
    fields (saved with every run).
    """

    node_type: ClassVar[type[Recorder]] = Recorder
    record_type: ClassVar[type[Record]] = Record

    def __init__(self, path: str | Path, *, compression: str | int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._compression = compression
        self.root = Recorder()
        self._running: Experiment | None = None
        self._order: dict[int, int] = {}
        self._loaded: set[int] = set()
        state = self._read_state()
        self.root.fields.update(state["fields"])

    def _read_state(self) -> dict[str, Any]:
        if not self.path.exists():
            return _parse_state(None)
        with open_sink(self.path) as reader:
            if reader.file.get(_STATE_KEY) is None:
                return _parse_state(None)
            return _parse_state(str(reader.load(_STATE_KEY).item()))

    def _save_run(self, info: Recorder) -> None:
        """Write the run under a key no earlier attempt used, then the state that counts it.

        The state is read under the sink's writer lock, so runs saved by two collections (or
        processes) on one file get distinct keys and consecutive numbers. The key is claimed in
        the state before the run is written: a save killed midway leaves an unlisted group that
        no later run writes into.
        """
        with Hdf5Sink(self.path, "a", self._compression) as sink:
            try:
                state = _parse_state(str(sink.load(_STATE_KEY).item()))
            except SinkKeyError:
                state = _parse_state(None)
            index, slot, last = state["runs"], state["claimed"], state["last"]
            failed = bool(info.fields["had_error"])
            info.set(
                experiment_number=_next_number(last),
                error_number=int(last["error_number"]) + 1 if failed else 0,
            )
            key = f"runs/r{slot:06d}"
            if slot != index:
                state["keys"][str(index)] = key
            state["claimed"] = slot + 1
            sink.write(_STATE_KEY, self._state_text(state))
            save_into(sink, info, key)
            state["last"] = {name: info.fields[name] for name in _FIRST}
            state["runs"] = index + 1
            sink.write(_STATE_KEY, self._state_text(state))
        self._order[id(info)] = index
        self._loaded.add(index)

    def _state_text(self, state: dict[str, Any]) -> str:
        fields = [[name, _tag(value)] for name, value in self.root.fields.items()]
        return json.dumps({**state, "format": 1, "fields": fields})

    def new_experiment(self, _fields: dict[str, Any] | None = None, /, **fields: Any) -> Experiment:
        """A context manager for the next run; ``fields`` become the run recorder's fields."""
        return Experiment(self, {**(_fields or {}), **fields})

    def _load_earlier_runs(self) -> None:
        state = self._read_state()
        missing = [index for index in range(state["runs"]) if index not in self._loaded]
        if not missing:
            return
        keys = state["keys"]
        with open_sink(self.path) as reader:
            for index in missing:
                info = load_from(reader, keys.get(str(index), f"runs/r{index:06d}"), Recorder)
                info.set_parent(self.root)
                self._order[id(info)] = index
                self._loaded.add(index)
        position = len(self._order)
        self.root._children.sort(key=lambda node: self._order.get(id(node), position))

    @property
    def runs(self) -> tuple[Recorder, ...]:
        """Every run's bookkeeping node (its child is the run's recorder), oldest first."""
        self._load_earlier_runs()
        return self.root.children

    @property
    def records(self) -> Records:
        """Every record of every run (earlier sessions' runs included), oldest run first."""
        self._load_earlier_runs()
        return Records.of_subtree(self.root, self.record_type)

    def __len__(self) -> int:
        """How many runs the collection holds (failed ones included)."""
        return int(self._read_state()["runs"])

    def __repr__(self) -> str:
        return f"ExperimentCollection({str(self.path)!r}, runs={len(self)})"
