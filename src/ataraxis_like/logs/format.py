"""The logger's batch files: one ``.npy`` file per batch of entries, documented in docs/formats.md.

A batch file is a valid ``.npy`` file holding a 1-D ``uint8`` array, so ``np.load(path,
allow_pickle=False)`` opens it. The array's bytes are a batch: a 48-byte header, an index with
one 24-byte row per entry, then the payloads back to back in index order.
"""

from __future__ import annotations

import ast
import os
import re
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .._files import FILE_MODE, create_file
from ..errors import AtaraxisError

BATCH_MAGIC = b"ATXLLOG1"
BATCH_VERSION = 1
BATCH_HEADER = struct.Struct("<8sIIqQQQ")  # magic, version, count, onset, session, sequence, pad
INDEX_DTYPE = np.dtype(
    [("timestamp", "<u8"), ("entry_id", "<u8"), ("length", "<u4"), ("source_id", "u1"),
     ("reserved", "V3")]
)  # fmt: skip
BATCH_PREFIX = "batch_"
TEMPORARY_SUFFIX = ".tmp"


def batch_name(session: int, sequence: int) -> str:
    """File name of a batch: sortable by session, then by sequence within the session."""
    return f"{BATCH_PREFIX}{session:016x}_{sequence:010d}.npy"


def _npy_header(body_length: int) -> bytes:
    header = {"descr": "|u1", "fortran_order": False, "shape": (body_length,)}
    text = repr(header).encode("latin1")
    total = 10 + len(text) + 1
    padding = (-total) % 64
    text += b" " * padding + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def batch_parts(
    onset_us: int,
    session: int,
    sequence: int,
    index: np.ndarray,
    payloads: Sequence[Any],
) -> list[Any]:
    """The buffers whose concatenation is a whole batch file (npy header included)."""
    body_header = BATCH_HEADER.pack(
        BATCH_MAGIC, BATCH_VERSION, len(index), onset_us, session, sequence, 0
    )
    body_length = len(body_header) + index.nbytes + int(index["length"].sum(dtype=np.uint64))
    return [_npy_header(body_length), body_header, index.tobytes(), *payloads]


def write_atomically(
    directory: Path, name: str, parts: Sequence[Any], durable: bool, file_mode: int = FILE_MODE
) -> Path:
    """Write ``parts`` to ``directory/name`` (created with ``file_mode``) through a temporary
    name and a rename.

    With ``durable`` the file and then the directory are fsynced before returning, so the file
    survives a power cut once this returns.
    """
    final = directory / name
    temporary = directory / f".{name}{TEMPORARY_SUFFIX}"
    descriptor = create_file(temporary, file_mode)
    try:
        small: list[Any] = []
        small_bytes = 0
        for part in parts:
            size = len(part) if not isinstance(part, memoryview) else part.nbytes
            if size < 65536:
                small.append(part)
                small_bytes += size
                if small_bytes < 1 << 20:
                    continue
            if small:
                _write_all(descriptor, b"".join(small))
                small, small_bytes = [], 0
            if size >= 65536:
                _write_all(descriptor, part)
        if small:
            _write_all(descriptor, b"".join(small))
        if durable:
            os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)
        temporary.unlink(missing_ok=True)
        raise
    os.close(descriptor)
    os.replace(temporary, final)
    if durable:
        directory_descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_descriptor)
        finally:
            os.close(directory_descriptor)
    return final


def _write_all(descriptor: int, data: Any) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


@dataclass(frozen=True)
class Batch:
    """A batch file read back: header fields, the index, and the payload bytes."""

    path: Path
    onset_us: int
    session: int
    sequence: int
    index: np.ndarray
    payload: np.ndarray  # uint8, payloads back to back in index order

    @property
    def offsets(self) -> np.ndarray:
        """Start of each entry's payload within ``payload``."""
        lengths = self.index["length"].astype(np.uint64)
        return np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.uint64)


class BatchFormatError(AtaraxisError, ValueError):
    """A file is not a readable batch (foreign, truncated or corrupt)."""


def npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """``(shape, fortran_order, dtype)`` from the ``.npy`` header at ``handle``'s position.

    The header numpy writes (``{'descr': '<u8', 'fortran_order': False, 'shape': (4,), }``) is
    read with a pattern: numpy's own reader evaluates it as a Python literal, which under
    CPython 3.11 can fail with SystemError ("AST constructor recursion depth mismatch") when
    compression threads parse headers at once, and which answers damaged bytes with SyntaxError
    or tokenize errors. Other headers go to ``ast.literal_eval`` one thread at a time. Every
    problem is a ValueError.
    """
    major, _minor = np.lib.format.read_magic(handle)
    size_bytes = 2 if major == 1 else 4
    raw = handle.read(size_bytes)
    if len(raw) != size_bytes:
        raise ValueError("the .npy header ends early")
    length = int.from_bytes(raw, "little")
    data = handle.read(length)
    if len(data) != length:
        raise ValueError("the .npy header ends early")
    text = data.decode("latin1" if major < 3 else "utf8", errors="replace").strip()
    match = _NPY_HEADER.fullmatch(text)
    if match is not None:
        descr, fortran, shape_text = match.groups()
    else:
        descr, fortran, shape_text = _literal_header(text)
    try:
        shape = tuple(int(part) for part in shape_text.split(",") if part.strip())
        dtype = np.dtype(descr) if isinstance(descr, str) else np.lib.format.descr_to_dtype(descr)
    except (TypeError, ValueError, SyntaxError) as error:
        raise ValueError(f"unreadable .npy header ({type(error).__name__}: {error})") from None
    return shape, fortran == "True", dtype


_NPY_HEADER = re.compile(
    r"\{'descr': '([^']*)', 'fortran_order': (False|True), 'shape': \(([0-9, ]*)\), \}"
)
_LITERAL_LOCK = threading.Lock()


def _literal_header(text: str) -> tuple[Any, str, str]:
    """A header written by another program: ``(descr, "True"/"False", "4, 2")``."""
    try:
        with _LITERAL_LOCK:
            header = ast.literal_eval(text)
        shape = header["shape"]
        if not (isinstance(shape, tuple) and all(type(part) is int for part in shape)):
            raise ValueError(f"shape {shape!r} is not a tuple of ints")
        fortran = header["fortran_order"]
        if type(fortran) is not bool:
            raise ValueError(f"fortran_order {fortran!r} is not a bool")
        return header["descr"], str(fortran), ", ".join(map(str, shape))
    except ValueError:
        raise
    except Exception as error:  # SyntaxError, TypeError, KeyError, MemoryError ...
        raise ValueError(f"unreadable .npy header ({type(error).__name__}: {error})") from None


def read_batch(path: Path, memory_map: bool = False) -> Batch:
    """Read and validate one batch file; BatchFormatError says what is wrong with it."""
    try:
        body = np.load(path, allow_pickle=False, mmap_mode="r" if memory_map else None)
    except Exception as error:  # numpy's header parser raises many kinds (see npy_header)
        raise BatchFormatError(f"{path.name}: not a readable .npy file ({error})") from None
    if body.dtype != np.uint8 or body.ndim != 1 or body.size < BATCH_HEADER.size:
        raise BatchFormatError(f"{path.name}: not a logger batch (dtype {body.dtype})")
    magic, version, count, onset, session, sequence, _pad = BATCH_HEADER.unpack(
        body[: BATCH_HEADER.size].tobytes()
    )
    if magic != BATCH_MAGIC or version != BATCH_VERSION:
        raise BatchFormatError(f"{path.name}: not a logger batch (magic {magic!r})")
    index_end = BATCH_HEADER.size + count * INDEX_DTYPE.itemsize
    if index_end > body.size:
        raise BatchFormatError(f"{path.name}: truncated index ({count} entries)")
    index = np.frombuffer(body[BATCH_HEADER.size : index_end].tobytes(), dtype=INDEX_DTYPE)
    payload = body[index_end:]
    if int(index["length"].sum(dtype=np.uint64)) != payload.size:
        raise BatchFormatError(f"{path.name}: payload size does not match its index")
    return Batch(path, onset, session, sequence, index, payload)
