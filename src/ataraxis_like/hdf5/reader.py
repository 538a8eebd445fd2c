"""Reading a sink's file, also while a writer appends to it (SWMR).

``open_sink(path)`` opens the file in SWMR read mode without HDF5's file lock, so it never
blocks or is blocked by the writer. ``reader[key]`` is a lazy h5py dataset (refreshed to the
writer's last flush) that slices larger-than-memory data; ``reader.load(key)`` reads a whole key
as a numpy array (text as ``str`` objects). Keys created after the reader opened appear after
``refresh()``, which reopens the file (a lookup of a missing key does that by itself).
``load`` and ``attrs`` check the global heap collections that variable-length values point into
before HDF5 decodes them (``_heap_check``: damaged ones make HDF5 loop forever); slicing the
h5py view of ``reader[key]`` reads through HDF5 unchecked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from ..errors import AtaraxisError
from ._errors import SinkError, SinkKeyError, SinkNotFoundError, SinkReadError
from ._heap_check import HeapCheck
from ._keys import RESERVED
from ._schema import normalize_key, stored_text_kind
from ._swmr_read import open_swmr_reader
from .recover import is_stale_flags_error

_RETRY_SECONDS = 2.0
_OUTSIDE_SWMR = "not already open for SWMR writing"
_NO_SIGNATURE = "file signature not found"


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn what HDF5 says about a damaged or foreign file (h5py raises OSError, RuntimeError,
    ValueError or TypeError) into SinkReadError naming the file."""
    try:
        yield
    except AtaraxisError:
        raise
    except (OSError, RuntimeError, ValueError, TypeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SinkReadError(
            f"cannot read sink file {path}: {reason[:200]}; the file is damaged or was not "
            "written by HDF5: restore it from a copy, or run `ataraxis-like recover` if its "
            "writer was killed",
            path=str(path),
        ) from error


def _unopenable(key: str, error: KeyError, path: Path) -> SinkReadError:
    reason = str(error).strip("'\"")
    return SinkReadError(
        f"cannot open key {key!r} of sink file {path}: {reason[:200]}; its header is damaged or "
        f"of a newer HDF5 format than this h5py's HDF5 {h5py.version.hdf5_version}: read it with "
        "a newer h5py, or restore a copy",
        path=str(path),
    )


def lookup(handle: h5py.Group, name: str, path: Path) -> Any:
    """The object at ``name``, or None if no link has that name. h5py's ``get`` also answers
    None when the link exists but HDF5 cannot open its object (a damaged header, or a format
    newer than this HDF5): that is SinkReadError here, never a key said to be missing."""
    with reading(path):
        try:
            return handle[name]
        except KeyError as error:
            if name not in handle:
                return None
            failed = error
    raise _unopenable(name, failed, path)


def _open_swmr(path: Path, retry_seconds: float) -> h5py.File:
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            return open_swmr_reader(path, retry_seconds)
        except OSError as error:
            if _NO_SIGNATURE in str(error):
                # A writer creating the file has not written its superblock yet.
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)
                continue
            # Both also happen for a moment while a live writer leaves SWMR mode to add objects.
            if not (is_stale_flags_error(error) or _OUTSIDE_SWMR in str(error)):
                raise
            if time.monotonic() >= deadline:
                raise SinkError(
                    f"{path} stayed open by a writer outside SWMR mode for {retry_seconds} s "
                    "(or that writer was killed): wait for it, or run `ataraxis-like recover "
                    f"{path}` once no process writes it",
                    path=str(path),
                ) from None
        time.sleep(0.005)


def dataset_keys(handle: h5py.File) -> list[str]:
    """Every dataset path in an open file (the sink's bookkeeping excluded)."""
    found: list[str] = []
    handle.visititems(
        lambda name, item: (
            found.append(name)
            if isinstance(item, h5py.Dataset) and not name.startswith(RESERVED)
            else None
        )
    )
    return found


def first_unopenable_key(handle: h5py.File, path: Path) -> SinkReadError | None:
    """The error naming the first object HDF5 cannot open, found by walking the hard links one
    by one (``visititems`` only says that visiting failed; each object is entered once), or None
    if the walk finds none or cannot get that far (the caller's own error then stands)."""
    entered: set[int] = set()
    pending: list[tuple[str, h5py.Group]] = [("", handle)]
    try:
        while pending:
            prefix, group = pending.pop()
            for name in group:
                if not isinstance(group.get(name, getlink=True), h5py.HardLink):
                    continue
                try:
                    item = group[name]
                except KeyError as error:
                    return _unopenable(f"{prefix}{name}", error, path)
                if not isinstance(item, h5py.Group):
                    continue
                address = h5py.h5o.get_info(item.id).addr
                if address not in entered:
                    entered.add(address)
                    pending.append((f"{prefix}{name}/", item))
    except (KeyError, OSError, RuntimeError, ValueError, TypeError):
        return None
    return None


def load_dataset(dataset: h5py.Dataset) -> np.ndarray:
    """A whole dataset in memory, variable-length UTF-8 text as ``str`` objects."""
    text = stored_text_kind(dataset.dtype)
    if text == "str":
        return np.asarray(dataset.asstr()[()], dtype=object)
    if text == "bytes":
        out = np.empty(dataset.shape, dtype=object)
        if dataset.shape == ():  # h5py gives a scalar's one sequence itself, not wrapped
            out[()] = np.asarray(dataset[()], dtype=np.uint8).tobytes()
            return out
        for index, item in np.ndenumerate(dataset[()]):
            out[index] = np.asarray(item, dtype=np.uint8).tobytes()
        return out
    return np.asarray(dataset[()])


class SinkReader:
    """A read-only view of a sink's file; use as a context manager or call ``close()``."""

    def __init__(self, path: Path | str, retry_seconds: float = _RETRY_SECONDS) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SinkNotFoundError(
                f"{self.path} does not exist; pass the path of a sink's file", path=str(self.path)
            )
        self._retry = retry_seconds
        with reading(self.path):
            self.file = _open_swmr(self.path, retry_seconds)
            self._heap = HeapCheck(self.file, self.path)

    def refresh(self) -> None:
        """Reopen the file: new keys and everything flushed so far become visible."""
        self.file.close()
        with reading(self.path):
            self.file = _open_swmr(self.path, self._retry)
            self._heap = HeapCheck(self.file, self.path)

    def keys(self) -> list[str]:
        """Every dataset path in the file (the sink's bookkeeping excluded)."""
        try:
            with reading(self.path):
                return dataset_keys(self.file)
        except SinkReadError:
            named = first_unopenable_key(self.file, self.path)
            if named is None:
                raise
            raise named from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._get(normalize_key(key), reopen=True) is not None

    def _get(self, key: str, reopen: bool) -> h5py.Dataset | None:
        item = lookup(self.file, key, self.path)
        if item is None and reopen:
            self.refresh()
            item = lookup(self.file, key, self.path)
        return item if isinstance(item, h5py.Dataset) else None

    def __getitem__(self, key: str) -> h5py.Dataset:
        """The dataset at ``key`` as a lazy h5py view, refreshed to the last flush."""
        name = normalize_key(key)
        dataset = self._get(name, reopen=True)
        if dataset is None:
            try:
                listed = f"its keys are {self.keys()[:20]}"
            except SinkReadError as error:
                listed = f"its other keys cannot be listed ({error})"
            raise SinkKeyError(f"{self.path.name} has no dataset {name!r}; {listed}", key=name)
        if self.file.swmr_mode:
            with reading(self.path):
                dataset.refresh()
        return dataset

    def load(self, key: str) -> np.ndarray:
        """The whole dataset at ``key`` in memory (variable-length text as ``str`` objects);
        SinkReadError if the global heap collections its values point into are damaged."""
        dataset = self[key]
        with reading(self.path):
            self._heap.dataset(dataset, normalize_key(key))
            return load_dataset(dataset)

    def attrs(self, key: str = "/") -> dict[str, Any]:
        """The HDF5 attributes of a dataset or group ("/" is the file); SinkReadError if the
        global heap collections their text points into are damaged."""
        with reading(self.path):
            if key in ("", "/"):
                self._heap.attributes(self.file, "/")
                return dict(self.file.attrs)
        name = normalize_key(key)
        target = lookup(self.file, name, self.path)
        if target is None:  # perhaps made since the file was opened
            self.refresh()
            target = lookup(self.file, name, self.path)
        if target is None:
            raise SinkKeyError(f"{self.path.name} has no dataset or group {name!r}", key=name)
        with reading(self.path):
            self._heap.attributes(target, name)
            return dict(target.attrs)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> SinkReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SinkReader({str(self.path)!r})"


def open_sink(path: Path | str) -> SinkReader:
    """Open a sink's file for reading, live while a writer runs (see SinkReader)."""
    return SinkReader(path)
