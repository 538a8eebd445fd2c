"""Where a dataset's or attribute's variable-length values live, read from its stored bytes.

In the file, each variable-length element (a ``str`` or ``bytes`` row of the sink, an h5py text
attribute) is a reference: the sequence length (u32), the address of a global heap collection
(``sizeof_addr`` bytes) and the object's index in it (u32), all little-endian. Reading them
through h5py would convert them and so load the collections; these functions read the stored
elements instead: chunks by their index entries (filters undone by ``unfiltered_chunk``),
contiguous data at its offset, compact data and attribute values from the object header.

Covered: datasets and attributes whose type is itself variable-length (text or a sequence),
attributes in the object header and in dense storage (``_dense_attributes``). Not covered (no
references returned): variable-length members nested in compound or array types, sequences of
sequences, virtual datasets, attributes kept as shared messages or in the parts of dense
storage ``_dense_attributes`` does not read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from ._chunk_filters import pipeline, unfiltered_chunk
from ._damage import DamageError
from ._dense_attributes import dense_attribute_values
from ._object_header import Read, Sizes, attribute_values, compact_data, messages


def is_variable_length(kind: Any) -> bool:
    """Whether an HDF5 type is itself variable-length: text, or a sequence (not one nested in
    a compound or array type)."""
    if kind.get_class() == h5py.h5t.VLEN:
        return True
    return bool(kind.get_class() == h5py.h5t.STRING and kind.is_variable_str())


def reference_dtype(address_size: int) -> np.dtype[Any]:
    """The stored form of one variable-length element."""
    return np.dtype([("length", "<u4"), ("address", f"<u{address_size}"), ("index", "<u4")])


def _exact(read: Read, offset: int, count: int, what: str) -> bytes:
    data = read(offset, count)
    if len(data) != count:
        raise DamageError(offset, f"{what} of {count} bytes", f"{len(data)} bytes before the end")
    return data


def dataset_references(dataset: Any, read: Read, sizes: Sizes) -> np.ndarray:
    """The stored references of a variable-length dataset, inside its current extent (a chunk
    may hold stale elements past it, which HDF5 never reads)."""
    item = reference_dtype(sizes.address)
    shape = tuple(int(extent) for extent in dataset.shape)
    count = math.prod(shape)
    if not count:
        return np.empty(0, dtype=item)
    create = dataset.id.get_create_plist()
    layout = create.get_layout()
    if layout == h5py.h5d.CHUNKED:
        parts = list(_chunk_references(dataset, create, read, item, shape))
        return np.concatenate(parts) if parts else np.empty(0, dtype=item)
    if layout == h5py.h5d.CONTIGUOUS:
        offset = dataset.id.get_offset()
        if offset is None or not dataset.id.get_storage_size():
            # never written: every element is the fill value, an empty sequence (HDF5 gives
            # its undefined address plus the user block size as the offset then)
            return np.empty(0, dtype=item)
        stored = _exact(read, offset, count * item.itemsize, "contiguous data")
        return np.frombuffer(stored, dtype=item)
    if layout == h5py.h5d.COMPACT:
        address = h5py.h5o.get_info(dataset.id).addr
        found = compact_data(messages(read, address, sizes))
        if found is None or len(found[0]) < count * item.itemsize:
            raise DamageError(
                sizes.base + address,
                f"compact data of {count * item.itemsize} bytes in the object header",
                "none" if found is None else f"{len(found[0])} bytes",
            )
        return np.frombuffer(found[0], dtype=item, count=count)
    return np.empty(0, dtype=item)  # virtual: the data is in other datasets


def _chunk_references(
    dataset: Any, create: Any, read: Read, item: np.dtype[Any], shape: tuple[int, ...]
) -> Iterator[np.ndarray]:
    chunk_shape = tuple(int(extent) for extent in create.get_chunk())
    chunk_bytes = math.prod(chunk_shape) * item.itemsize
    filters = pipeline(create)
    for info in _chunk_infos(dataset):
        stored = _exact(read, info.byte_offset, info.size, "a stored chunk")
        if filters:
            try:
                decoded = unfiltered_chunk(filters, info.filter_mask, stored, chunk_bytes)
            except (ValueError, OSError) as error:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise DamageError(
                    info.byte_offset, "a chunk its filters can decode", reason[:120]
                ) from None
            if decoded is None:  # a filter not undone here: this chunk is not checked
                continue
            stored = decoded
        if len(stored) < chunk_bytes:
            raise DamageError(
                info.byte_offset, f"a chunk of {chunk_bytes} bytes", f"{len(stored)} bytes"
            )
        elements = np.frombuffer(stored, dtype=item, count=math.prod(chunk_shape))
        inside = tuple(
            slice(0, max(0, min(extent, total - start)))
            for extent, total, start in zip(chunk_shape, shape, info.chunk_offset, strict=True)
        )
        yield elements.reshape(chunk_shape)[inside].reshape(-1)


def _chunk_infos(dataset: Any) -> list[Any]:
    """Each allocated chunk's (offset in the dataset, filter mask, byte offset, size), in one
    pass over the chunk index where HDF5 offers it (by number, each lookup walks the index)."""
    found: list[Any] = []
    if hasattr(dataset.id, "chunk_iter"):
        dataset.id.chunk_iter(found.append)
        return found
    return [dataset.id.get_chunk_info(number) for number in range(dataset.id.get_num_chunks())]


def attribute_references(target: Any, read: Read, sizes: Sizes) -> Iterator[tuple[str, np.ndarray]]:
    """(name, stored references) of each variable-length attribute of ``target`` found in its
    object header or dense storage; DamageError when neither holds one that HDF5 lists although
    both were read whole."""
    wanted: list[tuple[str, int]] = []
    for name in target.attrs:
        attribute = h5py.h5a.open(target.id, name.encode("utf-8"))
        if is_variable_length(attribute.get_type()):
            space = attribute.get_space()
            if space.get_simple_extent_type() != h5py.h5s.NULL:
                wanted.append((name, space.get_simple_extent_npoints()))
    if not wanted:
        return
    item = reference_dtype(sizes.address)
    address = h5py.h5o.get_info(target.id).addr
    values, dense, elsewhere = attribute_values(messages(read, address, sizes), sizes.address)
    if dense is not None:
        dense_values, complete = dense_attribute_values(read, dense, sizes)
        values.update(dense_values)
        elsewhere = elsewhere or not complete
    for name, count in wanted:
        found = values.get(name.encode("utf-8"))
        if found is None:
            if elsewhere:
                continue
            raise DamageError(
                sizes.base + address,
                f"attribute {name!r} in the object header or its dense storage",
                "no such attribute",
            )
        stored, offset = found
        if len(stored) < count * item.itemsize:
            raise DamageError(offset, f"a value of {count * item.itemsize} bytes", f"{len(stored)}")
        yield name, np.frombuffer(stored, dtype=item, count=count)
