"""The sink's file on disk: its directory must exist, the path must stay the file the sink
opened, and an OSError while writing (disk full, size limit) becomes a one-line SinkWriteError.

A file deleted while open (with its directory, say) is still written on Linux, into an inode
nobody can reach: without these checks every later row would vanish without a word.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import AtaraxisError
from ._errors import SinkWriteError


def one_line(error: BaseException) -> str:
    """An error's text in one line of at most 200 characters, with the OS's reason.

    HDF5's messages run over several lines and break inside a parenthesis, before the reason.
    """
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    if text.count("(") > text.count(")"):
        text = text.split(" (", 1)[0]
    number = getattr(error, "errno", None)
    if isinstance(number, int) and number and os.strerror(number) not in text:
        text += f": {os.strerror(number)}"
    return text if len(text) <= 200 else text[:197] + "..."


def require_directory(path: Path) -> None:
    if not path.parent.is_dir():
        raise SinkWriteError(
            f"directory {path.parent} of sink file {path.name} does not exist; create it first",
            path=str(path),
        )


class FileIdentity:
    """The (device, inode) of the sink's file when opened; ``check`` says whether it still is."""

    def __init__(self, path: Path) -> None:
        self.path = path
        stat = path.stat()
        self._identity = (stat.st_dev, stat.st_ino)

    def check(self) -> None:
        try:
            stat = self.path.stat()
            same = (stat.st_dev, stat.st_ino) == self._identity
        except FileNotFoundError:
            same = False
        if not same:
            raise SinkWriteError(
                f"sink file {self.path} was deleted or replaced while the sink wrote it; rows "
                "written since are lost: keep the file and its directory until the sink closes",
                path=str(self.path),
            )


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError from h5py or the OS, or an error HDF5 reports while writing (h5py raises
    those as RuntimeError), into SinkWriteError naming the file."""
    try:
        yield
    except AtaraxisError:
        raise
    except (OSError, RuntimeError) as error:
        raise SinkWriteError(
            f"cannot write sink file {path}: {one_line(error)}; free space or fix the cause, "
            "then flush() again",
            path=str(path),
            errno=getattr(error, "errno", None),
        ) from error
