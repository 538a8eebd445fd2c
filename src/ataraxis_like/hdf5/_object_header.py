"""An HDF5 object's header messages read straight from the file.

HDF5 gives an attribute's value (and a compact dataset's data) only after converting it, and for
variable-length types converting loads the global heap collections it points into: the very
thing the heap check must look at first. The stored bytes are in the object's header, so this
reads them there: version 1 and 2 object headers (HDF5 file format specification, "Data Object
Headers"), following continuation messages to the other header chunks. HDF5 has already read
the same header to open the object, so a header this cannot follow is damaged or of a kind
this does not know; either way ``DamageError`` says where.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ._damage import DamageError

ATTRIBUTE, ATTRIBUTE_INFO, LAYOUT, CONTINUATION = 0x0C, 0x15, 0x08, 0x10
_SHARED = 0x02  # message flag: the message is stored elsewhere (a shared message)
_MAX_CHUNKS = 4096

Read = Callable[[int, int], bytes]
"""``read(offset, count)``: up to ``count`` bytes of the file from absolute ``offset``."""


@dataclass(frozen=True)
class Sizes:
    """The file's address and length field sizes, and where its addresses count from."""

    address: int
    length: int
    base: int


@dataclass(frozen=True)
class Message:
    """One header message: its type, flags, body and the body's offset in the file."""

    kind: int
    flags: int
    body: bytes
    offset: int

    @property
    def shared(self) -> bool:
        return bool(self.flags & _SHARED)


def _exact(read: Read, offset: int, count: int) -> bytes:
    data = read(offset, count)
    if len(data) != count:
        raise DamageError(offset, f"{count} bytes of object header", "the end of the file")
    return data


def messages(read: Read, address: int, sizes: Sizes) -> Iterator[Message]:
    """Every message of the object header at (relative) ``address``, chunk by chunk."""
    start = sizes.base + address
    first = _exact(read, start, 6)
    if first[:4] == b"OHDR":
        if first[4] != 2:
            raise DamageError(start + 4, "object header version 2", f"version {first[4]}")
        flags = first[5]
        position = start + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        length = int.from_bytes(_exact(read, position, width), "little")
        chunks, version = [(position + width, length)], 2
        message_header = 6 if flags & 0x04 else 4
    elif first[0] == 1:
        length = int.from_bytes(_exact(read, start + 8, 4), "little")
        chunks, version, message_header = [(start + 16, length)], 1, 8
    else:
        raise DamageError(start, "an object header (version 1 or 'OHDR')", repr(first[:4]))
    seen: set[int] = set()
    while chunks:
        offset, length = chunks.pop(0)
        if offset in seen or len(seen) >= _MAX_CHUNKS:
            raise DamageError(offset, "object header chunks that do not repeat", "a cycle")
        seen.add(offset)
        data = _exact(read, offset, length)
        position = 0
        while position + message_header <= len(data):
            if version == 2:
                kind, size_at, flags = data[position], position + 1, data[position + 3]
            else:
                kind = int.from_bytes(data[position : position + 2], "little")
                size_at, flags = position + 2, data[position + 4]
            size = int.from_bytes(data[size_at : size_at + 2], "little")
            body_at = position + message_header
            if body_at + size > len(data):
                raise DamageError(
                    offset + position,
                    f"a header message inside its chunk ({len(data) - body_at} bytes left)",
                    f"{size} bytes",
                )
            body = data[body_at : body_at + size]
            position = body_at + size
            if kind == CONTINUATION and len(body) >= sizes.address + sizes.length:
                where = int.from_bytes(body[: sizes.address], "little") + sizes.base
                count = int.from_bytes(body[sizes.address : sizes.address + sizes.length], "little")
                chunks.append(_continuation(read, where, count, version))
            yield Message(kind, flags, body, offset + body_at)


def _continuation(read: Read, offset: int, length: int, version: int) -> tuple[int, int]:
    """The message area of a continuation chunk (version 2: inside "OCHK" and a checksum)."""
    if version == 1:
        return offset, length
    if length < 8 or _exact(read, offset, 4) != b"OCHK":
        raise DamageError(offset, "an 'OCHK' object header continuation chunk", "other bytes")
    return offset + 4, length - 8


def attribute_values(
    found: Iterator[Message], address_size: int
) -> tuple[dict[bytes, tuple[bytes, int]], bytes | None, bool]:
    """The stored value of each attribute kept in the header, by encoded name: (bytes from the
    value's start to the message's end, their offset in the file); the attribute info message
    when the object keeps attributes in dense storage (a fractal heap) too; and whether it
    keeps some as shared messages, whose values this does not read."""
    values: dict[bytes, tuple[bytes, int]] = {}
    dense: bytes | None = None
    shared = False
    for message in found:
        if message.kind == ATTRIBUTE_INFO and _has_dense_storage(message.body, address_size):
            dense = message.body
        elif message.kind == ATTRIBUTE and message.shared:
            shared = True
        elif message.kind == ATTRIBUTE:
            parsed = attribute_message(message.body)
            if parsed is not None:
                name, at = parsed
                values[name] = (message.body[at:], message.offset + at)
    return values, dense, shared


def attribute_message(body: bytes) -> tuple[bytes, int] | None:
    """(name, offset of the value in ``body``) of an attribute message (versions 1 to 3), or
    None if it is of no version known here or shorter than its fields say."""
    if len(body) < 8 or body[0] not in (1, 2, 3):
        return None
    version = body[0]
    name_size, type_size, space_size = (
        int.from_bytes(body[at : at + 2], "little") for at in (2, 4, 6)
    )
    at = 9 if version == 3 else 8
    if version == 1:  # each field padded to a multiple of 8
        name_size, type_size, space_size = (
            -(-size // 8) * 8 for size in (name_size, type_size, space_size)
        )
    name = body[at : at + name_size].split(b"\0", 1)[0]
    value_at = at + name_size + type_size + space_size
    return (name, value_at) if value_at <= len(body) else None


def _has_dense_storage(body: bytes, address_size: int) -> bool:
    """Whether an attribute info message names a fractal heap (an undefined address is all
    ones)."""
    if len(body) < 2:
        return False
    at = 2 + (2 if body[1] & 0x01 else 0)
    address = body[at : at + address_size]
    return bool(address) and address != b"\xff" * len(address)


def compact_data(found: Iterator[Message]) -> tuple[bytes, int] | None:
    """A compact dataset's stored data and its offset in the file (layout message version 3
    or 4, class compact), or None."""
    for message in found:
        body = message.body
        if message.kind == LAYOUT and len(body) >= 4 and body[0] in (3, 4) and body[1] == 0:
            size = int.from_bytes(body[2:4], "little")
            return body[4 : 4 + size], message.offset + 4
    return None
