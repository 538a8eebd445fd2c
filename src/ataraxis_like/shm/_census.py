"""What is in ``/dev/shm`` under our prefix, whose it is, and removing what dead creators left.

``list_segments`` reports every file it finds, including those it cannot read. Removal touches
only segments that carry our header, belong to this user and whose creator is proved dead
(``_liveness``). ``reclaim_stale`` is that removal run by the library itself whenever a process
creates or attaches a segment, at most once per ``RECLAIM_INTERVAL`` seconds per process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._header import FIXED_BYTES, KIND_NAMES, MAX_META_BYTES, META_OFFSET, decode, read_identity
from ._liveness import STALE, UNKNOWN, judge
from ._mappers import mapping_pids
from ._names import SEGMENT_PREFIX, SHM_DIRECTORY, open_segment_file, unlink_if_token

FOREIGN = "foreign"
UNREADABLE = "unreadable"
VANISHED = "removed while listing"
RECLAIM_INTERVAL = 1.0
"""Seconds between two automatic scans in one process: creating or attaching stays cheap."""
_next_reclaim = 0.0


@dataclass(frozen=True)
class SegmentInfo:
    """What ``list_segments`` knows of one segment, read without mapping it.

    ``state``: "live" (creator alive), "stale" (creator proved dead), "unknown" (cannot tell:
    treated as live), "foreign" (no ataraxis-like header) or "unreadable" (see ``reason``).
    """

    name: str
    path: Path
    size_bytes: int
    state: str
    kind: str | None = None
    creator_pid: int | None = None
    token: int | None = None
    meta: dict[str, Any] | None = None
    owner_uid: int | None = None
    version: int | None = None
    label: str = ""
    reason: str = ""

    @property
    def ours(self) -> bool:
        """True when this process's user owns the file (only such segments are ever removed)."""
        return self.owner_uid == os.geteuid()


def inspect_segment(path: Path) -> SegmentInfo:
    """Read and judge the file ``path`` (``/dev/shm/atxl_<name>``) without mapping it."""
    name = path.name[len(SEGMENT_PREFIX) :]
    try:
        status = path.lstat()
    except FileNotFoundError:
        return SegmentInfo(name, path, 0, UNREADABLE, reason=VANISHED)
    base = SegmentInfo(name, path, status.st_size, UNREADABLE, owner_uid=status.st_uid)
    try:
        descriptor = open_segment_file(path)
    except FileNotFoundError:  # removed between the two calls (another process reclaimed it)
        return _replace(base, reason=VANISHED)
    except OSError as error:
        return _replace(base, reason=error.strerror or str(error))
    try:
        head = os.pread(descriptor, META_OFFSET + MAX_META_BYTES, 0)
        identity = read_identity(head)
        if identity is None:
            return _replace(base, state=FOREIGN, reason="no ataraxis-like header")
        state = judge(identity, descriptor)
    finally:
        os.close(descriptor)
    meta: dict[str, Any] | None
    try:
        meta = decode(head, name).meta
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        meta = None  # another header version, or metadata we do not read
    return _replace(
        base, state=state, kind=KIND_NAMES.get(identity.kind, str(identity.kind)),
        creator_pid=identity.creator_pid, token=identity.token, meta=meta,
        version=identity.version, label=identity.label,
    )  # fmt: skip


def _replace(info: SegmentInfo, **changes: Any) -> SegmentInfo:
    return SegmentInfo(**{**info.__dict__, **changes})


def list_segments(label: str | None = None) -> list[SegmentInfo]:
    """Every file in /dev/shm that carries this library's prefix (of ``label`` only, if given),
    sorted by name."""
    if not SHM_DIRECTORY.is_dir():
        return []
    found = [inspect_segment(path) for path in sorted(SHM_DIRECTORY.glob(f"{SEGMENT_PREFIX}*"))]
    return [info for info in found  # a file removed while we listed is gone: not listed
            if info.reason != VANISHED and (label is None or info.label == label)]  # fmt: skip


def remove_if_stale(info: SegmentInfo, named: bool = False) -> bool:
    """Remove the segment ``info`` describes if it is ours and its creator is dead; ``named``
    (the user named it explicitly) also removes ours whose creator we cannot judge."""
    removable = (STALE, UNKNOWN) if named else (STALE,)
    if not info.ours or info.state not in removable or info.token is None:
        return False
    return unlink_if_token(info.name, info.token)


def cleanup_stale(names: Collection[str] | None = None, label: str | None = None) -> list[str]:
    """Remove this user's segments whose creator is dead (of ``names`` or ``label`` only, if
    given); return their names. Live ones, other users' and files without our header are never
    touched; segments named in ``names`` whose creator cannot be judged are removed too."""
    removed = []
    for info in list_segments(label):
        named = names is not None and info.name in names
        if (names is None or named) and remove_if_stale(info, named):
            removed.append(info.name)
    return removed


def reclaim_stale(force: bool = False, keep: str | None = None) -> list[str]:
    """Remove this user's segments whose creator is proved dead and that no live process still
    maps (an orphaned consumer may be draining one), except ``keep`` (a name being attached:
    a dead creator's data can still be rescued), unless a scan ran in this process less than
    RECLAIM_INTERVAL seconds ago (``force`` scans anyway)."""
    global _next_reclaim
    now = time.monotonic()
    if not force and now < _next_reclaim:
        return []
    _next_reclaim = now + RECLAIM_INTERVAL
    removed = []
    try:
        entries = list(os.scandir(SHM_DIRECTORY))
    except OSError:
        return []
    uid = os.geteuid()
    for entry in entries:
        if not entry.name.startswith(SEGMENT_PREFIX) or entry.name == f"{SEGMENT_PREFIX}{keep}":
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != uid:
                continue
        except OSError:
            continue
        info = _judge_quickly(Path(entry.path))
        if info is None or info.state != STALE or mapping_pids(info.path):
            continue
        if remove_if_stale(info):
            removed.append(info.name)
    return removed


def _judge_quickly(path: Path) -> SegmentInfo | None:
    """Like inspect_segment, reading only the fixed header and skipping the metadata."""
    try:
        descriptor = open_segment_file(path)
    except OSError:
        return None
    try:
        identity = read_identity(os.pread(descriptor, FIXED_BYTES, 0))
        if identity is None:
            return None
        state = judge(identity, descriptor)
        owner = os.fstat(descriptor).st_uid
    except OSError:
        return None
    finally:
        os.close(descriptor)
    name = path.name[len(SEGMENT_PREFIX) :]
    return SegmentInfo(name, path, 0, state, token=identity.token, owner_uid=owner)
