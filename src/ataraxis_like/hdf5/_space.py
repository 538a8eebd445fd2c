"""Disk space for a writer's next HDF5 writes, reserved before HDF5 is asked to write them.

HDF5 does not survive a full disk: a flush that fails with ENOSPC leaves dataset extents that
point at chunks never written (rows of zeros that read back without an error), ``close`` fails
with "Can't decrement id ref count", and the library crashes the interpreter at exit. So a writer
never lets HDF5 meet a full disk: before each write it reserves the blocks past the end of the
file that the write (and every row not yet flushed, and the metadata of a flush and a close) can
need, with ``fallocate(FALLOC_FL_KEEP_SIZE)``. HDF5 allocates at the end of the file, so its
writes land on reserved blocks. When the reservation fails, the write is refused with ENOSPC
before HDF5 sees it: the file stays whole and closes cleanly, and the rows stay with the caller.
The reserve is given back (``FALLOC_FL_PUNCH_HOLE``) when the file closes.

File systems without ``fallocate`` get a check of the free space instead (``statvfs``), which
another process writing to the same disk can race.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path
from typing import Any

_KEEP_SIZE = 0x01
_PUNCH_HOLE = 0x02
METADATA_ROOM = 256 << 10
"""Room kept for HDF5's metadata beyond the data itself: object headers, chunk indexes, the
superblock; a flush or a close of a file with a few hundred keys needs far less."""
_STEP = 1 << 20
_RELEASE_SPAN = 1 << 50  # past the end of any file: punching it frees every reserved block
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def _load_fallocate() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.fallocate
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    function.restype = ctypes.c_int
    return function


_FALLOCATE = _load_fallocate()


def fallocate(descriptor: int, mode: int, offset: int, length: int) -> None:
    """``fallocate(2)``; OSError with the errno on failure (ENOSYS where libc lacks it)."""
    if _FALLOCATE is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
    if _FALLOCATE(descriptor, mode, offset, length) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


class Room:
    """The reserve past the end of one open HDF5 file (``file`` is an open ``h5py.File``).

    ``ensure(extra)`` makes room for ``extra`` more bytes on top of what was written since the
    last flush (``pending``, kept by the caller); ``flushed()`` forgets the pending bytes.
    """

    def __init__(self, file: Any, pending: int = 0, factor: int = 1) -> None:
        self._file = file
        self.factor = factor  # 2 with compression: a rewritten chunk may move to a new place
        self._descriptor: int = file.id.get_vfd_handle()
        self.reserved_end = 0
        self._supported = _FALLOCATE is not None
        self.pending = pending

    def _size(self) -> int:
        return max(int(self._file.id.get_filesize()), os.fstat(self._descriptor).st_size)

    def ensure(self, extra: int) -> None:
        """Reserve room for ``extra`` bytes more; OSError(ENOSPC) when the disk has none.

        The reserve grows in steps (1 MiB, or a sixteenth of the file) so that appends rarely
        call ``fallocate``; near a full disk it grows by exactly what is needed.
        """
        size = self._size()
        need = size + self.factor * (self.pending + extra) + METADATA_ROOM
        if need <= self.reserved_end:
            return
        if self._supported:
            try:
                for target in (need + max(_STEP, size // 16), need):
                    try:
                        fallocate(self._descriptor, _KEEP_SIZE, size, target - size)
                    except OSError as error:
                        if error.errno != errno.ENOSPC or target == need:
                            raise
                        continue
                    self.reserved_end = target
                    return
            except OSError as error:
                if error.errno not in _UNSUPPORTED:
                    raise
                self._supported = False
        status = os.fstatvfs(self._descriptor)
        if status.f_bavail * status.f_frsize < need - size:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flushed(self) -> None:
        self.pending = 0


def release(path: Path) -> None:
    """Give back the blocks reserved past the end of the closed file at ``path``."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        size = os.fstat(descriptor).st_size
        fallocate(descriptor, _PUNCH_HOLE | _KEEP_SIZE, size, _RELEASE_SPAN)
    except OSError:
        pass  # the blocks stay allocated past the end; nothing is wrong with the file
    finally:
        os.close(descriptor)
