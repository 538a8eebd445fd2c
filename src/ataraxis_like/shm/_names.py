"""Segment names and the files behind them in ``/dev/shm``."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ..errors import InvalidNameError
from ._header import FIXED_BYTES, read_token

SHM_DIRECTORY = Path("/dev/shm")
SEGMENT_PREFIX = "atxl_"
MAX_NAME_LENGTH = 200
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")


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


def open_segment_file(path: Path) -> int:
    """A read-only descriptor of the regular file ``path`` (never blocks on a FIFO, never
    follows a symlink); OSError otherwise."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError(f"{path} is not a regular file")
    return descriptor


def unlink_if_token(name: str, token: int) -> bool:
    """Remove ``name`` only if it still names the segment with ``token``; True when removed."""
    path = segment_path(name)
    try:
        descriptor = open_segment_file(path)
    except FileNotFoundError:
        return False
    try:
        if read_token(os.pread(descriptor, FIXED_BYTES, 0)) != token:
            return False
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(descriptor)
