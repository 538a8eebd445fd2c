"""How the library creates files: owner-only (0600) unless the caller passes another mode.

Logs, archives, HDF5 files, lock files and configs hold the data of experiments, and rigs are
often shared machines: a file readable by every user leaks it, so new files get the mode of the
shared-memory segments, 0600. A caller who wants a group to read passes ``file_mode=0o640``
(the umask still applies, as for any file). Existing files keep their mode. See docs/files.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from .errors import FileModeError

FILE_MODE = 0o600


def check_file_mode(mode: object) -> int:
    """``mode`` when it is a valid permission mode; FileModeError otherwise."""
    if type(mode) is not int or not 0 <= mode <= 0o777:
        raise FileModeError(
            f"file_mode must be an int from 0 to 0o777 such as 0o600 (got {mode!r}); pass the "
            "permission bits new files should get",
            file_mode=repr(mode),
        )
    return mode


def create_file(path: Path | str, mode: int = FILE_MODE, *, exclusive: bool = False) -> int:
    """A descriptor open for writing on ``path``, created with ``mode`` (truncated if it exists,
    keeping its own mode; FileExistsError with ``exclusive``)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    if exclusive:
        flags |= os.O_EXCL
    return os.open(path, flags, mode)


def open_new(path: Path | str, mode: int = FILE_MODE, *, exclusive: bool = False) -> BinaryIO:
    """``open(path, "wb")`` that creates the file with ``mode``."""
    return os.fdopen(create_file(path, mode, exclusive=exclusive), "wb")


def mode_of(path: Path | str, default: int = FILE_MODE) -> int:
    """The permission bits of ``path``, or ``default`` when it does not exist: a lock file
    beside a data file gets the data file's mode, so whoever may open the one may lock it."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return default


def touch_new(path: Path | str, mode: int = FILE_MODE) -> bool:
    """Create ``path`` empty with ``mode`` unless it exists; whether it was created. Used before
    handing a path to code that would create it with the umask's mode (h5py, logging)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode))
    except FileExistsError:
        return False
    return True
