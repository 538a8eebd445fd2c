"""Reopen an HDF5 file whose writer was killed, without the h5clear tool.

A file written in SWMR mode (superblock version 3) carries "open for write" status flags in its
superblock; after a SIGKILL they stay set and every later open fails ("file is already open for
write ... h5clear"). With the installed HDF5 (2.0) neither ``locking=False`` nor opening through
``h5py.h5f.open`` with ``ACC_SWMR_WRITE`` clears them, so we edit the superblock as h5clear does:
the status byte (offset 11) goes to 0, the end-of-file address (offset 28) to at least the file's
size (the killed writer never wrote its final one), and the Jenkins lookup3 checksum (offset 44)
is recomputed. SWMR writes metadata in dependency order, so what was flushed before the kill is
a consistent file once the flags are cleared.

We refuse while any live process has the file open for writing (looked up in /proc), so a
running writer is never touched.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import h5py  # type: ignore[import-untyped]

from ._errors import RecoveryError
from ._locks import open_lock

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_STATUS, _EOF, _CHECKSUM, _SUPERBLOCK_BYTES = 11, 28, 44, 48
_MASK = 0xFFFFFFFF
_STALE_FLAGS_TEXT = ("already open for write", "h5clear")


def _rotate(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & _MASK


def lookup3(data: bytes, initial: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle``: HDF5's metadata checksum."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initial) & _MASK
    offset = 0
    while length > 12:
        x, y, z = struct.unpack_from("<III", data, offset)
        a, b, c = (a + x) & _MASK, (b + y) & _MASK, (c + z) & _MASK
        a = ((a - c) & _MASK) ^ _rotate(c, 4)
        c = (c + b) & _MASK
        b = ((b - a) & _MASK) ^ _rotate(a, 6)
        a = (a + c) & _MASK
        c = ((c - b) & _MASK) ^ _rotate(b, 8)
        b = (b + a) & _MASK
        a = ((a - c) & _MASK) ^ _rotate(c, 16)
        c = (c + b) & _MASK
        b = ((b - a) & _MASK) ^ _rotate(a, 19)
        a = (a + c) & _MASK
        c = ((c - b) & _MASK) ^ _rotate(b, 4)
        b = (b + a) & _MASK
        length -= 12
        offset += 12
    if length == 0:
        return int(c)
    x, y, z = struct.unpack("<III", data[offset:] + bytes(12 - length))
    a, b, c = (a + x) & _MASK, (b + y) & _MASK, (c + z) & _MASK
    c = ((c ^ b) - _rotate(b, 14)) & _MASK
    a = ((a ^ c) - _rotate(c, 11)) & _MASK
    b = ((b ^ a) - _rotate(a, 25)) & _MASK
    c = ((c ^ b) - _rotate(b, 16)) & _MASK
    a = ((a ^ c) - _rotate(c, 4)) & _MASK
    b = ((b ^ a) - _rotate(a, 14)) & _MASK
    c = ((c ^ b) - _rotate(b, 24)) & _MASK
    return int(c)


def _superblock_offset(handle: object, size: int) -> int:
    offset = 0
    while offset + _SUPERBLOCK_BYTES <= size:
        if os.pread(handle.fileno(), 8, offset) == SIGNATURE:  # type: ignore[attr-defined]
            return offset
        offset = 512 if offset == 0 else offset * 2
    name = getattr(handle, "name", "the file")
    raise RecoveryError(
        f"{name} is not an HDF5 file (no HDF5 signature in its {size} bytes); pass the path of "
        "an HDF5 file",
        path=str(name),
        size=size,
    )


def status_flags(path: Path | str) -> int:
    """The superblock's status flags (0: closed cleanly; superblocks before v2 report 0)."""
    with open(path, "rb") as handle:
        offset = _superblock_offset(handle, os.fstat(handle.fileno()).st_size)
        head = os.pread(handle.fileno(), _SUPERBLOCK_BYTES, offset)
    return head[_STATUS] if head[8] >= 2 else 0


def is_stale_flags_error(error: BaseException) -> bool:
    """True for HDF5's "already open for write ... h5clear" refusal."""
    return isinstance(error, OSError) and all(text in str(error) for text in _STALE_FLAGS_TEXT)


def _open_for_writing(pid: str, fd: str, target: os.stat_result) -> bool:
    try:
        stat = os.stat(f"/proc/{pid}/fd/{fd}")
        if (stat.st_dev, stat.st_ino) != (target.st_dev, target.st_ino):
            return False
        with open(f"/proc/{pid}/fdinfo/{fd}") as info:
            fields = dict(line.split(":", 1) for line in info if ":" in line)
        return bool(int(fields["flags"].strip(), 8) & (os.O_WRONLY | os.O_RDWR))
    except (OSError, KeyError, ValueError):
        return False


def writers_of(path: Path | str) -> list[int]:
    """Pids of live processes (readable by us) that have ``path`` open for writing."""
    target = os.stat(path)
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            descriptors = os.listdir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        if any(_open_for_writing(entry.name, fd, target) for fd in descriptors):
            found.append(int(entry.name))
    return found


def clear_status_flags(path: Path | str) -> bool:
    """Clear a killed writer's status flags in place; False when there were none.

    The caller guarantees that no process writes the file (we check /proc as well).
    """
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = _superblock_offset(handle, size)
        head = bytearray(os.pread(handle.fileno(), _SUPERBLOCK_BYTES, offset))
        if head[8] < 2 or head[_STATUS] == 0:
            return False
        stored = struct.unpack_from("<I", head, _CHECKSUM)[0]
        if head[9] != 8 or lookup3(bytes(head[:_CHECKSUM])) != stored:
            raise RecoveryError(
                f"{path}: superblock checksum or layout is not as expected; the file may be "
                "damaged beyond a killed writer: restore it from a copy",
                path=str(path),
            )
        writers = [pid for pid in writers_of(path) if pid != os.getpid()]
        if writers:
            raise RecoveryError(
                f"{path} is still open for writing by pid {writers}: stop that writer first; "
                "a live file is never recovered",
                path=str(path),
                pids=writers,
            )
        end = max(struct.unpack_from("<Q", head, _EOF)[0], size - offset)
        if end + offset > size:
            os.ftruncate(handle.fileno(), end + offset)
        head[_STATUS] = 0
        struct.pack_into("<Q", head, _EOF, end)
        struct.pack_into("<I", head, _CHECKSUM, lookup3(bytes(head[:_CHECKSUM])))
        os.pwrite(handle.fileno(), bytes(head), offset)
        os.fsync(handle.fileno())
    return True


@dataclass
class RecoveryReport:
    """What ``recover`` did: whether flags were cleared, and the rows of every dataset."""

    path: str
    recovered: bool
    datasets: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def summary(self) -> str:
        state = "recovered (stale writer flags cleared)" if self.recovered else "clean"
        return f"{self.path}: {state}; {len(self.datasets)} dataset(s) readable"


def recover(path: Path | str, timeout: float = 10.0, lock: str | None = None) -> RecoveryReport:
    """Make ``path`` openable again after its writer was killed, then check it reads.

    Takes the file's writer lock first (``lock``: None/"flock" or the "redis://..." URL the
    file's writers use; waiting up to ``timeout`` s), so a live sink is never
    disturbed; raises RecoveryError when the file cannot be read even after that.
    """
    path = Path(path)
    if not path.exists():
        raise RecoveryError(f"{path} does not exist; pass the path of an HDF5 file", path=str(path))
    status_flags(path)  # not an HDF5 file: refused here, before a lock file is made beside it
    rwlock = open_lock(path, lock)
    rwlock.acquire(exclusive=True, timeout=timeout)
    try:
        recovered = clear_status_flags(path)
        report = RecoveryReport(str(path), recovered)
        try:
            with h5py.File(path, "r", locking=False) as handle:
                handle.visititems(
                    lambda name, item: (
                        report.datasets.__setitem__(name, item.shape)
                        if isinstance(item, h5py.Dataset)
                        else None
                    )
                )
        except (OSError, RuntimeError, KeyError) as error:
            raise RecoveryError(
                f"{path} still cannot be read after clearing the writer flags ({error}); "
                "restore it from a copy",
                path=str(path),
                damaged=True,
            ) from None
        return report
    finally:
        rwlock.release()
