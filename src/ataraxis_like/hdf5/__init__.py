"""HDF5 sink: append rows to an HDF5 file from any process, read it live, survive a killed writer.

See docs/hdf5.md. ``Hdf5Sink`` writes (alone, through a writer process with ``sharing="queue"``,
or taking turns with ``sharing="lock"``); ``open_sink`` reads, also while a writer runs;
``locked_file`` gives foreign h5py code a plain file under a readers-writer lock; ``recover``
reopens a file whose writer was killed.
"""

from ._errors import (
    LockConfigError,
    LockLostError,
    LockServerError,
    RecoveryError,
    SinkCapacityError,
    SinkClosedError,
    SinkDataError,
    SinkError,
    SinkInUseError,
    SinkKeyError,
    SinkWriteError,
)
from ._mounts import NetworkFileSystemWarning
from ._rwlock import FileRWLock
from .client import Hdf5Client
from .locked import locked_file
from .reader import SinkReader, open_sink
from .recover import RecoveryReport, recover
from .sink import Hdf5Sink

__all__ = [
    "FileRWLock",
    "Hdf5Client",
    "Hdf5Sink",
    "LockConfigError",
    "LockLostError",
    "LockServerError",
    "NetworkFileSystemWarning",
    "RecoveryError",
    "RecoveryReport",
    "SinkCapacityError",
    "SinkClosedError",
    "SinkDataError",
    "SinkError",
    "SinkInUseError",
    "SinkKeyError",
    "SinkReader",
    "SinkWriteError",
    "locked_file",
    "open_sink",
    "recover",
]
