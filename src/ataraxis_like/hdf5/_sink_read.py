"""Reading back what a sink wrote: datasets, whole arrays, keys and attributes.

The local sink reads its own open file (after a flush, so everything appended is there); a
read-only or lock-mode sink reads through a ``SinkReader``, refreshed before each read so that
rows written since (by this sink's flush or by other processes) are seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._errors import SinkKeyError
from ._schema import normalize_key
from ._store import Store
from .reader import SinkReader, dataset_keys, load_dataset


class SinkReading:
    """The read calls of ``Hdf5Sink`` (mixed into it; the sink provides the state below)."""

    path: Path
    mode: str
    _closed: bool
    _store: Store | None
    _reader: SinkReader | None

    def flush(self) -> None:
        """Hdf5Sink.flush: put every appended row in the file."""
        raise NotImplementedError

    def _reader_now(self) -> SinkReader:
        if self.mode != "r" and not self._closed:
            self.flush()
        if self._reader is None:
            self._reader = SinkReader(self.path)
        elif self.mode != "r":
            self._reader.refresh()
        return self._reader

    def __getitem__(self, key: str) -> Any:
        """A lazy h5py dataset at ``key`` (everything appended so far is flushed first)."""
        if self._store is None:
            return self._reader_now()[key]
        self.flush()
        name = normalize_key(key)
        if name not in self._store.schemas:
            raise SinkKeyError(
                f"{self.path.name} has no dataset {name!r}; its keys are "
                f"{sorted(self._store.schemas)[:20]}",
                key=name,
            )
        return self._store.dataset(name)

    def load(self, key: str) -> np.ndarray:
        """The whole dataset at ``key`` as a numpy array (text as ``str`` objects); through a
        reader, text is checked first (SinkReadError for a damaged global heap: see reader)."""
        if self._store is None:
            return self._reader_now().load(key)
        return load_dataset(self[key])

    def keys(self) -> list[str]:
        """Every dataset path in the file."""
        if self._store is None:
            return self._reader_now().keys()
        self.flush()
        return dataset_keys(self._store.file)

    def attrs(self, key: str = "/") -> dict[str, Any]:
        """The HDF5 attributes of a dataset or group ("/" is the file)."""
        if self._store is None:
            return self._reader_now().attrs(key)
        self.flush()
        if key in ("", "/"):
            return dict(self._store.file.attrs)
        name = normalize_key(key)
        target = self._store.file.get(name)  # a dataset or a group (flushed above)
        if target is None:
            raise SinkKeyError(f"{self.path.name} has no dataset or group {name!r}", key=name)
        return dict(target.attrs)
