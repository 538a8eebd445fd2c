"""Hierarchical recorders, keyed series stores and experiment collections (docs/recorder.md).

Records: ``Recorder`` nodes hold fields their records inherit and their own records as numpy
columns; ``records``/``where``/``to_columns`` query a subtree as one flat table; ``save``/``load``
keep a tree in HDF5 through the sink; ``stream_to`` sends a worker's records to one file.

Series: ``SeriesRecorder(*stores).record("a/b", value)`` appends into ``MemoryStore``,
``Hdf5Store`` or ``RedisStore`` (all behind ``Store``); any picklable value with the opt-in
``allow_pickle=True``.

Experiments: ``ExperimentCollection(path).new_experiment()`` numbers runs and saves each one.
"""

from ._errors import (
    OptionalDependencyError,
    RecorderError,
    RecorderFormatError,
    RecordValueError,
    SeriesKeyError,
    StoreClosedError,
    StoreConnectionError,
    UntrustedPickleError,
)
from ._series import SeriesSchema
from .collection import Experiment, ExperimentCollection
from .columns import MISSING
from .hdf5_store import Hdf5Store, LazySeries
from .keyed import SeriesRecorder
from .node import Record
from .persist import RecordStream, save, stream_to
from .query import Records
from .stores import MemoryStore, Store
from .tree import Recorder, load


def __getattr__(name: str) -> object:
    """``RedisStore`` and ``drain_to_hdf5`` import the optional redis client only when used."""
    if name in ("RedisStore", "drain_to_hdf5"):
        from . import redis_store

        return getattr(redis_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MISSING",
    "Experiment",
    "ExperimentCollection",
    "Hdf5Store",
    "LazySeries",
    "MemoryStore",
    "OptionalDependencyError",
    "Record",
    "RecordStream",
    "RecordValueError",
    "Recorder",
    "RecorderError",
    "RecorderFormatError",
    "Records",
    "RedisStore",
    "SeriesKeyError",
    "SeriesRecorder",
    "SeriesSchema",
    "Store",
    "StoreClosedError",
    "StoreConnectionError",
    "UntrustedPickleError",
    "drain_to_hdf5",
    "load",
    "save",
    "stream_to",
]
