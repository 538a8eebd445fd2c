"""Named shared-memory segments with a self-describing header, a robust lock and stale detection.

A segment is the file ``/dev/shm/atxl_<name>`` mapped by every process that uses it. We open it
directly instead of through ``multiprocessing.shared_memory`` so that attaching never registers
the segment with a resource tracker (which on Python 3.11 and 3.12 unlinks it when the attaching
process exits). The header layout is documented in docs/shared-memory.md.
"""

from __future__ import annotations

import ast
import atexit
import ctypes
import mmap
import os
import re
import secrets
import struct
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from ..errors import (
    ForeignSegmentError,
    InvalidNameError,
    SegmentExistsError,
    SegmentNotFoundError,
)
from . import _integrity, _trust
from ._lock import RobustLock
from ._posix import MUTEX_BYTES, mutex_init

SHM_DIRECTORY = Path("/dev/shm")
SEGMENT_PREFIX = "atxl_"
MAGIC = b"ATXLSHM\x00"
FORMAT_VERSION = 1
KIND_ARRAY = 1
KIND_QUEUE = 2
KIND_NAMES = {KIND_ARRAY: "array", KIND_QUEUE: "queue"}

# Fixed header: magic, version, kind, data offset, creator pid, meta length, creator start time,
# token, lock recoveries, flags. The mutex follows at MUTEX_OFFSET, then a kind-specific area
# (ring indices and futex words for queues), then the metadata text.
_FIXED = struct.Struct("<8sHHIIIdQQI")
MUTEX_OFFSET = 64
KIND_AREA_OFFSET = MUTEX_OFFSET + MUTEX_BYTES
KIND_AREA_BYTES = 256
META_OFFSET = KIND_AREA_OFFSET + KIND_AREA_BYTES
_RECOVERIES_OFFSET = 40
FLAGS_OFFSET = 48
FLAG_CLOSED = 1
DATA_ALIGNMENT = 64
MAX_NAME_LENGTH = 200
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")
_INIT_WAIT_SECONDS = 2.0
_START_TIME_TOLERANCE = 0.05


def validate_name(name: object) -> str:
    """Return ``name`` if it can name a segment, else raise InvalidNameError saying why."""
    if not isinstance(name, str):
        raise InvalidNameError(
            f"shared-memory name must be a str (got {name!r} that is a {type(name).__name__}); "
            "pass a short name such as 'camera_state'",
            name=name,
        )
    if not name or len(name) > MAX_NAME_LENGTH or not _NAME_PATTERN.fullmatch(name):
        raise InvalidNameError(
            f"shared-memory name {name!r} is invalid: expected 1 to {MAX_NAME_LENGTH} of "
            "letters, digits, '_', '-' and '.', not starting with '.'; rename it",
            name=name,
        )
    return name


def segment_path(name: str) -> Path:
    return SHM_DIRECTORY / f"{SEGMENT_PREFIX}{name}"


_own_start_time: tuple[int, float] | None = None


def _process_start_time(pid: int) -> float:
    global _own_start_time
    if pid == os.getpid():
        if _own_start_time is None or _own_start_time[0] != pid:
            _own_start_time = (pid, psutil.Process(pid).create_time())
        return _own_start_time[1]
    return psutil.Process(pid).create_time()


def creator_alive(pid: int, start_time: float) -> bool:
    """True when the process ``pid`` exists and is the one that started at ``start_time``."""
    try:
        return abs(_process_start_time(pid) - start_time) < _START_TIME_TOLERANCE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


@dataclass(frozen=True)
class Header:
    """The decoded fixed header of a segment."""

    version: int
    kind: int
    data_offset: int
    creator_pid: int
    creator_start_time: float
    token: int
    meta: dict[str, Any]


def _decode_header(view: memoryview | bytes, name: str) -> Header:
    magic, version, kind, data_offset, pid, meta_length, start, token, _rec, _flags = (
        _FIXED.unpack_from(view, 0)
    )
    if magic != MAGIC:
        raise ForeignSegmentError(
            f"shared memory {name!r} is not an ataraxis-like segment (magic {magic!r}, expected "
            f"{MAGIC!r}); use another name or remove it with 'ataraxis-like shm clean'",
            name=name,
        )
    if version != FORMAT_VERSION:
        raise ForeignSegmentError(
            f"shared memory {name!r} has header version {version}, this library reads "
            f"{FORMAT_VERSION}; attach with the version that created it",
            name=name,
        )
    meta_text = bytes(view[META_OFFSET : META_OFFSET + meta_length]).decode("utf-8")
    meta = ast.literal_eval(meta_text)
    return Header(version, kind, data_offset, pid, start, token, meta)


class Segment:
    """One mapped segment: header, lock and data region. Not picklable; handles carry names.

    ``pickles_trusted`` says whether pickled items found in it may be unpickled (see _trust).
    """

    pickles_trusted = True

    def __init__(self, name: str, mapping: mmap.mmap, header: Header, created: bool) -> None:
        self.name = name
        self.header = header
        self.created_here = created
        self._mapping: mmap.mmap | None = mapping
        self._anchor: ctypes.c_char | None = ctypes.c_char.from_buffer(mapping)
        self.base_address = ctypes.addressof(self._anchor)
        self.recovery_hooks: list[Callable[[], None]] = []
        self.lock = RobustLock(
            self.base_address + MUTEX_OFFSET,
            f"shared memory {name!r}",
            self._recovered,
            warn=header.kind == KIND_ARRAY,
            name=name,
        )

    @property
    def mapping(self) -> mmap.mmap:
        if self._mapping is None:
            raise ValueError(f"segment {self.name!r} is closed")
        return self._mapping

    @property
    def size(self) -> int:
        return len(self.mapping)

    def data(self) -> memoryview:
        """The data region (everything after the header) as a writable memoryview."""
        return memoryview(self.mapping)[self.header.data_offset :]

    def kind_area(self) -> memoryview:
        return memoryview(self.mapping)[KIND_AREA_OFFSET : KIND_AREA_OFFSET + KIND_AREA_BYTES]

    @property
    def recoveries(self) -> int:
        return int(struct.unpack_from("<Q", self.mapping, _RECOVERIES_OFFSET)[0])

    def _recovered(self) -> None:
        """Runs holding a lock taken from a dead holder: count it, then let owners repair."""
        struct.pack_into("<Q", self.mapping, _RECOVERIES_OFFSET, self.recoveries + 1)
        for hook in self.recovery_hooks:
            hook()

    @property
    def flags(self) -> int:
        return int(struct.unpack_from("<I", self.mapping, FLAGS_OFFSET)[0])

    def set_flag(self, flag: int) -> None:
        struct.pack_into("<I", self.mapping, FLAGS_OFFSET, self.flags | flag)

    def clear_flag(self, flag: int) -> None:
        struct.pack_into("<I", self.mapping, FLAGS_OFFSET, self.flags & ~flag)

    def close(self) -> None:
        """Unmap. A mapping still exported to live numpy views stays until they are freed."""
        self._anchor = None
        mapping, self._mapping = self._mapping, None
        if mapping is not None:
            try:
                mapping.close()
            except BufferError:
                pass  # views made by the caller still point into it; it closes when they die

    def unlink(self) -> None:
        """Remove the name (only if it still names this very segment); mappings stay valid."""
        remove(self.name, self.header.token)


def remove(name: str, token: int) -> None:
    """Unlink ``name`` if it still holds the segment ``token``, and forget that we made it."""
    unlink_if_token(name, token)
    if _created_here.get(name, (0, token))[1] == token:
        _created_here.pop(name, None)


def created_here(name: str, token: int) -> bool:
    """True when this process created the segment ``token`` as ``name`` and has not removed it."""
    return _created_here.get(name) == (os.getpid(), token)


def unlink_if_token(name: str, token: int) -> bool:
    path = segment_path(name)
    try:
        with open(path, "rb") as handle:
            fixed = handle.read(_FIXED.size)
        if len(fixed) == _FIXED.size and _FIXED.unpack(fixed)[7] == token:
            path.unlink()
            return True
    except FileNotFoundError:
        pass
    return False


def create(name: str, kind: int, meta: dict[str, Any], data_bytes: int, exist_ok: bool) -> Segment:
    """Create and initialise ``name``; ``exist_ok`` replaces a stale segment of that name."""
    validate_name(name)
    meta_text = repr(meta).encode("utf-8")
    data_offset = -(-(META_OFFSET + len(meta_text)) // DATA_ALIGNMENT) * DATA_ALIGNMENT
    size = data_offset + max(data_bytes, 0)
    path = segment_path(name)
    flags = os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        foreign = _trust.foreign_owner_error(path, name)
        if foreign is not None:
            raise foreign from None
        if not exist_ok or not _remove_if_stale(name):
            raise _exists_error(name, exist_ok) from None
        descriptor = os.open(path, flags, 0o600)
    mapping = None
    try:  # whatever fails, nothing is left under the name
        os.ftruncate(descriptor, size)
        mapping = mmap.mmap(descriptor, size)
        pid = os.getpid()
        header = Header(
            FORMAT_VERSION, kind, data_offset, pid, _process_start_time(pid),
            secrets.randbits(63), meta,
        )  # fmt: skip
        mapping[META_OFFSET : META_OFFSET + len(meta_text)] = meta_text
        segment = Segment(name, mapping, header, created=True)
        mutex_init(segment.base_address + MUTEX_OFFSET)
        # The magic goes in last: an attacher that sees it knows the rest is complete.
        _FIXED.pack_into(
            mapping, 0, b"\x00" * 8, FORMAT_VERSION, kind, data_offset, pid, len(meta_text),
            header.creator_start_time, header.token, 0, 0,
        )  # fmt: skip
        _trust.record_creator(mapping)
        mapping[0:8] = MAGIC
    except BaseException:
        path.unlink(missing_ok=True)
        if mapping is not None:
            try:
                mapping.close()
            except BufferError:
                pass
        raise
    finally:
        os.close(descriptor)
    _created_here[name] = (pid, header.token)
    return segment


def _exists_error(name: str, exist_ok: bool) -> SegmentExistsError:
    info = inspect_segment(segment_path(name))
    owner = f" by live pid {info.creator_pid}" if info.state == "live" else ""
    hint = "pick another name" if exist_ok else "pick another name or pass exist_ok=True"
    return SegmentExistsError(
        f"shared memory {name!r} already exists{owner}; {hint} "
        "(exist_ok replaces only segments whose creator is dead)",
        name=name,
    )


def attach(
    name: str, expected_kind: int, token: int | None = None, trust: _trust.Trust = _trust.OWN_USER
) -> Segment:
    """Map the existing segment ``name``; its kind (and token, when given) must match, and its
    file and creator must be users that ``trust`` accepts."""
    validate_name(name)
    path = segment_path(name)
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SegmentNotFoundError(
            f"shared memory {name!r} does not exist; create it first or check the name "
            "('ataraxis-like shm ls' lists existing ones)",
            name=name,
        ) from None
    except OSError as error:  # another user's file (EACCES) or a symbolic link (ELOOP)
        raise _trust.unopenable_error(path, name, error) from None
    try:
        owner = _trust.check_file(descriptor, name, trust).st_uid
        deadline = time.monotonic() + _INIT_WAIT_SECONDS
        while True:
            size = os.fstat(descriptor).st_size
            if size >= META_OFFSET and os.pread(descriptor, 8, 0) == MAGIC:
                break
            if time.monotonic() > deadline:
                raise ForeignSegmentError(
                    f"shared memory {name!r} has no complete ataraxis-like header (size {size}); "
                    "its creator died while creating it or it is not ours: "
                    "run 'ataraxis-like shm clean' or use another name",
                    name=name,
                )
            time.sleep(0.001)
        mapping = mmap.mmap(descriptor, size)
    finally:
        os.close(descriptor)
    try:
        header = _checked_header(mapping, name, size)
        pickles_trusted = _trust.check_creator(mapping, owner, header.creator_pid, name, trust)
    except BaseException:
        mapping.close()
        raise
    kind_name = KIND_NAMES.get(header.kind, str(header.kind))
    if header.kind != expected_kind:
        mapping.close()
        raise ForeignSegmentError(
            f"shared memory {name!r} holds a {kind_name}, not an {KIND_NAMES[expected_kind]}; "
            "attach it with the matching class",
            name=name,
        )
    if token is not None and header.token != token:
        mapping.close()
        raise SegmentNotFoundError(
            f"shared memory {name!r} was destroyed and created anew since this handle was made; "
            "get a fresh handle from its current creator",
            name=name,
        )
    segment = Segment(name, mapping, header, created=False)
    segment.pickles_trusted = pickles_trusted
    try:
        segment.lock.check()
    except BaseException:
        segment.close()
        raise
    return segment


def _checked_header(mapping: mmap.mmap, name: str, size: int) -> Header:
    """The header of an attached mapping, its sizes and offsets checked against ``size``."""
    try:
        # A copy: a view into the mapping kept alive by a traceback would block closing it.
        header = _decode_header(mapping[: META_OFFSET + 65536], name)
    except ForeignSegmentError:
        raise
    except Exception as error:  # the metadata text is not the literal we write
        raise _integrity.corrupt(name, f"its metadata cannot be read ({error!r:.200})") from None
    _integrity.check_header(name, header.data_offset, header.meta, size, META_OFFSET)
    return header


@dataclass(frozen=True)
class SegmentInfo:
    """What ``list_segments`` knows of one segment, read without mapping it."""

    name: str
    path: Path
    size_bytes: int
    state: str  # "live", "stale" (creator dead) or "incomplete" (creation never finished)
    kind: str | None = None
    creator_pid: int | None = None
    token: int | None = None
    meta: dict[str, Any] | None = None


def inspect_segment(path: Path) -> SegmentInfo:
    name = path.name[len(SEGMENT_PREFIX) :]
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(META_OFFSET + 65536)
    except FileNotFoundError:
        return SegmentInfo(name, path, 0, "stale")
    if len(head) < META_OFFSET or head[:8] != MAGIC:
        return SegmentInfo(name, path, size, "incomplete")
    # The fixed fields up to the token are stable across header versions, so the creator's
    # liveness is known even for a segment written by another version of the library.
    _magic, _version, kind, _offset, pid, _meta_length, start, token, *_ = _FIXED.unpack_from(head)
    try:
        meta: dict[str, Any] | None = _decode_header(head, name).meta
    except (ForeignSegmentError, ValueError, SyntaxError, UnicodeDecodeError):
        meta = None
    state = "live" if creator_alive(pid, start) else "stale"
    return SegmentInfo(name, path, size, state, KIND_NAMES.get(kind, str(kind)), pid, token, meta)


def list_segments() -> list[SegmentInfo]:
    """Every segment in /dev/shm that carries this library's prefix, sorted by name."""
    if not SHM_DIRECTORY.is_dir():
        return []
    return [inspect_segment(path) for path in sorted(SHM_DIRECTORY.glob(f"{SEGMENT_PREFIX}*"))]


def _remove_if_stale(name: str, incomplete_grace: float = 5.0) -> bool:
    path = segment_path(name)
    info = inspect_segment(path)
    if info.state == "stale" and info.token is not None:
        return unlink_if_token(name, info.token)
    if info.state == "stale":
        return True  # vanished meanwhile
    if info.state == "incomplete":
        try:
            if time.time() - path.stat().st_mtime > incomplete_grace:
                path.unlink()
                return True
        except FileNotFoundError:
            return True
    return False


def cleanup_stale(incomplete_grace: float = 5.0, names: Collection[str] | None = None) -> list[str]:
    """Remove segments whose creator is dead (of ``names`` only, if given); return their names.
    Live ones are never touched.

    Segments without a finished header count as dead once older than ``incomplete_grace`` seconds.
    """
    return [
        info.name
        for info in list_segments()
        if (names is None or info.name in names)
        and info.state != "live"
        and _remove_if_stale(info.name, incomplete_grace)
    ]


_created_here: dict[str, tuple[int, int]] = {}

PROCESS_ID = [os.getpid()]
"""This process's pid, kept current across fork: hot paths read it instead of calling getpid()."""


def _forked() -> None:
    _created_here.clear()
    PROCESS_ID[0] = os.getpid()


def _unlink_created_at_exit() -> None:
    """The creator's interpreter is exiting: remove what it created and never destroyed."""
    pid = os.getpid()
    for name, (creator_pid, token) in list(_created_here.items()):
        if creator_pid == pid:
            unlink_if_token(name, token)
    _created_here.clear()


atexit.register(_unlink_created_at_exit)
os.register_at_fork(after_in_child=_forked)
