"""Checking one HDF5 global heap collection ("GCOL") before HDF5 decodes it.

Variable-length strings and sequences live in global heap collections. HDF5 walks a collection's
objects one after the other, each object header giving the size that leads to the next, and it
trusts those sizes: a free-space object (index 0) of size 0 makes the walk stand still, and HDF5
loops forever (H5HG__cache_heap_deserialize). ``collection_indexes`` walks the same way with
bounds on every step and rejects, with the reason, anything HDF5 would loop on or misread.

Layout (HDF5 file format specification, global heap): "GCOL", version 1, 3 reserved bytes, the
collection size (``sizeof_size`` bytes); then objects, 8-byte aligned: index u16, reference
count u16, 4 reserved bytes, object size (``sizeof_size``), data padded to a multiple of 8.
Index 0 is the free space, last, its size covering the rest; a tail too short for an object
header is free space too. HDF5 writes nothing else, so accepting only that refuses no file it
wrote.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._damage import DamageError

SIGNATURE = b"GCOL"
MIN_SIZE = 4096  # H5HG_MINSIZE: HDF5 makes no smaller collection and refuses to read one
HEADER_BYTES = 16  # collection header and object header, both padded to 8 bytes
LARGE = 1 << 20  # collections larger than this are walked one header read at a time


def collection_size(header: bytes, address: int, file_size: int, sizeof_size: int) -> int:
    """The size a collection's header gives, checked (DamageError if it is no
    collection, too small, not 8-byte aligned or runs past the end of the file)."""
    if len(header) < 8 + sizeof_size:
        raise DamageError(address, "a global heap collection", "the end of the file")
    if header[:4] != SIGNATURE:
        raise DamageError(address, f"signature {SIGNATURE!r}", repr(bytes(header[:4])))
    if header[4] != 1:
        raise DamageError(address + 4, "global heap version 1", f"version {header[4]}")
    size = int.from_bytes(header[8 : 8 + sizeof_size], "little")
    if size < MIN_SIZE or size % 8:
        raise DamageError(
            address + 8, f"a collection size of at least {MIN_SIZE}, a multiple of 8", str(size)
        )
    if size > file_size - address:
        raise DamageError(
            address + 8,
            f"a collection ending inside the file ({file_size} bytes)",
            f"size {size} from byte {address}",
        )
    return size


def collection_indexes(data: bytes, address: int, sizeof_size: int) -> np.ndarray:
    """The object indexes of a whole collection (``data``, its size checked by
    ``collection_size``), sorted; DamageError where the walk would stall, leave the
    collection, or meet a misplaced free space or a repeated index.

    The walk is HDF5's: from byte 16, an object of index > 0 takes 16 bytes plus its size
    rounded up to 8; index 0 ends the walk and must cover the rest. Every 8-byte position's
    successor (where the next header would be if a header were there) is computed at once with
    numpy, and the walk is found by doubling: with the positions ``2**k`` steps ahead, the
    first ``2**k`` walk positions give the next ``2**k``. Each successor lies strictly ahead
    (an index-0 object or a tail leads to the end), so there are at most log2(size) rounds of
    numpy work and no Python step per object."""
    size = len(data)
    words = size // 8
    table = np.frombuffer(data, dtype="<u8", count=words)
    lengths = table[1:] & np.uint64((1 << (8 * sizeof_size)) - 1)  # object sizes, if headers
    # Successors in words: 2 header words and the data rounded up; ``words`` is the end (after
    # an index-0 object, a tail of 8 bytes, or an object that fills the rest) and ``words + 1``
    # past it (a size that leaves the collection).
    steps = np.minimum(lengths, np.uint64(size)) + np.uint64(23)
    jump = np.empty(words + 2, dtype=np.int64)
    jump[: words - 1] = (steps >> np.uint64(3)).view(np.int64) + np.arange(words - 1)
    np.minimum(jump, words + 1, out=jump)
    jump[: words - 1][(table[:-1] & np.uint64(0xFFFF)) == 0] = words
    jump[words - 1 :] = (words, words, words + 1)
    chain = np.array([2], dtype=np.int64)
    while chain[-1] < words:
        chain = np.concatenate((chain, jump[chain]))
        jump = jump[jump]
    stop = int(np.searchsorted(chain, words))
    objects, end = chain[:stop], int(chain[stop])
    index = (table[objects] & np.uint64(0xFFFF)).astype(np.int64)
    last = int(objects[-1])
    if last + 2 <= words and index[-1] == 0:  # the free space
        free = int(lengths[last])
        if free != size - 8 * last:
            raise DamageError(
                address + 8 * last,
                f"free space covering the last {size - 8 * last} bytes of the collection",
                f"free space of {free} bytes",
            )
        objects, index = objects[:-1], index[:-1]
    elif end > words:
        raise DamageError(
            address + 8 * last,
            f"an object ending inside the collection ({size - 8 * last - HEADER_BYTES} bytes left)",
            f"object {int(index[-1])} of {int(lengths[last])} bytes",
        )
    elif last + 2 > words:  # a tail too short for an object header: free space
        objects, index = objects[:-1], index[:-1]
    return _each_once(index, address + 8 * objects)


def large_collection_indexes(
    read: Callable[[int, int], bytes], address: int, size: int, sizeof_size: int
) -> np.ndarray:
    """``collection_indexes`` for a collection too large to read at once (only one holding an
    object of over 64 KiB is: HDF5 grows collections of small objects no further), reading one
    object header at a time. A size field damaged into a huge number costs a few header reads
    this way, not a read of that many bytes."""
    found, positions, at = [], [], HEADER_BYTES
    while at + HEADER_BYTES <= size:
        header = read(address + at, HEADER_BYTES)
        if len(header) != HEADER_BYTES:
            raise DamageError(address + at, "an object header", "the end of the file")
        index = int.from_bytes(header[:2], "little")
        length = int.from_bytes(header[8 : 8 + sizeof_size], "little")
        if index == 0:
            if length != size - at:
                raise DamageError(
                    address + at,
                    f"free space covering the last {size - at} bytes of the collection",
                    f"free space of {length} bytes",
                )
            break
        if HEADER_BYTES + -(-length // 8) * 8 > size - at:
            raise DamageError(
                address + at,
                f"an object ending inside the collection ({size - at - HEADER_BYTES} bytes left)",
                f"object {index} of {length} bytes",
            )
        found.append(index)
        positions.append(address + at)
        at += HEADER_BYTES + -(-length // 8) * 8
    return _each_once(np.array(found, dtype=np.int64), np.array(positions, dtype=np.int64))


def _each_once(index: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``index`` sorted, or DamageError at the second object of a repeated index."""
    found = np.sort(index)
    repeated = found[1:][found[1:] == found[:-1]]
    if repeated.size:
        at = int(offsets[index == repeated[0]][1])
        raise DamageError(at, "each object index once", f"index {int(repeated[0])} again")
    return found
