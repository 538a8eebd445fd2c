"""Checking the global heap collections a read is about to load, so damage gives an error.

HDF5 trusts the object sizes inside a global heap collection (where variable-length text and
bytes live) and, on some damaged collections, loops forever or reads the wrong object. Before a
reader converts a key's or an attribute's variable-length values, ``HeapCheck`` reads their
stored references (``_vlen_refs``) and checks every collection they name with plain reads of the
file (``_gcol``): the collection's header and object chain, and that every referenced object is
there. Damage found gives SinkReadError naming the file, the key or attribute, and the byte.

The cost follows what is read: the stored references of that key (16 bytes a value) and the
collections they name, each walked once per open file (a reader of numeric keys pays nothing).
A collection checked before is read again when a reference names an object it did not hold
then, since a live writer adds objects to collections. What is not covered is listed in
``_vlen_refs``. The file is read with ``os.pread`` (no mmap: a file cut short meanwhile gives
short reads, not SIGBUS).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from ._damage import DamageError, MissingObjectError
from ._errors import SinkReadError
from ._gcol import (
    HEADER_BYTES,
    LARGE,
    collection_indexes,
    collection_size,
    large_collection_indexes,
)
from ._object_header import Sizes
from ._vlen_refs import attribute_references, dataset_references, is_variable_length
from .recover import status_flags

_UNFLUSHED = "unless a writer still appends and has not flushed it yet"
_READ_AGAIN = "with a live writer, refresh() and read again; if none,"
_FIX = (
    "the file is damaged: recover what the other keys hold with SinkReader.load per key, "
    "or restore a copy"
)


class HeapCheck:
    """The heap check of one open file; its memory of checked collections lives as long."""

    def __init__(self, handle: h5py.File, path: Path) -> None:
        self.path = path
        address, length = handle.id.get_create_plist().get_sizes()
        base = handle.id.get_create_plist().get_userblock()
        self.sizes = Sizes(address=address, length=length, base=base)
        # Other field sizes give other layouts than the ones these modules read; no sink or
        # h5py default makes them.
        self.enabled = address in (2, 4, 8) and length in (2, 4, 8)
        self._indexes: dict[int, np.ndarray] = {}

    def dataset(self, dataset: h5py.Dataset, key: str) -> None:
        """SinkReadError if the variable-length values of ``dataset`` point into a damaged
        collection; nothing to do for any other type."""
        if not self.enabled or not is_variable_length(dataset.id.get_type()):
            return
        with self._file(f"key {key!r}", key) as stored:
            references = dataset_references(dataset, stored.read, self.sizes)
            self._check(stored, references, f"key {key!r}")

    def attributes(self, target: Any, key: str) -> None:
        """SinkReadError if a variable-length attribute of ``target`` (a dataset, a group or
        the file) points into a damaged collection."""
        if not self.enabled:
            return
        with self._file(f"the attributes of {key!r}", key) as stored:
            for name, references in attribute_references(target, stored.read, self.sizes):
                stored.what = f"attribute {name!r} of {key!r}"
                self._check(stored, references, stored.what)

    @contextmanager
    def _file(self, what: str, key: str) -> Iterator[_Stored]:
        """The file's bytes for one check; DamageError found becomes SinkReadError."""
        try:
            descriptor = os.open(self.path, os.O_RDONLY)
        except OSError as error:
            raise SinkReadError(
                f"cannot read sink file {self.path}: {error.strerror}; check that it exists and "
                "is readable",
                path=str(self.path),
            ) from None
        try:
            stored = _Stored(descriptor, what)
            yield stored
        except DamageError as damage:
            if isinstance(damage, MissingObjectError):  # also what a live writer's lag looks like
                found = (
                    "a value refers to an object missing from its heap collection, damaged at "
                    f"byte {damage.offset} {_UNFLUSHED} (expected {damage.expected}, got "
                    f"{damage.got}); {_READ_AGAIN}"
                )
            elif _writer_holds(self.path):
                found = (  # SWMR does not order heap collections: a reader can see one unwritten
                    f"its variable-length data does not read as intact at byte {damage.offset} "
                    f"(expected {damage.expected}, got {damage.got}), damaged {_UNFLUSHED}; "
                    f"{_READ_AGAIN}"
                )
            else:
                found = (
                    f"its variable-length data is damaged at byte {damage.offset} (expected "
                    f"{damage.expected}, got {damage.got});"
                )
            raise SinkReadError(
                f"cannot read {stored.what} of sink file {self.path}: {found} {_FIX}",
                path=str(self.path),
                key=key,
                offset=damage.offset,
            ) from None
        finally:
            os.close(descriptor)

    def _check(self, stored: _Stored, references: np.ndarray, what: str) -> None:
        used = references[references["address"] != 0]  # address 0: an empty, null value
        if not used.size:
            return
        addresses, keys = _grouped(used)
        fresh: set[int] = set()
        for address in addresses.tolist():
            if address not in self._indexes:
                self._indexes[address] = self._collection(stored, address)
                fresh.add(address)
        missing = self._missing(addresses, keys)
        if missing.size:  # a live writer may have added objects since a collection was read
            for number in _distinct(missing >> np.uint64(32)).tolist():
                address = int(addresses[number])
                if address not in fresh:
                    self._indexes[address] = self._collection(stored, address)
            missing = self._missing(addresses, keys)
        if missing.size:
            address = int(addresses[int(missing[0] >> np.uint64(32))])
            raise MissingObjectError(
                self.sizes.base + address + HEADER_BYTES,
                f"object {int(missing[0] & np.uint64(0xFFFFFFFF))} in the collection {what} "
                "points into",
                f"objects {_sample(self._indexes[address])}",
            )

    def _missing(self, addresses: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """The keys (collection number << 32 | object index) whose object is not in its
        collection as last read."""
        present = np.concatenate([
            (np.uint64(number) << np.uint64(32)) | self._indexes[address].astype(np.uint64)
            for number, address in enumerate(addresses.tolist())
        ])  # fmt: skip
        if not present.size:
            return keys
        place = np.minimum(np.searchsorted(present, keys), len(present) - 1)
        missing: np.ndarray = keys[present[place] != keys]
        return missing

    def _collection(self, stored: _Stored, address: int) -> np.ndarray:
        """The object indexes of the collection at (relative) ``address``, checked."""
        start, length = self.sizes.base + address, self.sizes.length
        size = collection_size(stored.read(start, 8 + length), start, stored.size, length)
        if size > LARGE:
            return large_collection_indexes(stored.read, start, size, length)
        data = stored.read(start, size)
        if len(data) != size:
            raise DamageError(start, f"a collection of {size} bytes", f"{len(data)} before the end")
        return collection_indexes(data, start, length)


def _writer_holds(path: Path) -> bool:
    """Whether the superblock's status flags say a writer has the file open (or was killed with
    it open); HDF5 sets them while a writer holds the file and clears them when it closes."""
    try:
        return status_flags(path) != 0
    except OSError:  # RecoveryError included: gone or no superblock now, so no writer to wait for
        return False


class _Stored:
    """An open file's bytes, read with ``os.pread``: short at the end of the file, whose size is
    looked up again when a read or a check goes past it (a live writer extends the file)."""

    def __init__(self, descriptor: int, what: str) -> None:
        self.descriptor, self.what = descriptor, what  # what is being read, for the message
        self._size = os.fstat(descriptor).st_size

    @property
    def size(self) -> int:
        self._size = os.fstat(self.descriptor).st_size
        return self._size

    def read(self, offset: int, count: int) -> bytes:
        if offset < 0 or count <= 0:
            return b""
        if offset + count > self._size:
            count = min(count, max(0, self.size - offset))
        return os.pread(self.descriptor, count, offset) if count else b""


def _grouped(used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct collection addresses of ``used`` references (sorted) and the distinct keys
    (number of the collection in that list << 32 | object index), sorted: flat sorts only
    (np.unique on pairs, or hashing, is many times slower for 100,000 references)."""
    address, index = used["address"].astype(np.uint64), used["index"].astype(np.uint64)
    addresses = _distinct(address)
    number = np.searchsorted(addresses, address).astype(np.uint64)
    return addresses, _distinct((number << np.uint64(32)) | index)


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted."""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def _sample(indexes: np.ndarray) -> str:
    """A short account of a collection's object indexes."""
    if not indexes.size:
        return "none"
    if indexes.size <= 4:
        return ", ".join(str(int(index)) for index in indexes)
    return f"{int(indexes[0])} to {int(indexes[-1])} ({indexes.size} objects)"
