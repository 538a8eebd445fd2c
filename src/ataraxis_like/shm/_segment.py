"""Named shared-memory segments: created whole, attached by name, removed by their creator.

A segment is the file ``/dev/shm/atxl_<name>`` mapped by every process that uses it. We open it
directly instead of through ``multiprocessing.shared_memory`` so that attaching never registers
the segment with a resource tracker (which on Python 3.11 and 3.12 unlinks it when the attaching
process exits). A segment is built in an unnamed file (``O_TMPFILE``) and linked under its name
only when complete, so no process ever sees half a segment and a creator that dies while
building leaves nothing. The creator keeps its lifetime lock (``_liveness``) until it exits.
The header layout lives in ``_header``; docs/shared-memory.md documents it.
"""

from __future__ import annotations

import atexit
import ctypes
import mmap
import os
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ForeignSegmentError, SegmentExistsError, SegmentNotFoundError
from . import _census, _integrity, _liveness, _trust
from ._census import inspect_segment as inspect_segment
from ._header import FLAG_CLOSED as FLAG_CLOSED
from ._header import FLAGS_OFFSET as FLAGS_OFFSET
from ._header import (
    KIND_AREA_BYTES,
    KIND_AREA_OFFSET,
    KIND_NAMES,
    MAX_META_BYTES,
    META_OFFSET,
    MUTEX_OFFSET,
    RECOVERIES_OFFSET,
    Header,
    Identity,
    data_offset_for,
    decode,
    label_from_environment,
    write,
)
from ._header import KIND_ARRAY as KIND_ARRAY
from ._header import KIND_QUEUE as KIND_QUEUE
from ._lock import RobustLock
from ._names import SHM_DIRECTORY as SHM_DIRECTORY
from ._names import segment_path as segment_path
from ._names import unlink_if_token
from ._names import validate_name as validate_name
from ._posix import mutex_init


class Segment:
    """One mapped segment: header, lock and data region. Not picklable; handles carry names.

    ``descriptor`` is this process's own open file description of the segment, used to ask
    whether its creator still holds the lifetime lock. ``pickles_trusted`` says whether pickled
    items found in it may be unpickled (see _trust).
    """

    pickles_trusted = True

    def __init__(
        self, name: str, mapping: mmap.mmap, header: Header, created: bool, descriptor: int
    ) -> None:
        self.name = name
        self.header = header
        self.created_here = created
        self._descriptor: int | None = descriptor
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
        return int(struct.unpack_from("<Q", self.mapping, RECOVERIES_OFFSET)[0])

    def _recovered(self) -> None:
        """Runs holding a lock taken from a dead holder: count it, then let owners repair.

        The count wraps at 2**64 (a corrupted word must not make the recovery itself fail)."""
        count = (self.recoveries + 1) & 0xFFFF_FFFF_FFFF_FFFF
        struct.pack_into("<Q", self.mapping, RECOVERIES_OFFSET, count)
        for hook in self.recovery_hooks:
            hook()

    @property
    def flags(self) -> int:
        return int(struct.unpack_from("<I", self.mapping, FLAGS_OFFSET)[0])

    def set_flag(self, flag: int) -> None:
        struct.pack_into("<I", self.mapping, FLAGS_OFFSET, self.flags | flag)

    def clear_flag(self, flag: int) -> None:
        struct.pack_into("<I", self.mapping, FLAGS_OFFSET, self.flags & ~flag)

    def creator_alive(self) -> bool:
        """False only when the creator is proved dead (its lifetime lock is free)."""
        if created_here(self.name, self.header.token):
            return True
        return _liveness.creator_alive(self.header.identity, self._descriptor)

    def close(self) -> None:
        """Unmap. A mapping still exported to live numpy views stays until they are freed."""
        self._anchor = None
        mapping, self._mapping = self._mapping, None
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)
        if mapping is not None:
            try:
                mapping.close()
            except BufferError:
                pass  # views made by the caller still point into it; it closes when they die

    def __del__(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            try:
                os.close(descriptor)
            except OSError:
                pass

    def unlink(self) -> None:
        """Remove the name (only if it still names this very segment); mappings stay valid."""
        remove(self.name, self.header.token)


def remove(name: str, token: int) -> None:
    """Unlink ``name`` if it still holds the segment ``token``; when this process made that very
    segment, forget it (an older handle's removal leaves a newer segment of the name alone) and
    let go of its lifetime lock."""
    unlink_if_token(name, token)
    created = _created_here.get(name)
    if created is not None and created.token == token:
        del _created_here[name]
        if created.pid == PROCESS_ID[0]:
            os.close(created.lifetime_descriptor)


def created_here(name: str, token: int) -> bool:
    """True when this process created the segment ``token`` as ``name`` and has not removed it."""
    created = _created_here.get(name)
    return created is not None and created.pid == PROCESS_ID[0] and created.token == token


def create(name: str, kind: int, meta: dict[str, Any], data_bytes: int, exist_ok: bool) -> Segment:
    """Create and initialise ``name``; ``exist_ok`` replaces a stale segment of that name."""
    validate_name(name)
    label = label_from_environment()
    _census.reclaim_stale()
    meta_text = repr(meta).encode("utf-8")
    data_offset = data_offset_for(meta_text)
    size = data_offset + max(data_bytes, 0)
    path = segment_path(name)
    if path.exists() and not (exist_ok and _remove_if_stale(name)):
        raise _trust.foreign_owner_error(path, name) or _exists_error(name, exist_ok)
    # Unnamed until complete: a creator killed before link() leaves nothing behind.
    descriptor = os.open(SHM_DIRECTORY, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    working = -1
    try:
        _liveness.hold_lifetime_lock(descriptor)
        os.ftruncate(descriptor, size)
        # The mapping and the lock checks use an open file description of their own: mmap keeps
        # a duplicate of the descriptor it maps, and a fork child inheriting a duplicate of the
        # lifetime descriptor would hold the lock for a creator that died.
        working = os.open(f"/proc/self/fd/{descriptor}", os.O_RDWR | os.O_CLOEXEC)
        mapping = mmap.mmap(working, size)
    except BaseException:
        os.close(descriptor)
        if working >= 0:
            os.close(working)
        raise
    pid = os.getpid()
    identity = Identity(
        2, kind, pid, _liveness.process_start_time(pid), secrets.randbits(63), os.geteuid(),
        _liveness.own_pid_namespace(), label,
    )  # fmt: skip
    header = Header(identity, data_offset, meta)
    try:
        mutex_init(ctypes.addressof(ctypes.c_char.from_buffer(mapping)) + MUTEX_OFFSET)
        write(mapping, identity, data_offset, meta_text)
        _publish(descriptor, name, exist_ok)
    except BaseException:
        mapping.close()
        os.close(descriptor)
        os.close(working)
        raise
    _created_here[name] = _Created(pid, identity.token, descriptor)
    return Segment(name, mapping, header, True, working)


def _publish(descriptor: int, name: str, exist_ok: bool) -> None:
    """Give the finished unnamed file its name; SegmentExistsError if the name is taken."""
    directory = os.open(SHM_DIRECTORY, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    source, target = f"/proc/self/fd/{descriptor}", segment_path(name).name
    try:
        for attempt in range(2):
            try:
                # src_dir_fd makes os.link call linkat() with AT_SYMLINK_FOLLOW, which links the
                # file the /proc entry stands for (plain link() would link the symlink itself).
                os.link(source, target, src_dir_fd=directory, dst_dir_fd=directory)
                return
            except FileExistsError:
                if attempt or not (exist_ok and _remove_if_stale(name)):
                    foreign = _trust.foreign_owner_error(segment_path(name), name)
                    raise foreign or _exists_error(name, exist_ok) from None
    finally:
        os.close(directory)


def _remove_if_stale(name: str) -> bool:
    """True when ``name`` is free now: it was ours with a dead creator (removed, here or by
    another process's reclamation in the meantime) or it vanished."""
    path = segment_path(name)
    info = _census.inspect_segment(path)
    if info.state == _census.UNREADABLE and info.reason == _census.VANISHED:
        return True
    return _census.remove_if_stale(info) or (info.state == _liveness.STALE and not path.exists())


def _exists_error(name: str, exist_ok: bool) -> SegmentExistsError:
    info = _census.inspect_segment(segment_path(name))
    if info.state == _liveness.LIVE:
        owner = f" by live pid {info.creator_pid}"
    elif not info.ours:
        owner = f" and belongs to uid {info.owner_uid}"
    else:
        owner = f" ({info.state}: {info.reason})" if info.reason else f" ({info.state})"
    hint = "pick another name" if exist_ok else "pick another name or pass exist_ok=True"
    return SegmentExistsError(
        f"shared memory {name!r} already exists{owner}; {hint} "
        "(exist_ok replaces only this user's segments whose creator is dead)",
        name=name,
    )


def attach(
    name: str, expected_kind: int, token: int | None = None, trust: _trust.Trust = _trust.OWN_USER
) -> Segment:
    """Map the existing segment ``name``; its kind (and token, when given) must match, and its
    file and creator must be users that ``trust`` accepts."""
    validate_name(name)
    _census.reclaim_stale(keep=name)
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
        size = os.fstat(descriptor).st_size
        if size < META_OFFSET:
            raise ForeignSegmentError(
                f"shared memory {name!r} is too small ({size} bytes) for an ataraxis-like "
                "header; it is not ours: use another name",
                name=name,
            )
        mapping = mmap.mmap(descriptor, size)
        try:
            header = _checked_header(mapping, name, expected_kind, token, size)
            pickles_trusted = _trust.check_creator(mapping, owner, header.creator_pid, name, trust)
        except BaseException:
            mapping.close()
            raise
    except BaseException:
        os.close(descriptor)
        raise
    segment = Segment(name, mapping, header, False, descriptor)
    segment.pickles_trusted = pickles_trusted
    try:
        segment.lock.check()
    except BaseException:
        segment.close()
        raise
    return segment


def _checked_header(
    mapping: mmap.mmap, name: str, kind: int, token: int | None, size: int
) -> Header:
    """The header of an attached mapping: ours, of ``kind`` (and ``token``), its sizes and
    offsets checked against ``size``."""
    try:
        # A copy: a view into the mapping kept alive by a traceback would block closing it.
        header = decode(mapping[: META_OFFSET + MAX_META_BYTES], name)
    except ForeignSegmentError:
        raise
    except Exception as error:  # the metadata text is not the literal we write
        raise _integrity.corrupt(name, f"its metadata cannot be read ({error!r:.200})") from None
    _integrity.check_header(name, header.data_offset, header.meta, size, META_OFFSET)
    if header.kind != kind:
        raise ForeignSegmentError(
            f"shared memory {name!r} holds a {KIND_NAMES.get(header.kind, str(header.kind))}, "
            f"not an {KIND_NAMES[kind]}; attach it with the matching class",
            name=name,
        )
    if token is not None and header.token != token:
        raise SegmentNotFoundError(
            f"shared memory {name!r} was destroyed and created anew since this handle was made; "
            "get a fresh handle from its current creator",
            name=name,
        )
    return header


@dataclass(frozen=True)
class _Created:
    """A segment this process created and has not removed: its lifetime lock stays open."""

    pid: int
    token: int
    lifetime_descriptor: int


_created_here: dict[str, _Created] = {}

PROCESS_ID = [os.getpid()]
"""This process's pid, kept current across fork: hot paths read it instead of calling getpid()."""


def _forked() -> None:
    """In a fork child: the parent's segments are not ours to remove, nor their locks to hold
    (closing our copies keeps the parent's locks; the kernel drops them when it exits)."""
    for created in _created_here.values():
        try:
            os.close(created.lifetime_descriptor)
        except OSError:
            pass
    _created_here.clear()
    PROCESS_ID[0] = os.getpid()


def _unlink_created_at_exit() -> None:
    """The creator's interpreter is exiting: remove what it created and never destroyed."""
    pid = os.getpid()
    for name, created in list(_created_here.items()):
        if created.pid == pid:
            unlink_if_token(name, created.token)
    _created_here.clear()


atexit.register(_unlink_created_at_exit)
os.register_at_fork(after_in_child=_forked)
