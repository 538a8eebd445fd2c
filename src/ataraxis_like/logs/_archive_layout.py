"""What a log archive is on disk, as every archive module needs it: file names and discovery,
member access inside the zip, telling this library's packed layout from the reference library's
one-member-per-entry, and the cheap header check. The format itself is docs/formats.md.
"""

from __future__ import annotations

import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import AtaraxisError
from .format import npy_header

ARCHIVE_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 has no checksums; it is read as before, unverified
ARCHIVE_PATTERN = re.compile(r"^(\d{1,3})_log\.npz$")
ARCHIVE_TEMPORARY = re.compile(r"^\.(\d{1,3})_log\.npz(\.sort)?\.tmp$")
MEMBERS = ("format_version", "source_id", "onset_us", "sessions", "timestamps", "offsets",
           "entry_keys", "payload")  # fmt: skip
CHECKSUM_MEMBERS = ("block_entries", "checksums")  # version 2 on
REFERENCE_MEMBER = re.compile(r"^(\d{3})_(\d{20})\.npy$")
_READ_PIECE = 256 << 10
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a zip local file header, before name and extra


ZIP_ERRORS = (zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError)
"""What zipfile raises for a damaged archive besides OSError and ValueError: a bad CRC or
header, an unknown version or method (a flipped byte there), a damaged deflate stream."""


class ArchiveFormatError(AtaraxisError, ValueError):
    """A file is not a log archive this library can read (foreign, corrupt or too new)."""


class ArchiveIndexError(AtaraxisError, IndexError):
    """An entry index is outside the archive."""


def archive_name(source_id: int) -> str:
    """File name of a source's archive, the same as the reference library's."""
    return f"{source_id}_log.npz"


def discover_log_archives(directory: Path | str) -> dict[int, Path]:
    """Every log archive directly in ``directory``: ``{source_id: path}``, sorted by source id.

    Matches ``<source_id>_log.npz`` with a source id of 0 to 255; temporary files left by an
    interrupted compression (``.<id>_log.npz.tmp``) are not archives and are skipped.
    """
    found: dict[int, Path] = {}
    for path in Path(directory).iterdir():
        match = ARCHIVE_PATTERN.match(path.name)
        if match and int(match.group(1)) <= 255 and path.is_file():
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def member_name(name: str) -> str:
    return f"{name}.npy"


_FOREIGN_FLAGS = 0x01 | 0x20 | 0x40  # zip flag bits: encrypted, patched, strongly encrypted


def member_info(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """The member called ``name``; ArchiveFormatError if its flags say encrypted or patched,
    which no log archive is (zipfile would raise RuntimeError asking for a password)."""
    info = archive.getinfo(name)
    if info.flag_bits & _FOREIGN_FLAGS:
        raise ArchiveFormatError(
            f"member {name} is marked encrypted or patched (zip flags {info.flag_bits:#06x}); "
            "log archives never are: the archive is damaged, restore it from a copy"
        )
    return info


def read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """Load one array member into memory (decompressing it if needed).

    The array's size must match the member's before anything is allocated, and the member is
    read to its end, so the zip's CRC-32 of it is checked. Reading in 256 KiB pieces keeps the
    decompressed bytes in the CPU cache until they are copied: twice as fast as one read.
    """
    info = member_info(archive, member_name(name))
    with archive.open(info) as handle:
        shape, dtype = read_npy_header(handle)
        size = array_bytes(shape, dtype)
        if dtype.hasobject or handle.tell() + size != info.file_size:
            raise ArchiveFormatError(f"member {info.filename} does not hold its header's array")
        try:
            array = np.empty(shape, dtype=dtype)
        except MemoryError:
            raise ArchiveFormatError(
                f"member {info.filename} claims {size:,} bytes, more than memory holds"
            ) from None
        target, at = array.reshape(-1).view(np.uint8), 0
        while at < size:
            piece = handle.read(min(_READ_PIECE, size - at))
            if not piece:
                break
            target[at : at + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
            at += len(piece)
        if at != size or handle.read(1):
            raise ArchiveFormatError(f"member {info.filename} is not as long as its header says")
    return array


def array_bytes(shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    """The byte size of an array of ``shape`` and ``dtype`` (Python ints: no overflow)."""
    size = dtype.itemsize
    for length in shape:
        size *= length
    return size


def open_member(
    archive: zipfile.ZipFile, name: str
) -> tuple[IO[bytes], tuple[int, ...], np.dtype[Any]]:
    """A member's stream positioned at its first data byte, with its shape and dtype."""
    handle = archive.open(member_info(archive, member_name(name)))
    try:
        shape, dtype = read_npy_header(handle)
    except BaseException:
        handle.close()
        raise
    return handle, shape, dtype


def open_payload_stream(archive: zipfile.ZipFile) -> IO[bytes]:
    """The payload member positioned at its first byte: read it sequentially, in any layout."""
    return open_member(archive, "payload")[0]


@dataclass(frozen=True)
class ArchiveHeader:
    """What an archive is, read from its small members only (no per-entry array is loaded)."""

    format: str  # "packed" (this library) or "reference"
    source_id: int
    onset_us: int | None
    sessions: dict[int, int]
    count: int


def archive_layout(names: set[str]) -> str | None:
    """An archive's layout from its member names: "packed", "reference" or None (neither)."""
    if {member_name(name) for name in MEMBERS} <= names:
        return "packed"
    if names and all(REFERENCE_MEMBER.match(name) for name in names):
        return "reference"
    return None


def packed_fields(
    archive: zipfile.ZipFile, version_error: Callable[[int], ArchiveFormatError]
) -> tuple[int, int, int, dict[int, int]]:
    """A packed archive's format version, source id, onset and sessions, once its version is
    checked (``version_error(version)`` is raised for a version this library cannot read)."""
    version = int(read_member(archive, "format_version"))
    if version not in READABLE_VERSIONS:
        raise version_error(version)
    source_id = int(read_member(archive, "source_id"))
    onset_us = int(read_member(archive, "onset_us"))
    sessions = {int(s): int(o) for s, o in read_member(archive, "sessions").reshape(-1, 2)}
    return version, source_id, onset_us, sessions


def read_archive_header(path: Path) -> ArchiveHeader:
    """Identify and check a packed archive cheaply; ArchiveFormatError if it is not one.

    Reference-library archives are reported with ``format="reference"`` and no further checks.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            layout = archive_layout(names)
            if layout == "reference":
                return ArchiveHeader("reference", -1, None, {}, len(names))
            if layout is None:
                raise ArchiveFormatError(f"{path.name} is not a log archive (members missing)")
            _version, source_id, onset_us, sessions = packed_fields(
                archive,
                lambda version: ArchiveFormatError(
                    f"{path.name} has format version {version}, this library reads up to "
                    f"{ARCHIVE_VERSION}: upgrade ataraxis-like"
                ),
            )
            handle, shape, _dtype = open_member(archive, "timestamps")
            handle.close()
            return ArchiveHeader("packed", source_id, onset_us, sessions, int(shape[0]))
    except (*ZIP_ERRORS, OSError, ValueError, KeyError, IndexError, OverflowError) as error:
        if isinstance(error, ArchiveFormatError):
            raise
        raise ArchiveFormatError(f"{path.name} is not a readable log archive ({error})") from None


def read_npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], np.dtype[Any]]:
    shape, fortran, dtype = npy_header(handle)
    if fortran and len(shape) > 1:
        raise ArchiveFormatError("an archive member is in Fortran order; archives never are")
    return shape, dtype


def stored_member(
    archive: zipfile.ZipFile, name: str, handle: IO[bytes]
) -> tuple[int, tuple[int, ...], np.dtype[Any]]:
    """Where an uncompressed member's array starts in the file, with its shape and dtype.

    The member's local header must name it, and its array must lie inside the file as it is
    now (``fstat``): a reader that reads the array later gets a short read, never a fault.
    """
    info = archive.getinfo(name)
    handle.seek(info.header_offset)
    local = handle.read(_LOCAL_HEADER.size)
    if len(local) != _LOCAL_HEADER.size:
        raise ArchiveFormatError(f"member {name} has no local header where the zip says")
    fields = _LOCAL_HEADER.unpack(local)
    if fields[0] != b"PK\x03\x04" or handle.read(fields[-2]) != info.filename.encode():
        raise ArchiveFormatError(f"member {name} has no local header where the zip says")
    data_start = info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]
    handle.seek(data_start)
    shape, dtype = read_npy_header(handle)
    array_start = handle.tell()
    size = array_bytes(shape, dtype)
    if dtype.hasobject or array_start - data_start + size != info.file_size:
        raise ArchiveFormatError(f"member {name} has {info.file_size} bytes, not its array's size")
    if array_start + size > os.fstat(handle.fileno()).st_size:
        raise ArchiveFormatError(f"member {name} runs past the end of the file (truncated?)")
    return array_start, shape, dtype
