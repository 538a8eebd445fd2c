"""Attribute messages an object keeps in dense storage, read straight from the file.

Past 8 attributes (HDF5's default), an object with version 2 headers keeps its attributes as
messages in a fractal heap, found through a version 2 B-tree indexed by name (HDF5 file format
specification: "Attribute Info Message", "Fractal Heap", "Version 2 B-trees", record type 8).
``dense_attribute_values`` follows the B-tree's records to their heap objects and returns the
messages it finds, for the heap check to read text attribute values without converting them.

Read here: the B-tree at any depth up to 8, managed heap objects in the root direct block or in
the direct blocks of the root indirect block (the first 512 KiB of attribute messages with
HDF5's settings) and huge objects (attribute messages over 4 KiB), in unfiltered heaps.
Anything else (nested indirect blocks, tiny heap objects, shared messages) marks the result
incomplete: those attributes are not checked. HDF5 read the same structures to list the
attribute names, so bytes that do not parse here also mark the result incomplete rather than
damaged.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._object_header import Read, Sizes, attribute_message

_UNDEFINED_BYTE = 0xFF
_NAME_INDEX = 8  # v2 B-tree record type: attribute name index of dense storage
_HUGE_TREE = 1  # v2 B-tree record type: huge objects of an unfiltered fractal heap
_MANAGED, _HUGE_ID = 0x00, 0x10  # heap ID types
_SHARED = 0x02
_MAX_DEPTH = 8
_MAX_RECORDS = 1 << 20  # attributes of one object: more means a loop in damaged nodes


class _NotReadError(Exception):
    """A structure this module does not read (or cannot parse)."""


def _number(data: bytes, at: int, width: int) -> int:
    if at + width > len(data):
        raise _NotReadError
    return int.from_bytes(data[at : at + width], "little")


def _log2(value: int) -> int:
    return max(0, value.bit_length() - 1)


@dataclass(frozen=True)
class _Heap:
    """What locating a managed object of a fractal heap needs from its header."""

    id_length: int
    offset_bytes: int
    length_bytes: int
    width: int
    start_block: int
    direct_rows: int
    root: int
    rows: int
    huge_tree: int  # absolute address of the B-tree of huge objects, -1 if none


def _heap(read: Read, address: int, sizes: Sizes) -> _Heap:
    o, length = sizes.address, sizes.length
    data = read(address, 22 + 12 * length + 3 * o + 8)
    if data[:4] != b"FRHP" or data[4] != 0:
        raise _NotReadError
    id_length, filters = _number(data, 5, 2), _number(data, 7, 2)
    max_managed = _number(data, 10, 4)
    huge_tree = data[14 + length : 14 + length + o]
    at = 14 + length + o + length + o + 8 * length  # past the counters this does not need
    width = _number(data, at, 2)
    start_block, max_direct = _number(data, at + 2, length), _number(data, at + 2 + length, length)
    at += 2 + 2 * length
    max_heap_bits = _number(data, at, 2)
    root = _number(data, at + 4, o)
    rows = _number(data, at + 4 + o, 2)
    if filters or not width or not start_block or start_block & (start_block - 1):
        raise _NotReadError  # filtered heaps, or sizes no heap has
    return _Heap(
        id_length=id_length,
        offset_bytes=(max_heap_bits + 7) // 8,
        length_bytes=min((_log2(max_direct) + 7) // 8, _log2(max_managed) // 8 + 1),
        width=width,
        start_block=start_block,
        direct_rows=_log2(max_direct) - _log2(start_block) + 2,
        root=sizes.base + root,
        rows=rows,
        huge_tree=-1
        if set(huge_tree) == {_UNDEFINED_BYTE}
        else sizes.base + _number(huge_tree, 0, o),
    )


def _direct_block(read: Read, heap: _Heap, offset: int, sizes: Sizes) -> tuple[int, int, int]:
    """(file offset, heap offset, size) of the direct block holding heap ``offset``."""
    if heap.rows == 0:
        return heap.root, 0, heap.start_block
    block_start = 0
    for row in range(min(heap.rows, heap.direct_rows)):
        size = heap.start_block << max(0, row - 1)
        if offset < block_start + heap.width * size:
            column = (offset - block_start) // size
            header = 5 + sizes.address + heap.offset_bytes
            entry = read(heap.root + header + (row * heap.width + column) * sizes.address,
                         sizes.address)  # fmt: skip
            if len(entry) != sizes.address or set(entry) == {_UNDEFINED_BYTE}:
                raise _NotReadError
            where = int.from_bytes(entry, "little") + sizes.base
            return where, block_start + column * size, size
        block_start += heap.width * size
    raise _NotReadError  # in a nested indirect block


def _heap_object(
    read: Read, heap: _Heap, heap_id: bytes, sizes: Sizes, huge: dict[int, tuple[int, int]]
) -> tuple[bytes, int]:
    """A heap object's bytes and their offset in the file (``huge``: the huge objects'
    (address, length) by ID, filled on first need)."""
    kind = heap_id[0] & 0x30
    if heap_id[0] & 0xC0 or kind not in (_MANAGED, _HUGE_ID):
        raise _NotReadError  # a tiny object, or an ID version not known here
    if kind == _HUGE_ID:
        where, length = _huge_object(read, heap, heap_id, sizes, huge)
    else:
        offset = _number(heap_id, 1, heap.offset_bytes)
        length = _number(heap_id, 1 + heap.offset_bytes, heap.length_bytes)
        block, block_offset, block_size = _direct_block(read, heap, offset, sizes)
        where = block + offset - block_offset
        if read(block, 4) != b"FHDB" or offset - block_offset + length > block_size:
            raise _NotReadError
    data = read(where, length)
    if len(data) != length:
        raise _NotReadError
    return data, where


def _huge_object(
    read: Read, heap: _Heap, heap_id: bytes, sizes: Sizes, huge: dict[int, tuple[int, int]]
) -> tuple[int, int]:
    """(file offset, length) of a huge object: in its ID when the ID is long enough, else in
    the heap's B-tree of huge objects (record type 1: address, length, ID)."""
    o, length = sizes.address, sizes.length
    if heap.id_length - 1 >= o + length:
        return sizes.base + _number(heap_id, 1, o), _number(heap_id, 1 + o, length)
    if not huge:
        if heap.huge_tree < 0:
            raise _NotReadError
        for record in _records(read, heap.huge_tree, sizes, _HUGE_TREE):
            huge[_number(record, o + length, length)] = (
                sizes.base + _number(record, 0, o),
                _number(record, o, length),
            )
    found = huge.get(_number(heap_id, 1, min(heap.id_length - 1, 8)))
    if found is None:
        raise _NotReadError
    return found


def _records(read: Read, address: int, sizes: Sizes, kind: int) -> list[bytes]:
    """The records of the version 2 B-tree of type ``kind`` whose header is at (absolute)
    ``address``."""
    o, length = sizes.address, sizes.length
    header = read(address, 16 + o + 2 + length + 4)
    if header[:4] != b"BTHD" or header[4] != 0 or header[5] != kind:
        raise _NotReadError
    node_size, record_size = _number(header, 6, 4), _number(header, 10, 2)
    depth = _number(header, 12, 2)
    root, root_records = _number(header, 16, o) + sizes.base, _number(header, 16 + o, 2)
    if depth > _MAX_DEPTH or not record_size or node_size <= 10:
        raise _NotReadError
    # Child pointer sizes by depth, as HDF5 derives them from the node and record sizes: a
    # child's address, its record count, and (below depth 1) the records under it in all.
    most = (node_size - 10) // record_size
    count_bytes, below_bytes, below_most = _log2(most) // 8 + 1, [0], [most]
    pointer_bytes = [0]
    for level in range(1, depth + 1):
        pointer = o + count_bytes + below_bytes[level - 1]
        pointer_bytes.append(pointer)
        most = (node_size - 10 - pointer) // (record_size + pointer)
        below_most.append((most + 1) * below_most[level - 1] + most)
        below_bytes.append(_log2(below_most[level]) // 8 + 1)
    found: list[bytes] = []
    pending, seen = [(root, depth, root_records)], set()
    while pending:
        node, level, count = pending.pop()
        if node in seen or len(found) > _MAX_RECORDS:
            raise _NotReadError  # damaged nodes that lead in a circle
        seen.add(node)
        signature, extra = (b"BTLF", 0) if level == 0 else (b"BTIN", pointer_bytes[level])
        records, pointers = _node(read, node, signature, count, record_size,
                                  (count + 1) * extra if level else 0)  # fmt: skip
        found += records
        for at in range(0, len(pointers), extra or 1):
            child = _number(pointers, at, o) + sizes.base
            pending.append((child, level - 1, _number(pointers, at + o, count_bytes)))
    return found


def _node(
    read: Read, address: int, signature: bytes, count: int, record_size: int, extra: int
) -> tuple[list[bytes], bytes]:
    """A node's records and the ``extra`` bytes after them (an internal node's pointers)."""
    data = read(address, 6 + count * record_size + extra)
    if data[:4] != signature or len(data) != 6 + count * record_size + extra:
        raise _NotReadError
    end = 6 + count * record_size
    return [data[at : at + record_size] for at in range(6, end, record_size)], data[end:]


def dense_attribute_values(
    read: Read, info: bytes, sizes: Sizes
) -> tuple[dict[bytes, tuple[bytes, int]], bool]:
    """The attributes in the dense storage an attribute info message ``info`` names, by
    encoded name: (value bytes to the message's end, their offset in the file); and whether
    every attribute there was read."""
    o = sizes.address
    at = 2 + (2 if len(info) > 1 and info[1] & 0x01 else 0)
    if len(info) < at + 2 * o:
        return {}, False
    heap_address, tree_address = _number(info, at, o), _number(info, at + o, o)
    values: dict[bytes, tuple[bytes, int]] = {}
    try:
        heap = _heap(read, sizes.base + heap_address, sizes)
        records = _records(read, sizes.base + tree_address, sizes, _NAME_INDEX)
    except _NotReadError:
        return values, False
    complete, huge = True, dict[int, tuple[int, int]]()
    for record in records:
        heap_id, flags = record[: heap.id_length], record[heap.id_length : heap.id_length + 1]
        try:
            if not flags or flags[0] & _SHARED or len(heap_id) != heap.id_length:
                raise _NotReadError
            message, offset = _heap_object(read, heap, heap_id, sizes, huge)
            parsed = attribute_message(message)
            if parsed is None:
                raise _NotReadError
        except _NotReadError:
            complete = False
            continue
        name, value_at = parsed
        values[name] = (message[value_at:], offset + value_at)
    return values, complete
