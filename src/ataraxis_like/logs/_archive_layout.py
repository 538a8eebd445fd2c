"""What a log archive is on disk, as every archive module needs it: file names and discovery,
member access inside the zip, telling this library's packed layout from the reference library's
one-member-per-entry, and the cheap header check. The format itself is docs/formats.md.
"""

from __future__ import annotations

import mmap
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import AtaraxisError

ARCHIVE_VERSION = 1
ARCHIVE_PATTERN = re.compile(r"^(\d{1,3})_log\.npz$")
ARCHIVE_TEMPORARY = re.compile(r"^\.(\d{1,3})_log\.npz(\.sort)?\.tmp$")
MEMBERS = ("format_version", "source_id", "onset_us", "sessions", "timestamps", "offsets",
           "entry_keys", "payload")  # fmt: skip
REFERENCE_MEMBER = re.compile(r"^(\d{3})_(\d{20})\.npy$")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a zip local file header, before name and extra


class ArchiveFormatError(AtaraxisError, ValueError):
    """A file is not a log archive this library can read (foreign, corrupt or too new)."""


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


def read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """Load one array member into memory (decompressing it if needed)."""
    with archive.open(member_name(name)) as handle:
        return np.lib.format.read_array(handle, allow_pickle=False)


def open_member(
    archive: zipfile.ZipFile, name: str
) -> tuple[IO[bytes], tuple[int, ...], np.dtype[Any]]:
    """A member's stream positioned at its first data byte, with its shape and dtype."""
    handle = archive.open(member_name(name))
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
) -> tuple[int, int, dict[int, int]]:
    """A packed archive's source id, onset and sessions, once its format version is checked
    (``version_error(version)`` is raised for any other version)."""
    version = int(read_member(archive, "format_version"))
    if version != ARCHIVE_VERSION:
        raise version_error(version)
    source_id = int(read_member(archive, "source_id"))
    onset_us = int(read_member(archive, "onset_us"))
    sessions = {int(s): int(o) for s, o in read_member(archive, "sessions").reshape(-1, 2)}
    return source_id, onset_us, sessions


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
            source_id, onset_us, sessions = packed_fields(
                archive,
                lambda version: ArchiveFormatError(
                    f"{path.name} has format version {version}, this library reads "
                    f"{ARCHIVE_VERSION}: upgrade ataraxis-like"
                ),
            )
            handle, shape, _dtype = open_member(archive, "timestamps")
            handle.close()
            return ArchiveHeader("packed", source_id, onset_us, sessions, int(shape[0]))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, IndexError) as error:
        if isinstance(error, ArchiveFormatError):
            raise
        raise ArchiveFormatError(f"{path.name} is not a readable log archive ({error})") from None


def read_npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], np.dtype[Any]]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    else:
        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    return shape, dtype


def stored_array(
    archive: zipfile.ZipFile, name: str, mapped: mmap.mmap, handle: IO[bytes]
) -> np.ndarray:
    """A view of an uncompressed member inside the memory-mapped archive file."""
    info = archive.getinfo(name)
    handle.seek(info.header_offset)
    fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
    data_start = info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]
    handle.seek(data_start)
    shape, dtype = read_npy_header(handle)
    array_start = handle.tell()
    count = int(np.prod(shape, dtype=np.int64))
    if array_start - data_start + count * dtype.itemsize != info.file_size:
        raise ArchiveFormatError(f"member {name} has {info.file_size} bytes, not its array's size")
    return np.frombuffer(mapped, dtype=dtype, count=count, offset=array_start).reshape(shape)
