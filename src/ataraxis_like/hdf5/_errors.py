"""The HDF5 sink's exceptions: each derives from AtaraxisError and the builtin a caller expects."""

from __future__ import annotations

from ..errors import AtaraxisError, DataMismatchError


class SinkDataError(DataMismatchError):
    """A value cannot be stored at its key without loss (shape, dtype, range or kind of key)."""


class SinkKeyError(AtaraxisError, KeyError):
    """A key is malformed, reserved, clashes with another key, or is not in the file."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SinkError(AtaraxisError, RuntimeError):
    """The sink could not do its job: its writer died or failed; the message says what to do."""


class SinkCapacityError(SinkError):
    """A queue-mode sink's shared tables are full (keys or client processes); the message
    names the option to raise."""


class SinkClosedError(AtaraxisError, RuntimeError):
    """The sink (or the queue behind a client) is closed or read-only."""


class SinkWriteError(AtaraxisError, OSError):
    """The file cannot be written: its directory is missing, it was deleted while open, or the
    disk is full."""


class SinkInUseError(AtaraxisError, FileExistsError):
    """Another writer holds the file; HDF5 allows one writer per file."""


class RecoveryError(AtaraxisError, OSError):
    """A file could not be recovered after a crash (or a live process still writes it)."""


class LockLostError(SinkError):
    """This process's lease on the file's Redis lock expired (it was paused or cut off from the
    server for longer than the lease), so its write was refused."""


class LockServerError(AtaraxisError, ConnectionError):
    """The Redis server that holds the file's lock did not answer."""


class LockConfigError(AtaraxisError, ValueError):
    """A ``lock=`` setting is neither "flock" nor a usable ``redis://`` URL."""
