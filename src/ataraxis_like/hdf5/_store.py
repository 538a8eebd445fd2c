"""One writer's HDF5 file: SWMR mode, datasets made on demand, rows appended in blocks.

The file is written in SWMR mode (format bounds ``FILE_FORMAT``) so that live readers can open
it and so that a killed writer leaves a consistent file (SWMR flushes metadata in dependency
order; see recover.py for clearing the stale flags). SWMR does not allow new objects or
attributes, so such changes happen in a *structural window*: close the file, reopen it normally,
change it, and switch SWMR on again. That costs about 0.2 ms; readers that open the file inside
the window retry, and readers already open see new keys only after they reopen (SinkReader does
that by itself).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from .._files import FILE_MODE, touch_new
from ._errors import SinkDataError, SinkKeyError
from ._h5write import direct_chunk_rows, set_attribute, write_in_chunks, write_objects
from ._keys import RESERVED
from ._schema import ROWS, Schema, to_h5
from ._space import Room, release
from .recover import clear_status_flags, is_stale_flags_error

FILE_FORMAT = ("v110", "v114")
"""HDF5 format bounds of every file a sink writes: 1.10 is the oldest with SWMR, and 1.14 the
newest that every supported h5py reads. "latest" would follow the library: HDF5 2.0 (h5py 3.15+)
writes layout messages version 5 for filtered datasets, and HDF5 1.14 (h5py 3.13) cannot open
them, so a file from a machine with newer h5py would be unreadable on one with the minimum."""
DEFAULT_CHUNK_BYTES = 256 * 1024
MIN_CHUNK_BYTES = 16 * 1024
"""The smallest chunk a key gets from its first block: a 20-row statistics file of six keys is
about 110 KB with it (2.6 MB with chunks sized for streams), and a key whose first block is one
scalar still writes 2,048 rows per chunk later. Before writers reserved the disk room a write
needs (_space.Room), a batch spanning many small new chunks could fail on a full disk in a way
HDF5 could not undo (tests/hdf5/test_limits.py, test_full_disk.py)."""
FIRST_BLOCKS_PER_CHUNK = 8
MAX_CHUNK_ROWS = 65536


def compression_options(compression: object) -> dict[str, Any]:
    """h5py keyword arguments for ``compression``: None, "gzip", "lzf" or a gzip level 0-9."""
    if compression is None:
        return {}
    if compression in ("gzip", "lzf"):
        return {"compression": compression}
    if isinstance(compression, int) and not isinstance(compression, bool) and 0 <= compression <= 9:
        return {"compression": "gzip", "compression_opts": compression}
    raise ValueError(
        f"compression must be None, 'gzip', 'lzf' or a gzip level 0-9 (got {compression!r}); "
        "pass one of those"
    )


def open_file(path: Path, mode: str, file_mode: int = FILE_MODE, **options: Any) -> h5py.File:
    """Open for writing with our settings, clearing a killed writer's flags when needed.

    A file this creates is made first with ``file_mode`` (h5py would take the umask's mode, and
    every user could read it); an existing file keeps its mode. The caller holds the file's
    writer lock, so stale flags cannot belong to a live sink.
    """
    if mode in ("w", "w-", "x", "a") and touch_new(path, file_mode):
        mode = "w"  # the empty file just made is not HDF5 yet: h5py fills it
    try:
        return h5py.File(path, mode, libver=FILE_FORMAT, locking=False, **options)
    except OSError as error:
        if not (is_stale_flags_error(error) and clear_status_flags(path)):
            raise
    return h5py.File(path, mode, libver=FILE_FORMAT, locking=False, **options)


def scan_schemas(handle: h5py.File) -> dict[str, Schema]:
    """The schema of every dataset in the file, bookkeeping excluded."""
    found: dict[str, Schema] = {}

    def visit(name: str, item: object) -> None:
        if isinstance(item, h5py.Dataset) and not name.startswith(RESERVED):
            found[name] = Schema.from_dataset(name, item)

    handle.visititems(visit)
    return found


class Store:
    """The open file of one writer (a sink, the queue's writer process, a lock-mode batch)."""

    def __init__(
        self,
        path: Path | str,
        mode: str = "a",
        compression: object = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        file_mode: int = FILE_MODE,
    ) -> None:
        self.path = Path(path)
        self._options = compression_options(compression)
        self._chunk_bytes = chunk_bytes
        self.file = open_file(self.path, mode, file_mode)
        self.schemas = scan_schemas(self.file)
        self._datasets: dict[str, h5py.Dataset] = {}
        self._chunk_rows_direct: dict[str, int] = {}  # see direct_chunk_rows
        self._groups: dict[str, h5py.Group] = {}  # checked to be groups since the file opened
        self._window = 0
        self._room = Room(self.file, factor=2 if self._options else 1)
        self._durable: dict[str, int] = {}  # rows keys appended since the last flush: length then
        self._flush_failed = False
        self.swmr = self._start_swmr()

    def _start_swmr(self) -> bool:
        try:
            self.file.swmr_mode = True
            return True
        except (ValueError, RuntimeError, OSError) as error:
            warnings.warn(
                f"{self.path}: SWMR mode unavailable ({error}); writing without live readers "
                "or crash protection: write to a new file to get both",
                RuntimeWarning,
                stacklevel=3,
            )
            return False

    # ------------------------------------------------------------- structure
    @contextmanager
    def structural(self) -> Iterator[h5py.File]:
        """A window where objects and attributes may change (SWMR forbids that)."""
        if self._window or not self.swmr:
            self._window += 1
            try:
                yield self.file
            finally:
                self._window -= 1
            return
        self._room.ensure(0)
        self.file.close()
        self._datasets.clear()
        self._chunk_rows_direct.clear()
        self._groups.clear()
        self.file = h5py.File(self.path, "r+", libver=FILE_FORMAT, locking=False)
        self._room = Room(self.file, self._room.pending, self._room.factor)
        self._window = 1
        try:
            yield self.file
        finally:
            self._window = 0
            self.file.swmr_mode = True

    def chunk_rows(self, schema: Schema, first_rows: int = 1) -> int:
        """Rows per chunk of a new dataset whose first block has ``first_rows`` rows.

        HDF5 fixes a dataset's chunk shape when it is made and stores every chunk whole, so a
        chunk sized for a stream would make a file of one row weigh ``chunk_bytes``. The chunk
        follows the data instead: room for FIRST_BLOCKS_PER_CHUNK first blocks, rounded up to a
        power of two, at least MIN_CHUNK_BYTES and at most ``chunk_bytes`` (a key that starts
        with big blocks, or big rows, gets big chunks at once; a ``chunk_bytes`` below the floor
        is the caller asking for small chunks, and is kept)."""
        floor = min(MIN_CHUNK_BYTES, self._chunk_bytes)
        wanted = max(first_rows * FIRST_BLOCKS_PER_CHUNK * schema.row_bytes, floor)
        chunk_bytes = min(1 << (wanted - 1).bit_length(), self._chunk_bytes)
        return max(1, min(MAX_CHUNK_ROWS, chunk_bytes // schema.row_bytes))

    def create(self, schemas: list[Schema], first_rows: Mapping[str, int] | None = None) -> None:
        """Create the datasets of new rows keys (one structural window for all), each chunked
        for its first block (``first_rows`` by key; one row when not given)."""
        missing = list({s.key: s for s in schemas if s.key not in self.schemas}.values())
        if not missing:
            return
        self._room.ensure(4096 * len(missing))
        with self.structural() as handle:
            for schema in missing:
                group, name = self._parent_group(handle, schema.key)
                group.create_dataset(
                    name,
                    shape=(0, *schema.shape),
                    maxshape=(None, *schema.shape),
                    chunks=(
                        self.chunk_rows(schema, (first_rows or {}).get(schema.key, 1)),
                        *schema.shape,
                    ),
                    dtype=schema.h5_dtype,
                    **self._options,
                )
                self.schemas[schema.key] = schema

    def _parent_group(self, handle: h5py.File, key: str) -> tuple[h5py.Group, str]:
        """The group that is to hold the new ``key`` (created as needed) and the name in it.

        Raises SinkKeyError when a prefix of the key is a dataset or the key already exists.
        Groups are looked up once per opening of the file, not once per key.
        """
        parent, _, name = key.rpartition("/")
        group, created = self._groups.get(parent), False
        if group is None:
            group, created = self._require_groups(handle, key)
        if not created and name in group:
            self._check_parents(handle, key)  # raises, naming what the key clashes with
        return group, name

    def _require_groups(self, handle: h5py.File, key: str) -> tuple[h5py.Group, bool]:
        """The parent group of ``key``, walked from its nearest known ancestor and created as
        needed; whether its last part was created (so nothing can be in it yet)."""
        parts = key.split("/")[:-1]
        depth = len(parts)
        while depth and "/".join(parts[:depth]) not in self._groups:
            depth -= 1
        group = self._groups["/".join(parts[:depth])] if depth else handle
        created = False
        for level in range(depth, len(parts)):
            item = None if created else group.get(parts[level])
            if item is None:
                item, created = group.create_group(parts[level]), True
            elif not isinstance(item, h5py.Group):
                self._check_parents(handle, key)  # raises: a prefix is a dataset
            group = self._groups["/".join(parts[: level + 1])] = item
        return group, created

    def _check_parents(self, handle: h5py.File, key: str) -> None:
        parts = key.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            item = handle.get(prefix)
            if item is None:
                return
            if isinstance(item, h5py.Dataset) or depth == len(parts):
                kind = "a dataset" if isinstance(item, h5py.Dataset) else "a group"
                raise SinkKeyError(
                    f"sink key {key!r} cannot be created: {prefix!r} is already {kind} in "
                    f"{self.path.name}; use another key",
                    key=key,
                )

    def dataset(self, key: str) -> h5py.Dataset:
        dataset = self._datasets.get(key)
        if dataset is None:
            dataset = self._datasets[key] = self.file[key]
        return dataset

    # ------------------------------------------------------------------ data
    def append_block(self, key: str, rows: np.ndarray) -> None:
        """Write rows at the end of ``key`` (created beforehand with ``create``).

        Room on disk is reserved first (OSError ENOSPC, with nothing written, when there is
        none); a write that fails anyway takes the new rows off the dataset again.
        """
        count = len(rows)
        if not count:
            return
        dataset = self.dataset(key)
        start = dataset.shape[0]
        schema = self.schemas[key]
        room = rows_bytes(rows)
        if key not in self._durable:
            chunk_rows = dataset.chunks[0] if dataset.chunks else 1  # this key's own chunk
            room += chunk_rows * schema.row_bytes  # a new chunk, at the flush
        self._room.ensure(room)
        self._durable.setdefault(key, start)
        self._room.pending += room
        dataset.resize(start + count, axis=0)
        try:
            if schema.text == "bytes":
                write_objects(dataset, (start, *(0 for _ in schema.shape)), to_h5(schema, rows))
            else:
                self._write_rows(key, dataset, start, rows)
        except BaseException:
            try:
                dataset.resize(start, axis=0)
            except Exception:
                self._flush_failed = True  # the close takes the key back to its durable length
            raise

    def _write_rows(self, key: str, dataset: h5py.Dataset, start: int, rows: np.ndarray) -> None:
        """Write numeric ``rows`` at row ``start``: whole chunks straight to the file where the
        layout allows (``write_in_chunks``), otherwise through h5py."""
        chunk_rows = self._chunk_rows_direct.get(key)
        if chunk_rows is None:
            chunk_rows = self._chunk_rows_direct[key] = direct_chunk_rows(dataset)
        if not chunk_rows or rows.dtype != dataset.dtype or not rows.flags.c_contiguous:
            dataset[start : start + len(rows)] = rows
        else:
            write_in_chunks(dataset, start, rows, chunk_rows)

    def truncate(self, key: str, length: int) -> None:
        with self.structural():
            dataset = self.dataset(key)
            if dataset.shape[0] > length:
                dataset.resize(length, axis=0)

    def write_array(self, schema: Schema, array: np.ndarray) -> None:
        """Store a whole array at its key, in place when the layout is unchanged."""
        old = self.schemas.get(schema.key)
        if old is not None and old.kind == ROWS:
            raise SinkDataError(
                f"sink key {schema.key!r} holds appended {old.describe()}; write() stores whole "
                "arrays: write to another key",
                key=schema.key,
            )
        self._room.ensure(2 * rows_bytes(array))
        if schema.text == "bytes":
            with self.structural() as handle:
                if old is not None:
                    self._delete(handle, schema.key)
                dataset = handle.create_dataset(schema.key, shape=schema.shape,
                                                dtype=schema.h5_dtype)  # fmt: skip
                write_objects(dataset, tuple(0 for _ in schema.shape), to_h5(schema, array))
            self.schemas[schema.key] = schema
            return
        if old == schema:
            self.dataset(schema.key)[...] = array
            self.schemas[schema.key] = schema
            return
        with self.structural() as handle:
            attributes: dict[str, Any] = {}
            if old is not None:
                attributes = dict(handle[schema.key].attrs)
                self._delete(handle, schema.key)
                group, name = handle, schema.key
            else:
                group, name = self._parent_group(handle, schema.key)
            options = self._options if array.ndim and array.size else {}
            dataset = group.create_dataset(name, data=array, dtype=schema.h5_dtype, **options)
            dataset.attrs.update(attributes)
            self.schemas[schema.key] = schema

    def _delete(self, handle: h5py.File, key: str) -> None:
        """Unlink ``key`` and forget its open dataset: a batch may write the key again in the
        same window, and the old handle still reaches the unlinked dataset (a write through it
        went nowhere, or failed on the old shape)."""
        dataset = self._datasets.pop(key, None)
        self._chunk_rows_direct.pop(key, None)
        if dataset is not None:
            dataset.id.close()
        del handle[key]

    def set_attrs(self, key: str, attributes: dict[str, Any]) -> None:
        """Set attributes of a dataset or group ("" or "/" is the file's root)."""
        self._room.ensure(4096 + sum(len(str(value)) for value in attributes.values()))
        with self.structural() as handle:
            target: Any = self._groups.get(key)
            if target is not None:
                pass
            elif key in ("", "/"):
                target = handle
            elif key in handle:
                target = handle[key]
            else:
                raise SinkKeyError(
                    f"sink key {key!r} is not in {self.path.name}: set attributes on a key after "
                    "its first append or write, or on an existing group",
                    key=key,
                )
            for name, value in attributes.items():
                set_attribute(target, name, value)

    def flush(self) -> None:
        """Put every written row in the file. A flush HDF5 could not finish leaves rows keys
        pointing at chunks never written: the close then cuts them back to their last durable
        length, so the file never reads back rows that are not in it."""
        self._room.ensure(0)
        try:
            self.file.flush()
        except BaseException:
            self._flush_failed = True
            raise
        self._room.flushed()
        self._durable.clear()
        self._flush_failed = False

    def close(self) -> None:
        if self.file.id.valid:
            try:
                if self._flush_failed:
                    self._cut_to_durable()
            finally:
                self.file.close()
                release(self.path)
        self._datasets.clear()
        self._chunk_rows_direct.clear()
        self._groups.clear()

    def _cut_to_durable(self) -> None:
        for key, length in self._durable.items():
            dataset = self.dataset(key)
            if dataset.shape[0] > length:
                dataset.resize(length, axis=0)
        self._durable.clear()
        self.file.flush()
        self._flush_failed = False


def rows_bytes(rows: np.ndarray) -> int:
    """Bytes ``rows`` take in the file (variable-length text and bytes: their lengths)."""
    if rows.dtype != object:
        return int(rows.nbytes)
    return sum(len(item) for item in rows.flat if isinstance(item, str | bytes)) + 16 * rows.size
