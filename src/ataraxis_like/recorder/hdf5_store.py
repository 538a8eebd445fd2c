"""A store in an HDF5 file, written through the HDF5 sink and read through lazy views.

Each series is a dataset of rows at its key ("train/loss" is the dataset ``loss`` in the group
``train``), appended through ``Hdf5Sink`` (buffered, SWMR, survives a killed writer). ``get``
returns a ``LazySeries``: slicing it reads only the rows asked for, so series larger than memory
are fine. A series of pickled values (``allow_pickle=True``) is a dataset of variable-length
bytes marked with the attribute ``series_values = "pickle"``; a dataset without the mark is never
unpickled. HDF5 allows one writer per file: for many writing processes use ``RedisStore`` (and
``drain_to_hdf5``), or stream recorders through the sink's queue client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..hdf5 import Hdf5Sink, SinkReader, open_sink
from ._errors import SeriesKeyError
from ._series import PICKLED, SeriesSchema, unpickled
from .stores import (
    Rows,
    Store,
    _clash,
    conflict_error,
    prefixes,
    under,
)

_ITER_ROWS = 65536
PICKLE_MARK = "pickle"
"""The value of a dataset's ``series_values`` attribute that marks a series of pickled values."""


class LazySeries:
    """A read-only view of one HDF5 series: ``len``, ``[i]``, ``[a:b]``, ``numpy.asarray``.

    Reads go to the file each time (the view follows rows appended later). Text reads as
    ``str``; a pickled series gives its values (a list for a slice, objects for numpy).
    """

    def __init__(
        self, fetch: Callable[[], Any], key: str, text: bool, pickled: bool = False
    ) -> None:
        self._fetch = fetch
        self.key = key
        self._text = text
        self._pickled = pickled

    def _dataset(self) -> Any:
        return self._fetch()

    def __len__(self) -> int:
        return int(self._dataset().shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._dataset().shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        if self._pickled:
            return np.dtype(object)
        return np.dtype(str) if self._text else np.dtype(self._dataset().dtype)

    def __getitem__(self, index: Any) -> Any:
        dataset = self._dataset()
        if self._pickled:
            part = dataset[index]
            if isinstance(index, slice):
                return [unpickled(data) for data in part]
            return unpickled(part)
        if not self._text:
            return dataset[index]
        part = dataset.asstr()[index]
        if isinstance(part, np.ndarray):
            return np.array(part.tolist(), dtype=str) if part.size else np.empty(0, dtype=str)
        return part

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> npt.NDArray[Any]:
        if self._pickled:
            values = self[:]
            array = np.empty(len(values), dtype=object)
            array[:] = values
            return array if dtype is None else array.astype(dtype)
        array = np.asarray(self[()] if not self._text else self[:])
        return array if dtype is None else array.astype(dtype)

    def __iter__(self) -> Iterator[Any]:
        total = len(self)
        for start in range(0, total, _ITER_ROWS):
            yield from self[start : min(total, start + _ITER_ROWS)]

    def __repr__(self) -> str:
        return f"<LazySeries {self.key!r}: {len(self)} rows of {self.dtype}>"


class Hdf5Store(Store):
    """Series in the HDF5 file ``path``.

    ``mode``: "a" (append, create if missing), "w" (start a new file), "r" (read only; works
    while another process writes the file). ``allow_pickle``: see ``Store``.
    """

    def __init__(
        self,
        path: str | Path,
        mode: str = "a",
        *,
        compression: str | int | None = None,
        flush_interval: float = 0.25,
        allow_pickle: bool = False,
    ) -> None:
        super().__init__(allow_pickle=allow_pickle)
        if mode not in ("r", "r+", "a", "w"):
            raise ValueError(
                f"Hdf5Store mode must be 'r', 'r+', 'a' or 'w' (got {mode!r}); use 'a' to append"
            )
        self.path = Path(path)
        self.mode = mode
        self._reader: SinkReader | None = None
        self._sink: Hdf5Sink | None = None
        if mode == "r":
            self._reader = open_sink(self.path)
            names = self._reader.keys()
        else:
            self._sink = Hdf5Sink(
                self.path, mode, compression=compression, flush_interval=flush_interval
            )
            names = self._sink.keys()
        self._datasets: set[str] = set(names)
        self._groups = {prefix for name in names for prefix in prefixes(name)}
        self._series = {name for name in names if self._dataset(name).maxshape[:1] == (None,)}
        self._unmarked: set[str] = set()  # new pickled series, marked at their first append

    def _dataset(self, key: str) -> Any:
        self._ensure_open()
        if self._sink is not None:
            return self._sink[key]
        assert self._reader is not None
        return self._reader[key]

    def keys(self, prefix: str = "") -> list[str]:
        self._ensure_open()
        return sorted(key for key in self._series if under(key, prefix))

    def _check_conflicts(self, key: str) -> None:
        other = _clash(key, self._datasets, self._groups)
        if other is not None:
            raise conflict_error(key, other)

    def _load_schema(self, key: str) -> SeriesSchema | None:
        if key not in self._datasets:
            return None
        dataset = self._dataset(key)
        if dataset.maxshape[:1] != (None,):
            raise SeriesKeyError(
                f"{self.path.name} holds a whole array at {key!r}, not a series of appended "
                "values: expected a key written by append; record under another key",
                key=key,
            )
        import h5py  # type: ignore[import-untyped]

        string = h5py.check_string_dtype(dataset.dtype)
        if string is not None:
            return SeriesSchema(np.dtype(object), (), text=True)
        if h5py.check_vlen_dtype(dataset.dtype) is not None:
            if dataset.attrs.get("series_values") == PICKLE_MARK:
                return PICKLED
            raise SeriesKeyError(
                f"{self.path.name} holds variable-length bytes at {key!r} without the mark of a "
                "pickled series: expected a series written by append; record under another key",
                key=key,
            )
        return SeriesSchema(np.dtype(dataset.dtype), tuple(dataset.shape[1:]))

    def _create(self, key: str, schema: SeriesSchema) -> SeriesSchema:
        if self._sink is None:
            raise SeriesKeyError(
                f"{self.path.name} is open read-only: cannot create the series {key!r}; open "
                "Hdf5Store(path, 'a') to record",
                key=key,
            )
        self._datasets.add(key)
        self._series.add(key)
        self._groups.update(prefixes(key))
        if schema.pickled:
            self._unmarked.add(key)
        return schema

    def _append_many(self, key: str, schema: SeriesSchema, values: Rows) -> None:
        sink = self._sink
        if sink is None:
            raise SeriesKeyError(
                f"{self.path.name} is open read-only: cannot append to {key!r}; open "
                "Hdf5Store(path, 'a') to record",
                key=key,
            )
        if schema.pickled:
            rows = np.empty(len(values), dtype=object)  # variable-length bytes, not 'S' strings
            rows[:] = list(values)
            if key not in self._unmarked:
                sink.extend(key, rows)
                return
            with sink.grouped():  # the first rows and the mark land together
                sink.extend(key, rows)
                sink.set_attrs(key, series_values=PICKLE_MARK)
            self._unmarked.discard(key)
            return
        if len(values) == 1:
            value = values[0]
            sink.append(
                key, value[()] if isinstance(value, np.ndarray) and not value.ndim else value
            )
        elif schema.text:
            sink.extend(key, list(values))
        else:
            sink.extend(key, np.asarray(values, dtype=schema.dtype))

    def _read(self, key: str, schema: SeriesSchema) -> LazySeries:
        return LazySeries(lambda: self._dataset(key), key, schema.text, schema.pickled)

    def flush(self) -> None:
        if self._sink is not None and not self._closed:
            self._sink.flush()

    def close(self) -> None:
        if self._closed:
            return
        try:
            if self._sink is not None:
                self._sink.close()
            if self._reader is not None:
                self._reader.close()
        finally:
            self._closed = True
